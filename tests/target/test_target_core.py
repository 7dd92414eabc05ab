"""singer-sdk's standard target tests, against the sandbox, each checking what landed (standard_suite.py).

The SDK's sample streams (camelCase and special-character names, arrays, nested objects, schema changes ...)
are mapped by one "*" mapping to profiles keyed on their `id`: rows with an id are imported, rows without one
are rejected with a reason, and none of it may crash the target.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from klaviyo_api import KlaviyoAPI
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from standard_suite import MAPPING, Landing, standard_tests

from klaviyo_sandbox.pytest_plugin import RunningSandbox
from target_klaviyo.target import TargetKlaviyo


def suite_config(sandbox_url: str, api_key: str, rejects: Path) -> dict:
    return {
        "api_url": sandbox_url,
        "api_key": api_key,
        "rate_limit_scale": 0,
        "rejects_path": str(rejects),
        "change_memory": str(rejects.parent / "memory"),  # the test's own
        "mappings": MAPPING,
    }


# The class needs a config when it is built; each test's runner gets the real one (its own account) below.
_StandardTargetTests = get_target_test_class(
    TargetKlaviyo,
    config=suite_config("http://unused", "unused", Path("unused")),
    custom_suites=[standard_tests],
    include_target_tests=False,
)


class TestTargetKlaviyo(_StandardTargetTests):  # type: ignore[misc, valid-type]
    @pytest.fixture
    def landing(self, target_sandbox: RunningSandbox, own_account: int, tmp_path: Path) -> Landing:
        # A second back: `updated` has whole seconds. Nothing else writes to the account, and its seeded
        # profiles are older (the sandbox's data ends at a fixed date): checked, so that a clock set before
        # that date cannot pass them off as the run's.
        since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        client = KlaviyoAPI(target_sandbox.key(own_account), test_host=target_sandbox.url, max_retries=3, max_delay=2)
        landing = Landing(client, since, tmp_path / "rejects.jsonl")
        assert landing.profiles() == [], "profiles updated since the test began, before it ran"
        return landing

    @pytest.fixture
    def runner(self, target_sandbox: RunningSandbox, own_account: int, landing: Landing) -> TargetTestRunner:
        return TargetTestRunner(
            target_class=TargetKlaviyo,
            config=suite_config(target_sandbox.url, target_sandbox.key(own_account), landing.rejects_path),
        )

    @pytest.fixture
    def resource(self, landing: Landing) -> Landing:
        """What each test's validate() reads as `self.resource`."""
        return landing
