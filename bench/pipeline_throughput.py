"""The pipeline users run, `meltano run tap-klaviyo target-snowflake`, in batch mode and in record mode, side by side.

    .venv/bin/python bench/pipeline_throughput.py [--events 1000000] [--small 100000] [--latency-ms 250]
                                                  [--modes batch,records,validated]

Against a sandbox with Klaviyo's real tiers and `--latency-ms` per request, the real Meltano and the real
target-snowflake 0.20.4 (on the emulator), events only:

1. the tap alone in batch mode, one account, `--alone-events` events (3,500,000: over a minute at the ceiling, so the
   steady window binds, not only the burst): events/s and its share of the ceiling (3,500 pages a minute x 1,000 =
   58,333/s), goal >= 90%; beside it, what the sandbox itself serves to as many plain clients as the tap has
   requests in flight (`window_concurrency`), reading the same pages and nothing else: the stand-in renders pages
   one at a time in one event loop, so it can hold the tap below the ceiling where Klaviyo would not;
2. the pipeline, each mode, on `--small` and `--events` events of one account and `--events` over 4 accounts:
   - events/s end to end (Meltano started to the loader done), and the share of the accounts' ceiling;
   - the tap's CPU per 1,000 events (its own line, `tap-klaviyo usage:`, account processes included);
   - target-snowflake's own CPU per 1,000 events: its process CPU less what the emulator spent in DuckDB and on the
     stage (`snowflake-emulator:` line), the work Snowflake does remotely; the emulator's seconds;
   - peak memory of the tap's and the target's processes; peak disk of the batch files;
   - `validated` is record mode with target-snowflake's `validate_records` on (meltano.yml turns it off): what
     checking each record against its schema costs the loader;
   - the goal: in batch mode, the pipeline's own work (tap + target, emulator excluded) >= 50,000 events per
     CPU-second; and memory flat from `--small` to `--events`.
Each figure is measured in this one run; the machine's other load moves them, so compare within a run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "e2e"), str(ROOT / "tests" / "tap"), str(ROOT / "tests")]

from meltano_project import PROJECT, LocalProject, ensure_installed  # noqa: E402
from process_cost import MeasuredProcess  # noqa: E402
from tap_runs import tap_command, tap_sandbox  # noqa: E402

from klaviyo_http.client import REVISION  # noqa: E402
from local_stand_ins.stack import start_local_stack  # noqa: E402
from tap_klaviyo.settings import CONFIG_SCHEMA  # noqa: E402

CEILING = 3500 * 1000 / 60  # events per second per account: steady pages a minute x largest page
IN_FLIGHT = CONFIG_SCHEMA["properties"]["window_concurrency"]["default"]  # the tap's requests in flight per account


@dataclass
class Peaks:
    """Peak RSS (MB) of the tap's and the target's processes, and peak disk (MB) of the batch files, by polling."""

    tap_mb: float = 0.0
    target_mb: float = 0.0
    disk_mb: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self, root_pid: int, folder: Path) -> threading.Thread:
        def poll() -> None:
            while not self.stop.is_set():
                tap = target = 0.0
                try:
                    children = psutil.Process(root_pid).children(recursive=True)
                except psutil.NoSuchProcess:
                    return
                for child in children:
                    try:
                        line = " ".join(child.cmdline())
                        rss = child.memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    if "tap_klaviyo" in line or "tap-klaviyo" in line:
                        tap = max(tap, rss)
                    elif "target-snowflake" in line or "target_snowflake" in line:
                        target = max(target, rss)
                self.tap_mb, self.target_mb = max(self.tap_mb, tap), max(self.target_mb, target)
                self.disk_mb = max(self.disk_mb, _folder_mb(folder))
                time.sleep(0.2)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        return thread


def _folder_mb(folder: Path) -> float:
    total = 0
    for path in folder.rglob("*.jsonl*") if folder.exists() else ():
        with contextlib.suppress(OSError):  # loaded and deleted meanwhile
            total += path.stat().st_size
    return total / 2**20


def line_after(text: str, prefix: str) -> dict:
    for line in reversed(text.splitlines()):
        if prefix in line:
            return json.loads(line.split(prefix, 1)[1])
    raise SystemExit(f"no '{prefix.strip()}' line in the run's output")


def pipeline(mode: str, accounts: int, events_per_account: int, latency: float, folder: Path) -> dict:
    """One `meltano run tap-klaviyo target-snowflake` on a fresh stack: its figures."""
    stack = start_local_stack(
        "--accounts", str(accounts), "--events", str(events_per_account), "--profiles", "10",
        "--latency-ms", str(latency),
    )  # fmt: skip
    try:
        project = LocalProject(stack, folder / f"{mode}-{accounts}-{events_per_account}")
        env = project.env(TAP_KLAVIYO__SELECT_FILTER='["events"]', TAP_KLAVIYO_PARALLEL_ACCOUNTS=str(accounts))
        if mode in ("records", "validated"):
            env["TAP_KLAVIYO_BATCH_FILES"] = "false"
        env["TARGET_SNOWFLAKE_VALIDATE_RECORDS"] = "true" if mode == "validated" else "false"
        peaks = Peaks()
        log = folder / f"{mode}-{accounts}-{events_per_account}.log"
        run = MeasuredProcess(
            [str(Path(sys.executable).with_name("meltano")), "run", "tap-klaviyo", "target-snowflake"],
            cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        # meltano.yml roots the batch files in the project's own Meltano folder ($MELTANO_SYS_DIR_ROOT)
        watcher = peaks.watch(run.process.pid, project.system / "run" / "tap-klaviyo" / "batches")
        cost = run.wait()
        peaks.stop.set()
        watcher.join()
    finally:
        stack.stop()
    output, wall = log.read_text(), cost.wall_seconds
    if cost.exit_code != 0:
        raise SystemExit(f"{mode} run failed:\n{output[-4000:]}")
    tap = line_after(output, "tap-klaviyo usage: ")
    emulator = line_after(output, "snowflake-emulator: ")
    events = accounts * events_per_account
    tap_cpu = tap["cpu_seconds"] + tap["account_processes_cpu_seconds"]
    target_own = emulator["process_cpu_seconds"] - emulator["duckdb_cpu_seconds"]
    return {
        "mode": mode,
        "accounts": accounts,
        "events": events,
        "wall": wall,
        "rate": events / wall,
        "ceiling": events / wall / (CEILING * accounts),
        "tap_ms_per_1000": 1000 * tap_cpu / events * 1000,
        "target_ms_per_1000": 1000 * target_own / events * 1000,
        "emulator_s": emulator["duckdb_seconds"],
        "emulator_cpu_s": emulator["duckdb_cpu_seconds"],
        "own_per_cpu_s": events / (tap_cpu + target_own),
        "tap_mb": max(peaks.tap_mb, tap["peak_rss_mb"], tap["account_processes_peak_rss_mb"]),
        "target_mb": max(peaks.target_mb, emulator["peak_rss_mb"]),
        "disk_mb": peaks.disk_mb,
    }


def tap_alone(events: int, latency: float, folder: Path) -> tuple[float, float, float]:
    """(events/s, share of the ceiling, events per CPU-second) of the tap alone in batch mode, one account."""
    sandbox, config = tap_sandbox(
        folder, "--accounts", "1", "--events", str(events), "--profiles", "10", "--latency-ms", str(latency),
        start_date="2012-01-01T00:00:00Z",
        batch_config={
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": (folder / "alone").as_uri()},
            "batch_size": 100_000,
        },
        batch_max_pending_files=0,  # no loader: the files stay until this script removes them
    )  # fmt: skip
    try:
        cost = MeasuredProcess(tap_command(folder, config, ["events"])).wait()
    finally:
        sandbox.stop()
    if cost.exit_code != 0:
        raise SystemExit(f"the tap failed with status {cost.exit_code}")
    subprocess.run(["rm", "-rf", str(folder / "alone")], check=True)
    rate = events / cost.wall_seconds
    return rate, rate / CEILING, events / cost.cpu_seconds


def sandbox_alone(events: int, latency: float, folder: Path, seconds: float = 20.0) -> float:
    """Events/s the sandbox serves to IN_FLIGHT plain clients (threads that only read), each asking pages of 1,000
    events with their attributions, as the tap does, from its own point of the data set."""
    sandbox, _ = tap_sandbox(
        folder, "--accounts", "1", "--events", str(events), "--profiles", "10", "--latency-ms", str(latency)
    )
    headers = {"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": REVISION}
    pages: list[int] = []
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        session, read = requests.Session(), 0
        start = f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T00:00:00Z"
        params = {"page[size]": 1000, "include": "attributions", "sort": "datetime",
                  "filter": f"greater-or-equal(datetime,{start})"}  # fmt: skip
        while time.monotonic() < stop:
            response = session.get(f"{sandbox.url}/api/events", params=params, headers=headers, timeout=60)
            response.raise_for_status()
            read += 1
        pages.append(read)

    try:
        clients = [threading.Thread(target=client, args=(n,)) for n in range(IN_FLIGHT)]
        started = time.monotonic()
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        return sum(pages) * 1000 / (time.monotonic() - started)
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--alone-events", type=int, default=3_500_000)
    parser.add_argument("--latency-ms", type=float, default=250)
    parser.add_argument("--modes", default="batch,records,validated")
    args = parser.parse_args()
    ensure_installed("tap-klaviyo", "target-snowflake")
    folder = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))

    rate, share, per_cpu = tap_alone(args.alone_events, args.latency_ms, folder)
    print(
        f"tap alone, batch mode, 1 account, {args.alone_events:,} events, real tiers, {args.latency_ms:.0f} ms a page:"
    )
    print(f"  {rate:,.0f} events/s = {share:.0%} of the ceiling (goal >= 90%: ratio {share / 0.9:.2f}); "
          f"{per_cpu:,.0f} events per CPU-second")  # fmt: skip
    served = sandbox_alone(args.alone_events, args.latency_ms, folder)
    print(
        f"  the sandbox alone, {IN_FLIGHT} plain clients: {served:,.0f} events/s = {served / CEILING:.0%} of the "
        f"ceiling; the tap reaches {rate / served:.0%} of what the stand-in serves\n"
    )

    runs = []
    header = ("mode", "acc", "events", "s", "events/s", "of ceil", "tap ms/1k", "tgt ms/1k", "emul s", "own ev/CPU-s",
              "tap MB", "tgt MB", "disk MB")  # fmt: skip
    widths = (9, 3, 9, 6, 9, 7, 9, 9, 7, 12, 7, 7, 7)
    print(
        " ".join(
            f"{name:>{width}}" if n else f"{name:{width}}"
            for n, (name, width) in enumerate(zip(header, widths, strict=True))
        )
    )
    for mode in args.modes.split(","):
        for accounts, per_account in ((1, args.small), (1, args.events), (4, args.events // 4)):
            result = pipeline(mode, accounts, per_account, args.latency_ms, folder)
            runs.append(result)
            print(f"{mode:9} {accounts:3d} {result['events']:9,d} {result['wall']:6.0f} {result['rate']:9,.0f} "
                  f"{result['ceiling']:7.0%} {result['tap_ms_per_1000']:9.1f} {result['target_ms_per_1000']:9.1f} "
                  f"{result['emulator_s']:7.1f} {result['own_per_cpu_s']:12,.0f} {result['tap_mb']:7.0f} "
                  f"{result['target_mb']:7.0f} {result['disk_mb']:7.0f}", flush=True)  # fmt: skip

    print("\ngoals (ratio >= 1.00 is met):")
    by = {(r["mode"], r["accounts"], r["events"]): r for r in runs}
    if ("batch", 1, args.events) in by:
        own = by[("batch", 1, args.events)]["own_per_cpu_s"]
        print(f"  batch: pipeline's own work {own:,.0f} events per CPU-second, goal 50,000: ratio {own / 50_000:.2f}")
    print(
        f"  tap alone in batch mode: {share:.0%} of the ceiling, goal 90%: ratio {share / 0.9:.2f} (the sandbox "
        f"alone serves {served / CEILING:.0%})"
    )
    for mode in args.modes.split(","):
        small, large = by.get((mode, 1, args.small)), by.get((mode, 1, args.events))
        if small and large:
            growth = max(large["tap_mb"] / small["tap_mb"], large["target_mb"] / small["target_mb"])
            print(f"  {mode}: peak memory at {args.events:,} vs {args.small:,} events: x{growth:.2f} (flat: <= 1.3)")
    if ("records", 1, args.events) in by and ("batch", 1, args.events) in by:
        gain = by[("batch", 1, args.events)]["own_per_cpu_s"] / by[("records", 1, args.events)]["own_per_cpu_s"]
        print(f"  batch vs record mode, own work per CPU-second: x{gain:.1f}")
    if ("records", 1, args.events) in by and ("validated", 1, args.events) in by:
        plain, checked = by[("records", 1, args.events)], by[("validated", 1, args.events)]
        print(
            f"  record mode, the loader's own ms per 1,000 events: {plain['target_ms_per_1000']:.1f} without "
            f"validate_records, {checked['target_ms_per_1000']:.1f} with it "
            f"(x{checked['target_ms_per_1000'] / plain['target_ms_per_1000']:.2f})"
        )


if __name__ == "__main__":
    main()
