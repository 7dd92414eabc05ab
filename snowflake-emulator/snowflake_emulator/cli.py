"""`snowflake-emulator`: look into the emulated warehouse.

  snowflake-emulator report [--json]            rows per table and per account_id
  snowflake-emulator sql "SELECT ..." [...]     Snowflake SQL through the emulator (as target-snowflake's SQL runs)

The folder is --path, or SNOWFLAKE_EMULATOR_PATH as for the launcher.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from snowflake_emulator.launcher import EMULATOR_PATH_VARIABLE
from snowflake_emulator.report import format_report, table_rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="snowflake-emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--path", type=Path, default=os.environ.get(EMULATOR_PATH_VARIABLE), help="emulator folder")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser("report", help="rows per table and per account_id")
    report.add_argument("--json", action="store_true", help="one JSON object per table")
    sql = commands.add_parser("sql", help="run Snowflake SQL statements in one session; one JSON line each")
    sql.add_argument("statements", nargs="+")
    sql.add_argument("--database", default="RAW")
    sql.add_argument("--schema")
    args = parser.parse_args(argv)
    if args.path is None:
        parser.error(f"give --path or set {EMULATOR_PATH_VARIABLE}")

    try:
        if args.command == "report":
            tables = table_rows(args.path)
            print("\n".join(json.dumps(asdict(table)) for table in tables) if args.json else format_report(tables))
            return
        for result in run_sql(args.path, args.statements, database=args.database, schema=args.schema):
            print(json.dumps(result, default=_json_value), flush=True)
    except Exception as error:  # a SQL error or a missing/busy folder is the answer here, not a crash
        print(f"snowflake-emulator: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)


def _json_value(value: Any) -> Any:
    """Values JSON has no type for: NUMBER as a number, timestamps and dates in ISO format, anything else as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def run_sql(folder: Path, statements: list[str], *, database: str, schema: str | None) -> Iterator[dict[str, Any]]:
    """Run statements in order on one emulated connection; each result (columns, rows, rowcount) as it comes."""
    try:
        import snowflake.connector  # noqa: PLC0415 -- the loader's environment only

        from snowflake_emulator.bridge import emulated_snowflake  # noqa: PLC0415
    except ImportError as error:
        raise RuntimeError(
            "`sql` runs in the loader's environment (fakesnow): .meltano/loaders/target-snowflake/venv/bin/"
            f"snowflake-emulator ({error})"
        ) from error

    with emulated_snowflake(folder), snowflake.connector.connect(database=database, schema=schema) as conn:
        cursor = conn.cursor()
        for statement in statements:
            cursor.execute(statement)
            columns = [column.name for column in cursor.description]
            rows = [list(row) for row in cursor.fetchall()]
            yield {"statement": statement, "columns": columns, "rows": rows, "rowcount": cursor.rowcount}
