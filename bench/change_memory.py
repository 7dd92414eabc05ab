"""What target-klaviyo's change memory costs, and what it saves: a second run over an unchanged table.

    .venv/bin/python bench/change_memory.py [--keys 1000000] [--rows 1000000] [--latency-ms 250]

Prints, measured in this run:
1. per million keys, in process (target_klaviyo.memory_file / changes / storage): the file's size on disk, the
   resident memory it takes once read, the memory a first run's accepted rows take until written, and the CPU of
   reading it, of deciding a row (key and fingerprint hashes, the lookup), and of writing it (merge, encode,
   an atomic write with fsync);
2. target-klaviyo as a process over --rows profiles (Singer messages as tap-csv sends them) against the sandbox
   with Klaviyo's real tiers and --latency-ms per request: the first run (every row new), a second run over the
   same rows (none changed) and a third with 1% of them changed; wall time, CPU and peak RSS of each, what the
   second and third sent (the sandbox's request log), and the second run's time against the first's.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
from target_throughput import PROFILE_MAPPING, run_target, write_input

from klaviyo_sandbox.pytest_plugin import start_sandbox
from target_klaviyo.changes import Accepted, Changes, Fingerprint, key_hash
from target_klaviyo.memory_file import Snapshot, decode, encode
from target_klaviyo.storage import LocalFolder

MILLION = 1_000_000


def traced_mb() -> float:
    """Memory Python and numpy hold now (tracemalloc: RSS would hide what the allocator reuses)."""
    return tracemalloc.get_traced_memory()[0] / 2**20


def cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def in_process(folder: Path, n: int) -> None:
    per_million = MILLION / n
    fingerprint = Fingerprint("profile", PROFILE_MAPPING, ["email", "first_name", "last_name", "city", "zip"], "UTC")
    rows = [[f"buyer{i}@bench.example", "Ann", "Lee", "Boston", "02110"] for i in range(n)]

    # A first run: every row decided (all new), accepted, then the memory written.
    empty = Changes(Snapshot.empty())
    start = cpu()
    keys = [key_hash(row[0]) for row in rows]
    fps = [fingerprint.of(row) for row in rows]
    hashing = cpu() - start
    tracemalloc.start()
    before = traced_mb()
    empty.accept(Accepted(i, k, f) for i, (k, f) in enumerate(zip(keys, fps, strict=True)))
    accepted_mb = traced_mb() - before
    tracemalloc.stop()
    storage = LocalFolder(folder / "memory")
    start = cpu()
    data = encode(empty.after(), "orders/profile")
    storage.write("m.tkm", data)
    writing = cpu() - start
    disk = (folder / "memory" / "m.tkm").stat().st_size

    del data, empty
    tracemalloc.start()
    before = traced_mb()
    start = cpu()
    raw = storage.read("m.tkm")
    assert raw is not None
    snapshot = decode(raw)
    del raw  # the arrays keep what they need of it
    reading = cpu() - start
    loaded_mb = traced_mb() - before
    tracemalloc.stop()
    changes = Changes(snapshot)
    start = cpu()
    for k, f in zip(keys, fps, strict=True):
        changes.decide(k, f)
    deciding = cpu() - start
    print(f"change memory, in process, {n:,} keys (figures per million keys):")
    print(f"  disk      {disk * per_million / 2**20:6.1f} MB   ({disk / n:.1f} bytes a key: two 8-byte hashes)")
    print(f"  memory    {loaded_mb * per_million:6.1f} MB   resident once read (the file's arrays, in place)")
    print(f"            {accepted_mb * per_million:6.1f} MB   a first run's accepted rows until written")
    print(f"  CPU       {reading * per_million:6.2f} s    to read and check it")
    print(f"            {(hashing + deciding) * per_million:6.2f} s    to decide a million rows (hashes and lookups)")
    print(f"            {writing * per_million:6.2f} s    to merge, encode and write it (fsync, rename)")


def profile_runs(folder: Path, rows: int, latency_ms: str) -> None:
    sandbox = start_sandbox(
        "--accounts", "1", "--events", "10", "--profiles", "10", "--latency-ms", latency_ms, "--job-seconds", "0.5"
    )
    try:
        account = sandbox.accounts[0]["id"]
        source = write_input(folder / "traits.singer", rows)
        changed = folder / "traits-1pc.singer"
        # Every 100th row's last name changes; streamed, so that this process stays small (a process it starts
        # begins as a copy of it, and its peak RSS would count what this one holds).
        with source.open() as lines, changed.open("w") as out:
            for i, line in enumerate(lines):
                if i % 100 == 1 and line.startswith('{"type": "RECORD"'):
                    record = json.loads(line)
                    record["record"]["last_name"] = "Changed"
                    line = json.dumps(record) + "\n"  # noqa: PLW2901
                out.write(line)
        print(
            f"target-klaviyo over {rows:,} profiles, against the sandbox (Klaviyo's tiers, {latency_ms} ms a request, "
            f"{os.cpu_count()} shared cores):"
        )
        walls: list[float] = []
        cpus: list[float] = []
        for label, path in (("first", source), ("unchanged", source), ("1% changed", changed)):
            since = time.time()
            cost, summary = run_target(
                sandbox, folder, path, {"profile": PROFILE_MAPPING}, scale=1.0, config={"full_refresh": False}
            )
            wall, target_cpu, peak = cost.wall_seconds, cost.cpu_seconds, cost.peak_rss_mb
            counts = summary["orders"]["profile"]
            jobs = [
                e
                for e in sandbox.requests("/api/profile-bulk-import-jobs", method="POST", account_id=account)
                if e["t"] >= since
            ]
            walls.append(wall)
            cpus.append(target_cpu)
            print(
                f"  {label:<10} {wall:7.1f} s wall, {target_cpu:6.1f} s CPU, peak RSS {peak:4.0f} MB; sent "
                f"{counts['sent']:>9,} in {len(jobs)} import jobs, unchanged {counts['unchanged']:>9,}"
            )
        print(
            f"  unchanged / first run: {walls[1] / walls[0]:.3f} of the wall time ({cpus[1] / walls[0]:.3f} counting "
            f"the unchanged run's CPU only: {cpus[1] / rows * 1e6:.1f} us a row); 1% changed / first run: "
            f"{walls[2] / walls[0]:.3f}. At Klaviyo's ceiling (25,000 profiles/s) a first run takes at least "
            f"{rows / 25_000:.0f} s."
        )
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=MILLION)
    parser.add_argument("--rows", type=int, default=MILLION)
    parser.add_argument("--latency-ms", default="250")
    args = parser.parse_args()
    np.random.seed(0)
    with tempfile.TemporaryDirectory(prefix="change-memory-bench-") as tmp:
        # The target runs first: a process forked from this one once it holds the in-process lists would count
        # them in its peak RSS.
        if args.rows:
            profile_runs(Path(tmp), args.rows, args.latency_ms)
        in_process(Path(tmp), args.keys)


if __name__ == "__main__":
    main()
