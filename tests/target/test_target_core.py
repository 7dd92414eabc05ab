"""singer-sdk's standard target tests, against the sandbox.

The SDK's sample streams (camelCase and special-character names, arrays, nested objects, schema changes ...)
are mapped by one "*" mapping to profiles keyed on their `id`: rows with an id are imported, rows without one
are rejected with a reason, and none of it may crash the target.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner

from klaviyo_sandbox.pytest_plugin import RunningSandbox
from target_klaviyo.target import TargetKlaviyo


def suite_config(sandbox_url: str, api_key: str, rejects: Path) -> dict:
    return {
        "api_url": sandbox_url,
        "api_key": api_key,
        "rate_limit_scale": 0,
        "rejects_path": str(rejects),
        "mappings": {"*": {"profile": {"external_id": "id", "properties": "*"}}},
    }


# The class needs a config when it is built; each test's runner gets the real one (sandbox URL) below.
_StandardTargetTests = get_target_test_class(
    TargetKlaviyo, config=suite_config("http://unused", "unused", Path("unused"))
)


class TestTargetKlaviyo(_StandardTargetTests):  # type: ignore[misc, valid-type]
    @pytest.fixture
    def runner(self, target_sandbox: RunningSandbox, tmp_path: Path) -> TargetTestRunner:
        return TargetTestRunner(
            target_class=TargetKlaviyo,
            config=suite_config(target_sandbox.url, target_sandbox.key(1), tmp_path / "rejects.jsonl"),
        )
