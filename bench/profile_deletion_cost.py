"""What learning of deleted profiles costs: a listing of every profile id of an account (tap-klaviyo's `profile_ids`).

    .venv/bin/python bench/profile_deletion_cost.py [--profiles 1000000] [--scale 5] [--real-profiles 100000]

Klaviyo publishes no list of deleted profiles, so the tap lists every id (the sparsest fieldset, pages of 100, time
windows read at once) and the warehouse finds the profiles the listing no longer holds (warehouse-sql). Two runs
against the sandbox, each the tap as a process with only `profile_ids` and `profile_listings` selected:

1. an account of `--profiles` profiles with every rate limit multiplied by `--scale` (so the bench takes minutes,
   not a quarter of an hour): the requests a listing of that account takes, counted by the sandbox;
2. an account of `--real-profiles` profiles at Klaviyo's real tiers and a 250 ms answer: the requests a minute the
   tap reaches against get_profiles' steady limit (750 a minute).

From the two: the requests and minutes per 1,000,000 profiles at Klaviyo. Prints both runs and the projection.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tap"))

from process_cost import MeasuredProcess
from tap_runs import tap_command, tap_sandbox

STEADY = 750  # get_profiles, requests a minute (klaviyo-http's TIERS)
STREAMS = ["profile_ids", "profile_listings"]


def listing(profiles: int, scale: float, latency_ms: float) -> dict[str, float]:
    """One listing of an account of `profiles` profiles: requests, ids, wall seconds, tap CPU seconds."""
    folder = Path(tempfile.mkdtemp(prefix="profile-deletion-bench-"))
    sandbox, config = tap_sandbox(
        folder, "--accounts", "1", "--events", "10", "--profiles", str(profiles),
        "--rate-limit-scale", str(scale), "--latency-ms", str(latency_ms),
        start_date="2012-01-01T00:00:00Z", rate_limit_scale=scale, profile_listing_hours=0,
    )  # fmt: skip
    try:
        tap = tap_command(folder, config, STREAMS)
        sandbox.reset()
        cost = MeasuredProcess(tap, stdout=folder / "out.singer").wait()
        stats = sandbox.stats()
    finally:
        sandbox.stop()
    if cost.exit_code != 0:
        raise SystemExit(f"the tap failed with status {cost.exit_code}")
    ids = 0
    with open(folder / "out.singer") as singer:
        for line in singer:
            if line.startswith('{"type":"RECORD"') and '"stream":"profile_ids"' in line:
                ids += 1
    requests = sum(buckets.get("get_profiles", {}).get("requests", 0) for buckets in stats.values())
    throttled = sum(buckets.get("get_profiles", {}).get("throttled", 0) for buckets in stats.values())
    return {
        "ids": ids,
        "requests": requests,
        "throttled": throttled,
        "wall": cost.wall_seconds,
        "cpu": cost.cpu_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--scale", type=float, default=5.0, help="rate limits multiplied by this in the first run")
    parser.add_argument("--real-profiles", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=250)
    args = parser.parse_args()

    big = listing(args.profiles, args.scale, 0)
    print(
        f"1. {args.profiles:,} profiles, tiers x{args.scale:g}: {big['ids']:,.0f} ids in {big['requests']:,.0f} "
        f"requests ({big['ids'] / big['requests']:.1f} ids a request), {big['wall']:.0f} s, "
        f"{big['requests'] / big['wall'] * 60:,.0f} requests a minute ({big['throttled']:.0f} throttled), "
        f"tap CPU {big['cpu']:.1f} s"
    )
    real = listing(args.real_profiles, 1.0, args.latency_ms)
    per_minute = real["requests"] / real["wall"] * 60
    print(
        f"2. {args.real_profiles:,} profiles, Klaviyo's tiers, {args.latency_ms:.0f} ms an answer: "
        f"{real['requests']:,.0f} requests in {real['wall']:.0f} s = {per_minute:,.0f} a minute "
        f"({per_minute / STEADY:.0%} of get_profiles' {STEADY}; {real['throttled']:.0f} throttled), "
        f"tap CPU {real['cpu']:.1f} s"
    )
    requests_per_million = big["requests"] / big["ids"] * 1_000_000
    minutes = requests_per_million / min(per_minute, STEADY)
    print(
        f"per 1,000,000 profiles at Klaviyo: {requests_per_million:,.0f} requests of get_profiles and about "
        f"{minutes:.0f} minutes ({requests_per_million / STEADY:.1f} at the full 750 a minute), once a day "
        "(profile_listing_hours); tap CPU about "
        f"{big['cpu'] / big['ids'] * 1_000_000:.0f} s"
    )


if __name__ == "__main__":
    main()
