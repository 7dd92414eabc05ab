"""What Klaviyo's attribution on events (`events_attributions`, include=attributions) costs tap-klaviyo, side by side.

    .venv/bin/python bench/events_attributions.py [--events 300000] [--latency-ms 250] [--cost-events 200000]

1. One account with Klaviyo's real tiers and a per-request latency: the events stream read without and with
   include=attributions: records, requests to /api/events (the sandbox's request log), a page's size, seconds and
   records per second. Klaviyo gives get_events one tier whatever it includes, so the rate budget is the requests.
2. No latency, no limits: the tap's own CPU per record without and with (its process only, the sandbox's excluded).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import requests
from tap_throughput import CEILING, run_tap, tap_sandbox

from klaviyo_http import REVISION
from klaviyo_sandbox.pytest_plugin import RunningSandbox


def page_bytes(sandbox: RunningSandbox, include: str | None) -> int:
    """The size of the newest page of 1,000 events, with `include` or without."""
    params = {"page[size]": "1000", "sort": "-datetime", **({"include": include} if include else {})}
    headers = {"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": REVISION}
    return len(requests.get(f"{sandbox.url}/api/events", params=params, headers=headers, timeout=60).content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--cost-events", type=int, default=200_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="attributions-bench-"))
    header = f"{'include':13} {'records':>8} {'requests':>8} {'KB/page':>7} {'seconds':>8} {'records/s':>10} "
    header += f"{'of ceiling':>10}"

    print(f"1 account, {args.events} events, real tiers, {args.latency_ms:.0f} ms per request")
    print(header)
    sandbox, config = tap_sandbox(
        folder, "--accounts", "1", "--events", str(args.events), "--profiles", "1000", "--latency-ms",
        str(args.latency_ms),
    )  # fmt: skip
    try:
        for attributions in (False, True):
            sandbox.reset()
            records, cost = run_tap({**config, "events_attributions": attributions}, ["events"], folder)
            wall = cost.wall_seconds
            count = len(sandbox.requests("/api/events"))
            size = page_bytes(sandbox, "attributions" if attributions else None)
            rate = records / wall
            label = "attributions" if attributions else "-"
            print(
                f"{label:13} {records:8d} {count:8d} {size / 1e3:7.0f} {wall:8.1f} {rate:10.0f} "
                f"{rate / CEILING['events']:10.1%}"
            )
    finally:
        sandbox.stop()

    print(f"\nno latency, no limits, {args.cost_events} events: the tap's own cost (record mode)")
    print(f"{'include':13} {'records':>8} {'CPU s':>7} {'per CPU-s':>10} {'peak MB':>8}")
    sandbox, config = tap_sandbox(
        folder, "--accounts", "1", "--events", str(args.cost_events), "--profiles", "1000", "--rate-limit-scale", "0",
        rate_limit_scale=0,
    )  # fmt: skip
    try:
        for attributions in (False, True):
            records, cost = run_tap({**config, "events_attributions": attributions}, ["events"], folder)
            cpu = cost.cpu_seconds
            label = "attributions" if attributions else "-"
            print(f"{label:13} {records:8d} {cpu:7.1f} {records / cpu:10.0f} {cost.peak_rss_mb:8.0f}")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
