"""The completeness check and its healing, as pure functions: Klaviyo's counts in, rows and days to re-read out.

Klaviyo counts each metric's events per day for us (`POST /api/metric-aggregates`, 3/s 60/m): one request per metric
covers the whole check window (`completeness_check_days`, the last N days including today, in the account's
timezone). The `event_counts` stream loads those counts (the warehouse sets them beside EVENTS:
warehouse-sql/README.md), and the events stream heals with them:

- The tap keeps, per account, the count Klaviyo gave for each metric and day when the tap last read that day: the
  baseline (`Baseline`, in the events stream's state for the account: a timezone, a first day and one list of counts
  per metric; at most `completeness_check_days` counts per metric, ~5 KB of JSON for 90 days of 15 metrics).
- Klaviyo is asked before the events are read, so a count never includes an event the read that follows could miss:
  an event that shows up in between is in the read and not in the count, and only costs a needless re-read later.
- A run re-reads what its incremental read does not cover: every (metric, day) that starts before the read's start
  (bookmark less the lookback) whose count differs from its baseline (`heal_plan`): events that showed up after the
  lookback passed their day (a backfill, an import, Klaviyo's eventual consistency), or a count that went down.
  A metric the baseline does not know (created since) counts 0 in it, so its back-dated events are found too.
- Once the run's rows are emitted, the baseline becomes this run's counts for the days it read in full and the days
  it re-read (`next_baseline`); a day not read keeps its old count, so a run that failed heals it next time.
- Days the baseline has never held (the check enabled on an account already synced, a longer window, a new
  timezone) take this run's counts without a re-read: the completeness view (warehouse-sql) still shows any
  difference on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "AGGREGATE_ENDPOINT",
    "Baseline",
    "DailyCounts",
    "aggregate_query",
    "check_window",
    "heal_plan",
    "local_day_bounds",
    "next_baseline",
    "parse_aggregate",
]

AGGREGATE_ENDPOINT = "query_metric_aggregates"


def zone_of(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start, end) of a day of the account's calendar, in UTC (23 or 25 hours on a DST change)."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def check_window(now: datetime, zone: tzinfo, days: int, start_date: datetime | None) -> list[date]:
    """The days the check covers: the last `days` including today, none before the first whole day from start_date
    (the tap reads nothing before it, so those days could never agree)."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    if start_date is not None:
        local = start_date.astimezone(zone)
        first_whole = (
            local.date()
            if local == datetime(local.year, local.month, local.day, tzinfo=zone)
            else local.date() + timedelta(days=1)
        )
        first = max(first, first_whole)
    return [first + timedelta(days=n) for n in range((today - first).days + 1)]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def aggregate_query(metric_id: str, days: list[date], zone: tzinfo, until: datetime) -> dict[str, Any]:
    """The metric-aggregate request of one metric: its count and value per day of `days`, the last up to `until`."""
    start, _ = local_day_bounds(days[0], zone)
    return {
        "data": {
            "type": "metric-aggregate",
            "attributes": {
                "metric_id": metric_id,
                "measurements": ["count", "sum_value"],
                "interval": "day",
                "timezone": str(zone),
                "filter": [f"greater-or-equal(datetime,{_stamp(start)})", f"less-than(datetime,{_stamp(until)})"],
            },
        }
    }


def parse_aggregate(body: Mapping[str, Any], zone: tzinfo) -> dict[date, tuple[int, float]]:
    """Day (of the account's calendar) -> (count, sum of values), from a metric-aggregate answer without `by`."""
    attributes = body["data"]["attributes"]
    dates = [datetime.fromisoformat(text).astimezone(zone).date() for text in attributes["dates"]]
    rows = attributes["data"]
    out: dict[date, tuple[int, float]] = {day: (0, 0.0) for day in dates}
    for row in rows:  # one row without `by`; summed all the same
        measured = row["measurements"]
        counts = measured.get("count") or [0] * len(dates)
        values = measured.get("sum_value") or [0.0] * len(dates)
        for day, count, value in zip(dates, counts, values, strict=True):
            old_count, old_value = out[day]
            out[day] = (old_count + int(count or 0), old_value + float(value or 0.0))
    return out


@dataclass(frozen=True)
class DailyCounts:
    """Klaviyo's counts of one account's metrics, asked at `checked_at`: per metric, per day of `days`."""

    timezone: str
    days: list[date]
    checked_at: datetime
    counts: dict[str, dict[date, tuple[int, float]]]  # metric id -> day -> (count, sum of values)
    names: dict[str, str] = field(default_factory=dict)  # metric id -> name

    def count(self, metric_id: str, day: date) -> int:
        return self.counts.get(metric_id, {}).get(day, (0, 0.0))[0]

    def rows(self, columns: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
        """The `event_counts` rows: one per metric and day, zeros included, the last day counted up to the check."""
        zone = zone_of(self.timezone)
        for metric_id in sorted(self.counts):
            for day in self.days:
                start, end = local_day_bounds(day, zone)
                count, value = self.counts[metric_id].get(day, (0, 0.0))
                yield {
                    **columns,
                    "metric_id": metric_id,
                    "metric_name": self.names.get(metric_id),
                    "local_date": day.isoformat(),
                    "timezone": self.timezone,
                    "klaviyo_count": count,
                    "klaviyo_sum_value": round(value, 2),
                    "day_start": start.isoformat(),
                    "counted_until": min(end, self.checked_at).isoformat(),
                    "checked_at": self.checked_at.isoformat(),
                }


@dataclass(frozen=True)
class Baseline:
    """What Klaviyo counted, per metric and day, when the tap last read that day (the state's `completeness`)."""

    timezone: str
    first_day: date
    counts: dict[str, list[int]]  # metric id -> count per day from first_day

    STATE_KEY = "completeness"

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Baseline | None:
        saved = state.get(cls.STATE_KEY)
        if not isinstance(saved, dict):
            return None
        try:
            counts = {str(m): [int(c) for c in values] for m, values in dict(saved["counts"]).items()}
            return cls(str(saved["timezone"]), date.fromisoformat(str(saved["first_day"])), counts)
        except (KeyError, TypeError, ValueError):
            return None  # an unreadable baseline is as none: counts are taken again, nothing re-read

    def to_state(self) -> dict[str, Any]:
        return {"timezone": self.timezone, "first_day": self.first_day.isoformat(), "counts": self.counts}

    @property
    def days(self) -> int:
        return max((len(values) for values in self.counts.values()), default=0)

    def covers(self, day: date) -> bool:
        return 0 <= (day - self.first_day).days < self.days

    def count(self, metric_id: str, day: date) -> int | None:
        """The count the tap read for the day: None for a day the baseline never held; 0 for a metric it does not
        know on a day it holds (the metric had no events the tap read)."""
        if not self.covers(day):
            return None
        values = self.counts.get(metric_id)
        index = (day - self.first_day).days
        return values[index] if values is not None and index < len(values) else 0


def _read_in_full(day: date, zone: tzinfo, read_start: datetime | None) -> bool:
    """Whether this run's incremental read covers the whole day (None: the read covers nothing of the window)."""
    return read_start is not None and local_day_bounds(day, zone)[0] >= read_start


def usable(baseline: Baseline | None, counts: DailyCounts) -> Baseline | None:
    """The baseline, unless it was counted in another timezone (its days are then other days)."""
    return baseline if baseline is not None and baseline.timezone == counts.timezone else None


def heal_plan(baseline: Baseline | None, counts: DailyCounts, read_start: datetime | None) -> list[tuple[str, date]]:
    """(metric id, day) to re-read: days the incremental read starting at `read_start` does not cover in full, whose
    count changed since the tap last read them. Oldest first."""
    base = usable(baseline, counts)
    if base is None:
        return []
    zone = zone_of(counts.timezone)
    plan = []
    for day in counts.days:
        if _read_in_full(day, zone, read_start):
            continue
        for metric_id in sorted(counts.counts):
            old = base.count(metric_id, day)
            if old is not None and old != counts.count(metric_id, day):
                plan.append((metric_id, day))
    return plan


def next_baseline(
    baseline: Baseline | None, counts: DailyCounts, read_start: datetime | None, healed: Iterable[tuple[str, date]]
) -> Baseline:
    """The baseline once this run's rows are emitted: its counts for the days it read in full, re-read, or never held
    before; the old count for the others (a changed day not re-read is re-read next run)."""
    base = usable(baseline, counts)
    zone = zone_of(counts.timezone)
    healed = set(healed)
    values: dict[str, list[int]] = {}
    for metric_id in sorted(counts.counts):
        row = []
        for day in counts.days:
            old = base.count(metric_id, day) if base is not None else None
            fresh = old is None or _read_in_full(day, zone, read_start) or (metric_id, day) in healed
            row.append(counts.count(metric_id, day) if fresh else int(old or 0))
        values[metric_id] = row
    return Baseline(counts.timezone, counts.days[0], values)
