"""Fixtures for target-klaviyo: a sandbox of its own, the target run as a real process, Klaviyo's read API.

The target writes into its sandbox, so it does not share the session sandbox other folders read from.
Tests keep apart within it by their own metric names and e-mail addresses, or by an account of their own
(target_runs.STANDARD_ACCOUNTS). The helpers these fixtures hand out are in target_runs.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from target_runs import JOB_SECONDS, STANDARD_ACCOUNTS, Klaviyo, Target

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox

# The standard tests' validate() methods live there: pytest shows what their failed asserts compared.
pytest.register_assert_rewrite("standard_suite")


@pytest.fixture(scope="session")
def target_sandbox() -> Iterator[RunningSandbox]:
    sandbox = start_sandbox(
        "--accounts",
        str(STANDARD_ACCOUNTS.stop),
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


@pytest.fixture(scope="session")
def unused_accounts() -> Iterator[int]:
    """The standard accounts not handed out yet."""
    return iter(STANDARD_ACCOUNTS)


@pytest.fixture
def own_account(unused_accounts: Iterator[int]) -> int:
    """An account of the target's sandbox that no other test writes to."""
    account = next(unused_accounts, None)
    assert account is not None, f"more tests need an account of their own than {STANDARD_ACCOUNTS} holds"
    return account
