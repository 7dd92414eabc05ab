"""What the emulated warehouse holds: rows per table, and per account_id where a table has one.

Reads the DuckDB files directly (read-only, duckdb only), so the demo and tests can use it outside the loader's
virtual environment. A running loader holds a file's lock: read after it has finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

# fakesnow's own bookkeeping schema inside each database file
_INTERNAL_SCHEMAS = ("_fs_information_schema", "information_schema", "pg_catalog")


@dataclass(frozen=True)
class TableRows:
    table: str  # DATABASE.SCHEMA.TABLE
    rows: int
    rows_per_account: dict[str, int] = field(default_factory=dict)


def table_rows(folder: Path) -> list[TableRows]:
    """Every table of every database file (`<DATABASE>.db`) in the emulator's folder, by name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"No emulated warehouse at {folder} (nothing loaded yet?)")
    return [table for database in sorted(folder.glob("*.db")) for table in _database_rows(database)]


def _database_rows(database: Path) -> list[TableRows]:
    try:
        conn = duckdb.connect(str(database), read_only=True)
    except duckdb.IOException as error:
        raise RuntimeError(f"Cannot read {database} (is a loader still writing it?): {error}") from error
    with conn:
        tables = conn.execute(
            "SELECT table_catalog, table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN (SELECT unnest(?)) "
            "ORDER BY table_schema, table_name",
            [list(_INTERNAL_SCHEMAS)],
        ).fetchall()
        result = []
        for catalog, schema, name in tables:
            relation = ".".join(_quote(part) for part in (catalog, schema, name))
            counted = conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
            rows = counted[0] if counted else 0
            columns = {column.upper(): column for (column, *_) in conn.execute(f"DESCRIBE {relation}").fetchall()}
            per_account = {}
            if account_column := columns.get("ACCOUNT_ID"):
                counts = conn.execute(
                    f"SELECT {_quote(account_column)}, count(*) FROM {relation} GROUP BY 1 ORDER BY 1"
                ).fetchall()
                per_account = {str(account): count for account, count in counts}
            result.append(TableRows(f"{catalog}.{schema}.{name}", rows, per_account))
        return result


def format_report(tables: list[TableRows]) -> str:
    if not tables:
        return "(no tables)"
    width = max(len(table.table) for table in tables)
    lines = []
    for table in tables:
        lines.append(f"{table.table:<{width}}  {table.rows:>10,} rows")
        lines.extend(f"  account_id={account}: {rows:,}" for account, rows in table.rows_per_account.items())
    return "\n".join(lines)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
