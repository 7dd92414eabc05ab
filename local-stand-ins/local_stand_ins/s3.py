"""A local S3: moto in server mode, as its own process (tests, `make demo`, `local-stand-ins up`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from klaviyo_sandbox.pytest_plugin import stop_process

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
        stop_process(self.process)
        Path(self.log_path).unlink(missing_ok=True)


def start_moto(*, port: int = 0, no_auth_actions: int | None = None, timeout: float = 30.0) -> MotoS3:
    """Start `python -m moto.server` on `port` (0: a free one) and wait until it answers HTTP.

    `no_auth_actions`: moto's INITIAL_NO_AUTH_ACTION_COUNT; after that many requests it enforces IAM.
    """
    port = port or free_port()
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
