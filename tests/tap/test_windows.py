"""tap_klaviyo/windows.py in-process, against a fake events endpoint (pytest-httpserver): many windows read at once
through one account's klaviyo_http handle, handed back in time order, every row once."""

from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import Future
from datetime import timedelta

import pytest
from klaviyo_fake import FakeKlaviyo, event, events_between, fake_account, seconds_ago
from pytest_httpserver import HTTPServer

from klaviyo_http import RequestRefusedError
from tap_klaviyo.flatten import decode_raw_page, flatten, text
from tap_klaviyo.windows import ReadGate, TimeWindows, WindowReader, window_conditions

FILTER = functools.partial(window_conditions, "datetime", ("greater-or-equal", 0))


def reader(server: HTTPServer, concurrency: int = 4) -> WindowReader:
    return WindowReader(
        fake_account(server),
        "/api/events",
        endpoint="get_events",
        params={"page[size]": 50, "sort": "datetime"},
        window_filter=FILTER,
        concurrency=concurrency,
    )


def rows_of(contents: list[bytes]) -> list[dict]:
    return [flatten(resource) for content in contents for resource in decode_raw_page(content).data]


def read_all(windows_reader: WindowReader, begin: float, end: float, gate: ReadGate | None = None) -> list[list[dict]]:
    first = windows_reader.first_time(begin, "datetime")
    assert first is not None
    windows = TimeWindows(max(begin, first), end, target_rows=95, first_seconds=3600)
    return list(windows_reader.read(windows, rows_of, gate))


def test_every_row_once_and_in_time_order_though_windows_are_read_at_once(httpserver: HTTPServer):
    events = events_between(seconds_ago(30 * 86400), seconds_ago(60), 3000)  # ~15 minutes apart, shared seconds
    fake = FakeKlaviyo(httpserver, events)
    pages = read_all(reader(httpserver), 0, seconds_ago(0).timestamp())
    ids = [row["id"] for page in pages for row in page]
    assert ids == [e["id"] for e in fake.events]
    times = [text(row["datetime"]) for page in pages for row in page]
    assert times == sorted(times)
    assert len(fake.filters) > 10  # many windows, each one request chain of its own


def test_the_windows_start_at_the_first_row_not_at_a_distant_start_date(httpserver: HTTPServer):
    fake = FakeKlaviyo(httpserver, events_between(seconds_ago(2 * 86400), seconds_ago(60), 200))
    read_all(reader(httpserver), 0, seconds_ago(0).timestamp())  # begin: 1970
    first, *windows = fake.filters
    assert first == FILTER(0, None)[0]  # one request (page[size]=1) finds the first row
    oldest = min(w.split(",")[1].rstrip(")") for w in windows)
    assert oldest >= fake.events[0]["attributes"]["datetime"][:19]


def test_rows_newer_than_the_end_are_read_by_the_last_open_window(httpserver: HTTPServer):
    later = event(999_999, seconds_ago(-86400))  # dated tomorrow (Klaviyo takes future-dated events)
    fake = FakeKlaviyo(httpserver, [*events_between(seconds_ago(86400), seconds_ago(60), 100), later])
    pages = read_all(reader(httpserver), 0, seconds_ago(0).timestamp())
    assert pages[-1][-1]["id"] == later["id"]
    # The windows are asked for at once, so in no fixed order: one of them, from the last bound on, has no end.
    _probe, *windows = fake.filters
    ends = [w.split(",less-than(datetime,")[1].rstrip(")") for w in windows if "less-than" in w]
    assert [w for w in windows if "less-than" not in w] == [f"greater-or-equal(datetime,{max(ends)})"]


def test_no_row_at_or_after_the_start_is_no_window(httpserver: HTTPServer):
    fake = FakeKlaviyo(httpserver, events_between(seconds_ago(10 * 86400), seconds_ago(9 * 86400), 20))
    assert reader(httpserver).first_time(seconds_ago(86400).timestamp(), "datetime") is None
    assert len(fake.filters) == 1


def test_a_refused_window_ends_the_read_with_klaviyos_error(httpserver: HTTPServer):
    fake = FakeKlaviyo(httpserver, events_between(seconds_ago(20 * 86400), seconds_ago(60), 1000))
    start = fake.events[0]["attributes"]["datetime"][:10]
    fake.fail_when = "less-than"  # every bounded window
    with pytest.raises(RequestRefusedError, match="refused on purpose"):
        read_all(reader(httpserver), 0, seconds_ago(0).timestamp())
    assert any(start in f for f in fake.filters)


def window_end(filter_: str) -> str | None:
    """The `less-than` bound of a window's filter (None: open-ended)."""
    return filter_.split(",less-than(datetime,")[1].rstrip(")") if "less-than" in filter_ else None


def test_windows_before_the_gate_are_read_while_it_is_closed_and_none_after_it(httpserver: HTTPServer):
    fake = FakeKlaviyo(httpserver, events_between(seconds_ago(30 * 86400), seconds_ago(60), 3000))
    since = seconds_ago(24 * 86400)  # 6 of the 30 days before it: a few windows
    opened: Future[None] = Future()
    asked_while_closed: list[str] = []

    def open_once_the_reader_stops_asking() -> None:
        seen, still_since = 0, time.monotonic()
        deadline = still_since + 60
        while time.monotonic() < deadline and (len(fake.filters) < 4 or time.monotonic() - still_since < 1.0):
            if len(fake.filters) != seen:
                seen, still_since = len(fake.filters), time.monotonic()
            time.sleep(0.01)
        asked_while_closed.extend(fake.filters)
        opened.set_result(None)

    opener = threading.Thread(target=open_once_the_reader_stops_asking)
    opener.start()
    gate = ReadGate(since.timestamp(), opened)
    pages = read_all(reader(httpserver), 0, seconds_ago(0).timestamp(), gate)
    opener.join()

    assert [row["id"] for page in pages for row in page] == [e["id"] for e in fake.events]  # every row once, in order
    _probe, *closed = asked_while_closed
    assert len(closed) >= 3  # windows before `since` were read while the gate was closed ...
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all((end := window_end(f)) is not None and end <= stamp for f in closed)  # ... and none after it
    assert any(window_end(f) is None for f in fake.filters)  # the rest once it opened


def test_a_gate_that_fails_ends_the_read_with_its_error(httpserver: HTTPServer):
    fake = FakeKlaviyo(httpserver, events_between(seconds_ago(20 * 86400), seconds_ago(60), 500))
    refused: Future[None] = Future()
    refused.set_exception(RuntimeError("the counts failed"))
    gate = ReadGate(seconds_ago(5 * 86400).timestamp(), refused)
    windows_reader = reader(httpserver)
    windows = TimeWindows(seconds_ago(20 * 86400).timestamp(), seconds_ago(0).timestamp(), target_rows=95)
    with pytest.raises(RuntimeError, match="the counts failed"):
        list(windows_reader.read(windows, rows_of, gate))
    stamp = seconds_ago(5 * 86400).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all((end := window_end(f)) is not None and end <= stamp for f in fake.filters)  # none after the gate


@pytest.mark.timeout(60)  # held windows waited for the gate for ever: the read never returned
def test_a_read_that_fails_before_its_gate_opens_ends_without_waiting_for_it(httpserver: HTTPServer):
    fake = FakeKlaviyo(httpserver, events_between(seconds_ago(20 * 86400), seconds_ago(60), 1000))
    fake.fail_when = "less-than"  # every bounded window is refused
    never: Future[None] = Future()  # counts that would take minutes
    gate = ReadGate(seconds_ago(19 * 86400).timestamp(), never)
    windows = TimeWindows(seconds_ago(20 * 86400).timestamp(), seconds_ago(0).timestamp(), target_rows=95)
    with pytest.raises(RequestRefusedError, match="refused on purpose"):
        list(reader(httpserver).read(windows, rows_of, gate))
    assert not never.done()


def test_window_filters_name_their_bounds_with_the_operators_the_endpoint_allows():
    lo = int(seconds_ago(86400).timestamp())
    stamp = (seconds_ago(86400) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # profiles' `updated` takes greater-than only: one second earlier gives "at or after lo"
    assert window_conditions("updated", ("greater-than", -1), lo, None) == [f"greater-than(updated,{stamp})"]
    assert window_conditions("datetime", ("greater-or-equal", 0), lo, lo + 60)[1].startswith("less-than(datetime,")
