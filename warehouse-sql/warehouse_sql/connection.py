"""Where the warehouse is and how to reach it: Snowflake, through the official connector.

Settings come from the environment as Meltano passes a utility's settings (`WAREHOUSE_SQL_<SETTING>`), or from the
command line. On the emulator (`warehouse-sql-launcher` with SNOWFLAKE_EMULATOR_PATH set, snowflake-emulator's
launcher) the same connector reaches fakesnow instead, and the credentials are not used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["ENV_PREFIX", "Session", "WarehouseSettings", "connect"]

ENV_PREFIX = "WAREHOUSE_SQL_"


@dataclass(frozen=True)
class WarehouseSettings:
    account: str | None = None
    user: str | None = None
    password: str | None = None
    private_key_path: str | None = None
    private_key_passphrase: str | None = None
    role: str | None = None
    warehouse: str | None = None
    database: str = "RAW"
    schema: str = "KLAVIYO"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **given: str | None) -> WarehouseSettings:
        """Each setting from `given` (the command line) when set, else WAREHOUSE_SQL_<NAME>, else its default."""
        environ = dict(os.environ) if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = given.get(field.name) or environ.get(ENV_PREFIX + field.name.upper())
            if value:
                values[field.name] = value
        return cls(**values)

    def connect_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"database": self.database, "schema": self.schema}
        for name in ("account", "user", "password", "role", "warehouse", "private_key_passphrase"):
            value = getattr(self, name)
            if value:
                args[name] = value
        if self.private_key_path:
            args["private_key_file"] = self.private_key_path
        return args


class Session:
    """One connection: run a statement, get its rows."""

    def __init__(self, connection: Any, schema: str) -> None:
        self.connection = connection
        self.schema = schema

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement, tuple(params) or None)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        finally:
            cursor.close()

    def run(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Run a statement that changes rows; how many it changed."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement, tuple(params) or None)
            return int(cursor.rowcount or 0)
        finally:
            cursor.close()

    def tables(self) -> set[str]:
        """The tables of the schema, upper case."""
        found = self.rows(
            "SELECT table_name FROM information_schema.tables WHERE upper(table_schema) = %s",
            (self.schema.upper(),),
        )
        return {str(name).upper() for (name,) in found}


@contextmanager
def connect(settings: WarehouseSettings) -> Iterator[Session]:
    import snowflake.connector  # noqa: PLC0415 -- the connector only where a warehouse is reached

    connection = snowflake.connector.connect(**settings.connect_args())
    try:
        yield Session(connection, settings.schema)
        connection.commit()
    finally:
        connection.close()
