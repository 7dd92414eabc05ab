"""A real local S3 for tests: moto in server mode, as its own process, and a sealed AWS environment. A stopped
server is kept, emptied, for the next start in the same test process (`MOTO_POOL`, local_stand_ins/s3.py).

- `moto_s3`: one moto server for the session; `.endpoint_url`, and `.put(bucket, key, body)` which creates
  the bucket when needed. It uses explicit dummy credentials and changes no environment variable.
- `moto_factory(...)`: more servers for one test, e.g. with moto's IAM enforcement on (`no_auth_actions`).
- `closed_port_url`: an endpoint where nothing listens.
- `aws_env`: dummy credentials in the environment and every other AWS setting of the machine removed, so
  boto3 in the code under test can reach nothing but what the test points it at.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_stand_ins.s3 import MOTO_POOL, MotoS3, free_port, start_moto


def pytest_configure(config: pytest.Config) -> None:
    MOTO_POOL.enabled = True  # a stopped server is emptied and kept for the next start (local_stand_ins/s3.py)


def pytest_unconfigure(config: pytest.Config) -> None:
    MOTO_POOL.close()


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
