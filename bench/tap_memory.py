"""tap-klaviyo's peak memory as the number of events grows, with and without the fixed mmap threshold.

    .venv/bin/python bench/tap_memory.py [--events 200000,2000000,4000000]

For each size, one account's events are read with rate limits off (the windows in flight fill fastest), once as the
tap runs (`tap_klaviyo/memory.py` fixes glibc's mmap threshold) and once with glibc's dynamic threshold left on.
Prints the peak RSS of each run, the peaks of its first half (of its output) and its last quarter, their ratio, and
the tap's CPU seconds (user + system): what the fix costs. The goal: memory is flat, a run ten times longer peaks no
higher, and over 4,000,000 events the last quarter peaks within 7% of the first half with the fixed threshold
(measured 0.91-1.01; 1.11-1.13 without it). tests/tap/test_tap_memory.py guards the same fix in a short run, on
malloc's heaps.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "tap"), str(ROOT / "tests")]

from process_cost import rss_by_output  # noqa: E402
from tap_runs import TAP, events_only, peak_between  # noqa: E402

# The tap with glibc's own (dynamic) mmap threshold: memory.py's call replaced by a no-op.
DYNAMIC = [
    sys.executable,
    "-c",
    "import sys, tap_klaviyo.tap as tap; tap.fix_mmap_threshold = lambda: False; sys.argv[0] = 'tap-klaviyo'; "
    "tap.TapKlaviyo.cli()",
]


def measure(command: list[str], folder: Path, config: Path, catalog: Path) -> tuple[float, float, float, float, float]:
    """(peak, first-half peak, last-quarter peak MB, user s, system s) of one events-only run."""
    cost, samples = rss_by_output([*command, "--config", str(config), "--catalog", str(catalog)], folder / "out")
    if cost.exit_code != 0:
        raise SystemExit(f"the tap failed with status {cost.exit_code}")
    (folder / "out").unlink()
    return (
        max(rss for _, rss in samples),
        peak_between(samples, 0.0, 0.5),
        peak_between(samples, 0.75, 1.0),
        cost.user_seconds,
        cost.system_seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="200000,2000000,4000000", help="sizes, comma-separated")
    args = parser.parse_args()
    print(
        f"{'events':>10} {'threshold':9} {'peak MB':>8} {'1st half':>8} {'last qtr':>8} {'ratio':>6} {'user s':>7} "
        f"{'sys s':>6}"
    )
    for events in (int(size) for size in args.events.split(",")):
        folder = Path(tempfile.mkdtemp(prefix="tap-memory-"))
        sandbox, config, catalog = events_only(folder, events)
        try:
            for name, command in (("fixed", TAP), ("dynamic", DYNAMIC)):
                peak, early, late, user, system = measure(command, folder, config, catalog)
                print(f"{events:10,d} {name:9} {peak:8.0f} {early:8.0f} {late:8.0f} {late / early:6.2f} {user:7.1f} "
                      f"{system:6.1f}", flush=True)  # fmt: skip
        finally:
            sandbox.stop()
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
