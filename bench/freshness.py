"""How fresh the warehouse is on the light schedule: from an event written to Klaviyo to its row in RAW.KLAVIYO.EVENTS.

    .venv/bin/python bench/freshness.py [--samples 3] [--events-per-day 1000000] [--profiles-per-day 100000]
                                        [--latency-ms 250]

One account whose sandbox holds two hours of data at that density, ending now, with Klaviyo's real tiers and a
per-request latency; the project on the emulator (tests/e2e/meltano_project.py). The full schedule (`meltano
schedule run klaviyo-to-snowflake`) runs once so the state exists (not measured). Then `--samples` times: one event
is written through the API, as a store's integration writes it, `meltano schedule run klaviyo-light` starts at once,
and when it ends the event's row is looked up in RAW.KLAVIYO.EVENTS. Each sample gives the seconds from the write to
the row found, and to target-snowflake's end (the row is committed by then, before warehouse-sql:apply); where the
run spent its time, from the timestamps of Meltano's log (Meltano's start, its state and catalog, the tap,
target-snowflake's load after the tap, Meltano's state write, warehouse-sql:apply, Meltano's exit); the requests to
Klaviyo, the rows the tap read and its seconds reading them; the load average. From the median and the light
schedule's interval (its cron in meltano.yml): the best case (an event written as a run starts), the worst (written
just after a run read the events: the interval and a run) and the average over events written at any time. Real
Snowflake's MERGE and start-up times are not the emulator's: the target-snowflake and warehouse-sql:apply lines are
the emulator's.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "e2e"), str(ROOT / "tests"), str(ROOT / "orchestrate")]

from meltano_project import LocalProject, ensure_installed, tagged, write_events  # noqa: E402
from render import gaps_seconds  # noqa: E402

from local_stand_ins.argo import meltano_yml  # noqa: E402
from local_stand_ins.stack import LocalStack, start_local_stack  # noqa: E402

SCHEDULE = "klaviyo-light"
SPAN_HOURS = 2  # the data the sandbox holds, ending now: more than a light run reads (its lookback is 60 minutes)
LOG_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z \[\s*\w+\s*\] (\S+)\s+(.*)")
READ = re.compile(r"(\w+) for '[^']*': done, ([\d,]+) rows in (\d+) s")  # tap_klaviyo/progress.py
# The run's steps, each ending at a line of Meltano's log: (step, who logged it, what it says, its first or last)
STEPS = (
    ("Meltano's start", "meltano", "Running job with name", "first"),
    ("state, catalog", "tap-klaviyo", "tap-klaviyo v", "first"),  # the sync's own start, after the discovery
    ("tap-klaviyo", "tap-klaviyo", "", "last"),
    ("target-snowflake after the tap", "target-snowflake", "", "last"),
    ("Meltano's state write", "meltano", "Block run completed", "first"),
    ("warehouse-sql:apply", "meltano", "Block run completed", "last"),
)


def log_times(output: str) -> list[tuple[float, str, str]]:
    """(epoch seconds, who, message) of each timestamped line of Meltano's log, in time order."""
    lines = []
    for line in output.splitlines():
        if found := LOG_LINE.match(line):
            when = datetime.fromisoformat(found[1]).replace(tzinfo=UTC).timestamp()
            lines.append((when, found[2], found[3]))
    return sorted(lines)


def step_seconds(output: str, started: float, ended: float) -> dict[str, float | None]:
    """Seconds of each step of STEPS, and Meltano's exit after the last; None where a step's line is missing."""
    lines = log_times(output)
    steps: dict[str, float | None] = {}
    previous: float | None = started
    for step, who, says, which in STEPS:
        times = [when for when, name, message in lines if name == who and says in message]
        at = (times[0] if which == "first" else times[-1]) if times else None
        steps[step] = at - previous if at is not None and previous is not None else None
        previous = at
    steps["Meltano's exit"] = ended - previous if previous is not None else None
    return steps


def sample(stack: LocalStack, project: LocalProject, number: int) -> dict[str, float | None]:
    """One event written, one light run started at once; the figures of one column."""
    tag = f"freshness-{number}-{int(time.time())}"
    served = len(stack.sandbox.requests())
    load = os.getloadavg()[0]
    written = time.time()
    write_events(stack, datetime.now(UTC), 1, tag)
    started = time.time()
    run = project.meltano("schedule", "run", SCHEDULE, timeout=3600)
    ended = time.time()
    if run.code != 0:
        raise SystemExit(f"`meltano schedule run {SCHEDULE}` failed:\n{run.output[-4000:]}")
    if tagged(project, tag) != 1:
        raise SystemExit(f"the event written ({tag}) is not in RAW.KLAVIYO.EVENTS after the light run")
    found = time.time()
    loaded = [when for when, name, _ in log_times(run.output) if name == "target-snowflake"]
    rows: Counter[str] = Counter()
    reading: Counter[str] = Counter()  # seconds from the stream's first request to its last row, as the tap counts
    for stream, count, seconds in READ.findall(run.output):
        rows[stream] += int(count.replace(",", ""))
        reading[stream] = max(reading[stream], int(seconds))
    return {
        "write -> row found (s)": found - written,
        "write -> target-snowflake done (s)": loaded[-1] - written if loaded else None,
        "the run (s)": ended - started,
        **{f"  {step}": seconds for step, seconds in step_seconds(run.output, started, ended).items()},
        "requests to Klaviyo": len(stack.sandbox.requests()) - served,
        "events read": rows["events"],
        "events: seconds reading (the tap's count)": reading["events"],
        "profiles read": rows["profiles"],
        "profiles: seconds reading": reading["profiles"],
        "load average (1 min) at the write": load,
    }


def interval_gaps() -> list[int]:
    """The seconds between one run of the light schedule and the next, through a day (its cron in meltano.yml)."""
    schedules = meltano_yml()["schedules"]
    return gaps_seconds(next(s["interval"] for s in schedules if s["name"] == SCHEDULE))


def cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--events-per-day", type=int, default=1_000_000)
    parser.add_argument("--profiles-per-day", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=250)
    args = parser.parse_args()
    ensure_installed("tap-klaviyo", "target-snowflake", "warehouse-sql")
    gaps = interval_gaps()
    events, profiles = (per_day * SPAN_HOURS // 24 for per_day in (args.events_per_day, args.profiles_per_day))
    stack = start_local_stack(
        "--accounts", "1", "--events", str(events), "--profiles", str(profiles),
        "--years", str(SPAN_HOURS / (365.25 * 24)), "--end", datetime.now(UTC).isoformat(),
        "--latency-ms", str(args.latency_ms),
    )  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="freshness-bench-") as folder:
            project = LocalProject(stack, Path(folder) / "warehouse")
            started = time.monotonic()
            full = project.meltano("schedule", "run", "klaviyo-to-snowflake", timeout=3600)
            if full.code != 0:
                raise SystemExit(f"the full run failed:\n{full.output[-4000:]}")
            print(
                f"1 account, {args.events_per_day:,} events and {args.profiles_per_day:,} profile updates a day "
                f"({events:,} and {profiles:,} over {SPAN_HOURS} hours), Klaviyo's real tiers, {args.latency_ms:.0f} "
                f"ms per request; the full run that made the state: {time.monotonic() - started:.0f} s",
                flush=True,
            )
            columns = []
            for number in range(1, args.samples + 1):
                columns.append(sample(stack, project, number))
                print(f"sample {number}: {columns[-1]['write -> row found (s)']:.1f} s from write to row", flush=True)
    finally:
        stack.stop()
    print()
    print(f"| | {' | '.join(f'sample {n}' for n in range(1, len(columns) + 1))} | median |")
    print(f"|---|{'---|' * (len(columns) + 1)}")
    for figure in columns[0]:
        values = [column[figure] for column in columns]
        known = [value for value in values if value is not None]
        median = statistics.median(known) if len(known) == len(values) else None
        print(f"| {figure} | {' | '.join(cell(value) for value in values)} | {cell(median)} |")
    fresh = statistics.median(column["write -> row found (s)"] or 0.0 for column in columns)
    worst, average = max(gaps), sum(gap * gap for gap in gaps) / (2 * sum(gaps))  # an event at any time of the day
    print()
    print(f"the light schedule ({SCHEDULE}, meltano.yml) runs at most {worst / 60:.0f} minutes apart; write to row:")
    print(f"  best case (written as a run starts): {fresh:.0f} s")
    print(f"  average (written at any time, waits {average / 60:.1f} min for a run): {(average + fresh) / 60:.1f} min")
    print(f"  worst case (written just after a run read the events): {(worst + fresh) / 60:.1f} min")


if __name__ == "__main__":
    main()
