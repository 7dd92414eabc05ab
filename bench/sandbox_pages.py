"""How fast the sandbox serves pages: it must never be what limits a tap or target benchmark.

Starts a sandbox with no latency and no rate limits, walks the cursor of a few endpoints with full pages
and prints pages per second and milliseconds per page as a client sees them (one keep-alive connection), and
the sandbox's own CPU time per page: what a tap or target benchmark on the same machine pays for it.

    .venv/bin/python bench/sandbox_pages.py [--events 200000] [--profiles 20000] [--pages 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

import orjson
import psutil
import requests

from klaviyo_sandbox.pytest_plugin import start_sandbox_process

CASES = [
    ("events, 1000 per page", "/api/events", {"page[size]": "1000"}),
    (
        "events, 1000 per page, datetime window, -datetime",
        "/api/events",
        {"page[size]": "1000", "sort": "-datetime", "filter": "greater-or-equal(datetime,2025-01-01T00:00:00Z)"},
    ),
    (
        "events, 1000 per page, include metric,profile",
        "/api/events",
        {"page[size]": "1000", "include": "metric,profile"},
    ),
    ("profiles, 100 per page", "/api/profiles", {"page[size]": "100"}),
    (
        "profiles, 100 per page, sort updated, additional fields",
        "/api/profiles",
        {"page[size]": "100", "sort": "updated", "additional-fields[profile]": "subscriptions,predictive_analytics"},
    ),
]


def walk(session: requests.Session, url: str, params: dict[str, str], pages: int) -> tuple[list[float], int]:
    timings = []
    records = 0
    next_url: str | None = url
    query: dict[str, str] | None = params
    while next_url and len(timings) < pages:
        start = time.perf_counter()
        response = session.get(next_url, params=query, timeout=60)
        response.raise_for_status()
        body = orjson.loads(response.content)  # orjson: measure the server, not the client's parser
        timings.append(time.perf_counter() - start)
        records += len(body["data"])
        next_url, query = body["links"]["next"], None
    return timings, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=50)
    args = parser.parse_args()
    sandbox = start_sandbox_process(
        "--accounts", "1", "--events", str(args.events), "--profiles", str(args.profiles), "--rate-limit-scale", "0"
    )
    try:
        session = requests.Session()
        session.headers.update({"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": "2026-10-15"})
        print(f"sandbox: 1 account, {args.events:,} events, {args.profiles:,} profiles, no latency, no limits")
        assert sandbox.process is not None  # its own process, to measure its CPU
        server = psutil.Process(sandbox.process.pid)
        print(
            f"{'case':58} {'pages':>5} {'pages/s':>8} {'records/s':>9} {'ms/page p50':>11} {'p95':>6} "
            f"{'server CPU ms/page':>18}"
        )
        for label, path, params in CASES:
            cpu = server.cpu_times()
            timings, records = walk(session, sandbox.url + path, params, args.pages)
            after = server.cpu_times()
            cpu_ms = (after.user + after.system - cpu.user - cpu.system) * 1000 / len(timings)
            p50 = statistics.median(timings) * 1000
            p95 = sorted(timings)[int(len(timings) * 0.95) - 1] * 1000
            total = sum(timings)
            pages = len(timings)
            print(
                f"{label:58} {pages:5d} {pages / total:8.1f} {records / total:9.0f} {p50:11.1f} {p95:6.1f} "
                f"{cpu_ms:18.1f}"
            )
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
