"""The completeness check's logic in-process (tap_klaviyo/completeness.py): the check window, the metric-aggregate
request and answer, the heal plan (state in, days to re-read out) and the baseline it leaves (bounded); when a
listing of profile ids is due (tap_klaviyo/profile_listing.py)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tap_klaviyo.account_facts import Metric
from tap_klaviyo.completeness import (
    Baseline,
    DailyCounts,
    aggregate_query,
    check_window,
    heal_plan,
    local_day_bounds,
    next_baseline,
    parse_aggregate,
)
from tap_klaviyo.event_counts import CountsAbandonedError, EventCounts
from tap_klaviyo.profile_listing import LAST_LISTING, listing_due
from tap_klaviyo.settings import tap_settings

CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)  # noon in Chicago
DAYS = [date(2026, 11, 15) + timedelta(days=n) for n in range(7)]  # 15..21 November


def counts(values: dict[str, list[int]], days: list[date] = DAYS) -> DailyCounts:
    return DailyCounts(
        "America/Chicago",
        days,
        NOW,
        {m: {d: (c, 0.0) for d, c in zip(days, row, strict=True)} for m, row in values.items()},
        {m: m.title() for m in values},
    )


def read_from(day: date) -> datetime:
    """The incremental read starts at that day's local midnight."""
    return local_day_bounds(day, CHICAGO)[0]


def test_the_window_is_the_last_days_in_the_accounts_calendar_never_before_start_date():
    assert check_window(NOW, CHICAGO, 7, None) == DAYS
    assert check_window(NOW, CHICAGO, 1, None) == [date(2026, 11, 21)]
    # A start_date in the middle of 18 November (Chicago): its first whole day is the 19th.
    start = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
    assert check_window(NOW, CHICAGO, 7, start) == DAYS[4:]
    assert check_window(NOW, CHICAGO, 7, read_from(date(2026, 11, 18))) == DAYS[3:]


def test_a_day_is_midnight_to_midnight_in_the_accounts_timezone_across_a_dst_change():
    start, end = local_day_bounds(date(2026, 11, 1), CHICAGO)  # clocks go back: 25 hours
    assert start == datetime(2026, 11, 1, 5, 0, tzinfo=UTC) and end - start == timedelta(hours=25)


def test_one_request_per_metric_covers_the_window_up_to_now():
    body = aggregate_query("M1", DAYS, CHICAGO, NOW)
    attributes = body["data"]["attributes"]
    assert body["data"]["type"] == "metric-aggregate"
    assert attributes["metric_id"] == "M1" and attributes["interval"] == "day"
    assert attributes["timezone"] == "America/Chicago"
    assert attributes["measurements"] == ["count", "sum_value"]
    assert attributes["filter"] == [
        "greater-or-equal(datetime,2026-11-15T06:00:00)",
        "less-than(datetime,2026-11-21T18:00:00)",
    ]


def test_an_answer_becomes_counts_per_day_of_the_accounts_calendar():
    answer = {
        "data": {
            "type": "metric-aggregate",
            "id": "1",
            "attributes": {
                "dates": [f"2026-11-{d:02d}T06:00:00+00:00" for d in (15, 16, 17)],
                "data": [{"dimensions": [], "measurements": {"count": [3, 0, 5], "sum_value": [30.5, 0, 7]}}],
            },
            "links": {"self": "x"},
        }
    }
    assert parse_aggregate(json.loads(json.dumps(answer)), CHICAGO) == {
        date(2026, 11, 15): (3, 30.5),
        date(2026, 11, 16): (0, 0.0),
        date(2026, 11, 17): (5, 7.0),
    }


def test_the_rows_hold_every_metric_and_day_the_last_counted_up_to_the_check():
    rows = list(counts({"m1": [1, 0, 0, 0, 0, 0, 2]}).rows({"account_id": "A", "account_name": "Acme"}))
    assert len(rows) == 7
    assert rows[0] == {
        "account_id": "A",
        "account_name": "Acme",
        "metric_id": "m1",
        "metric_name": "M1",
        "local_date": "2026-11-15",
        "timezone": "America/Chicago",
        "klaviyo_count": 1,
        "klaviyo_sum_value": 0.0,
        "day_start": "2026-11-15T06:00:00+00:00",
        "counted_until": "2026-11-16T06:00:00+00:00",
        "checked_at": NOW.isoformat(),
    }
    assert rows[-1]["counted_until"] == NOW.isoformat()


def test_a_first_run_reads_everything_and_takes_the_counts_as_its_baseline():
    now = counts({"m1": [1, 2, 3, 4, 5, 6, 7]})
    assert heal_plan(None, now, read_from(date(2020, 1, 1))) == []
    baseline = next_baseline(None, now, read_from(date(2020, 1, 1)), [])
    assert baseline.counts == {"m1": [1, 2, 3, 4, 5, 6, 7]} and baseline.first_day == DAYS[0]


def test_a_day_older_than_the_lookback_whose_count_changed_is_re_read_and_only_that():
    before = Baseline("America/Chicago", DAYS[0], {"m1": [1, 2, 3, 4, 5, 6, 7], "m2": [0] * 7})
    # Late events on the 16th (m1) and a backfilled new metric on the 15th; changes within the read are read anyway.
    now = counts({"m1": [1, 5, 3, 4, 9, 6, 8], "m2": [0] * 7, "m3": [2, 0, 0, 0, 0, 0, 0]})
    read_start = read_from(date(2026, 11, 18))  # the lookback reaches back to the 18th
    plan = heal_plan(before, now, read_start)
    assert plan == [("m3", date(2026, 11, 15)), ("m1", date(2026, 11, 16))]
    after = next_baseline(before, now, read_start, plan)
    assert after.counts == {"m1": [1, 5, 3, 4, 9, 6, 8], "m2": [0] * 7, "m3": [2, 0, 0, 0, 0, 0, 0]}
    assert heal_plan(after, now, read_start) == []  # nothing changed since: nothing re-read


def test_a_count_that_went_down_is_re_read_and_a_day_partly_read_counts_as_not_read():
    before = Baseline("America/Chicago", DAYS[0], {"m1": [1, 2, 3, 4, 5, 6, 7]})
    now = counts({"m1": [1, 2, 1, 4, 5, 6, 7]})
    read_start = read_from(date(2026, 11, 17)) + timedelta(hours=3)  # mid-17th: the 17th is not read in full
    assert heal_plan(before, now, read_start) == [("m1", date(2026, 11, 17))]


def test_a_re_read_that_did_not_happen_is_planned_again():
    before = Baseline("America/Chicago", DAYS[0], {"m1": [1, 2, 3, 4, 5, 6, 7]})
    now = counts({"m1": [1, 9, 3, 4, 5, 6, 7]})
    read_start = read_from(date(2026, 11, 18))
    after = next_baseline(before, now, read_start, healed=[])  # the run failed before re-reading the 16th
    assert after.counts["m1"][1] == 2
    assert heal_plan(after, now, read_start) == [("m1", date(2026, 11, 16))]


def test_days_the_baseline_never_held_are_taken_as_counted_without_a_re_read():
    # A longer window than before (the 15th and 16th are new to the baseline), and the check turned on late.
    before = Baseline("America/Chicago", DAYS[2], {"m1": [3, 4, 5, 6, 7]})
    now = counts({"m1": [8, 8, 3, 4, 5, 6, 7]})
    read_start = read_from(date(2026, 11, 18))
    assert heal_plan(before, now, read_start) == []
    assert next_baseline(before, now, read_start, []).counts["m1"][:2] == [8, 8]
    assert heal_plan(None, now, read_start) == []


def test_a_new_timezone_starts_a_new_baseline():
    before = Baseline("Europe/Berlin", DAYS[0], {"m1": [0] * 7})
    now = counts({"m1": [1] * 7})
    assert heal_plan(before, now, read_from(date(2026, 11, 18))) == []


def test_the_baseline_in_the_state_is_small_and_bounded_and_survives_json():
    metrics = {f"metric{k}": [k * 100 + n for n in range(90)] for k in range(15)}
    days = [date(2026, 8, 24) + timedelta(days=n) for n in range(90)]
    baseline = next_baseline(None, counts(metrics, days), read_from(date(2020, 1, 1)), [])
    saved = json.loads(json.dumps({"completeness": baseline.to_state()}))
    assert Baseline.from_state(saved) == baseline
    assert len(json.dumps(saved)) < 8_000  # 90 days of 15 metrics
    assert baseline.days == 90 and all(len(v) == 90 for v in baseline.counts.values())
    assert Baseline.from_state({"completeness": {"counts": "garbled"}}) is None


def test_a_listing_of_profile_ids_is_due_once_per_interval():
    started = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
    state = {LAST_LISTING: started.isoformat()}
    assert listing_due({}, started, 20)  # never listed to the end
    assert not listing_due(state, started + timedelta(hours=12), 20)  # the 17:00 run after the 05:00 one
    assert listing_due(state, started + timedelta(hours=23, minutes=55), 20)  # the next morning's
    assert listing_due(state, started + timedelta(minutes=1), 0)  # 0: every run
    assert listing_due({LAST_LISTING: "garbled"}, started, 20)


class FakeAccount:
    """What EventCounts asks of an account's klaviyo_http handle: its counts' answers, one per metric, each after
    `release` is set (the test decides when Klaviyo answers)."""

    id, name = "acc1", "Acme"

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.release = threading.Event()

    def post(self, path: str, body: bytes, *, endpoint: str) -> bytes:
        self.asked.append(json.loads(body)["data"]["attributes"]["metric_id"])
        assert self.release.wait(timeout=30)
        dates = [f"{day.isoformat()}T00:00:00+00:00" for day in DAYS]
        answer = {"data": {"attributes": {"dates": dates, "data": [{"measurements": {"count": [1] * len(DAYS)}}]}}}
        return json.dumps(answer).encode()


class FakeFacts:
    def timezone(self, account: FakeAccount) -> str:
        return "UTC"

    def metrics(self, account: FakeAccount) -> list[Metric]:
        return [Metric(f"m{n}", f"Metric {n}", "") for n in range(5)]


def event_counts(days: int = 7) -> EventCounts:
    settings = tap_settings({"accounts_json": "[]", "completeness_check_days": days, "start_date": "2026-01-01"})
    return EventCounts(settings, FakeFacts(), logging.getLogger("test"))  # type: ignore[arg-type]


def test_the_counts_are_asked_in_the_background_and_their_first_day_is_known_at_once():
    account = FakeAccount()
    before = datetime.now(UTC).date()
    pending = event_counts().start(account)  # type: ignore[arg-type]
    after = datetime.now(UTC).date()  # the same day, unless the test ran across midnight
    assert pending is not None and not pending.future.done()  # asking, unanswered: start() did not wait
    first_days = {today - timedelta(days=6) for today in (before, after)}
    assert pending.since in {datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() for d in first_days}
    account.release.set()
    assert sorted(pending.result().counts) == [f"m{n}" for n in range(5)]
    # With the check off, nothing is asked.
    assert event_counts(days=0).start(account) is None  # type: ignore[arg-type]


def test_counts_abandoned_by_a_failed_read_stop_being_asked():
    account = FakeAccount()
    pending = event_counts().start(account)  # type: ignore[arg-type]
    assert pending is not None
    while not account.asked:  # the first metric's request is in flight
        time.sleep(0.01)
    pending.abandon()
    account.release.set()
    with pytest.raises(CountsAbandonedError, match="Acme"):
        pending.result()
    assert account.asked == ["m0"]  # the four others were never asked
