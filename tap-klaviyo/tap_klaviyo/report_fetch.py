"""Report requests fetched in the background, from the start of the run, so they hold up no other stream.

A report endpoint allows 2 requests a minute (1/s burst, 225 a day) per account: a first run's year of a daily
series is 7 requests, about three minutes of waiting. Other streams must not wait behind that, so the run starts one
thread per (report stream, account) before singer-sdk syncs its first stream (`TapKlaviyo.run`, or the first report
stream to sync when something else drives the tap). Each thread:

1. learns what the account's reports need, once per account for every report stream (`ReportAccounts`): its timezone
   (GET /api/accounts; report days are the account's days) and the id of the `conversion_metric` (GET /api/metrics),
   both asked once per run for every stream that needs them (account_facts.py);
2. plans its requests (the stream's `plan`: timeframes in the account's days) and sends them, oldest first, through
   the run's KlaviyoHttp, within what is left of the day's quota (report_quota.py): earlier runs' requests count, and
   a spent quota (Klaviyo's long Retry-After, or the limiter's count) stops it at once, never a wait;
3. keeps the answers in memory as they came (JSON bytes: a year of daily series for 500 flow messages is about
   32 MB, where parsed it would take 140 MB) until its stream emits their rows.

The report streams come last in STREAM_TYPES: when singer-sdk reaches them the answers are usually in; each waits
for its threads, emits the rows of every timeframe read in full, and moves its bookmark (reports.py).
"""

from __future__ import annotations

import copy
import threading
import time
import typing as t
from dataclasses import dataclass, field

import orjson

from klaviyo_http import QuotaExhaustedError

from .report_quota import DailyBudget, daily_limit
from .reports import ReportStream

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable
    from datetime import tzinfo

    from singer_sdk import Stream

    from klaviyo_http import AccountHttp

    from .account_facts import AccountFacts
    from .report_plan import Timeframe
    from .run_context import RunContext


@dataclass(frozen=True)
class ConversionMetric:
    id: str
    name: str


class ReportAccounts:
    """What the report streams need of each account, asked once per run: its timezone and conversion metric (the
    timezone and the metrics come from the run's `AccountFacts`, which the completeness check shares)."""

    def __init__(self, logger: logging.Logger, conversion_metric: str, facts: AccountFacts) -> None:
        self.logger = logger
        self.wanted_metric = conversion_metric  # the setting: a metric's name or id
        self.facts = facts
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._metrics: dict[str, ConversionMetric | None] = {}

    def _account_lock(self, account_id: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(account_id, threading.Lock())

    def timezone(self, account: AccountHttp) -> str | None:
        """The account's timezone (IANA name): report days are its days."""
        return self.facts.timezone(account)

    def conversion_metric(self, account: AccountHttp) -> ConversionMetric | None:
        """The metric the `conversion_metric` setting names in this account (by name, or by id), or None: then one
        line says so, once per account, and the reports that need it are skipped for the account."""
        with self._account_lock(account.id):
            if account.id not in self._metrics:
                self._metrics[account.id] = self._find_metric(account)
            return self._metrics[account.id]

    def _find_metric(self, account: AccountHttp) -> ConversionMetric | None:
        wanted = self.wanted_metric
        metrics = self.facts.metrics(account)
        by_id = [m for m in metrics if m.id == wanted]
        named = by_id or [m for m in metrics if m.name == wanted]
        if not named:
            names = sorted({m.name for m in metrics})
            self.logger.error(
                "conversion_metric '%s' (a tap-klaviyo setting) is no metric of account '%s': its campaign and flow "
                "reports are skipped this run; its metrics are: %s",
                wanted,
                account.name,
                ", ".join(names) or "none",
            )
            return None
        # Several integrations may each have a metric of that name (Shopify's and an API's "Placed Order"): the
        # oldest is taken, and said.
        named = sorted(named, key=lambda m: (m.created, m.id))
        chosen = named[0]
        if len(named) > 1:
            self.logger.warning(
                "conversion_metric '%s' names %d metrics of account '%s' (%s): the oldest, %s, is used",
                wanted,
                len(named),
                account.name,
                ", ".join(m.id for m in named),
                chosen.id,
            )
        return ConversionMetric(chosen.id, chosen.name or wanted)


@dataclass
class Fetched:
    """One timeframe read in full: its answer's pages (`links.next` is followed), JSON as Klaviyo sent it."""

    timeframe: Timeframe
    pages: list[bytes]


@dataclass
class ReportFetch:
    """The report requests of one stream for one account, sent in a thread of their own."""

    stream: ReportStream
    account: AccountHttp
    accounts: ReportAccounts
    state: dict[str, t.Any]  # a copy of the partition's state when the run started
    budget: DailyBudget
    timezone: str | None = None
    zone: tzinfo | None = None
    metric: ConversionMetric | None = None
    planned: list[Timeframe] = field(default_factory=list)
    fetched: list[Fetched] = field(default_factory=list)
    missing_metric: bool = False
    quota_spent: bool = False  # requests were left for a later run
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # handed to the stream, which raises it in the main thread
            self.error = error

    def _run(self) -> None:
        stream, account, accounts = self.stream, self.account, self.accounts
        self.timezone = accounts.timezone(account)
        if stream.needs_conversion_metric:
            self.metric = accounts.conversion_metric(account)
            if self.metric is None:
                self.missing_metric = True
                return
        now = time.time()
        self.zone, self.planned = stream.plan(self.timezone, now, self.state)
        limiter = account.limiter(stream.endpoint)
        if limiter is not None:
            limiter.seed_daily(self.budget.times)  # requests of earlier runs in the last 24 hours count
        for timeframe in self.planned:
            body = orjson.dumps(stream.request_body(timeframe, self.metric.id if self.metric else None))
            pages: list[bytes] = []
            url: str | None = stream.path
            while url:
                sent = time.time()
                if self.budget.remaining(sent) <= 0:
                    self.quota_spent = True
                    return
                self.budget.take(sent)
                try:
                    response = account.post(url, body, endpoint=stream.endpoint)
                except QuotaExhaustedError as spent:
                    self.budget.give_back(sent)
                    self.budget.refused(time.time(), spent.retry_after)
                    self.quota_spent = True
                    return
                pages.append(response)
                url = (orjson.loads(response).get("links") or {}).get("next")
            self.fetched.append(Fetched(timeframe, pages))

    @property
    def left(self) -> int:
        """Planned requests not sent (or whose answers were not all read)."""
        return len(self.planned) - len(self.fetched)


class ReportFetches:
    """The run's report fetches: one thread per selected report stream and account, started once."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.accounts = ReportAccounts(run.logger, run.settings.conversion_metric, run.facts)
        self._lock = threading.Lock()
        self._fetches: dict[tuple[str, str], ReportFetch] = {}

    def start(self, streams: Iterable[Stream]) -> None:
        """Start every selected report stream's requests, for every account of the run."""
        for stream in streams:
            if isinstance(stream, ReportStream) and stream.selected:
                for account in self.run.accounts():
                    self._start(stream, account)

    def result(self, stream: ReportStream, account: AccountHttp) -> ReportFetch:
        """The stream's fetch for the account, once its thread is done (started now if it was not)."""
        fetch = self._start(stream, account)
        assert fetch.thread is not None
        fetch.thread.join()
        return fetch

    def _start(self, stream: ReportStream, account: AccountHttp) -> ReportFetch:
        with self._lock:
            fetch = self._fetches.get((stream.name, account.id))
            if fetch is None:
                # The state is read here, in the thread that owns it; the fetch thread works on a copy.
                state = copy.deepcopy(dict(stream.get_context_state({"account_id": account.id})))
                settings = self.run.settings
                limit = daily_limit(settings.report_daily_quota, settings.rate_limit_scale)
                budget = DailyBudget.from_state(state, limit, time.time())
                fetch = ReportFetch(stream, account, self.accounts, state, budget)
                fetch.thread = threading.Thread(target=fetch.run, name=f"{stream.name}-{account.id}", daemon=True)
                self._fetches[(stream.name, account.id)] = fetch
                fetch.thread.start()
            return fetch
