"""Large streams read as many short time windows at once, emitted in time order.

One cursor is a chain: each page names the next, so one chain reads one page per round trip (~250 ms at
Klaviyo), a small part of the events tier. The range from the bookmark (less the stream's lookback) to the sync
start is cut into consecutive [lo, hi) windows sized to about two pages each; up to `window_concurrency` of them
are read at once, and the consumer yields them in order, a window as one page (pages.py). The stream therefore
stays sorted (the bookmark moves with each page, and a crash resumes where it stopped), and memory is bounded by
the windows in flight, whatever the size of the range.
"""

from __future__ import annotations

import math
import time
import typing as t
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

from typing_extensions import override

from .client import WINDOW_CONCURRENCY
from .flatten import decode_raw_page, flatten, next_link
from .pages import PagedStream, PartitionRun

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

# Rows a window aims at, in pages: a little under two full pages, so that a window is mostly two requests of
# full pages (the rate limit counts requests, not rows) rather than two full pages and a few rows in a third.
WINDOW_PAGES = 1.9
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 90 * 86400


class TimeWindows:
    """Consecutive whole-second windows from `start` to `end`, then one open-ended window.

    The next window's length follows the density seen so far (rows per second of time), aiming at
    `target_rows`; an empty window doubles the length."""

    def __init__(self, start: float, end: float, target_rows: int, first_seconds: float = 86400) -> None:
        self.lo = math.floor(start)
        self.end = math.ceil(end)
        self.target_rows = target_rows
        self.seconds = first_seconds
        self.done = False

    def next(self) -> tuple[int, int | None] | None:
        if self.done:
            return None
        if self.lo >= self.end:
            self.done = True
            return (self.lo, None)  # rows newer than the sync start, if any, are not left behind
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


class WindowedStream(PagedStream):
    """A stream sorted by its replication key and read window by window, several windows at once."""

    #: (operator, offset in seconds) giving "at or after lo" with the operators the endpoint allows
    lower_bound: tuple[str, int] = ("greater-or-equal", 0)

    def window_filter(self, lo: int, hi: int | None) -> list[str]:
        assert self.replication_key is not None
        op, offset = self.lower_bound
        conditions = [f"{op}({self.replication_key},{_stamp(lo + offset)})"]
        if hi is not None:
            conditions.append(f"less-than({self.replication_key},{_stamp(hi)})")
        return conditions

    def lookback_seconds(self) -> float:
        """How far before its bookmark an incremental run starts (0: at the bookmark)."""
        return 0.0

    def start_time(self, partition: PartitionRun) -> float:
        """Where this run starts: the bookmark (less the lookback) or start_date, as epoch seconds."""
        start = self.get_starting_timestamp(partition.context)
        begin = start.timestamp() if start else 0.0
        if partition.old_bookmark is not None:
            begin -= self.lookback_seconds()
        return begin

    @override
    def pages(self, partition: PartitionRun) -> Iterator[list[dict[str, t.Any]]]:
        account_id = self.account_id(partition.context)
        begin = self.start_time(partition)
        sync_start = time.time()
        partition.cap = datetime.fromtimestamp(sync_start, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        first = self._first_time(account_id, partition.context, begin)
        if first is None:
            return
        windows = TimeWindows(max(begin, first), sync_start, target_rows=int(WINDOW_PAGES * (self.page_size or 100)))
        concurrency = max(1, int(self.config.get("window_concurrency", WINDOW_CONCURRENCY)))
        inflight: deque[tuple[int, int | None, Future[list[bytes]]]] = deque()
        columns = self.account_columns(account_id)
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"{self.name}-window") as pool:

            def top_up() -> None:
                # `concurrency` windows being read, and at most twice that read and waiting for their turn: a slow
                # window holds up the yield, not the reading of the ones after it.
                while len(inflight) < 2 * concurrency and sum(not f.done() for *_, f in inflight) < concurrency:
                    window = windows.next()
                    if window is None:
                        return
                    lo, hi = window
                    inflight.append((lo, hi, pool.submit(self._read_window, account_id, partition.context, lo, hi)))

            top_up()
            try:
                while inflight:
                    lo, hi, future = inflight[0]
                    if not future.done():
                        wait([f for *_, f in inflight if not f.done()], return_when=FIRST_COMPLETED)
                        top_up()
                        continue
                    inflight.popleft()
                    rows = [flatten(r, columns) for content in future.result() for r in decode_raw_page(content).data]
                    if hi is not None:
                        windows.observe(hi - lo, len(rows))
                    top_up()
                    if rows:
                        yield rows
            finally:
                for _, _, future in inflight:
                    future.cancel()

    def _params(self, context: Context | None, conditions: list[str], page_size: int | None = None) -> dict[str, t.Any]:
        params = self.get_url_params(context, None)
        params["filter"] = ",".join(conditions)
        if page_size is not None:
            params["page[size]"] = page_size
        return params

    def _first_time(self, account_id: str, context: Context | None, begin: float) -> float | None:
        """When the first row at or after `begin` is: the windows start there, not at a distant start_date."""
        page = self.tap.directory.page_for(
            account_id,
            self.path,
            self._params(context, self.window_filter(math.floor(begin), None), page_size=1),
            endpoint=self.endpoint_for(context),
        )
        if not page.data:
            return None
        assert self.replication_key is not None
        value = page.data[0].attributes[self.replication_key]
        return datetime.fromisoformat(value).timestamp()

    def _read_window(self, account_id: str, context: Context | None, lo: int, hi: int | None) -> list[bytes]:
        """Every page of [lo, hi), as Klaviyo sent them (in a worker thread, which only reads the next link)."""
        directory = self.tap.directory
        endpoint = self.endpoint_for(context)
        content = directory.content_for(
            account_id, self.path, self._params(context, self.window_filter(lo, hi)), endpoint=endpoint
        )
        contents = [content]
        while url := next_link(content):
            content = directory.content_for(account_id, url, {}, endpoint=endpoint)
            contents.append(content)
        return contents
