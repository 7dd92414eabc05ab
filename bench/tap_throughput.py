"""tap-klaviyo's speed against the sandbox: share of the rate-limit ceiling, accounts in parallel, cost per record.

    .venv/bin/python bench/tap_throughput.py [--events 600000] [--profiles 100000] [--latency-ms 250]

Prints, for events and profiles of one account read with Klaviyo's real tiers and a per-request latency:
records per second, that as a share of the ceiling (steady requests per minute x page size / 60), and the
tap's peak memory; then the wall time of 4 accounts relative to 1 (profiles: limited by the rate limit, not by
this machine's 2 cores); then, with no latency and no limits, records per CPU-second of the tap process (its
own cost, the sandbox's excluded), both whole-run and marginal (start-up, discovery and the account lookup
subtracted by a run over 1,000 records).
Runs should last over a minute: shorter ones also spend the 1-second burst allowance above the steady rate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tap"))

from process_cost import MeasuredProcess, ProcessCost
from tap_runs import tap_command, tap_sandbox

# steady requests per minute x largest page: records per second at the ceiling
CEILING = {"events": 3500 * 1000 / 60, "profiles": 750 * 100 / 60}


def run_tap(config: dict, streams: list[str], folder: Path) -> tuple[int, ProcessCost]:
    """Records and cost of one tap run over the given streams."""
    cost = MeasuredProcess(tap_command(folder, config, streams), stdout=folder / "out.singer").wait()
    if cost.exit_code != 0:
        raise SystemExit(f"tap failed with status {cost.exit_code}")
    with open(folder / "out.singer") as singer:
        records = sum(1 for line in singer if line.startswith(('{"type":"RECORD"', '{"type": "RECORD"')))
    return records, cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=250)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tap-bench-"))
    data = ["--events", str(args.events), "--profiles", str(args.profiles)]

    print(f"1 account, real tiers, {args.latency_ms:.0f} ms per request")
    print(f"{'stream':10} {'records':>8} {'seconds':>8} {'records/s':>10} {'of ceiling':>10} {'peak MB':>8}")
    sandbox, config = tap_sandbox(folder, "--accounts", "4", *data, "--latency-ms", str(args.latency_ms))
    try:
        for stream in ("events", "profiles"):
            records, cost = run_tap({**config, "accounts": sandbox.accounts[0]["account"]}, [stream], folder)
            wall, rate = cost.wall_seconds, records / cost.wall_seconds
            print(
                f"{stream:10} {records:8d} {wall:8.1f} {rate:10.0f} {rate / CEILING[stream]:10.1%} "
                f"{cost.peak_rss_mb:8.0f}"
            )
        sandbox.reset()
        one = run_tap({**config, "accounts": sandbox.accounts[1]["account"]}, ["profiles"], folder)[1].wall_seconds
        sandbox.reset()
        four = run_tap(config, ["profiles"], folder)[1].wall_seconds
        print(f"\nprofiles, 4 accounts vs 1: {four:.1f} s vs {one:.1f} s = {four / one:.2f}x (goal: <= 1.3x)")
    finally:
        sandbox.stop()

    print("\nno latency, no limits: the tap's own cost, record mode (goal for events: 30,000 per CPU-second)")
    print(f"{'stream':10} {'records':>8} {'per CPU-s':>10} {'marginal':>10} {'peak MB':>8}")
    for stream in ("events", "profiles"):
        small = cost_of(stream, 1000, folder)
        records, cpu, peak = cost_of(stream, 300_000 if stream == "events" else 20_000, folder)
        marginal = (records - small[0]) / (cpu - small[1])
        print(f"{stream:10} {records:8d} {records / cpu:10.0f} {marginal:10.0f} {peak:8.0f}")


def cost_of(stream: str, count: int, folder: Path) -> tuple[int, float, float]:
    """(records, tap CPU seconds, peak MB) reading `count` rows of one stream with no latency and no limits."""
    sandbox, config = tap_sandbox(
        folder, "--accounts", "1", f"--{stream}", str(count), "--rate-limit-scale", "0", rate_limit_scale=0
    )
    try:
        records, cost = run_tap(config, [stream], folder)
    finally:
        sandbox.stop()
    return records, cost.cpu_seconds, cost.peak_rss_mb


if __name__ == "__main__":
    main()
