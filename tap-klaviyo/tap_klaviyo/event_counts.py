"""Klaviyo's own counts of each account's events per metric and day: asked once per account and run (`EventCounts`),
loaded by the `event_counts` stream, and healed with by the events stream (completeness.py says how).

Cost per account and run: one GET /api/accounts (its timezone, shared with the report streams), one GET
/api/metrics per 200 metrics (shared too), and one POST /api/metric-aggregates per metric for the whole window
(3/s 60/m: a dozen metrics take a few seconds; 200 metrics about 3.5 minutes, paced by klaviyo_http). They are
asked in the background while the events stream reads the days before them (`PendingCounts`), so they add little
to a first run's time.
"""

from __future__ import annotations

import logging
import threading
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime

import orjson
from typing_extensions import override

from klaviyo_http import RequestRefusedError

from .completeness import (
    AGGREGATE_ENDPOINT,
    DailyCounts,
    aggregate_query,
    check_window,
    local_day_bounds,
    parse_aggregate,
    zone_of,
)
from .klaviyo_stream import KlaviyoStream, account_columns
from .settings import LIGHT
from .windows import ReadGate

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from klaviyo_http import AccountHttp

    from .account_facts import AccountFacts
    from .settings import TapSettings

AGGREGATES_PATH = "/api/metric-aggregates"


class CountsAbandonedError(Exception):
    """The read that wanted the counts failed before they were all asked."""

    def __init__(self, account: str) -> None:
        super().__init__(f"Account '{account}': Klaviyo's counts were not all asked: the events read failed")


@dataclass(frozen=True)
class PendingCounts:
    """An account's counts while Klaviyo is asked for them in the background.

    `since` is when the first counted day begins (epoch seconds; None when no day is counted). The events read
    holds every window that ends after `since` until the counts are in (`ReadGate`): a count asked before a day's
    read holds only events the read finds, while the years before the check window are read meanwhile (~4 s of
    count requests at 3/s on a first run)."""

    since: float | None
    future: Future[DailyCounts]
    #: set when the read that wanted the counts failed: no more are asked (200 metrics take 3.5 minutes at 60/m,
    #: which the process would wait for before it exits with the error)
    abandoned: threading.Event

    def result(self) -> DailyCounts:
        return self.future.result()

    def abandon(self) -> None:
        self.abandoned.set()

    def gate(self) -> ReadGate | None:
        return None if self.since is None else ReadGate(self.since, self.future)


class EventCounts:
    """The run's counts, per account: asked of Klaviyo the first time a stream wants them, then kept."""

    def __init__(self, settings: TapSettings, facts: AccountFacts, logger: logging.Logger) -> None:
        # A light run (scope light, every 15 minutes) neither checks nor heals: the full runs do, twice a day.
        self.days = 0 if settings.scope == LIGHT else settings.completeness_check_days
        self.start_date = datetime.fromisoformat(settings.start_date)
        self.facts = facts
        self.logger = logger
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._pending: dict[str, PendingCounts] = {}
        self._pool: ThreadPoolExecutor | None = None

    def start(self, account: AccountHttp) -> PendingCounts | None:
        """The account's counts, asked in the background the first time (None when the check is off:
        completeness_check_days 0, or a light run). The account's timezone is asked here, to know the days."""
        if self.days == 0:
            return None
        with self._lock:
            lock = self._locks.setdefault(account.id, threading.Lock())
        with lock:
            if account.id not in self._pending:
                self._pending[account.id] = self._begin(account)
            return self._pending[account.id]

    def for_account(self, account: AccountHttp) -> DailyCounts | None:
        """The account's counts (asked once per run), or None when the check is off."""
        pending = self.start(account)
        return None if pending is None else pending.result()

    def _begin(self, account: AccountHttp) -> PendingCounts:
        timezone = self.facts.timezone(account) or "UTC"
        zone = zone_of(timezone)
        now = datetime.now(UTC)
        days = check_window(now, zone, self.days, self.start_date)
        since = local_day_bounds(days[0], zone)[0].timestamp() if days else None
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(thread_name_prefix="event-counts")
            abandoned = threading.Event()
            future = self._pool.submit(self._ask, account, timezone, now, days, abandoned)
        return PendingCounts(since, future, abandoned)

    def _ask(
        self, account: AccountHttp, timezone: str, now: datetime, days: list[date], abandoned: threading.Event
    ) -> DailyCounts:
        zone = zone_of(timezone)
        counts: dict[str, dict[t.Any, tuple[int, float]]] = {}
        names: dict[str, str] = {}
        if days:
            for metric in self.facts.metrics(account):
                if abandoned.is_set():
                    raise CountsAbandonedError(account.name)
                body = orjson.dumps(aggregate_query(metric.id, days, zone, now))
                try:
                    answer = account.post(AGGREGATES_PATH, body, endpoint=AGGREGATE_ENDPOINT)
                except RequestRefusedError as refused:
                    # A metric deleted since it was listed: nothing to count.
                    if refused.detail.status not in (400, 404):
                        raise
                    self.logger.info("Account '%s': metric %s was not counted: %s", account.name, metric.id, refused)
                    continue
                counts[metric.id] = parse_aggregate(orjson.loads(answer), zone)
                names[metric.id] = metric.name
        self.logger.info(
            "Account '%s': Klaviyo's counts of %d metric(s) over %d day(s) (%s), asked in %d request(s)",
            account.name,
            len(counts),
            len(days),
            timezone,
            len(counts),
        )
        return DailyCounts(timezone, days, now, counts, names)


class EventCountsStream(KlaviyoStream):
    """Klaviyo's count of every metric's events per day of the check window, in the account's timezone."""

    name = "event_counts"
    path = AGGREGATES_PATH
    # Read in the events stream's process: both use the counts asked once per run there (RunContext.event_counts).
    reports_on = "events"
    endpoint = AGGREGATE_ENDPOINT
    primary_keys = ("account_id", "metric_id", "local_date")

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        account = self.account(context)
        counts = self.run.event_counts.for_account(account)
        if counts is not None:
            yield from counts.rows(account_columns(account))
