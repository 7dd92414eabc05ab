"""The SQL warehouse-sql runs, in one place: the views (sql/*.sql) and the statements that mark deleted people.

Portable between Snowflake and the emulator (fakesnow on DuckDB): unquoted identifiers (target-snowflake creates
its tables and columns case-insensitive), `CONVERT_TIMEZONE`, `DATEADD`, `UPDATE ... FROM`, `DELETE ... USING`.
"""

from __future__ import annotations

import re
from importlib.resources import files

__all__ = [
    "MARGIN_HOURS",
    "PROFILE_TABLES",
    "VIEWS",
    "deletion_counts",
    "mark_deleted",
    "prune_profile_ids",
    "sql_name",
    "view",
]

# The views, each created from sql/<name>.sql, and the tables each reads (created by a load of tap-klaviyo's streams).
VIEWS: dict[str, tuple[str, ...]] = {
    "EVENT_COMPLETENESS": ("EVENT_COUNTS", "EVENTS"),
    "DELETED_PROFILES": ("PROFILES", "PROFILE_LISTINGS", "PROFILE_IDS"),
}
# Tables holding a person's rows, and the column naming the profile. PROFILES last: under hard delete the view of
# deleted profiles reads it, so the rows that hang on a profile go first.
PROFILE_TABLES: tuple[tuple[str, str], ...] = (
    ("EVENTS", "profile_id"),
    ("LIST_MEMBERS", "id"),
    ("SEGMENT_MEMBERS", "id"),
    ("PROFILES", "id"),
)
MARGIN_HOURS = 1  # a profile created this close before a listing started may not be listed yet (deleted_profiles.sql)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def sql_name(identifier: str) -> str:
    """A schema or table name put into SQL text: plain identifiers only (never quoted user input)."""
    if not _IDENTIFIER.fullmatch(identifier):
        raise ValueError(f"'{identifier}' is not a plain SQL identifier")
    return identifier


def view(name: str, schema: str) -> str:
    """CREATE OR REPLACE VIEW <schema>.<name> from sql/<name lower>.sql."""
    text = (files("warehouse_sql") / "sql" / f"{name.lower()}.sql").read_text(encoding="utf-8")
    return text.format(schema=sql_name(schema), margin_hours=MARGIN_HOURS)


def _in(accounts: list[str]) -> str:
    return ", ".join(["%s"] * len(accounts))


def deletion_counts(schema: str) -> str:
    """Per account: its profiles, how many of them are deleted in Klaviyo, and how many of those are not marked yet."""
    s = sql_name(schema)
    return (
        f"SELECT p.account_id, COUNT(*) AS profiles, "
        f"SUM(CASE WHEN d.id IS NOT NULL THEN 1 ELSE 0 END) AS deleted, "
        f"SUM(CASE WHEN d.id IS NOT NULL AND p._sdc_deleted_at IS NULL THEN 1 ELSE 0 END) AS newly_deleted "
        f"FROM {s}.PROFILES AS p LEFT JOIN {s}.DELETED_PROFILES AS d "
        f"ON p.account_id = d.account_id AND p.id = d.id "
        f"GROUP BY p.account_id"
    )


def mark_deleted(schema: str, table: str, column: str, accounts: list[str], *, hard: bool) -> str:
    """Mark (`_sdc_deleted_at`, as target-snowflake marks a row deleted) or delete the rows of `table` whose `column`
    names a deleted profile of these accounts. Parameters: the account ids."""
    s, t, c = sql_name(schema), sql_name(table), sql_name(column)
    if hard:
        return (
            f"DELETE FROM {s}.{t} USING {s}.DELETED_PROFILES AS d "
            f"WHERE {t}.account_id = d.account_id AND {t}.{c} = d.id AND d.account_id IN ({_in(accounts)})"
        )
    return (
        f"UPDATE {s}.{t} SET _sdc_deleted_at = d.detected_at FROM {s}.DELETED_PROFILES AS d "
        f"WHERE {t}.account_id = d.account_id AND {t}.{c} = d.id AND {t}._sdc_deleted_at IS NULL "
        f"AND d.account_id IN ({_in(accounts)})"
    )


def prune_profile_ids(schema: str) -> str:
    """Forget the ids of listings older than each account's latest complete one: PROFILE_IDS then holds that
    listing (and any newer one still unfinished), not every id the account ever had."""
    s = sql_name(schema)
    return (
        f"DELETE FROM {s}.PROFILE_IDS USING {s}.PROFILE_LISTINGS AS l "
        f"WHERE PROFILE_IDS.account_id = l.account_id AND PROFILE_IDS.listed_at < l.started_at"
    )
