"""Report requests fetched in the background, from the start of the run, so they hold up no other stream.

A report endpoint allows 2 requests a minute (1/s burst, 225 a day) per account: a first run's year of a daily
series is 7 requests, about three minutes of waiting. Other streams must not wait behind that, so the run starts one
thread per (report stream, account) before singer-sdk syncs its first stream (`TapKlaviyo.run`, or the first report
stream to sync when something else drives the tap). Each thread:

1. learns what the account's reports need, once per account for every report stream (`ReportAccounts`): its timezone
   (GET /api/accounts; report days are the account's days) and the id of the `conversion_metric` (GET /api/metrics);
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

from .report_quota import DAILY_QUOTA, DailyBudget, daily_limit
from .reports import ReportStream

if t.TYPE_CHECKING:
    from datetime import tzinfo

    from .report_plan import Timeframe
    from .tap import TapKlaviyo


@dataclass(frozen=True)
class ConversionMetric:
    id: str
    name: str


class ReportAccounts:
    """What the report streams need of each account, asked once per run: its timezone and conversion metric."""

    def __init__(self, tap: TapKlaviyo) -> None:
        self.tap = tap
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._timezones: dict[str, str | None] = {}
        self._metrics: dict[str, ConversionMetric | None] = {}

    def _account_lock(self, account_id: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(account_id, threading.Lock())

    def timezone(self, account_id: str) -> str | None:
        """The account's timezone (IANA name): report days are its days."""
        with self._account_lock(account_id):
            if account_id not in self._timezones:
                body = self.tap.directory.get_for(account_id, "/api/accounts", {}, endpoint="get_accounts")
                attributes = body["data"][0]["attributes"] if body["data"] else {}
                self._timezones[account_id] = attributes.get("timezone")
            return self._timezones[account_id]

    def conversion_metric(self, account_id: str) -> ConversionMetric | None:
        """The metric the `conversion_metric` setting names in this account (by name, or by id), or None: then one
        line says so, once per account, and the reports that need it are skipped for the account."""
        with self._account_lock(account_id):
            if account_id not in self._metrics:
                self._metrics[account_id] = self._find_metric(account_id)
            return self._metrics[account_id]

    def _find_metric(self, account_id: str) -> ConversionMetric | None:
        wanted = str(self.tap.config.get("conversion_metric") or "Placed Order")
        metrics: list[dict[str, t.Any]] = []
        url: str | None = "/api/metrics"
        while url:
            body = self.tap.directory.get_for(account_id, url, {}, endpoint="get_metrics")
            metrics.extend(body["data"])
            url = body["links"].get("next")
        by_id = [m for m in metrics if m["id"] == wanted]
        named = by_id or [m for m in metrics if m["attributes"].get("name") == wanted]
        account = self.tap.account_name(account_id)
        if not named:
            names = sorted({str(m["attributes"].get("name")) for m in metrics})
            self.tap.logger.error(
                "conversion_metric '%s' (a tap-klaviyo setting) is no metric of account '%s': its campaign and flow "
                "reports are skipped this run; its metrics are: %s",
                wanted,
                account,
                ", ".join(names) or "none",
            )
            return None
        # Several integrations may each have a metric of that name (Shopify's and an API's "Placed Order"): the
        # oldest is taken, and said.
        named.sort(key=lambda m: (str(m["attributes"].get("created") or ""), m["id"]))
        chosen = named[0]
        if len(named) > 1:
            self.tap.logger.warning(
                "conversion_metric '%s' names %d metrics of account '%s' (%s): the oldest, %s, is used",
                wanted,
                len(named),
                account,
                ", ".join(m["id"] for m in named),
                chosen["id"],
            )
        return ConversionMetric(chosen["id"], str(chosen["attributes"].get("name") or wanted))


@dataclass
class Fetched:
    """One timeframe read in full: its answer's pages (`links.next` is followed), JSON as Klaviyo sent it."""

    timeframe: Timeframe
    pages: list[bytes]


@dataclass
class ReportFetch:
    """The report requests of one stream for one account, sent in a thread of their own."""

    stream: ReportStream
    account_id: str
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

    @property
    def account(self) -> str:
        return self.stream.tap.account_name(self.account_id)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # handed to the stream, which raises it in the main thread
            self.error = error

    def _run(self) -> None:
        stream, tap, accounts = self.stream, self.stream.tap, self.accounts
        self.timezone = accounts.timezone(self.account_id)
        if stream.needs_conversion_metric:
            self.metric = accounts.conversion_metric(self.account_id)
            if self.metric is None:
                self.missing_metric = True
                return
        now = time.time()
        self.zone, self.planned = stream.plan(self.timezone, now, self.state)
        limiter = tap.http.limiter(self.account, stream.endpoint)
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
                    response = tap.directory.post_for(self.account_id, url, body, endpoint=stream.endpoint)
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

    def __init__(self, tap: TapKlaviyo) -> None:
        self.tap = tap
        self.accounts = ReportAccounts(tap)
        self._lock = threading.Lock()
        self._fetches: dict[tuple[str, str], ReportFetch] = {}

    def start(self) -> None:
        """Start every selected report stream's requests, for every account of the run."""
        for stream in self.tap.streams.values():
            if isinstance(stream, ReportStream) and stream.selected:
                for account_id in self.tap.account_ids():
                    self._start(stream, account_id)

    def result(self, stream: ReportStream, account_id: str) -> ReportFetch:
        """The stream's fetch for the account, once its thread is done (started now if it was not)."""
        fetch = self._start(stream, account_id)
        assert fetch.thread is not None
        fetch.thread.join()
        return fetch

    def _start(self, stream: ReportStream, account_id: str) -> ReportFetch:
        with self._lock:
            fetch = self._fetches.get((stream.name, account_id))
            if fetch is None:
                # The state is read here, in the thread that owns it; the fetch thread works on a copy.
                state = copy.deepcopy(dict(stream.get_context_state({"account_id": account_id})))
                config = self.tap.config
                limit = daily_limit(
                    int(config.get("report_daily_quota", DAILY_QUOTA)), float(config.get("rate_limit_scale", 1.0))
                )
                budget = DailyBudget.from_state(state, limit, time.time())
                fetch = ReportFetch(stream, account_id, self.accounts, state, budget)
                fetch.thread = threading.Thread(target=fetch.run, name=f"{stream.name}-{account_id}", daemon=True)
                self._fetches[(stream.name, account_id)] = fetch
                fetch.thread.start()
            return fetch
