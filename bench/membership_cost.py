"""What keeping list and segment membership current costs: a full listing of every group on every run.

    .venv/bin/python bench/membership_cost.py [--profiles 100000] [--latency-ms 250]

Reads `segment_members` of one account (membership `current`: every segment in full) against a sandbox with
Klaviyo's real tiers and a per-request latency, and prints the members per second, the requests per minute
against the endpoint's steady limit (750 a minute for get_profiles_for_segment), and from those the cost of an
account with 20 segments of 200,000 members each, per run and per day (runs at 05:00 and 17:00).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tap"))

from tap_runs import tap_sandbox
from tap_throughput import run_tap

STEADY = 750  # get_profiles_for_segment, requests a minute (klaviyo-http's TIERS)
PAGE = 100  # its largest page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=250)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="membership-bench-"))
    sandbox, config = tap_sandbox(
        folder, "--accounts", "1", "--events", "10", "--profiles", str(args.profiles),
        "--latency-ms", str(args.latency_ms),
        start_date="2012-01-01T00:00:00Z", membership="current",
    )  # fmt: skip
    try:
        members, cost = run_tap(config, ["segment_members"], folder)
        stats = sandbox.stats()
    finally:
        sandbox.stop()
    wall = cost.wall_seconds
    requests = sum(buckets.get("get_profiles_for_segment", {}).get("requests", 0) for buckets in stats.values())
    per_minute = requests / wall * 60
    rate = members / wall
    target = 20 * 200_000
    minutes = target / PAGE / min(per_minute, STEADY)
    print(f"segment_members, 1 account, {args.profiles:,} profiles, real tiers, {args.latency_ms:.0f} ms a page:")
    print(f"  {members:,} members in {wall:.0f} s: {rate:,.0f} members/s, {requests:,} requests = {per_minute:,.0f} a "
          f"minute ({per_minute / STEADY:.0%} of the endpoint's {STEADY}); {members / requests:.0f} members a request; "
          f"tap CPU {cost.cpu_seconds:.1f} s")  # fmt: skip
    print(
        f"an account with 20 segments of 200,000 members: {target // PAGE:,} requests and about {minutes:.0f} "
        f"minutes per run at this rate ({2 * minutes:.0f} minutes and {2 * target // PAGE:,} requests a day); "
        "`membership: join_history` reads only the members who joined since the last run"
    )


if __name__ == "__main__":
    main()
