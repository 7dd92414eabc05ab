"""Events into Klaviyo from the warehouse (tap-snowflake -> target-klaviyo) against the CSV flow (tap-csv ->
target-klaviyo), side by side in one run, against the sandbox with Klaviyo's real tiers and 250 ms per request.

    .venv/bin/python bench/reverse_throughput.py [--windows 2] [--latency-ms 250]

First each tap alone (its output thrown away): rows/s and CPU. Then each flow is a tap process piped into
target-klaviyo, fed more events than `--windows` whole 60-second rate-limit
windows can take, and measured as bench/target_throughput.py measures events (its helpers: requests accepted
within whole windows, counted from the sandbox's own tally): events per second, as a share of the bulk ceiling
(150 requests/min x 1,000 events), and tap-snowflake's rate over the CSV flow's.
- CSV flow: tap-csv reading a CSV file of the rows bench/target_throughput.py sends (`write_input`);
- warehouse: MeltanoLabs tap-snowflake (`tap-snowflake-launcher`, its Meltano venv) reading the same number of rows
  from a table of the Snowflake emulator (NUMBER and TIMESTAMP_NTZ columns, as a model's table has them).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from process_cost import MeasuredProcess
from target_throughput import COLUMNS, EVENTS_CEILING, events_at_ceiling, rows_past_ceiling, write_input

from klaviyo_sandbox.pytest_plugin import start_sandbox
from local_stand_ins import analytics

PROJECT = Path(__file__).resolve().parents[1]
TAP_CSV = Path(sys.executable).with_name("tap-csv")
TAP_SNOWFLAKE = PROJECT / ".meltano" / "extractors" / "tap-snowflake" / "venv" / "bin" / "tap-snowflake-launcher"
TABLE, STREAM = "ANALYTICS.BENCH_ORDERS", "analytics-bench_orders"
# As meltano.yml's target-klaviyo config: NUMBER columns as floats until target-klaviyo sends JSON decimals.
FLOATS = {"stream_maps": {STREAM: {"total": "float(total) if total is not None else None"}}}


def csv_feed(folder: Path, rows: int) -> list[str]:
    """A CSV of the rows target_throughput sends, and the tap-csv command that reads it."""
    singer = write_input(folder / "rows.singer", rows)
    with singer.open() as messages, (folder / "orders.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for line in messages:
            message = json.loads(line)
            if message["type"] == "RECORD":
                writer.writerow(message["record"])
    singer.unlink()
    config = {"files": [{"entity": "orders", "path": str(folder / "orders.csv"), "keys": ["order_id"]}]}
    (folder / "tap-csv.json").write_text(json.dumps(config))
    return [str(TAP_CSV), "--config", str(folder / "tap-csv.json")]


def warehouse_feed(folder: Path, rows: int) -> tuple[list[str], dict[str, str]]:
    """A warehouse table of `rows` orders, and the tap-snowflake command (and environment) that reads all of it."""
    warehouse = folder / "warehouse"
    n = "SEQ4()"
    analytics.run_sql(
        warehouse,
        [
            "CREATE SCHEMA IF NOT EXISTS ANALYTICS",
            f"CREATE OR REPLACE TABLE {TABLE} (ORDER_ID VARCHAR, EMAIL VARCHAR, FIRST_NAME VARCHAR, LAST_NAME VARCHAR, "
            "CITY VARCHAR, ZIP VARCHAR, TOTAL NUMBER(10, 2), SKU VARCHAR, ORDERED_AT TIMESTAMP_NTZ)",
            f"INSERT INTO {TABLE} SELECT 'w' || {n}, 'buyer' || {n} || '@bench.example', 'Ann', 'Lee', 'Boston', "
            f"'02110', {n} % 500 + 0.25, 'SKU-' || {n} % 97, "
            f"DATEADD(second, {n}, '2025-01-10 10:00:00'::TIMESTAMP_NTZ) FROM TABLE(GENERATOR(ROWCOUNT => {rows}))",
        ],
    )
    config = {
        "account": "local",
        "user": "bench",
        "password": "bench",
        "database": "RAW",
        "tables": ["analytics.bench_orders"],
    }
    (folder / "tap-snowflake.json").write_text(json.dumps(config))
    env = {**os.environ, "SNOWFLAKE_EMULATOR_PATH": str(warehouse)}
    base = [str(TAP_SNOWFLAKE), "--config", str(folder / "tap-snowflake.json")]
    discovered = subprocess.run([*base, "--discover"], capture_output=True, text=True, env=env, check=True)
    catalog = json.loads(discovered.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = True
    (folder / "catalog.json").write_text(json.dumps(catalog))
    return [*base, "--catalog", str(folder / "catalog.json")], env


def tap_alone(label: str, command: list[str], rows: int, log: Path, env: dict[str, str] | None = None) -> None:
    """The tap on its own, its output thrown away: how fast it can feed a target, and at what CPU."""
    cost = MeasuredProcess(command, stderr=log, env=env).wait()
    if cost.exit_code != 0:
        raise SystemExit(f"{label} failed:\n{log.read_text()[-3000:]}")
    wall, cpu = cost.wall_seconds, cost.cpu_seconds
    print(
        f"{label}: alone, {rows:,} rows in {wall:.1f} s = {rows / wall:,.0f} rows/s ({rows / cpu:,.0f} per CPU-second, "
        f"peak RSS {cost.peak_rss_mb:.0f} MB) = {rows / wall / EVENTS_CEILING:.1f}x the bulk ceiling"
    )


def started(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=2, help="whole 60 s windows to measure events over")
    parser.add_argument("--latency-ms", default="250")
    args = parser.parse_args()
    rows = rows_past_ceiling(args.windows)
    with tempfile.TemporaryDirectory(prefix="reverse-bench-") as tmp:
        folder = Path(tmp)
        (folder / "csv").mkdir()
        (folder / "warehouse-flow").mkdir()
        csv_command = csv_feed(folder / "csv", rows)
        tap_command, tap_env = warehouse_feed(folder / "warehouse-flow", rows)
        sandbox = start_sandbox(
            "--accounts", "1", "--events", "10", "--profiles", "10", "--latency-ms", args.latency_ms,
            "--job-seconds", "0.5",
        )  # fmt: skip
        try:
            print(f"sandbox with Klaviyo's tiers and {args.latency_ms} ms per request; {os.cpu_count()} cores; "
                  f"{rows:,} rows per flow")  # fmt: skip
            tap_alone("tap-csv  ", csv_command, rows, folder / "csv" / "alone.log")
            tap_alone("snowflake", tap_command, rows, folder / "warehouse-flow" / "alone.log", tap_env)
            csv_rate = events_at_ceiling(
                sandbox,
                folder / "csv",
                args.windows,
                feed=lambda: started(csv_command, folder / "csv" / "tap.log"),
                label="tap-csv  ",
            )
            sandbox.reset()
            warehouse_rate = events_at_ceiling(
                sandbox,
                folder / "warehouse-flow",
                args.windows,
                feed=lambda: started(tap_command, folder / "warehouse-flow" / "tap.log", tap_env),
                stream=STREAM,
                config=FLOATS,
                label="snowflake",
            )
        finally:
            sandbox.stop()
        print(
            f"ratio    : tap-snowflake / CSV flow = {warehouse_rate / csv_rate:.1%} (goal: within 10%); "
            f"tap-snowflake = {warehouse_rate / EVENTS_CEILING:.1%} of the bulk ceiling (goal: 90% or more)"
        )


if __name__ == "__main__":
    main()
