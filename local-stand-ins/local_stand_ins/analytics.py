"""The warehouse objects `meltano run snowflake-to-klaviyo` reads locally, made in the Snowflake emulator.

- `ANALYTICS.CUSTOMER_TRAITS`: one row per customer (email, first name, lifetime value, churn score, `UPDATED_AT`),
  read incrementally on `updated_at` (meltano.yml) and sent as profiles;
- `ANALYTICS.CHURN_RISK`: a view of the customers whose churn score is 0.8 or more, with no replication key, read in
  full on every run and sent as "Churn Risk" events.

They are made with Snowflake SQL (`TABLE(GENERATOR(...))` for the rows) through `snowflake-emulator sql`, run from a
plugin's venv: fakesnow lives there, not in the development venv. Rows are a function of their number only, so every
run of the demo, the tests and the bench sees the same data; `UPDATED_AT` is in the past whatever today is.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
# fakesnow is in the plugins' venvs; tap-snowflake's is the reader's own.
EMULATOR_CLI = PROJECT / ".meltano" / "extractors" / "tap-snowflake" / "venv" / "bin" / "snowflake-emulator"
DATABASE = "RAW"  # meltano.yml: tap-snowflake's `database` in the `local` environment
TRAITS = "ANALYTICS.CUSTOMER_TRAITS"
CHURN_RISK = "ANALYTICS.CHURN_RISK"
TRAITS_STREAM = "analytics-customer_traits"  # tap-snowflake's stream names: `<schema>-<table>`, lower case
CHURN_RISK_STREAM = "analytics-churn_risk"
FIRST_UPDATE = "2024-06-01 00:00:00"  # row n was last updated n seconds later
CHURN_RISK_THRESHOLD = 0.8


def email(n: int) -> str:
    return f"customer{n}@traits.example"


def churn_score(n: int) -> float:
    return (n * 37 % 100) / 100


def create_statements(rows: int) -> list[str]:
    """The schema, the table with `rows` customers (0 .. rows-1), and the view."""
    n = "SEQ4()"
    return [
        "CREATE SCHEMA IF NOT EXISTS ANALYTICS",
        f"CREATE OR REPLACE TABLE {TRAITS} (EMAIL VARCHAR NOT NULL, FIRST_NAME VARCHAR, "
        "LIFETIME_VALUE NUMBER(12, 2), CHURN_SCORE FLOAT, UPDATED_AT TIMESTAMP_NTZ, PRIMARY KEY (EMAIL))",
        f"INSERT INTO {TRAITS} SELECT 'customer' || {n} || '@traits.example', 'Customer' || {n}, "
        f"({n} * 7919 % 100000) / 100, ({n} * 37 % 100) / 100, "
        f"DATEADD(second, {n}, '{FIRST_UPDATE}'::TIMESTAMP_NTZ) FROM TABLE(GENERATOR(ROWCOUNT => {rows}))",
        f"CREATE OR REPLACE VIEW {CHURN_RISK} AS SELECT EMAIL, CHURN_SCORE, LIFETIME_VALUE, UPDATED_AT AS FLAGGED_AT "
        f"FROM {TRAITS} WHERE CHURN_SCORE >= {CHURN_RISK_THRESHOLD}",
    ]


def update_statement(emails: list[str], *, updated_at: str, lifetime_value: float) -> str:
    """Change some customers' lifetime value, as a model's next build would, moving their `UPDATED_AT` on."""
    listed = ", ".join("'" + address.replace("'", "''") + "'" for address in emails)
    return (
        f"UPDATE {TRAITS} SET LIFETIME_VALUE = {lifetime_value}, UPDATED_AT = '{updated_at}'::TIMESTAMP_NTZ "
        f"WHERE EMAIL IN ({listed})"
    )


def run_sql(
    folder: Path, statements: list[str], *, database: str = DATABASE, cli: Path = EMULATOR_CLI
) -> list[dict[str, Any]]:
    """Run Snowflake SQL in one emulated session on the warehouse `folder`; each statement's result."""
    run = subprocess.run(
        [str(cli), "--path", str(folder), "sql", "--database", database, *statements],
        capture_output=True,
        text=True,
        env={**os.environ, "SNOWFLAKE_EMULATOR_PATH": str(folder)},
        timeout=600,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"snowflake-emulator sql failed (exit {run.returncode}): {run.stderr[-2000:]}")
    return [json.loads(line) for line in run.stdout.splitlines()]
