"""Every database of the account visible to a session that names it, as in Snowflake.

fakesnow attaches a database's DuckDB file only when a connection names it (or creates it), so a session on ANALYTICS
could not read RAW.KLAVIYO.EVENTS: "Catalog Error: ... schema "RAW.KLAVIYO" does not exist". dbt's models live in one
database and read the loader's in another. Before each statement (the bridge skips COMMIT, ROLLBACK and BEGIN, which
name none), the databases of the emulator's folder (`<DATABASE>.db`) that the statement names (`RAW.`), or that the
views of a database it reads name (a dbt test reads a staging view on ANALYTICS that reads RAW), and that are not
attached yet are attached the way fakesnow attaches the one it connects to (the file, fakesnow's information schema
views and its macros for that database). Only those: DuckDB lets one process at a time open a file (file_lock.py), so
a process never holds a database it does not use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fakesnow import info_schema, macros

DATABASE_SUFFIX = ".db"


def attach_named_databases(duck_conn: Any, folder: Path, statement: str, current: str | None = None) -> list[str]:
    """Attach the folder's databases that `statement` names, or that the views of a database it reads name (the
    session's `current` database included), and that are not attached yet; their names."""
    files = {
        name: path
        for path in folder.glob(f"*{DATABASE_SUFFIX}")
        if _is_database_name(name := path.name.removesuffix(DATABASE_SUFFIX))
    }
    rows = duck_conn.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    attached = {name.upper() for (name,) in rows}
    if files.keys() <= attached:  # what views name could only lead to files: all attached (a loader's every statement)
        return []
    newly: list[str] = []
    texts = [statement]
    seen: set[str] = set()
    while texts:
        named = {name for name in files for text in texts if _names(name, text)}
        if current and current.upper() in files:
            named.add(current.upper())
        texts = []
        for name in sorted(named - seen):
            seen.add(name)
            if name not in attached:
                duck_conn.execute(f"ATTACH DATABASE '{files[name]}' AS {name}")
                duck_conn.execute(info_schema.per_db_creation_sql(name))
                duck_conn.execute(macros.creation_sql(name))
                attached.add(name)
                newly.append(name)
            # a view reads what its definition names (a dbt staging view on ANALYTICS reads RAW)
            views = duck_conn.execute(
                "SELECT sql FROM duckdb_views() WHERE NOT internal AND upper(database_name) = ?", [name]
            ).fetchall()
            texts += [sql for (sql,) in views if sql]
    return newly


def _names(database: str, text: str) -> bool:
    return re.search(rf"(?<![\w$.\"]){database}\s*\.", text, re.IGNORECASE) is not None


def _is_database_name(name: str) -> bool:
    # fakesnow names its files after upper-case, unquoted database names
    return name.isidentifier() and name.upper() == name
