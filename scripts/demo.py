"""The demo behind `make demo`: the main job, on the local stand-ins, from a fresh clone.

1. Start the Klaviyo sandbox (three brands' accounts, Klaviyo's real rate limits) and a local S3 (moto) holding
   the accounts file and Meltano's state.
2. Run `meltano run tap-klaviyo target-snowflake dbt-snowflake:run dbt-snowflake:test` in the `local` environment:
   the real MeltanoLabs target-snowflake, loading into the Snowflake emulator (DuckDB files in .local/warehouse), then
   the dbt models of transform/ on the same emulator, and their tests.
3. Print what landed in RAW.KLAVIYO (rows per table and per account, the report tables among them) and one end model,
   ANALYTICS.KLAVIYO.CAMPAIGNS: each brand's campaigns by revenue.

The report streams read Klaviyo's Reporting API at its real 2 requests a minute, beside the other streams; the demo
reads 120 days of daily series (3 requests each) instead of a first run's year (7), so they finish with the rest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from local_stand_ins.stack import ACCOUNTS_URI, meltano_env, start_local_stack
from snowflake_emulator.report import table_rows

PROJECT = Path(__file__).resolve().parents[1]
LOCAL = PROJECT / ".local"
WAREHOUSE = LOCAL / "warehouse"
MELTANO = str(Path(sys.executable).with_name("meltano"))
# The data set ends today (UTC midnight): the report tables' last days and year are never out of its reach.
DATA = ("--accounts", "3", "--seed", "7", "--events", "20000", "--profiles", "2000", "--end", "today")
REPORT_HISTORY_DAYS = "120"


def main() -> None:
    # Each demo starts afresh: empty warehouse, new stand-ins (so no state), and its own Meltano run records.
    shutil.rmtree(WAREHOUSE, ignore_errors=True)
    LOCAL.mkdir(exist_ok=True)
    (LOCAL / "demo-meltano.db").unlink(missing_ok=True)
    env_for_meltano = {
        "SNOWFLAKE_EMULATOR_PATH": str(WAREHOUSE),
        "MELTANO_DATABASE_URI": f"sqlite:///{LOCAL / 'demo-meltano.db'}",
        "TAP_KLAVIYO_REPORT_HISTORY_DAYS": REPORT_HISTORY_DAYS,
    }
    stack = start_local_stack(*DATA)
    try:
        names = {a["id"]: a["account"] for a in stack.sandbox.accounts}
        print(f"Klaviyo sandbox  {stack.sandbox.url}  ({', '.join(names.values())}; real rate limits)")
        print(f"S3 (moto)        {stack.s3.endpoint_url}  (accounts file {ACCOUNTS_URI}, Meltano state)")
        print(f"Snowflake        emulator, databases in {WAREHOUSE.relative_to(PROJECT)}/")
        print(f"Reports          the last {REPORT_HISTORY_DAYS} days of daily series (report_history_days)\n")
        command = [MELTANO, "run", "tap-klaviyo", "target-snowflake", "dbt-snowflake:run", "dbt-snowflake:test"]
        print(f"$ meltano {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        log = LOCAL / "demo-meltano.log"
        with open(log, "w") as out:
            result = subprocess.run(
                command,
                cwd=PROJECT,
                env=meltano_env(stack, **env_for_meltano),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            print(log.read_text()[-4000:])
            raise SystemExit(f"meltano run failed (exit {result.returncode}); full log: {log}")
        print(f"done in {elapsed:.0f} s (log: {log.relative_to(PROJECT)})\n")
        print_tables(names)
        print_campaigns()
    finally:
        stack.stop()


def print_tables(names: dict[str, str]) -> None:
    tables = table_rows(WAREHOUSE)
    accounts = list(names)
    width = max(len(t.table) for t in tables)
    print(f"{'table':{width}}" + "".join(f"{names[a]:>22}" for a in accounts) + f"{'total':>10}")
    for table in tables:
        cells = "".join(f"{table.rows_per_account.get(a, 0):>22,}" for a in accounts)
        print(f"{table.table:{width}}{cells}{table.rows:>10,}")
    # `sql` runs Snowflake SQL through fakesnow, which only the loader's venv has.
    print(
        f"\nQuery them: .meltano/loaders/target-snowflake/venv/bin/snowflake-emulator --path "
        f'{WAREHOUSE.relative_to(PROJECT)} sql "SELECT account_name, count(*) FROM KLAVIYO.EVENTS GROUP BY 1"'
    )
    print(
        "  e.g. flow conversions per account and day: SELECT account_name, day, sum(conversions), "
        "sum(conversion_value) FROM KLAVIYO.FLOW_SERIES_REPORTS GROUP BY 1, 2 ORDER BY 2 DESC"
    )


def print_campaigns() -> None:
    """One end model of transform/: the top campaigns of each brand by revenue (Klaviyo's attribution)."""
    import duckdb  # noqa: PLC0415 -- the development venv has it (snowflake_emulator.report reads with it too)

    with duckdb.connect(str(WAREHOUSE / "ANALYTICS.db"), read_only=True) as conn:
        rows = conn.execute(
            "SELECT account_name, campaign_name, channel, sends, unique_opens, unique_clicks, conversions, revenue "
            "FROM KLAVIYO.CAMPAIGNS QUALIFY row_number() OVER (PARTITION BY account_name ORDER BY revenue DESC, "
            "campaign_name) <= 3 ORDER BY account_name, revenue DESC, campaign_name"
        ).fetchall()
    print("\nANALYTICS.KLAVIYO.CAMPAIGNS (dbt, transform/): each brand's top 3 campaigns by revenue")
    print(
        f"{'brand':22}{'campaign':20}{'channel':8}{'sends':>7}{'opens':>7}{'clicks':>7}{'conversions':>12}{'revenue':>10}"
    )
    for brand, campaign, channel, sends, opens, clicks, conversions, revenue in rows:
        counts = f"{sends:>7,}{opens:>7,}{clicks:>7,}{conversions:>12,}"
        print(f"{brand:22}{campaign:20}{channel:8}{counts}{revenue:>10,.2f}")
    print("More: transform/README.md (the five models, three questions in SQL)")


if __name__ == "__main__":
    main()
