"""The report streams' planning, slicing and quota logic, in-process: timeframes in the account's days, slices
Klaviyo allows, the daily budget across runs, and a fetch that stops cleanly when the quota is spent."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import openapi_client
import pytest

from klaviyo_http import QuotaExhaustedError, Tier, WindowLimiter
from tap_klaviyo.report_fetch import ReportFetch
from tap_klaviyo.report_plan import (
    SLICE_DAYS,
    Timeframe,
    account_zone,
    report_body,
    run_minute,
    series_first_day,
    series_slices,
    values_timeframe,
)
from tap_klaviyo.report_quota import DAY_SECONDS, DailyBudget, daily_limit, left_for_tomorrow
from tap_klaviyo.reports import REPORT_STREAM_TYPES
from tap_klaviyo.tap import TapKlaviyo

CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=CHICAGO)


# ---- timeframes ------------------------------------------------------------------------------------------------


def test_run_minute_is_the_accounts_wall_clock_to_the_minute():
    moment = datetime(2026, 12, 1, 2, 15, 42, tzinfo=ZoneInfo("UTC")).timestamp()
    assert run_minute(moment, CHICAGO) == datetime(2026, 11, 30, 20, 15, tzinfo=CHICAGO)  # still yesterday there
    assert account_zone("Not/AZone") == ZoneInfo("UTC") and account_zone(None) == ZoneInfo("UTC")


def test_values_cover_today_and_the_364_days_before_it_within_a_year():
    frame = values_timeframe(NOW)
    assert frame.start == datetime(2025, 12, 2, tzinfo=CHICAGO)
    assert frame.end == NOW and frame.last_day == date(2026, 12, 1)
    assert frame.body() == {"start": "2025-12-02T00:00:00", "end": "2026-12-01T09:30:00"}  # wall clock, no offset
    assert frame.end - frame.start < timedelta(days=365)


def test_a_first_series_run_reads_history_days_in_slices_of_at_most_59_days_oldest_first():
    first = series_first_day(today=NOW.date(), bookmark=None, lookback_days=5, history_days=365)
    assert first == date(2025, 12, 2)
    slices = series_slices(first, NOW)
    assert len(slices) == 7
    assert slices[0].start == datetime(2025, 12, 2, tzinfo=CHICAGO)
    for earlier, later in itertools.pairwise(slices):
        assert earlier.end == later.start  # consecutive, no day twice, none missed
    assert slices[-1].end == NOW and slices[-1].last_day == NOW.date()
    for frame in slices:
        # Wall-clock days, so a DST change (March 8 and November 1, 2026 in Chicago) does not lengthen a slice.
        assert (frame.end.replace(tzinfo=None) - frame.start.replace(tzinfo=None)) <= timedelta(days=SLICE_DAYS)
        assert frame.start.hour == 0 and frame.start.minute == 0
    days = sum((s.last_day - s.first_day).days + 1 for s in slices)
    assert days == 365


def test_a_run_with_a_bookmark_reads_the_lookback_again_and_the_bookmark_day_itself():
    bookmark = date(2026, 11, 30)
    assert series_first_day(today=NOW.date(), bookmark=bookmark, lookback_days=5, history_days=365) == date(
        2026, 11, 25
    )
    assert series_first_day(today=NOW.date(), bookmark=bookmark, lookback_days=0, history_days=365) == bookmark
    slices = series_slices(date(2026, 11, 25), NOW)
    assert len(slices) == 1 and slices[0].body() == {"start": "2026-11-25T00:00:00", "end": "2026-12-01T09:30:00"}
    # A 90-day attribution window: two requests a run.
    first = series_first_day(today=NOW.date(), bookmark=bookmark, lookback_days=90, history_days=365)
    assert len(series_slices(first, NOW)) == 2


def test_the_first_day_never_precedes_start_date_history_or_the_first_day_with_data():
    today = NOW.date()
    assert series_first_day(today=today, bookmark=None, lookback_days=5, history_days=30) == date(2026, 11, 2)
    assert series_first_day(
        today=today, bookmark=None, lookback_days=5, history_days=365, start_date=date(2026, 10, 1)
    ) == date(2026, 10, 1)
    assert series_first_day(
        today=date(2023, 7, 1), bookmark=None, lookback_days=5, history_days=365, floor=date(2023, 6, 1)
    ) == date(2023, 6, 1)
    # A bookmark older than the history reads history_days only; one in the future still reads today.
    assert series_first_day(today=today, bookmark=date(2020, 1, 1), lookback_days=5, history_days=10) == date(
        2026, 11, 22
    )
    assert series_first_day(today=today, bookmark=date(2027, 1, 10), lookback_days=5, history_days=10) == today


def test_a_run_at_midnight_does_not_ask_for_an_empty_day():
    midnight = datetime(2026, 12, 1, tzinfo=CHICAGO)
    slices = series_slices(date(2026, 11, 28), midnight)
    assert slices[-1].end == midnight and slices[-1].last_day == date(2026, 11, 30)
    assert all(s.end > s.start for s in slices)


def test_report_bodies_are_the_sdks_request_shapes():
    frame = Timeframe(datetime(2026, 11, 1, tzinfo=CHICAGO), NOW)
    body = report_body("flow-series-report", ["delivered"], frame, interval="daily", conversion_metric_id="M1")
    assert body == {
        "data": {
            "type": "flow-series-report",
            "attributes": {
                "statistics": ["delivered"],
                "timeframe": {"start": "2026-11-01T00:00:00", "end": "2026-12-01T09:30:00"},
                "interval": "daily",
                "conversion_metric_id": "M1",
            },
        }
    }
    parsed = openapi_client.FlowSeriesRequestDTO.from_dict(body)  # the official SDK accepts it
    assert parsed.data.attributes.interval == "daily"
    segment = report_body("segment-series-report", ["total_members"], frame, interval="daily")
    assert openapi_client.SegmentSeriesRequestDTO.from_dict(segment).data.attributes.statistics == ["total_members"]


# ---- the daily budget --------------------------------------------------------------------------------------------

T0 = 1_800_000_000.0


def test_requests_of_the_last_24_hours_count_older_ones_do_not():
    state = {"report_requests": [T0 - DAY_SECONDS - 5, T0 - 3600, T0 - 60], "quota_spent_until": T0 - 1}
    budget = DailyBudget.from_state(state, limit=5, now=T0)
    assert budget.times == [T0 - 3600, T0 - 60] and budget.spent_until is None
    assert budget.remaining(T0) == 3 and budget.frees_in(T0) == 0
    for k in range(3):
        budget.take(T0 + k)
    assert budget.remaining(T0 + 3) == 0
    assert budget.frees_in(T0 + 3) == pytest.approx(T0 - 3600 + DAY_SECONDS - (T0 + 3))  # the oldest ages out
    assert budget.remaining(T0 - 3600 + DAY_SECONDS + 1) == 1


def test_a_quota_klaviyo_refused_is_spent_until_it_said_and_kept_across_runs():
    budget = DailyBudget(limit=225)
    budget.take(T0)
    budget.give_back(T0)  # refused: it did not count
    budget.refused(T0, 61_200)
    assert budget.remaining(T0 + 10) == 0 and budget.frees_in(T0) == 61_200
    kept = budget.state(T0)
    assert kept == {"report_requests": [], "quota_spent_until": int(T0 + 61_200)}
    later = DailyBudget.from_state(kept, 225, T0 + 61_201)
    assert later.spent_until is None and later.remaining(T0 + 61_201) == 225


def test_the_daily_limit_scales_like_the_tiers():
    assert daily_limit(225, 1.0) == 225
    assert daily_limit(225, 0.5) == 112
    assert daily_limit(1, 4) == 4
    assert daily_limit(3, 0.01) == 1
    assert daily_limit(150, 0) == 150  # pacing off: the quota as set


def test_the_line_a_run_logs_for_what_it_left():
    line = left_for_tomorrow("flow_series_reports", "Acme", 3, 7, "query_flow_series", 61_200.4)
    assert line == (
        "flow_series_reports for 'Acme': 3 of 7 requests left for tomorrow "
        "(daily quota of query_flow_series spent; frees up in 61,200 s)"
    )


# ---- a fetch within the quota ------------------------------------------------------------------------------------


class FakeAccount:
    """An account's klaviyo_http handle that answers report POSTs; refuses with QuotaExhaustedError once
    `refuse_after` were served."""

    id, name = "A1", "Acme"

    def __init__(self, refuse_after: int | None = None, pages: int = 1, limiter: WindowLimiter | None = None) -> None:
        self.refuse_after = refuse_after
        self.pages = pages
        self._limiter = limiter
        self.sent: list[tuple[str, bytes]] = []

    def limiter(self, endpoint: str) -> WindowLimiter | None:
        return self._limiter

    def post(self, url: str, body: bytes, *, endpoint: str) -> bytes:
        if self.refuse_after is not None and len(self.sent) >= self.refuse_after:
            raise QuotaExhaustedError("spent", account="Acme", endpoint=endpoint, retry_after=50_000)
        self.sent.append((url, body))
        served = 1 if url == "/api/x" else int(url.rsplit("=", 1)[1]) + 1  # pages of this answer so far
        next_url = f"/api/x?page={served}" if served < self.pages else None
        return json.dumps({"data": {"attributes": {"results": []}}, "links": {"next": next_url}}).encode()


def fake_fetch(account: FakeAccount, budget: DailyBudget, slices: int) -> ReportFetch:
    frames = series_slices(NOW.date() - timedelta(days=SLICE_DAYS * slices - 1), NOW)
    assert len(frames) == slices
    stream = SimpleNamespace(
        name="flow_series_reports",
        endpoint="query_flow_series",
        path="/api/x",
        needs_conversion_metric=False,
        plan=lambda timezone, now, state: (CHICAGO, frames),
        request_body=lambda timeframe, metric_id: {"timeframe": timeframe.body()},
    )
    accounts = SimpleNamespace(timezone=lambda account: "America/Chicago")
    return ReportFetch(stream, account, accounts, {}, budget)  # type: ignore[arg-type]


def test_a_fetch_sends_what_is_left_of_the_day_oldest_first_and_stops_cleanly():
    now = datetime.now().timestamp()
    earlier = [now - 7200, now - 3600, now - 60]  # the morning run's requests
    budget = DailyBudget.from_state({"report_requests": earlier}, limit=5, now=now)
    limiter = WindowLimiter(Tier(100, 100, daily=5), sleep=lambda seconds: None)
    account = FakeAccount(limiter=limiter)
    fetch = fake_fetch(account, budget, slices=4)
    fetch.run()
    assert fetch.error is None and fetch.quota_spent
    assert [f.timeframe for f in fetch.fetched] == fetch.planned[:2]  # the two oldest
    assert len(account.sent) == 2 and fetch.left == 2
    assert limiter.daily_requests() == earlier  # seeded with the morning run's (the fake sends around the limiter)
    assert budget.remaining(now + 10) == 0 and len(budget.state(now + 10)["report_requests"]) == 5


def test_a_quota_klaviyo_says_is_spent_stops_the_fetch_and_is_remembered():
    budget = DailyBudget(limit=225)
    fetch = fake_fetch(FakeAccount(refuse_after=3), budget, slices=7)
    fetch.run()
    assert fetch.error is None and fetch.quota_spent
    assert len(fetch.fetched) == 3 and fetch.left == 4
    kept = budget.state(datetime.now().timestamp())
    assert len(kept["report_requests"]) == 3  # the refused request did not count
    assert kept["quota_spent_until"] >= datetime.now().timestamp() + 49_000


def test_every_page_of_an_answer_is_read_and_counted():
    budget = DailyBudget(limit=225)
    fetch = fake_fetch(FakeAccount(pages=3), budget, slices=1)
    fetch.run()
    assert fetch.error is None and not fetch.quota_spent
    assert len(fetch.fetched) == 1 and len(fetch.fetched[0].pages) == 3
    assert len(budget.times) == 3


def test_a_slice_whose_pages_are_not_all_read_is_not_kept():
    budget = DailyBudget(limit=4)
    fetch = fake_fetch(FakeAccount(pages=3), budget, slices=2)
    fetch.run()
    assert fetch.quota_spent and len(fetch.fetched) == 1 and fetch.left == 1  # the second slice got 1 page of 3


def test_an_unexpected_error_is_handed_to_the_stream():
    class Broken(FakeAccount):
        def post(self, *args: Any, **kwargs: Any) -> bytes:
            raise RuntimeError("boom")

    fetch = fake_fetch(Broken(), DailyBudget(limit=225), slices=1)
    thread = threading.Thread(target=fetch.run)
    thread.start()
    thread.join()
    assert isinstance(fetch.error, RuntimeError) and not fetch.fetched


# ---- the report streams sync last ----------------------------------------------------------------------------------


def test_the_report_streams_sync_after_every_other_stream_whatever_the_catalog():
    config = {"accounts_json": json.dumps([{"account": "Acme", "api_key": "pk_x"}])}
    names = {stream.name for stream in REPORT_STREAM_TYPES}
    tap = TapKlaviyo(config=config, validate_config=False)
    # singer-sdk syncs the streams in this order: the reports after every other stream. profile_listings, which says
    # an account's profile ids were all listed, also comes after every other stream (tap_klaviyo/profile_listing.py),
    # and event_counts after events, which asks the counts and reads the years before them meanwhile.
    late = names | {"profile_listings", "event_counts"}
    assert set(list(tap.streams)[-len(late) :]) == late
    catalog = tap.catalog_dict
    catalog["streams"].sort(key=lambda entry: entry["tap_stream_id"])  # e.g. Meltano's, by name
    assert set(list(TapKlaviyo(config=config, catalog=catalog, validate_config=False).streams)[-len(late) :]) == late
