"""Rows at the edges: equal timestamps at the bookmark and at window boundaries, rows newer than the sync start."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
from tap_runs import last_state, records, run_tap

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox
from tap_klaviyo.windows import TimeWindows

# Dense data: 12,000 events and 1,500 profiles in about 50 minutes, so many rows share a second and most
# window boundaries fall on a second that holds rows on both sides.
EVENTS, PROFILES, YEARS = 12_000, 1_500, 0.0001


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dense")
    running = start_sandbox(
        "--accounts",
        "1",
        "--events",
        str(EVENTS),
        "--profiles",
        str(PROFILES),
        "--years",
        str(YEARS),
        "--rate-limit-scale",
        "0",
        "--accounts-file",
        str(folder / "accounts.json"),
    )
    running.accounts_file = folder / "accounts.json"  # type: ignore[attr-defined]
    yield running
    running.stop()


def config_for(sandbox: RunningSandbox, **extra) -> dict:
    # Small windows: many boundaries in a short range. No lookback: these tests are about the bookmark's own
    # second (tests/tap/test_tap_lookback.py reads before it).
    return {
        "accounts_file": str(sandbox.accounts_file),
        "api_url": sandbox.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        "window_concurrency": 4,
        "events_lookback_days": 0,
        **extra,
    }


def post_event(sandbox: RunningSandbox, when: datetime, unique_id: str) -> None:
    body = {
        "data": {
            "type": "event",
            "attributes": {
                "properties": {"boundary": True},
                "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "unique_id": unique_id,
                "metric": {"data": {"type": "metric", "attributes": {"name": "Boundary Check"}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": f"{unique_id}@example.com"}}},
            },
        }
    }
    response = requests.post(
        f"{sandbox.url}/api/events",
        json=body,
        timeout=30,
        headers={"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": "2026-10-15"},
    )
    assert response.status_code == 202, response.text


def test_dense_timestamps_every_row_once_across_window_boundaries(dense, tmp_path):
    code, messages, stderr = run_tap(config_for(dense), tmp_path, streams=["events", "profiles"])
    assert code == 0, stderr[-3000:]
    rows = records(messages)
    events = Counter(r["id"] for r in rows["events"])
    profiles = Counter(r["id"] for r in rows["profiles"])
    assert len(events) == EVENTS and set(events.values()) == {1}
    assert len(profiles) == PROFILES and set(profiles.values()) == {1}
    seconds = Counter(r["datetime"] for r in rows["events"])
    assert max(seconds.values()) >= 3  # the data really is dense: some seconds hold several events
    assert [r["datetime"] for r in rows["events"]] == sorted(r["datetime"] for r in rows["events"])


def test_rows_at_the_bookmark_second_written_after_a_run_are_read_by_the_next(dense, tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    code, first_messages, stderr = run_tap(config_for(dense), first, streams=["events"])
    assert code == 0, stderr[-3000:]
    state = last_state(first_messages)
    bookmark = state["bookmarks"]["events"]["partitions"][0]["replication_key_value"]
    assert bookmark == max(r["datetime"] for r in records(first_messages)["events"])
    # A late event with exactly the bookmark's timestamp: a strict "greater-than" filter would lose it.
    post_event(dense, datetime.fromisoformat(bookmark), "late-at-the-bookmark")
    second = tmp_path / "second"
    second.mkdir()
    code, messages, stderr = run_tap(config_for(dense), second, state, streams=["events"])
    assert code == 0, stderr[-3000:]
    again = records(messages)["events"]
    late = [r for r in again if r["event_properties"].get("boundary") is True]
    assert len(late) == 1 and late[0]["datetime"] == bookmark
    # Inclusive of the bookmark's second, and nothing older: only that second's rows are read again.
    at_bookmark = Counter(r["datetime"] for r in records(first_messages)["events"])[bookmark]
    assert all(r["datetime"] >= bookmark for r in again)
    assert len(again) == at_bookmark + 1


def test_a_row_newer_than_the_sync_start_is_read_but_the_bookmark_stays_at_the_start(dense, tmp_path):
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    post_event(dense, future, "from-the-future")
    code, messages, stderr = run_tap(config_for(dense), tmp_path, streams=["events"])
    started = datetime.now(UTC)  # after the run, so after its sync start
    assert code == 0, stderr[-3000:]
    assert future.strftime("%Y-%m-%dT%H:%M:%S") in {r["datetime"][:19] for r in records(messages)["events"]}
    bookmark = last_state(messages)["bookmarks"]["events"]["partitions"][0]["replication_key_value"]
    # Never ahead of the sync start: the next run reads the future row again rather than skip what arrives
    # until then. The bookmark is the newest row at or before the start.
    assert datetime.fromisoformat(bookmark) <= started
    assert bookmark == max(r["datetime"] for r in records(messages)["events"] if r["datetime"] < started.isoformat())


def test_windows_cover_the_range_without_gap_or_overlap():
    windows = TimeWindows(1000.4, 500_000.2, target_rows=2000, first_seconds=3600)
    spans = []
    rows_per_second = 0.05
    while (window := windows.next()) is not None:
        spans.append(window)
        lo, hi = window
        if hi is not None:
            windows.observe(hi - lo, int((hi - lo) * rows_per_second))
    assert spans[0][0] == 1000 and spans[-1] == (500_001, None)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    # Sized by the density seen: about target_rows / density seconds once the first window has been read.
    assert spans[1][1] - spans[1][0] == pytest.approx(2000 / rows_per_second, rel=0.01)


def test_an_empty_window_doubles_the_next():
    windows = TimeWindows(0, 10**9, target_rows=100, first_seconds=100)
    lo, hi = windows.next()
    windows.observe(hi - lo, 0)
    lo2, hi2 = windows.next()
    assert hi2 - lo2 == 2 * (hi - lo)
