"""singer-sdk's standard tap tests (discovery, sync, every stream and attribute) on the sample orders and a second
file with non-ASCII, quoting and empty cells."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from singer_sdk.testing import get_tap_test_class

from tap_csv.tap import TapCSV

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample_orders.csv"
# get_tap_test_class builds its tests when this module is imported, so the files must exist by then.
_FOLDER = Path(tempfile.mkdtemp(prefix="tap-csv-sdk-"))
atexit.register(shutil.rmtree, _FOLDER, True)
(_FOLDER / "profiles.csv").write_text(
    'email,first_name,note\nzoë@example.com,Zoë,"a, b"\nli@example.com,李,\nann@example.com,,"two\nlines"\n',
    encoding="utf-8",
)

TestTapCSV = get_tap_test_class(
    TapCSV,
    config={
        "files": [
            {"entity": "orders", "path": str(SAMPLE), "keys": ["ORDER_ID"]},
            {"entity": "profiles", "path": str(_FOLDER / "profiles.csv"), "keys": ["email"]},
        ]
    },
)
