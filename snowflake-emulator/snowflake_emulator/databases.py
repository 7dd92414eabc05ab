"""Every database of the account visible to a session that names it, as in Snowflake.

fakesnow attaches a database's DuckDB file only when a connection names it (or creates it), so a session on
ANALYTICS could not read RAW.KLAVIYO.EVENTS: "Catalog Error: ... schema "RAW.KLAVIYO" does not exist". dbt's models
live in one database and read the loader's in another. Before each statement, the databases of the emulator's folder
(`<DATABASE>.db`) that the statement names (`RAW.`) and that are not attached yet are attached the way fakesnow
attaches the one it connects to (the file, fakesnow's information schema views and its macros for that database).
Only those: DuckDB lets one process at a time open a file (file_lock.py), so a process never holds a database it does
not use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fakesnow import info_schema, macros

DATABASE_SUFFIX = ".db"


def attach_named_databases(duck_conn: Any, folder: Path, statement: str) -> list[str]:
    """Attach the folder's databases that `statement` names and that are not attached yet; their names."""
    wanted = [
        path
        for path in folder.glob(f"*{DATABASE_SUFFIX}")
        if _is_database_name(name := path.name.removesuffix(DATABASE_SUFFIX))
        and re.search(rf"(?<![\w$.\"]){name}\s*\.", statement, re.IGNORECASE)
    ]
    if not wanted:
        return []
    rows = duck_conn.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    attached = {name.upper() for (name,) in rows}
    names = []
    for path in wanted:
        name = path.name.removesuffix(DATABASE_SUFFIX)
        if name in attached:
            continue
        duck_conn.execute(f"ATTACH DATABASE '{path}' AS {name}")
        duck_conn.execute(info_schema.per_db_creation_sql(name))
        duck_conn.execute(macros.creation_sql(name))
        names.append(name)
    return names


def _is_database_name(name: str) -> bool:
    # fakesnow names its files after upper-case, unquoted database names
    return name.isidentifier() and name.upper() == name
