"""Comparing two runs' Klaviyo counts per day (event_counts, RAW.KLAVIYO.EVENT_COUNTS).

event_counts holds the last completeness_check_days of each account's own today, so two runs on either side of an
account's midnight count windows a day apart: 08:00 UTC is midnight for the sandbox's Los Angeles account (a clean
clone's suite failed so on 2026-12-03). Such runs are compared between the first and last day every run counted, per
account; a day missing between those still differs.
"""

from __future__ import annotations

import typing as t
from collections import defaultdict

Row = t.TypeVar("Row")


def on_days_all_counted(
    runs: t.Sequence[t.Iterable[Row]], account_day: t.Callable[[Row], tuple[str, t.Any]]
) -> list[list[Row]]:
    """Each run's rows whose day is within the first and last day every run counted for the row's account."""
    spans: dict[str, tuple[t.Any, t.Any]] = {}
    for rows in runs:
        days_by_account: dict[str, list[t.Any]] = defaultdict(list)
        for row in rows:
            account, day = account_day(row)
            days_by_account[account].append(day)
        for account, days in days_by_account.items():
            first, last = spans.get(account, (min(days), max(days)))
            spans[account] = (max(first, min(days)), min(last, max(days)))

    def counted_by_all(row: Row) -> bool:
        account, day = account_day(row)
        return bool(spans[account][0] <= day <= spans[account][1])

    return [[row for row in rows if counted_by_all(row)] for rows in runs]
