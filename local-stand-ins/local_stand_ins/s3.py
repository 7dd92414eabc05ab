"""A local S3: moto in server mode, as its own process (tests, `make demo`, `local-stand-ins up`).

Within pytest (tests/local_s3.py turns `MOTO_POOL` on), a stopped server is kept for the next start in the same
process, emptied by moto's reset (every bucket, object and queue forgotten): a new moto process costs ~0.8 CPU-s to
start and to load S3's models on its first request, a reset a few milliseconds.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from klaviyo_sandbox.pytest_plugin import stop_process

from .moto_server import READY_PREFIX

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoS3:
    endpoint_url: str
    process: subprocess.Popen[str]
    log_path: str
    pooled: bool = False  # started by MOTO_POOL, and given back to it when stopped
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
        if not MOTO_POOL.keep(self):
            self.close()

    def close(self) -> None:
        stop_process(self.process)
        Path(self.log_path).unlink(missing_ok=True)

    def reset(self) -> None:
        """Forget every bucket, object and queue (moto's own reset route)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass


class MotoPool:
    """Stopped servers kept for the next start in this process (on only where `enabled`: within pytest)."""

    def __init__(self) -> None:
        self.enabled = False
        self.idle: list[MotoS3] = []
        self.started: list[MotoS3] = []  # every server the pool started, in use or idle: closed with the pool

    def take(self) -> MotoS3 | None:
        while self.idle:
            moto = self.idle.pop()
            if moto.process.poll() is None:
                moto.reset()
                return moto
            moto.close()
        return None

    def keep(self, moto: MotoS3) -> bool:
        if not (self.enabled and moto.pooled) or moto.process.poll() is not None:
            return False
        if all(idle is not moto for idle in self.idle):  # stopped twice: kept once
            self.idle.append(moto)
        return True

    def start(self, timeout: float) -> MotoS3:
        moto = self.take()
        if moto is None:
            moto = _start_moto_process(port=0, no_auth_actions=None, timeout=timeout)
            moto.pooled = True
            self.started.append(moto)
        return moto

    def close(self) -> None:
        self.idle.clear()
        while self.started:
            self.started.pop().close()


MOTO_POOL = MotoPool()


def start_moto(*, port: int = 0, no_auth_actions: int | None = None, timeout: float = 30.0) -> MotoS3:
    """Start moto's server (`moto_server.py`) on `port` (0: one the system picks) and wait until it listens; within
    pytest, an empty one kept from before when `port` is 0 and IAM is not enforced.

    `no_auth_actions`: moto's INITIAL_NO_AUTH_ACTION_COUNT; after that many requests it enforces IAM.
    """
    if MOTO_POOL.enabled and port == 0 and no_auth_actions is None:
        return MOTO_POOL.start(timeout)
    return _start_moto_process(port=port, no_auth_actions=no_auth_actions, timeout=timeout)


def _start_moto_process(*, port: int, no_auth_actions: int | None, timeout: float) -> MotoS3:
    env = dict(os.environ)
    if no_auth_actions is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(no_auth_actions)
    log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)  # noqa: SIM115
    command = [sys.executable, "-m", "local_stand_ins.moto_server", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    log.close()
    assert process.stdout is not None
    line = ""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if ready:
        line = process.stdout.readline()
    process.stdout.close()  # nothing more is printed there; its log goes to the log file
    if line.startswith(READY_PREFIX):
        return MotoS3(line.removeprefix(READY_PREFIX).strip(), process, log.name)
    stop_process(process)
    with open(log.name, encoding="utf-8", errors="replace") as handle:
        output = handle.read()
    Path(log.name).unlink(missing_ok=True)
    raise RuntimeError(f"moto server did not start ({' '.join(command)}):\n{line}{output}")
