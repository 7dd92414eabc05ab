"""What `check` and `page` read from the warehouse: the completeness view's rows, and each brand's freshness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from .connection import Session
from .statements import sql_name

__all__ = ["DayCount", "Freshness", "day_counts", "freshness"]


@dataclass(frozen=True)
class DayCount:
    """One metric's day in one account: Klaviyo's count and the warehouse's."""

    account_id: str
    account_name: str
    metric_id: str
    metric_name: str
    day: date
    timezone: str
    klaviyo: int
    warehouse: int
    checked_at: datetime | None

    @property
    def difference(self) -> int:
        return self.warehouse - self.klaviyo


@dataclass(frozen=True)
class Freshness:
    """How recent one brand's events in the warehouse are."""

    account_id: str
    account_name: str
    last_event: datetime | None  # the newest event's datetime (UTC), none after `now`
    last_loaded: datetime | None  # when the newest row of EVENTS was extracted (UTC)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def day_counts(session: Session) -> list[DayCount]:
    """Every row of EVENT_COMPLETENESS (none when the view does not exist yet)."""
    if "EVENT_COMPLETENESS" not in _views(session):
        return []
    rows = session.rows(
        "SELECT account_id, account_name, metric_id, metric_name, local_date, timezone, klaviyo_count, "
        f"warehouse_count, checked_at FROM {sql_name(session.schema)}.EVENT_COMPLETENESS "
        "ORDER BY account_name, local_date, metric_name"
    )
    return [
        DayCount(
            str(account_id),
            str(account_name or account_id),
            str(metric_id),
            str(metric_name or metric_id),
            _date(day),
            str(zone or "UTC"),
            int(klaviyo or 0),
            int(warehouse or 0),
            _utc(checked),
        )
        for account_id, account_name, metric_id, metric_name, day, zone, klaviyo, warehouse, checked in rows
    ]


def freshness(session: Session, now: datetime) -> list[Freshness]:
    """Per brand with events: its newest event (not after `now`) and when the newest row was extracted."""
    if "EVENTS" not in session.tables():
        return []
    rows = session.rows(
        "SELECT account_id, MAX(account_name), MAX(CASE WHEN datetime <= %s THEN datetime END), "
        f"MAX(_sdc_extracted_at) FROM {sql_name(session.schema)}.EVENTS WHERE _sdc_deleted_at IS NULL "
        "GROUP BY account_id ORDER BY 2",
        (now.astimezone(UTC).replace(tzinfo=None),),
    )
    return [
        Freshness(str(account_id), str(name or account_id), _utc(last), _utc(loaded))
        for account_id, name, last, loaded in rows
    ]


def _views(session: Session) -> set[str]:
    found = session.rows(
        "SELECT table_name FROM information_schema.views WHERE upper(table_schema) = %s", (session.schema.upper(),)
    )
    return {str(name).upper() for (name,) in found}
