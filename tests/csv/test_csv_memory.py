"""Memory stays flat however many rows pass through: peak RSS over 10x more rows barely moves (PyPI's
tap-spreadsheets held whole files: ~1.5 KB a row). Measured by the benchmark script itself, run as a process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "csv_read.py"


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_number_of_rows(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCH), "--rows", "50000", "500000", "--folder", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    small, large = json.loads(result.stdout.splitlines()[-1])
    assert (small["records"], large["records"]) == (50_000, 500_000)
    assert large["csv_bytes"] > 70 * 2**20
    # 450,000 more rows at even 100 bytes each held in memory would add 45 MB; allow a tenth of that.
    assert large["peak_rss_mb"] - small["peak_rss_mb"] < 4.5, result.stdout
    assert large["peak_rss_mb"] < 150, result.stdout
