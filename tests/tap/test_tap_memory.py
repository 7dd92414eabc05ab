"""Memory stays flat however many events pass through: what makes it grow, malloc's heaps, does not grow in a run.

Window threads read pages of about 0.5 MB; with glibc's dynamic mmap threshold the freed pages raise it, later pages
land in the threads' heaps, and the heaps fragment and grow for the whole run (tap_klaviyo/memory.py). So this test
watches the heaps (mallinfo2's `arena`, sampled inside the tap by heap_sampled_tap.py) through a run of 300,000
events: with the fixed threshold they stay at 31 MB from the first quarter to the last; without it (memory.py's
fix_mmap_threshold a no-op) they grew 83 -> 142 MB in the same run, as peak RSS goes on to grow from 179 to 268 MB
over 4,000,000 events. Peak RSS over millions of events, with and without the fix, is bench/tap_memory.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tap_runs import events_only, peak_between

EVENTS = 300_000
SAMPLED_TAP = [sys.executable, str(Path(__file__).with_name("heap_sampled_tap.py"))]


def test_mallocs_heaps_do_not_grow_while_pages_pass_through(tmp_path):
    sandbox, config, catalog = events_only(tmp_path, EVENTS)
    try:
        with open(tmp_path / "out", "wb") as out:
            result = subprocess.run(
                [*SAMPLED_TAP, "--config", str(config), "--catalog", str(catalog)],
                stdout=out,
                stderr=subprocess.PIPE,
                env={**os.environ, "HEAP_SAMPLES": str(tmp_path / "heap.json")},
                timeout=600,
                check=False,
            )
    finally:
        sandbox.stop()
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "out", "rb") as out:
        assert sum(line.startswith(b'{"type":"RECORD"') for line in out) == EVENTS
    samples = [tuple(sample) for sample in json.loads((tmp_path / "heap.json").read_text())]
    # The windows in flight (24 read at once and at most 24 waiting) fill in the first quarter: from there on, a
    # heap that takes pages only grows.
    early, late = peak_between(samples, 0.0, 0.25), peak_between(samples, 0.75, 1.0)
    assert late < early * 1.2, (early, late)
