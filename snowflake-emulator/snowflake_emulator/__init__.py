"""Run MeltanoLabs target-snowflake against fakesnow: a launcher, the user-stage bridge, and a report.

Modules: `launcher` (the `target-snowflake-launcher` command; `dbt_launcher`, `dbt-snowflake-launcher`), `bridge`
(fakesnow plus the user stage; `session_objects`, `quoting` and `databases` for what dbt-snowflake sends),
`statements` (what the bridge handles), `user_stage` (the `@~` folder), `accounting` (the emulator's share of a run,
logged as one line at exit), `report` and `cli` (`snowflake-emulator`).
Only `report` (duckdb alone) and `accounting` (standard library) are importable without fakesnow.
"""
