"""Memory stays flat however many records pass through: in one run over 4,000,000 events, its last quarter peaks
no higher than its first half."""

from __future__ import annotations

import pytest
from tap_runs import TAP, events_only, peak_between, rss_by_output

EVENTS = 4_000_000


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_number_of_events(tmp_path):
    sandbox, config, catalog = events_only(tmp_path, EVENTS)
    try:
        code, samples = rss_by_output([*TAP, "--config", str(config), "--catalog", str(catalog)], tmp_path / "out")
    finally:
        sandbox.stop()
    assert code == 0
    with open(tmp_path / "out") as out:
        assert sum(line.startswith('{"type":"RECORD"') for line in out) == EVENTS
    (tmp_path / "out").unlink()  # 2 GB
    # Memory is bounded by the windows in flight (24 read at once and at most 24 more waiting, of ~2 pages each), not
    # by the row count. How soon they fill depends on how the sandbox and the tap share the two cores: CI once saw
    # 167 MB at 12.5-25% of a 2,000,000-event run, where this machine sees 181. So the early peak is the whole first
    # half's. Measured (first half -> last quarter, MB): 190 -> 191, 199 -> 192, 211 -> 192; without the fixed mmap
    # threshold (tap_klaviyo/memory.py) 236 -> 264, 230 -> 261, 247 -> 275, ratios 1.11-1.13 (bench/tap_memory.py
    # prints both).
    early, late = peak_between(samples, 0.0, 0.5), peak_between(samples, 0.75, 1.0)
    assert late < early * 1.07, (early, late)
