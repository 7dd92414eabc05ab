"""Temporary tables and views named in a schema: what dbt-snowflake's incremental models create.

`CREATE [OR REPLACE] TEMPORARY TABLE|VIEW db.schema.name ...` makes a session's own object in that schema in
Snowflake (https://docs.snowflake.com/en/user-guide/tables-temp-transient); dbt-snowflake builds each incremental run
into one (`<model>__dbt_tmp`) and merges from it. DuckDB keeps temporary objects in its own `temp` catalog only
("TEMPORARY table names can *only* use the "temp" catalog"), so fakesnow 0.12.1 fails on a qualified name. The
emulator creates the object as a plain one in the schema named, remembers it for the session, and drops it when the
session closes (or, at the latest, when the emulator closes), as Snowflake drops temporary objects at the end of the
session. Other sessions can see it meanwhile, where Snowflake would hide it: dbt names them per model, so no two
sessions of one run share a name. An unqualified temporary object is left to fakesnow, which creates it in DuckDB's
`temp` catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME_PART = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
_TEMPORARY = re.compile(
    r"^(?P<head>\s*create\s+(?:or\s+replace\s+)?)"
    r"(?P<temporary>(?:local\s+|global\s+)?(?:temporary|temp)\s+)"
    r"(?P<kind>table|view)\s+(?P<if_not_exists>if\s+not\s+exists\s+)?"
    rf"(?P<name>{_NAME_PART}(?:\s*\.\s*{_NAME_PART}){{1,2}})(?=[\s(]|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SessionObject:
    """A temporary object created as a plain one: what to drop when its session ends."""

    kind: str  # "TABLE" or "VIEW"
    name: str  # as the statement wrote it (qualified)

    def drop_statement(self) -> str:
        return f"DROP {self.kind} IF EXISTS {self.name}"


def parse_temporary(statement: str) -> tuple[str, SessionObject] | None:
    """For `CREATE ... TEMPORARY TABLE|VIEW` of a qualified name: the statement without TEMPORARY, and the object."""
    match = _TEMPORARY.match(statement)
    if not match:
        return None
    plain = statement[: match.start("temporary")] + statement[match.end("temporary") :]
    return plain, SessionObject(match["kind"].upper(), match["name"])


class SessionObjects:
    """The temporary objects each open session created, by session."""

    def __init__(self) -> None:
        self._by_session: dict[int, list[SessionObject]] = {}

    def add(self, session: object, created: SessionObject) -> None:
        objects = self._by_session.setdefault(id(session), [])
        if created not in objects:
            objects.append(created)

    def end(self, session: object) -> list[SessionObject]:
        """The objects of a session that ends (forgotten here)."""
        return self._by_session.pop(id(session), [])

    def end_all(self) -> list[SessionObject]:
        objects = [created for session in self._by_session.values() for created in session]
        self._by_session.clear()
        return objects
