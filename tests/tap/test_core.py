"""singer-sdk's standard tap tests (discovery, sync, every stream and attribute) against the sandbox."""

from __future__ import annotations

import atexit
import json

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from klaviyo_sandbox.pytest_plugin import start_sandbox
from tap_klaviyo.tap import TapKlaviyo

# get_tap_test_class builds its tests when this module is imported, so the sandbox must run by then.
# 60 profiles an account: both accounts' profile ids (120) stay under the standard tests' 150-record cap
# (SuiteConfig.max_records_limit), so each listing runs to its end and profile_listings has its rows
# (tap_klaviyo/profile_listing.py writes one only for a whole listing).
_SANDBOX = start_sandbox("--accounts", "2", "--events", "1500", "--profiles", "60", "--rate-limit-scale", "0")
atexit.register(_SANDBOX.stop)

TestTapKlaviyo = get_tap_test_class(
    TapKlaviyo,
    config={
        "accounts_json": json.dumps([{"account": a["account"], "api_key": a["api_key"]} for a in _SANDBOX.accounts]),
        "api_url": _SANDBOX.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
    },
    suite_config=SuiteConfig(),
)
