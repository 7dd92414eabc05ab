"""Large streams read as many short time windows at once, emitted in time order.

One cursor is a chain: each page names the next, so one chain reads one page per round trip (~250 ms at
Klaviyo), a small part of the events tier. The range from the bookmark (less the stream's lookback) to the sync
start is cut into consecutive [lo, hi) windows sized to about two pages each; up to `window_concurrency` of them
are read at once (`WindowReader`, through the account's klaviyo_http handle), and the consumer yields them in
order, a window as one page (paged_stream.py). The stream therefore stays sorted (the bookmark moves with each
page, and a crash resumes where it stopped), and memory is bounded by the windows in flight, whatever the size of
the range.
"""

from __future__ import annotations

import math
import threading
import time
import typing as t
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime

from typing_extensions import override

from .flatten import RawPage, decode_page, decode_raw_page, flatten, next_link
from .klaviyo_stream import account_columns
from .paged_stream import PagedStream
from .settings import LIGHT

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from singer_sdk.helpers.types import Context

    from klaviyo_http import AccountHttp

    from .bookmarks import PartitionRun

# Rows a window aims at, in pages: a little under two full pages, so that a window is mostly two requests of
# full pages (the rate limit counts requests, not rows) rather than two full pages and a few rows in a third.
WINDOW_PAGES = 1.9
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 90 * 86400
Row = dict[str, t.Any]


class TimeWindows:
    """Consecutive whole-second windows from `start` to `end`, then one open-ended window (unless `open_ended` is
    False: a bounded range, such as one day read again).

    The next window's length follows the density seen so far (rows per second of time), aiming at
    `target_rows`; an empty window doubles the length."""

    def __init__(
        self, start: float, end: float, target_rows: int, first_seconds: float = 86400, *, open_ended: bool = True
    ) -> None:
        self.lo = math.floor(start)
        self.end = math.ceil(end)
        self.target_rows = target_rows
        self.seconds = first_seconds
        self.open_ended = open_ended
        self.done = False

    def next(self) -> tuple[int, int | None] | None:
        if self.done:
            return None
        if self.lo >= self.end:
            self.done = True
            # Rows newer than the sync start, if any, are not left behind.
            return (self.lo, None) if self.open_ended else None
        hi = min(self.end, self.lo + max(MIN_WINDOW_SECONDS, int(self.seconds)))
        window = (self.lo, hi)
        self.lo = hi
        return window

    def observe(self, seconds: int, rows: int) -> None:
        if rows == 0:
            self.seconds = min(MAX_WINDOW_SECONDS, self.seconds * 2)
        else:
            self.seconds = min(MAX_WINDOW_SECONDS, max(MIN_WINDOW_SECONDS, self.target_rows * seconds / rows))


def _stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_conditions(key: str, lower_bound: tuple[str, int], lo: int, hi: int | None) -> list[str]:
    """The filter of the window [lo, hi) on `key` (open-ended when `hi` is None); `lower_bound` is the operator and
    offset (seconds) that give "at or after lo" with the operators the endpoint allows."""
    op, offset = lower_bound
    conditions = [f"{op}({key},{_stamp(lo + offset)})"]
    if hi is not None:
        conditions.append(f"less-than({key},{_stamp(hi)})")
    return conditions


class ReadStoppedError(Exception):
    """A held window's worker gives up: the read it belonged to has ended (failed, or closed by its consumer)."""


@dataclass(frozen=True)
class ReadGate:
    """Windows that end after `since` (epoch seconds), and the open-ended one, are read only once `ready` is done:
    the events read waits there for Klaviyo's counts of those days (event_counts.py), while the windows before are
    read meanwhile. A held window fails with `ready`'s error, or when its read ends first."""

    since: float
    ready: Future[t.Any]

    def hold(self, hi: int | None, stopped: threading.Event) -> None:
        if hi is None or hi > self.since:
            while True:
                try:
                    self.ready.result(timeout=0.2)
                    return
                except TimeoutError:
                    if self.ready.done():  # `ready` itself failed with a timeout
                        raise
                    if stopped.is_set():  # else the pool's shutdown would wait for `ready` (minutes of counts)
                        raise ReadStoppedError from None


class WindowReader:
    """Reads one account's endpoint window by window, `concurrency` windows at once (threads sharing the account's
    handle, so its limiter paces them all), and hands the windows back in time order."""

    def __init__(
        self,
        account: AccountHttp,
        path: str,
        *,
        endpoint: str,
        params: dict[str, t.Any],
        window_filter: Callable[[int, int | None], list[str]],
        concurrency: int,
        name: str = "window",
    ) -> None:
        """`params` are every request's but the filter; `window_filter(lo, hi)` gives the filter of [lo, hi)."""
        self.account = account
        self.path = path
        self.endpoint = endpoint
        self.params = params
        self.window_filter = window_filter
        self.concurrency = max(1, concurrency)
        self.name = name

    def first_time(self, begin: float, replication_key: str) -> float | None:
        """When the first row at or after `begin` is (None: there is none): the windows start there, not at a
        distant start_date."""
        params = {**self.params, "filter": ",".join(self.window_filter(math.floor(begin), None)), "page[size]": 1}
        page = decode_page(self.account.get(self.path, endpoint=self.endpoint, params=params))
        if not page.data:
            return None
        return datetime.fromisoformat(page.data[0].attributes[replication_key]).timestamp()

    def read(
        self, windows: TimeWindows, rows_of: Callable[[list[bytes]], list[Row]], gate: ReadGate | None = None
    ) -> Iterator[list[Row]]:
        """Each window's rows (`rows_of` its pages, in the consumer's thread), in time order; empty windows are
        skipped. Each window's row count sizes the next windows (`TimeWindows.observe`). A window `gate` holds
        waits in its worker thread; the windows before it go on."""
        concurrency = self.concurrency
        inflight: deque[tuple[int, int | None, Future[list[bytes]]]] = deque()
        stopped = threading.Event()
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=self.name) as pool:

            def top_up() -> None:
                # `concurrency` windows being read, and at most twice that read and waiting for their turn: a slow
                # window holds up the yield, not the reading of the ones after it.
                while len(inflight) < 2 * concurrency and sum(not f.done() for *_, f in inflight) < concurrency:
                    window = windows.next()
                    if window is None:
                        return
                    lo, hi = window
                    inflight.append((lo, hi, pool.submit(self.read_window, lo, hi, gate, stopped)))

            top_up()
            try:
                while inflight:
                    lo, hi, future = inflight[0]
                    if not future.done():
                        wait([f for *_, f in inflight if not f.done()], return_when=FIRST_COMPLETED)
                        top_up()
                        continue
                    inflight.popleft()
                    rows = rows_of(future.result())
                    if hi is not None:
                        windows.observe(hi - lo, len(rows))
                    top_up()
                    if rows:
                        yield rows
            finally:
                stopped.set()
                for _, _, future in inflight:
                    future.cancel()

    def read_window(
        self, lo: int, hi: int | None, gate: ReadGate | None = None, stopped: threading.Event | None = None
    ) -> list[bytes]:
        """Every page of [lo, hi), as Klaviyo sent them (in a worker thread, which only reads the next link)."""
        if gate is not None:
            gate.hold(hi, stopped or threading.Event())
        params = {**self.params, "filter": ",".join(self.window_filter(lo, hi))}
        content = self.account.get(self.path, endpoint=self.endpoint, params=params)
        contents = [content]
        while url := next_link(content):
            content = self.account.get(url, endpoint=self.endpoint)
            contents.append(content)
        return contents


class WindowedStream(PagedStream):
    """A stream sorted by its replication key and read window by window, several windows at once."""

    #: (operator, offset in seconds) giving "at or after lo" with the operators the endpoint allows
    lower_bound: tuple[str, int] = ("greater-or-equal", 0)

    def window_filter(self, lo: int, hi: int | None) -> list[str]:
        assert self.replication_key is not None
        return window_conditions(self.replication_key, self.lower_bound, lo, hi)

    def page_rows(self, page: RawPage, columns: dict[str, str]) -> list[Row]:
        """One page's rows, starting with the account's `columns`."""
        return [flatten(resource, columns) for resource in page.data]

    def lookback_seconds(self) -> float:
        """How far before its bookmark an incremental run starts: `light_lookback_minutes` in a run of scope
        `light`, which comes every few minutes, else the stream's own (`full_lookback_seconds`)."""
        if self.settings.scope == LIGHT:
            return 60.0 * self.settings.light_lookback_minutes
        return self.full_lookback_seconds()

    def full_lookback_seconds(self) -> float:
        """How far before its bookmark a full run starts (0: at the bookmark)."""
        return 0.0

    def start_time(self, partition: PartitionRun) -> float:
        """Where this run starts: the bookmark (less the lookback) or start_date, as epoch seconds."""
        start = self.get_starting_timestamp(partition.context)
        begin = start.timestamp() if start else 0.0
        if partition.old_bookmark is not None:
            begin -= self.lookback_seconds()
        return begin

    @override
    def pages(self, partition: PartitionRun) -> Iterator[list[Row]]:
        yield from self.read_forward(partition)

    def read_forward(self, partition: PartitionRun, gate: ReadGate | None = None) -> Iterator[list[Row]]:
        """The run's read: from `start_time` to now, window by window, the windows `gate` holds waiting for it."""
        context = partition.context
        account = self.account(context)
        begin = self.start_time(partition)
        sync_start = time.time()
        partition.cap = datetime.fromtimestamp(sync_start, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert self.replication_key is not None
        reader = self.window_reader(context, self.window_filter)
        first = reader.first_time(begin, self.replication_key)
        if first is None:
            return
        windows = TimeWindows(max(begin, first), sync_start, target_rows=self.window_rows)
        yield from reader.read(windows, self.rows_of(account), gate)

    @property
    def window_rows(self) -> int:
        """Rows a window aims at (WINDOW_PAGES of the stream's pages)."""
        return int(WINDOW_PAGES * (self.page_size or 100))

    def window_reader(
        self, context: Context | None, window_filter: Callable[[int, int | None], list[str]]
    ) -> WindowReader:
        """A reader of the stream's endpoint for the partition's account, windows filtered by `window_filter`."""
        return WindowReader(
            self.account(context),
            self.path,
            endpoint=self.endpoint_for(context),
            params=self.get_url_params(context, None),
            window_filter=window_filter,
            concurrency=self.settings.window_concurrency,
            name=f"{self.name}-window",
        )

    def rows_of(self, account: AccountHttp) -> Callable[[list[bytes]], list[Row]]:
        """A window's pages -> its rows (`page_rows`), with the account's columns."""
        columns = account_columns(account)

        def rows(contents: list[bytes]) -> list[Row]:
            return [row for content in contents for row in self.page_rows(decode_raw_page(content), columns)]

        return rows
