"""target-klaviyo's speed against the sandbox with Klaviyo's real tiers and 250 ms per request; flat memory.

    .venv/bin/python bench/target_throughput.py [--windows 2] [--profiles 200000] [--memory-rows 1000000]

Prints, each measured in this run against the same sandbox settings:
- events per second through POST /event-bulk-create-jobs over whole 60-second rate-limit windows (counted from
  the sandbox's own tally of accepted requests, sampled 4 times a second), as a share of the ceiling
  150 requests/min x 1,000 events; the first windows are where a client can only lose, so a run that fills
  every window reaches 100%;
- profiles per second through /profile-bulk-import-jobs (jobs polled to completion), as a share of the ceiling
  150 jobs/min x 10,000 profiles, and per CPU-second of the target (on 2 shared cores the target and the
  sandbox's own parsing, not the rate limit, bound this one);
- the old package's way: one POST /api/events (or /api/profile-import) per row from a process pool of all cores,
  429 -> sleep 10 s, and the ratios;
- peak RSS of the target for 100,000 and for --memory-rows rows (no latency, no limits: as fast as it goes).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import requests
from process_cost import MeasuredProcess, ProcessCost

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox

WINDOW = 60.0
EVENTS_CEILING = 150 * 1000 / WINDOW  # events per second
PROFILES_CEILING = 150 * 10_000 / WINDOW
COLUMNS = ["order_id", "email", "first_name", "last_name", "city", "zip", "total", "sku", "ordered_at"]
EVENT_MAPPING = {
    "metric": "Placed Order",
    "profile": {"email": "email"},
    "time": "ordered_at",
    "value": "total",
    "unique_id": "order_id",
    "properties": {"SKU": "sku"},
}
PROFILE_MAPPING = {
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "location": {"city": "city", "zip": "zip"},
}


def write_input(path: Path, rows: int, *, distinct: int | None = None) -> Path:
    """Singer messages as tap-csv sends them; `distinct` repeats ids and e-mails (memory runs: the sandbox then
    keeps few events while the target still sends every row)."""
    with path.open("w") as out:
        out.write(
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": "orders",
                    "key_properties": [],
                    "schema": {"type": "object", "properties": {c: {"type": ["string", "null"]} for c in COLUMNS}},
                }
            )
            + "\n"
        )
        for i in range(rows):
            k = i % distinct if distinct else i
            out.write(
                json.dumps(
                    {
                        "type": "RECORD",
                        "stream": "orders",
                        "record": {
                            "order_id": f"o{k}",
                            "email": f"buyer{k}@bench.example",
                            "first_name": "Ann",
                            "last_name": "Lee",
                            "city": "Boston",
                            "zip": "02110",
                            "total": f"{i % 500}.25",
                            "sku": f"SKU-{i % 97}",
                            "ordered_at": f"2025-0{1 + i % 9}-1{i % 10}T10:{i % 60:02d}:00Z",
                        },
                    }
                )
                + "\n"
            )
        out.write(json.dumps({"type": "STATE", "value": {"orders": rows}}) + "\n")
    return path


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


# A tap started for the target (its stdout the target's stdin), instead of a file of messages.
Feed = Callable[[], "subprocess.Popen[bytes]"]


def run_target(
    sandbox: RunningSandbox,
    folder: Path,
    source: Path | Feed,
    mapping: dict,
    *,
    scale: float,
    on_start: threading.Event | None = None,
    stream: str = "orders",
    config: dict | None = None,
) -> tuple[ProcessCost, dict]:
    """The cost and the summary of one target process fed `source` (a file, or a tap it starts), the
    mapping for `stream`, more settings in `config`; the sandbox's CPU seconds over the run go into the summary as
    "sandbox_cpu". Every row is sent (full_refresh) unless `config` says otherwise, and the change memory is the run
    folder's: a throughput run is not to find its rows unchanged."""
    settings = {
        "api_key": sandbox.key(0),
        "api_url": sandbox.url,
        "rate_limit_scale": scale,
        "rejects_path": str(folder / "rejects.jsonl"),
        "change_memory": str(folder / "memory"),
        "full_refresh": True,
        "mappings": {stream: mapping},
        **(config or {}),
    }
    (folder / "config.json").write_text(json.dumps(settings))
    log = folder / "target.log"
    server = psutil.Process(sandbox.process.pid)
    server_cpu = cpu_seconds(server)
    start = time.perf_counter()
    feeder = None if isinstance(source, Path) else source()
    run = MeasuredProcess(
        [sys.executable, "-m", "target_klaviyo.target", "--config", str(folder / "config.json")],
        stdin=source if feeder is None else feeder.stdout,
        stderr=log,
        since=start,  # the feeder's start counts
    )
    if feeder:
        feeder.stdout.close()  # the target's now
    if on_start:
        on_start.set()
    cost = run.wait()
    if feeder and feeder.wait() != 0:
        raise SystemExit(f"the tap feeding the target failed ({feeder.returncode})")
    text = log.read_text()
    if cost.exit_code != 0:
        raise SystemExit(f"target failed ({cost.exit_code}):\n{text[-3000:]}")
    summary = json.loads(text.split("target-klaviyo summary json: ", 1)[1].splitlines()[0])
    summary["sandbox_cpu"] = cpu_seconds(server) - server_cpu
    return cost, summary


def rows_past_ceiling(windows: int) -> int:
    """More events than `windows` whole windows can take."""
    return int((windows + 0.5) * 150 * 1000)


def events_at_ceiling(
    sandbox: RunningSandbox,
    folder: Path,
    windows: int,
    *,
    feed: Feed | None = None,
    stream: str = "orders",
    config: dict | None = None,
    label: str = "events   ",
) -> float:
    """Feed more events than `windows` whole windows can take (a file of messages, or `feed`: a tap emitting
    `rows_past_ceiling(windows)` rows of `stream`); count the requests accepted within them."""
    rows = rows_past_ceiling(windows)
    source: Path | Feed = feed or write_input(folder / "events.singer", rows)
    samples: list[tuple[float, int]] = []
    started = threading.Event()
    done = threading.Event()

    def sample() -> None:
        started.wait()
        while not done.is_set():
            bucket = next(iter(sandbox.stats().values()), {}).get("bulk_create_events", {})
            # The time after the answer: a busy sandbox answers late, and the count must not be credited early.
            samples.append((time.monotonic(), bucket.get("requests", 0), bucket.get("202", 0)))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cost, summary = run_target(
        sandbox, folder, source, {"event": EVENT_MAPPING}, scale=1.0, on_start=started, stream=stream, config=config
    )
    done.set()
    sampler.join()
    # The sandbox's windows open with the first request it receives: before the first sample that counts one.
    t0 = max((t for t, arrived, _ in samples if arrived == 0), default=samples[0][0])
    within = max(accepted for t, _, accepted in samples if t < t0 + windows * WINDOW)
    rate = within * 1000 / (windows * WINDOW)
    stats = next(iter(sandbox.stats().values()))["bulk_create_events"]
    print(
        f"{label}: {rate:8.0f} events/s over {windows} whole windows = {rate / EVENTS_CEILING:6.1%} of the "
        f"ceiling ({EVENTS_CEILING:.0f}/s); {within} requests of 1,000 accepted in them, "
        f"{stats.get('429', 0)} throttled"
    )
    accepted = summary[stream]["event"]["accepted"]
    print(
        f"           whole run: {rows:,} events in {cost.wall_seconds:.1f} s, accepted {accepted:,}, target CPU "
        f"{cost.cpu_seconds:.1f} s, sandbox CPU {summary['sandbox_cpu']:.1f} s, peak RSS {cost.peak_rss_mb:.0f} MB"
    )
    return rate


def profiles_run(sandbox: RunningSandbox, folder: Path, rows: int) -> float:
    source = write_input(folder / "profiles.singer", rows)
    cost, summary = run_target(sandbox, folder, source, {"profile": PROFILE_MAPPING}, scale=1.0)
    wall, cpu, rss = cost.wall_seconds, cost.cpu_seconds, cost.peak_rss_mb
    rate = rows / wall
    accepted = summary["orders"]["profile"]["accepted"]
    print(
        f"profiles : {rate:8.0f} profiles/s = {rate / PROFILES_CEILING:6.1%} of the ceiling "
        f"({PROFILES_CEILING:.0f}/s); {accepted:,} of {rows:,} accepted in {wall:.1f} s "
        f"(jobs polled to completion)"
    )
    print(
        f"           target: {rows / cpu:,.0f} profiles per CPU-second, peak RSS {rss:.0f} MB; the sandbox parsed "
        f"and imported them with {summary['sandbox_cpu']:.1f} CPU-seconds of its own (one thread), on the same "
        f"{os.cpu_count()} cores"
    )
    return rate


# --- the old package's way -----------------------------------------------------------------------------------------

_OLD: dict = {}


def _old_init(url: str, key: str, path: str) -> None:
    _OLD.update(
        url=url + path,
        headers={
            "Authorization": f"Klaviyo-API-Key {key}",
            "revision": "2026-10-15",
            "content-type": "application/vnd.api+json",
        },
    )
    _OLD["session"] = requests.Session()


def _old_send(body: bytes) -> bool:
    """One row, one request; a 429 sleeps 10 s and tries again, forever (utils.py of the old package)."""
    while True:
        response = _OLD["session"].post(_OLD["url"], data=body, headers=_OLD["headers"], timeout=60)
        if response.status_code == 429:
            time.sleep(10)
            continue
        return response.status_code < 300


def old_way(sandbox: RunningSandbox, kind: str, rows: int) -> float:
    if kind == "events":
        path = "/api/events"
        bodies = [
            json.dumps(
                {
                    "data": {
                        "type": "event",
                        "attributes": {
                            "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order (old way)"}}},
                            "profile": {"data": {"type": "profile", "attributes": {"email": f"old{i}@bench.example"}}},
                            "properties": {"SKU": f"SKU-{i % 97}"},
                            "value": 10.25,
                            "time": "2025-01-10T10:00:00Z",
                            "unique_id": f"old-{i}",
                        },
                    }
                }
            ).encode()
            for i in range(rows)
        ]
    else:
        path = "/api/profile-import"
        bodies = [
            json.dumps(
                {
                    "data": {
                        "type": "profile",
                        "attributes": {
                            "email": f"oldp{i}@bench.example",
                            "first_name": "Ann",
                            "location": {"city": "Boston"},
                        },
                    }
                }
            ).encode()
            for i in range(rows)
        ]
    cores = multiprocessing.cpu_count()
    with multiprocessing.Pool(cores, initializer=_old_init, initargs=(sandbox.url, sandbox.key(0), path)) as pool:
        start = time.perf_counter()
        ok = sum(pool.map(_old_send, bodies, chunksize=1))
        wall = time.perf_counter() - start
    rate = ok / wall
    print(f"old way  : {rate:8.1f} {kind}/s ({ok} of {rows} one request per row to {path}, {cores} processes)")
    return rate


def memory(folder: Path, rows: list[int]) -> None:
    sandbox = start_sandbox(
        "--accounts", "1", "--events", "10", "--profiles", "10", "--rate-limit-scale", "0", "--job-seconds", "0.2"
    )
    try:
        peaks = []
        for n in rows:
            source = write_input(folder / f"memory-{n}.singer", n, distinct=1000)
            cost, summary = run_target(
                sandbox, folder, source, {"event": EVENT_MAPPING, "profile": PROFILE_MAPPING}, scale=0
            )
            wall, cpu, rss = cost.wall_seconds, cost.cpu_seconds, cost.peak_rss_mb
            accepted = summary["orders"]["event"]["accepted"] + summary["orders"]["profile"]["accepted"]
            peaks.append(rss)
            print(
                f"memory   : {n:>9,} rows (events + profiles) -> peak RSS {rss:5.0f} MB; {accepted:,} payloads "
                f"accepted in {wall:.0f} s ({n / cpu:,.0f} rows per target CPU-second)"
            )
            source.unlink()
        print(f"           peak RSS {rows[-1]:,} rows / {rows[0]:,} rows = {peaks[-1] / peaks[0]:.2f}")
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=2, help="whole 60 s windows to measure events over")
    parser.add_argument("--profiles", type=int, default=200_000)
    parser.add_argument("--old-rows", type=int, default=200)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--latency-ms", default="250")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="target-bench-") as tmp:
        folder = Path(tmp)
        sandbox = start_sandbox(
            "--accounts",
            "1",
            "--events",
            "10",
            "--profiles",
            "10",
            "--latency-ms",
            args.latency_ms,
            "--job-seconds",
            "0.5",
        )
        try:
            print(f"sandbox with Klaviyo's tiers and {args.latency_ms} ms per request; {os.cpu_count()} cores")
            events = events_at_ceiling(sandbox, folder, args.windows)
            sandbox.reset()
            old_events = old_way(sandbox, "events", args.old_rows)
            print(f"ratio    : bulk events / old way = {events / old_events:,.0f}x")
            sandbox.reset()
            profiles = profiles_run(sandbox, folder, args.profiles)
            sandbox.reset()
            old_profiles = old_way(sandbox, "profiles", args.old_rows)
            print(f"ratio    : bulk profiles / old way = {profiles / old_profiles:,.0f}x")
        finally:
            sandbox.stop()
        memory(folder, [100_000, args.memory_rows])


if __name__ == "__main__":
    main()
