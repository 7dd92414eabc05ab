"""`warehouse-sql`: what this project runs in the warehouse after a load, and what it shows.

  warehouse-sql apply [--hard-delete] [--max-share 0.05]   the views; people deleted in Klaviyo marked deleted
  warehouse-sql check [--json] [--fail-on-difference]      the days where the warehouse differs from Klaviyo's counts
  warehouse-sql page --out completeness.html               the completeness and freshness page of every brand

The warehouse: Snowflake, from WAREHOUSE_SQL_ACCOUNT, _USER, _PASSWORD (or _PRIVATE_KEY_PATH), _ROLE, _WAREHOUSE,
_DATABASE (RAW) and _SCHEMA (KLAVIYO), as Meltano passes the utility's settings; on the emulator, run it as
`warehouse-sql-launcher` with SNOWFLAKE_EMULATOR_PATH set (snowflake-emulator's launcher).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from .apply import apply
from .connection import ENV_PREFIX, Session, WarehouseSettings, connect
from .page import render_page
from .reading import day_counts, freshness

PROG = "warehouse-sql"


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a share between 0 and 1")
    return value


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    for name in ("account", "user", "role", "warehouse", "database", "schema"):
        parser.add_argument(f"--{name.replace('_', '-')}", help=f"(default: WAREHOUSE_SQL_{name.upper()})")
    commands = parser.add_subparsers(dest="command", required=True)
    applying = commands.add_parser("apply", help="create the views; mark the rows of people deleted in Klaviyo")
    applying.add_argument(
        "--hard-delete",
        action="store_true",
        default=_flag(os.environ.get(ENV_PREFIX + "HARD_DELETE")),
        help="delete those rows instead of marking them, as target-snowflake's hard_delete (default: "
        "WAREHOUSE_SQL_HARD_DELETE)",
    )
    applying.add_argument(
        "--max-share",
        type=_share,
        default=os.environ.get(ENV_PREFIX + "MAX_SHARE") or "0.05",
        help="mark no account whose newly deleted profiles exceed this share of its profiles (default: "
        "WAREHOUSE_SQL_MAX_SHARE, else 0.05)",
    )
    check = commands.add_parser("check", help="the days where the warehouse holds other than Klaviyo counts")
    check.add_argument("--json", action="store_true", help="one JSON object per differing metric-day")
    check.add_argument("--fail-on-difference", action="store_true", help="exit 1 when any day differs")
    page = commands.add_parser("page", help="render the completeness and freshness page (HTML)")
    page.add_argument("--out", type=Path, default=Path("output/completeness.html"))
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    given = {name: getattr(args, name) for name in ("account", "user", "role", "warehouse", "database", "schema")}
    try:
        settings = WarehouseSettings.from_env(**given)
        with connect(settings) as session:
            code = _run(args, session)
    except Exception as error:  # a connection or SQL error: one line, never the settings (they hold secrets)
        print(f"{PROG}: {args.command} failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code)


def _run(args: argparse.Namespace, session: Session) -> int:
    if args.command == "apply":
        return _apply(session, hard=args.hard_delete, max_share=args.max_share)
    if args.command == "check":
        return _check(session, as_json=args.json, fail=args.fail_on_difference)
    now = datetime.now(UTC)
    text = render_page(day_counts(session), freshness(session, now), now)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"{PROG}: the completeness page is {args.out.resolve()}")
    return 0


def _apply(session: Session, *, hard: bool, max_share: float) -> int:
    done = apply(session, hard_delete=hard, max_share=max_share)
    waiting = f" (not yet, their tables are not loaded: {', '.join(done.missing)})" if done.missing else ""
    print(f"{PROG}: views {', '.join(done.views) or 'none'}{waiting}")
    rows = ", ".join(f"{table} {count:,}" for table, count in done.rows.items()) or "none"
    print(f"{PROG}: rows of people deleted in Klaviyo {'deleted' if hard else 'marked deleted'}: {rows}")
    for refused in done.refused:
        print(f"{PROG}: {refused.line(max_share)}", file=sys.stderr)
    return 1 if done.refused else 0


def _check(session: Session, *, as_json: bool, fail: bool) -> int:
    rows = [row for row in day_counts(session) if row.difference]
    for row in rows:
        if as_json:
            fields = ("account_id", "account_name", "metric_id", "metric_name", "klaviyo", "warehouse", "difference")
            print(json.dumps({"day": row.day.isoformat(), **{name: getattr(row, name) for name in fields}}))
        else:
            print(
                f"{row.account_name}\t{row.metric_name}\t{row.day.isoformat()}\tKlaviyo {row.klaviyo:,}\t"
                f"warehouse {row.warehouse:,}\t{row.difference:+,}"
            )
    print(f"{PROG}: {len(rows)} metric-day(s) differ from Klaviyo's counts", file=sys.stderr)
    return 1 if rows and fail else 0


if __name__ == "__main__":
    main()
