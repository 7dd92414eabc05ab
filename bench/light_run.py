"""What one light run costs (scope `light`, the meltano.yml schedule klaviyo-light every 15 minutes) for an account
with 1,000,000 events a day.

    .venv/bin/python bench/light_run.py [--events-per-day 1000000] [--profiles-per-day 100000] [--latency-ms 250]

The sandbox holds two hours of data at that density, ending now, with Klaviyo's real tiers and a per-request
latency. The tap starts from the state a light run 15 minutes ago left (events and profiles bookmarked 15 minutes
ago), so it reads light_lookback_minutes (60) + 15 minutes of each, as every scheduled light run does. Prints the
requests it made (the sandbox's log, by path), the tap's CPU seconds (its own and its processes'), its wall time and
the rows it emitted. Record mode, to a file: the loader's cost is not in it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tap"))

from tap_runs import TAP, catalog_selecting, tap_sandbox

from tap_klaviyo.progress import USAGE_PREFIX

SPAN_HOURS = 2  # the data the sandbox holds, ending now: more than a light run reads
SINCE_LAST_RUN = timedelta(minutes=15)


def state_of_a_light_run(account_id: str, bookmark: datetime) -> dict:
    when = bookmark.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return {
        "bookmarks": {
            stream: {
                "partitions": [
                    {"context": {"account_id": account_id}, "replication_key": key, "replication_key_value": when}
                ]
            }
            for stream, key in (("events", "datetime"), ("profiles", "updated"))
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events-per-day", type=int, default=1_000_000)
    parser.add_argument("--profiles-per-day", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=250)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="light-bench-"))
    now = datetime.now(UTC).replace(microsecond=0)
    events, profiles = (per_day * SPAN_HOURS // 24 for per_day in (args.events_per_day, args.profiles_per_day))
    sandbox, config = tap_sandbox(
        folder, "--accounts", "1", "--events", str(events), "--profiles", str(profiles),
        "--years", str(SPAN_HOURS / (365.25 * 24)), "--end", now.isoformat(), "--latency-ms", str(args.latency_ms),
        scope="light",
    )  # fmt: skip
    try:
        config_path = folder / "config.json"
        config_path.write_text(json.dumps(config))
        (folder / "catalog.json").write_text(json.dumps(catalog_selecting(config_path, ["*"])))
        all_streams = json.loads((folder / "catalog.json").read_text())
        for entry in all_streams["streams"]:  # every stream selected: the light scope alone keeps two
            for metadata in entry["metadata"]:
                if not metadata["breadcrumb"]:
                    metadata["metadata"]["selected"] = True
        (folder / "catalog.json").write_text(json.dumps(all_streams))
        account_id = sandbox.accounts[0]["id"]
        (folder / "state.json").write_text(json.dumps(state_of_a_light_run(account_id, now - SINCE_LAST_RUN)))
        served = len(sandbox.requests())
        start = time.perf_counter()
        with open(folder / "out.singer", "w") as out:
            result = subprocess.run(
                [*TAP, "--config", str(config_path), "--catalog", str(folder / "catalog.json"),
                 "--state", str(folder / "state.json")],
                stdout=out, stderr=subprocess.PIPE, text=True, timeout=3600, check=False,
            )  # fmt: skip
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"tap failed: {result.stderr[-2000:]}")
        requests = Counter(request["path"].split("?")[0] for request in sandbox.requests()[served:])
    finally:
        sandbox.stop()
    # the last usage line is the parent's (each process it started prints its own before)
    usage = json.loads([line for line in result.stderr.splitlines() if USAGE_PREFIX in line][-1].split(USAGE_PREFIX)[1])
    rows: Counter[str] = Counter()
    with open(folder / "out.singer") as singer:
        for line in singer:
            if line.startswith('{"type":"RECORD"'):
                rows[json.loads(line)["stream"]] += 1
    cpu = usage["cpu_seconds"] + usage["account_processes_cpu_seconds"]
    print(
        f"light run, 1 account, {args.events_per_day:,} events and {args.profiles_per_day:,} profile updates a day, "
        f"{args.latency_ms:.0f} ms per request, real tiers"
    )
    print(f"rows emitted: {dict(rows)}")
    print(f"requests: {sum(requests.values())} ({', '.join(f'{path} {n}' for path, n in requests.most_common())})")
    own = usage["cpu_seconds"]
    print(f"tap CPU: {cpu:.1f} s (parent {own:.1f} s, its processes {cpu - own:.1f} s)")
    print(f"wall: {wall:.1f} s (of the 15 minutes between two light runs: {wall / 900:.1%})")


if __name__ == "__main__":
    main()
