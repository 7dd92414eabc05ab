"""`warehouse-sql apply`, after each load: the views, then every row of a person deleted in Klaviyo marked deleted
(`_sdc_deleted_at`, as target-snowflake marks rows) or, with `hard_delete`, removed.

A person's rows are their PROFILES row, their EVENTS, and their LIST_MEMBERS and SEGMENT_MEMBERS rows (their
memberships). Klaviyo deletes a person's events with them, so no listing of events could say which rows
to mark: the warehouse finds them by the deleted profile's id (views DELETED_PROFILES, statements.mark_deleted).

A listing of profile ids that went wrong (an account's key now reading another account, a bug) would look like many
deletions. An account whose newly deleted profiles exceed `max_share` of its profiles (and a handful) is therefore
not marked; the command says so and ends non-zero, and the others are marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .connection import Session
from .statements import PROFILE_TABLES, VIEWS, deletion_counts, mark_deleted, prune_profile_ids, view

__all__ = ["MIN_REFUSED", "Applied", "Refused", "apply", "split_by_share"]

MIN_REFUSED = 10  # below this many deletions in one go, an account is never refused


@dataclass(frozen=True)
class Refused:
    account_id: str
    profiles: int
    newly_deleted: int

    def line(self, max_share: float) -> str:
        share = self.newly_deleted / self.profiles if self.profiles else 1.0
        return (
            f"account {self.account_id}: {self.newly_deleted:,} of its {self.profiles:,} profiles ({share:.0%}) would "
            f"be marked deleted, more than max_share {max_share:.0%}: none marked. Check its latest profile listing "
            "(PROFILE_LISTINGS, PROFILE_IDS), or raise max_share if Klaviyo really deleted them"
        )


@dataclass
class Applied:
    views: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows marked (or deleted)
    accounts: list[str] = field(default_factory=list)  # accounts whose deleted people were marked
    refused: list[Refused] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # views not created: the tables they read are not loaded yet


def split_by_share(counts: list[tuple[Any, ...]], max_share: float) -> tuple[list[str], list[Refused]]:
    """(account_id, profiles, deleted, newly deleted) rows -> the accounts to mark (those with deleted people, which
    marking again leaves as they are), and those refused."""
    allowed: list[str] = []
    refused: list[Refused] = []
    for row in counts:
        account_id, profiles, deleted, newly = str(row[0]), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0)
        if deleted == 0:
            continue
        if newly > MIN_REFUSED and newly > max_share * profiles:
            refused.append(Refused(account_id, profiles, newly))
        else:
            allowed.append(account_id)
    return sorted(allowed), refused


def apply(session: Session, *, hard_delete: bool, max_share: float) -> Applied:
    done = Applied()
    tables = session.tables()
    for name, needs in VIEWS.items():
        if all(table in tables for table in needs):
            session.run(view(name, session.schema))
            done.views.append(name)
        else:
            done.missing.append(name)
    if "DELETED_PROFILES" not in done.views:
        return done
    done.accounts, done.refused = split_by_share(session.rows(deletion_counts(session.schema)), max_share)
    if done.accounts:
        for table, column in PROFILE_TABLES:
            if table in tables:
                statement = mark_deleted(session.schema, table, column, done.accounts, hard=hard_delete)
                done.rows[table] = session.run(statement, done.accounts)
    session.run(prune_profile_ids(session.schema))
    return done
