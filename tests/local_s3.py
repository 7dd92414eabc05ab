"""A real local S3 for tests: moto in server mode, as its own process, and a sealed AWS environment.

- `moto_s3`: one moto server for the session; `.endpoint_url`, and `.put(bucket, key, body)` which creates
  the bucket when needed. It uses explicit dummy credentials and changes no environment variable.
- `moto_factory(...)`: more servers for one test, e.g. with moto's IAM enforcement on (`no_auth_actions`).
- `closed_port_url`: an endpoint where nothing listens.
- `aws_env`: dummy credentials in the environment and every other AWS setting of the machine removed, so
  boto3 in the code under test can reach nothing but what the test points it at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MotoS3:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: str
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str = "s3") -> Any:
        # Kept: building a boto3 client costs ~0.1 s, and every S3 test puts at least one object.
        if service not in self._clients:
            session = boto3.session.Session()
            self._clients[service] = session.client(service, endpoint_url=self.endpoint_url, **DUMMY_CREDENTIALS)
        return self._clients[service]

    def put(self, bucket: str, key: str, body: bytes | str) -> str:
        """Store `body` at s3://bucket/key (creating the bucket if needed); returns that URI."""
        s3 = self.client()
        try:
            s3.create_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
        return f"s3://{bucket}/{key}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        Path(self.log_path).unlink(missing_ok=True)


def start_moto(*, no_auth_actions: int | None = None, timeout: float = 30.0) -> MotoS3:
    """Start `python -m moto.server` on a free port and wait until it answers HTTP.

    `no_auth_actions`: moto's INITIAL_NO_AUTH_ACTION_COUNT; after that many requests it enforces IAM.
    """
    port = free_port()
    env = dict(os.environ)
    if no_auth_actions is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(no_auth_actions)
    log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)  # noqa: SIM115
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    moto = MotoS3(f"http://127.0.0.1:{port}", process, log.name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            # The dashboard path: answering it is not an AWS action, so it does not use up no_auth_actions.
            urllib.request.urlopen(f"{moto.endpoint_url}/moto-api/", timeout=1).close()
            return moto
        except urllib.error.HTTPError:
            return moto  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.05)
    with open(log.name, encoding="utf-8", errors="replace") as handle:
        output = handle.read()
    moto.stop()
    raise RuntimeError(f"moto server did not start ({' '.join(command)}):\n{output}")


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    moto = start_moto()
    yield moto
    moto.stop()


@pytest.fixture
def moto_factory() -> Iterator[Callable[..., MotoS3]]:
    """`start_moto` for one test; every server it started is stopped at the end of the test."""
    started: list[MotoS3] = []

    def factory(**options: Any) -> MotoS3:
        started.append(start_moto(**options))
        return started[-1]

    yield factory
    for moto in started:
        moto.stop()


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a port just bound and released)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # No ~/.aws files and no instance metadata lookups: a credential or endpoint can only come from the test.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
