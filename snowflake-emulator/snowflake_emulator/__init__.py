"""Run MeltanoLabs target-snowflake against fakesnow: a launcher, the user-stage bridge, and a report.

Modules: `launcher` (the `target-snowflake-launcher` command), `bridge` (fakesnow plus the user stage),
`statements` (what the bridge handles), `user_stage` (the `@~` folder), `report` and `cli` (`snowflake-emulator`).
Only `report` is importable without fakesnow (it needs duckdb alone).
"""
