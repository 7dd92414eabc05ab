"""Fixtures for target-klaviyo: a sandbox of its own, the target run as a real process, Klaviyo's read API.

The target writes into its sandbox, so it does not share the session sandbox other folders read from.
Tests keep apart within it by their own metric names and e-mail addresses. The helpers these fixtures hand
out are in target_runs.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from target_runs import JOB_SECONDS, Klaviyo, Target

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox


@pytest.fixture(scope="session")
def target_sandbox() -> Iterator[RunningSandbox]:
    sandbox = start_sandbox(
        "--accounts",
        "2",
        "--seed",
        "11",
        "--events",
        "200",
        "--profiles",
        "200",
        "--rate-limit-scale",
        "0",
        "--job-seconds",
        str(JOB_SECONDS),
    )
    yield sandbox
    sandbox.stop()


@pytest.fixture
def target(target_sandbox: RunningSandbox, tmp_path: Path) -> Target:
    return Target(target_sandbox, tmp_path)


@pytest.fixture
def klaviyo(target_sandbox: RunningSandbox) -> Klaviyo:
    return Klaviyo(target_sandbox)


@pytest.fixture
def tag() -> str:
    """A name no other test uses: metric names and e-mail domains carry it."""
    return uuid.uuid4().hex[:10]
