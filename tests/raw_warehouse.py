"""The emulator's RAW database as tests read it: the loader's DuckDB file, opened read-only in the test's own process.

Read between runs, when no loader holds the file (DuckDB lets one process open a file at a time:
snowflake-emulator/snowflake_emulator/file_lock.py). In the test's process rather than through `snowflake-emulator
sql`, whose every start (fakesnow, sqlglot) cost 1.1-1.4 CPU-s for one query (2026-12-04).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

RAW_DATABASE = "RAW.db"  # snowflake-emulator's file for the RAW database, in its folder (SNOWFLAKE_EMULATOR_PATH)


def open_raw(folder: Path) -> duckdb.DuckDBPyConnection:
    """The RAW database of the emulator's `folder`, read-only: use it in a `with` block."""
    return duckdb.connect(str(folder / RAW_DATABASE), read_only=True)
