"""Klaviyo's own counts of each account's events per metric and day: asked once per account and run (`EventCounts`),
loaded by the `event_counts` stream, and healed with by the events stream (completeness.py says how).

Cost per account and run: one GET /api/accounts (its timezone, shared with the report streams), one GET
/api/metrics per 200 metrics (shared too), and one POST /api/metric-aggregates per metric for the whole window
(3/s 60/m: a dozen metrics take a few seconds; 200 metrics about 3.5 minutes, paced by klaviyo_http).
"""

from __future__ import annotations

import logging
import threading
import typing as t
from datetime import UTC, datetime

import orjson
from typing_extensions import override

from klaviyo_http import RequestRefusedError

from .completeness import AGGREGATE_ENDPOINT, DailyCounts, aggregate_query, check_window, parse_aggregate, zone_of
from .klaviyo_stream import KlaviyoStream, account_columns
from .settings import LIGHT

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from klaviyo_http import AccountHttp

    from .account_facts import AccountFacts
    from .settings import TapSettings

AGGREGATES_PATH = "/api/metric-aggregates"


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
        self._counts: dict[str, DailyCounts | None] = {}

    def for_account(self, account: AccountHttp) -> DailyCounts | None:
        """The account's counts (asked once per run), or None when the check is off (completeness_check_days 0, or
        a light run)."""
        if self.days == 0:
            return None
        with self._lock:
            lock = self._locks.setdefault(account.id, threading.Lock())
        with lock:
            if account.id not in self._counts:
                self._counts[account.id] = self._ask(account)
            return self._counts[account.id]

    def _ask(self, account: AccountHttp) -> DailyCounts:
        timezone = self.facts.timezone(account) or "UTC"
        zone = zone_of(timezone)
        now = datetime.now(UTC)
        days = check_window(now, zone, self.days, self.start_date)
        counts: dict[str, dict[t.Any, tuple[int, float]]] = {}
        names: dict[str, str] = {}
        if days:
            for metric in self.facts.metrics(account):
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
