"""`dbt-snowflake-launcher`: dbt with dbt-snowflake, on the emulator when SNOWFLAKE_EMULATOR_PATH is set.

The `dbt-snowflake` utility of meltano.yml runs it as its executable: locally the models build in the same DuckDB
files target-snowflake loads (`<DATABASE>.db` in that folder), in production dbt talks to Snowflake. What dbt-snowflake
sends that fakesnow alone cannot run is bridged in `bridge` (temporary objects in a schema, `$` keys in quoted text,
every database visible to a session); see snowflake-emulator/README.md.
"""

from __future__ import annotations

from snowflake_emulator.launcher import launch


def main() -> None:
    launch("dbt")
