"""The dbt models' run time on the Snowflake emulator: the demo's data set and 1,000,000 events, side by side.

    .venv/bin/python bench/models_runtime.py [--events 1000000] [--profiles 100000]

For each data set: the sandbox (no rate limits), `meltano run tap-klaviyo target-snowflake` loading the streams the
models read (not timed), then, timed from Meltano's start to its end:
1. `dbt-snowflake:run` on an empty ANALYTICS (every model built; `events` in full);
2. `dbt-snowflake:run` again with nothing new loaded (the incremental `events` takes its 7-day lookback again);
3. `dbt-snowflake:test` (every dbt test).
Each line gives the wall seconds and the emulator's DuckDB seconds (from its `snowflake-emulator:` line), the share
Snowflake would run on its own warehouse. One machine, one run: compare within it (transform/README.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "e2e"), str(ROOT / "tests")]

from meltano_project import LocalProject, ensure_installed  # noqa: E402

from local_stand_ins.stack import start_local_stack  # noqa: E402
from snowflake_emulator.accounting import PREFIX, parse_line  # noqa: E402

MODEL_STREAMS = (
    '["accounts","events","metrics","profiles","campaigns","campaign_messages","flows","flow_actions","flow_messages"]'
)
ENV = {"TAP_KLAVIYO_RATE_LIMIT_SCALE": "0", "TAP_KLAVIYO__SELECT_FILTER": MODEL_STREAMS}


def measure(name: str, accounts: int, events: int, profiles: int) -> None:
    with tempfile.TemporaryDirectory(prefix="models-bench-") as tmp:
        data = ("--accounts", str(accounts), "--seed", "7", "--events", str(events), "--profiles", str(profiles))
        stack = start_local_stack(*data, "--rate-limit-scale", "0", "--end", "today")
        try:
            project = LocalProject(stack, Path(tmp) / "warehouse")
            load = project.meltano("run", "tap-klaviyo", "target-snowflake", timeout=3600, **ENV)
            if load.code != 0:
                raise SystemExit(f"loading failed:\n{load.output[-4000:]}")
            for step in ("dbt-snowflake:run", "dbt-snowflake:run", "dbt-snowflake:test"):
                started = time.monotonic()
                run = project.meltano("run", step, timeout=3600)
                seconds = time.monotonic() - started
                if run.code != 0:
                    raise SystemExit(f"{step} failed:\n{run.output[-4000:]}")
                duckdb = emulator_seconds(run.output)
                print(f"{name:<34} {step:<20} {seconds:8.1f} s   emulator (DuckDB) {duckdb:7.1f} s", flush=True)
        finally:
            stack.stop()


def emulator_seconds(output: str) -> float:
    """The DuckDB seconds of the launcher's accounting line, which Meltano logs behind its own prefix."""
    lines = [line[line.index(PREFIX) :] for line in output.splitlines() if PREFIX + "{" in line]
    summary = parse_line("\n".join(lines)) or {}
    return float(summary.get("duckdb_seconds", 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--profiles", type=int, default=100_000)
    args = parser.parse_args()
    ensure_installed("tap-klaviyo", "target-snowflake", "dbt-snowflake")
    # scripts/demo.py's data set: 3 brands of 20,000 events and 2,000 profiles
    measure("demo: 3 x 20,000 events", 3, 20_000, 2_000)
    measure(f"1 x {args.events:,} events", 1, args.events, args.profiles)


if __name__ == "__main__":
    main()
