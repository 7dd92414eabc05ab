"""What a run asks Klaviyo's Reporting API for: timeframes in the account's own days, series cut into slices.

Klaviyo computes reports in the account's timezone: a custom timeframe's "offset is ignored and the company timezone
is used" (Klaviyo's OpenAPI, CustomTimeframe), and a daily series' buckets start at the account's midnights. So every
day here is a day of the account's calendar (its `timezone`, GET /api/accounts), and timeframes are sent as wall-clock
times without an offset.

- Values reports cover today and the 364 days before it, up to the run: the longest timeframe Klaviyo allows ("Max
  length: 1 year", the SDK's *ValuesRequestDTOResourceObjectAttributes), read again in full every run, so a message's
  numbers are corrected in place while they change.
- Series reports are read day by day from a bookmark (the last day read), starting `lookback_days` before it so days
  whose numbers changed after the fact are read again; a first run goes back `history_days`. A daily series may span
  at most 60 days ("If daily is used, the timeframe cannot be longer than 60 days", the SDK's
  *SeriesRequestDTOResourceObjectAttributes): slices are SLICE_DAYS long, oldest first, the last one ending at the
  run's minute (today so far; the next run reads today again).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# 60 days of wall-clock time across a DST change are 60 days and an hour of elapsed time: one day less keeps every
# slice inside Klaviyo's limit however it measures it. A year still takes 7 requests, as with 60.
SLICE_DAYS = 59
VALUES_DAYS = 365
# SegmentSeriesRequestDTOResourceObjectAttributes.timeframe: "Data is unavailable before June 1st, 2023."
SEGMENT_DATA_START = date(2023, 6, 1)


def account_zone(name: str | None) -> tzinfo:
    """The account's timezone (an IANA name from GET /api/accounts); UTC when missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def midnight(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def wall_clock(moment: datetime) -> str:
    """A timeframe bound as Klaviyo reads it: wall-clock time in the account's timezone, no offset."""
    return moment.replace(tzinfo=None).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Timeframe:
    """[start, end) in the account's timezone (aware datetimes)."""

    start: datetime
    end: datetime

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        """The last day the timeframe reaches (the day of its last minute)."""
        return (self.end - timedelta(minutes=1)).date()

    def body(self) -> dict[str, str]:
        return {"start": wall_clock(self.start), "end": wall_clock(self.end)}


def run_minute(now: float, zone: tzinfo) -> datetime:
    """The run's time in the account's timezone, to the minute: where timeframes end."""
    return datetime.fromtimestamp(now, zone).replace(second=0, microsecond=0)


def values_timeframe(end: datetime, days: int = VALUES_DAYS) -> Timeframe:
    """Today (up to `end`) and the `days - 1` days before it."""
    last = (end - timedelta(minutes=1)).date()
    return Timeframe(midnight(last - timedelta(days=days - 1), end.tzinfo or ZoneInfo("UTC")), end)


def series_first_day(
    *,
    today: date,
    bookmark: date | None,
    lookback_days: int,
    history_days: int,
    start_date: date | None = None,
    floor: date | None = None,
) -> date:
    """Where a series run starts: `lookback_days` before the bookmark (the bookmark's own day is always read again:
    it may have been read before it ended), or `history_days` back on a first run; never before `start_date` or
    `floor` (the first day Klaviyo has data for), never after today."""
    first = today - timedelta(days=max(1, history_days) - 1)
    if bookmark is not None:
        first = max(first, bookmark - timedelta(days=lookback_days))
    for bound in (start_date, floor):
        if bound is not None:
            first = max(first, bound)
    return min(first, today)


def series_slices(first_day: date, end: datetime, days: int = SLICE_DAYS) -> list[Timeframe]:
    """Consecutive timeframes of at most `days` whole days from `first_day`'s midnight, the last ending at `end`."""
    zone = end.tzinfo or ZoneInfo("UTC")
    last_day = (end - timedelta(minutes=1)).date()
    slices = []
    day = first_day
    while day <= last_day:
        next_day = day + timedelta(days=days)
        slices.append(Timeframe(midnight(day, zone), end if next_day > last_day else midnight(next_day, zone)))
        day = next_day
    return slices


def report_body(
    report_type: str,
    statistics: t.Sequence[str],
    timeframe: Timeframe,
    *,
    interval: str | None = None,
    conversion_metric_id: str | None = None,
) -> dict[str, t.Any]:
    """A report request's JSON:API body (the SDK's *RequestDTO). Klaviyo's default group_by is kept: it is the
    streams' key (campaign or flow, message, channel), and any further grouping (tags) would repeat rows."""
    attributes: dict[str, t.Any] = {"statistics": list(statistics), "timeframe": timeframe.body()}
    if interval is not None:
        attributes["interval"] = interval
    if conversion_metric_id is not None:
        attributes["conversion_metric_id"] = conversion_metric_id
    return {"data": {"type": report_type, "attributes": attributes}}
