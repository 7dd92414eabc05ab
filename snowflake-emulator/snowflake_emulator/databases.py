"""Every database of the account visible to every session, as in Snowflake.

fakesnow attaches a database's DuckDB file only when a connection names it (or creates it), so a session on
ANALYTICS could not read RAW.KLAVIYO.EVENTS: "Catalog Error: ... schema "RAW.KLAVIYO" does not exist". dbt's models
live in one database and read the loader's in another. Each connection first attaches every `<DATABASE>.db` in the
emulator's folder that is not attached yet, the way fakesnow attaches the one it connects to (the file, fakesnow's
information schema views and its macros for that database).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakesnow import info_schema, macros

DATABASE_SUFFIX = ".db"


def attach_account_databases(duck_conn: Any, folder: Path) -> list[str]:
    """Attach the folder's databases not attached yet; their names."""
    rows = duck_conn.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    attached = {name.upper() for (name,) in rows}
    names = []
    for path in sorted(folder.glob(f"*{DATABASE_SUFFIX}")):
        name = path.name.removesuffix(DATABASE_SUFFIX)
        if name.upper() in attached or not name.isidentifier() or name.upper() != name:
            continue  # fakesnow names its files after upper-case, unquoted database names
        duck_conn.execute(f"ATTACH DATABASE '{path}' AS {name}")
        duck_conn.execute(info_schema.per_db_creation_sql(name))
        duck_conn.execute(macros.creation_sql(name))
        names.append(name)
    return names
