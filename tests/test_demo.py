"""`make demo`, the README's first command: the main job runs on the local stand-ins and the warehouse's tables are
printed, every account's rows in them, then one end model of transform/ (campaigns by revenue) for every brand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_demo_loads_every_account_into_the_warehouse_and_prints_it():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("table"))
    assert all(name in header for name in ("Acme Outdoors", "Blue Fern Botanicals", "Copperline Coffee"))
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("RAW.KLAVIYO.")}
    # One table per stream: the 15, the 4 report streams', and the completeness check's 3 (Klaviyo's counts, every
    # profile id, when each account's ids were listed).
    assert len(rows) == 22, sorted(rows)
    for table in ("EVENT_COUNTS", "PROFILE_IDS", "PROFILE_LISTINGS"):
        assert f"RAW.KLAVIYO.{table}" in rows, table
    assert rows["RAW.KLAVIYO.PROFILE_IDS"] == ["2,000", "2,000", "2,000", "6,000"]  # every profile, ids only
    for table in ("CAMPAIGN_VALUES_REPORTS", "FLOW_VALUES_REPORTS", "FLOW_SERIES_REPORTS", "SEGMENT_SERIES_REPORTS"):
        per_account = rows[f"RAW.KLAVIYO.{table}"][:3]
        assert all(int(count.replace(",", "")) > 0 for count in per_account), (table, per_account)
    assert rows["RAW.KLAVIYO.EVENTS"] == ["20,000", "20,000", "20,000", "60,000"]
    assert rows["RAW.KLAVIYO.PROFILES"] == ["2,000", "2,000", "2,000", "6,000"]
    assert rows["RAW.KLAVIYO.ACCOUNTS"] == ["1", "1", "1", "3"]
    assert "pk_sandbox_" not in result.stdout + result.stderr  # keys stay out of what the demo prints
    campaigns = lines[lines.index(next(line for line in lines if line.startswith("ANALYTICS.KLAVIYO.CAMPAIGNS"))) :]
    for brand in ("Acme Outdoors", "Blue Fern Botanicals", "Copperline Coffee"):
        assert sum(line.startswith(brand) for line in campaigns) == 3, campaigns
