"""A full run of one account, before and after its streams were read at the same time: wall time side by side.

    .venv/bin/python bench/full_run.py [--scale 0.05] [--events N] [--profiles N] [--segments N]
                                       [--segment-members N] [--latency-ms 250]

The account is the one issue 18 names, scaled down by --scale (all of it, so that every stream keeps its share of
the run): 20 segments of 200,000 members, 1,000,000 profiles, and 7,000,000 events (a week of 1,000,000 a day, what
the full run's 7-day lookback reads). At the default 0.05: 20 segments of 10,000 members, 50,000 profiles, 350,000
events. Each option replaces its part of that shape.

One sandbox (Klaviyo's real tiers, a per-request latency), that account's events, profiles, segments and
segment_members (membership `current`: every segment listed in full), read twice from no state:

- before: one stream after another (parallel_stream_groups 1) and every segment through the members route
  (membership_ids_route false), as the tap ran before;
- after: the defaults, events, profiles and members each in a process of its own, and the segments shared between
  the members route and the relationships route (two rate limits).

Prints each run's wall time and the ratio (goal: after <= 50% of before); then segment_members alone, through the
members route only and through both routes, with the members per second of each and from those the time to list 20
segments of 200,000 members (the listing must pass the endpoint's 750 requests a minute for the second route to
matter: each group's pages are read in order, so a few large groups read one page at a time each cannot use both
limits). The machine is shared: run it twice and compare.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tap"))

from tap_runs import TAP, catalog_selecting, tap_sandbox

STREAMS = ["events", "profiles", "segments", "segment_members"]
RUNS = {
    "before": {"parallel_stream_groups": 1, "membership_ids_route": False},
    "after": {},  # the defaults
}
TARGET_MEMBERS = 20 * 200_000
#: issue 18's account, before --scale
ACCOUNT = {"events": 7_000_000, "profiles": 1_000_000, "segment_members": 200_000}


def run(config: dict, folder: Path, name: str, streams: list[str] = STREAMS) -> tuple[float, Counter[str]]:
    """Wall seconds and rows per stream of one tap run from no state."""
    config_path = folder / f"config-{name.replace(' ', '-')}.json"
    config_path.write_text(json.dumps(config))
    (folder / "catalog.json").write_text(json.dumps(catalog_selecting(config_path, streams)))
    start = time.perf_counter()
    with open(folder / "out.singer", "w") as out:
        result = subprocess.run(
            [*TAP, "--config", str(config_path), "--catalog", str(folder / "catalog.json")],
            stdout=out, stderr=subprocess.PIPE, text=True, timeout=7200, check=False,
        )  # fmt: skip
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{name}: the tap failed: {result.stderr[-2000:]}")
    rows: Counter[str] = Counter()
    with open(folder / "out.singer") as singer:
        for line in singer:
            if line.startswith('{"type":"RECORD"'):
                rows[json.loads(line)["stream"]] += 1
    return wall, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="of issue 18's account (the docstring)")
    parser.add_argument("--events", type=int)
    parser.add_argument("--profiles", type=int)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--segment-members", type=int)
    parser.add_argument("--latency-ms", type=float, default=250)
    args = parser.parse_args()
    if not 0 < args.scale <= 1:
        parser.error(f"--scale must be in (0, 1], got {args.scale}")
    events = args.events if args.events is not None else round(ACCOUNT["events"] * args.scale)
    profiles = args.profiles if args.profiles is not None else round(ACCOUNT["profiles"] * args.scale)
    members = args.segment_members
    if members is None:
        members = round(ACCOUNT["segment_members"] * args.scale)
    folder = Path(tempfile.mkdtemp(prefix="full-run-bench-"))
    sandbox, config = tap_sandbox(
        folder, "--accounts", "1", "--events", str(events), "--profiles", str(profiles),
        "--segments", str(args.segments), "--segment-members", str(members),
        "--latency-ms", str(args.latency_ms), membership="current",
    )  # fmt: skip
    walls: dict[str, float] = {}
    try:
        print(
            f"1 account, {events:,} events, {profiles:,} profiles, {args.segments} segments of {members:,} members, "
            f"real tiers, {args.latency_ms:.0f} ms a request"
        )
        for name, settings in RUNS.items():
            sandbox.reset()  # the rate limits start fresh, as a run twelve hours after the last
            wall, rows = run({**config, **settings}, folder, name)
            walls[name] = wall
            print(f"{name:7} {wall:7.1f} s  rows {dict(rows)}")
        print(f"after / before: {walls['after'] / walls['before']:.0%} (goal: <= 50%)")
        print("segment_members alone (every segment listed), through the members route only, then both routes:")
        alone: dict[str, float] = {}
        for name, both in (("members route", False), ("both routes", True)):
            sandbox.reset()
            wall, rows = run({**config, "membership_ids_route": both}, folder, name, ["segment_members"])
            alone[name] = wall
            members = rows["segment_members"]
            print(
                f"{name:14} {members:,} members in {wall:.1f} s = {members / wall:,.0f}/s -> 20 x 200,000 members in "
                f"{TARGET_MEMBERS / (members / wall) / 60:,.0f} min"
            )
        print(f"both / members route: {alone['both routes'] / alone['members route']:.0%}")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
