"""singer-sdk's standard tap tests (discovery, sync, every stream and attribute) against the sandbox."""

from __future__ import annotations

import atexit
import json

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from klaviyo_sandbox.pytest_plugin import start_sandbox
from tap_klaviyo.tap import TapKlaviyo

# get_tap_test_class builds its tests when this module is imported, so the sandbox must run by then.
_SANDBOX = start_sandbox("--accounts", "2", "--events", "1500", "--profiles", "150", "--rate-limit-scale", "0")
atexit.register(_SANDBOX.stop)

TestTapKlaviyo = get_tap_test_class(
    TapKlaviyo,
    config={
        "accounts_json": json.dumps([{"account": a["account"], "api_key": a["api_key"]} for a in _SANDBOX.accounts]),
        "api_url": _SANDBOX.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
    },
    # The standard tests stop each stream after 150 records: no listing of profile ids runs to its end, and
    # profile_listings has a row only for one that did (tap_klaviyo/profile_listing.py,
    # tests/tap/test_tap_completeness.py).
    suite_config=SuiteConfig(ignore_no_records_for_streams=["profile_listings"]),
)
