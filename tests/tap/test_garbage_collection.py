"""The tap runs with its start-up frozen and fewer collections (tap_klaviyo/garbage_collection.py): ~30% of its CPU
per event (bench/README.md). Checked where a run starts (`run_invoked`), in a process of its own, so that the
setting is the tap's and not this test process's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tap_klaviyo.garbage_collection import FIRST_GENERATION_THRESHOLD

# The run replaced by a report of the collector's settings at the moment it would start reading.
PROBE = """
import gc, json, sys
from tap_klaviyo.tap import TapKlaviyo
TapKlaviyo.run = lambda self: print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
TapKlaviyo.cli.main(args=["--config", sys.argv[1]], standalone_mode=False)
"""


def test_a_run_starts_with_start_up_frozen_and_a_large_first_generation(tmp_path: Path):
    config = tmp_path / "config.json"
    accounts = json.dumps([{"account": "Brand", "api_key": "pk_test"}])
    config.write_text(json.dumps({"accounts_json": accounts, "api_url": "http://127.0.0.1:9"}))
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    settings = json.loads(result.stdout.strip().splitlines()[-1])
    assert settings["threshold"][0] == FIRST_GENERATION_THRESHOLD
    assert settings["frozen"] > 10_000  # the imported modules' objects, out of every collection's way
