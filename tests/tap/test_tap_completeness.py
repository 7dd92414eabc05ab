"""tap-klaviyo's completeness check and listing of profile ids, as a process against the sandbox: what it asks of
Klaviyo (one metric-aggregate request per metric; ids only, pages of 100, once per `profile_listing_hours`), what
it emits, the days it re-reads, and the one line a bad setting gets."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from tap_runs import last_state, run_tap, tap_sandbox

STREAMS = ["event_counts", "events", "profile_ids", "profile_listings"]


@pytest.fixture
def sandbox(tmp_path):
    # Events written by the test stay invisible until it releases them: the test says when they show up.
    running, config = tap_sandbox(
        tmp_path, "--accounts", "1", "--events", "3000", "--profiles", "120", "--end", "today",
        "--rate-limit-scale", "0", "--late-share", "1", "--late-hours", "24",
        rate_limit_scale=0, parallel_accounts=1,
    )  # fmt: skip
    yield running, config
    running.stop()


def records(messages: list[dict], stream: str) -> list[dict]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def write_event(sandbox, metric: str, when: datetime, n: int) -> None:
    body = {
        "data": {
            "type": "event",
            "attributes": {
                "properties": {"n": n},
                "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "unique_id": f"late-{metric}-{n}",
                "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": f"late{n}@example.com"}}},
            },
        }
    }
    headers = {"Authorization": f"Klaviyo-API-Key {sandbox.key(0)}", "revision": "2026-10-15"}
    assert requests.post(f"{sandbox.url}/api/events", json=body, headers=headers, timeout=30).status_code == 202


def test_the_check_asks_once_per_metric_and_a_changed_day_before_the_lookback_is_re_read(sandbox, tmp_path):
    running, config = sandbox
    account = running.accounts[0]["id"]
    code, first, err = run_tap(config, tmp_path, None, streams=STREAMS)
    assert code == 0, err[-3000:]
    counts = records(first, "event_counts")
    metrics = {row["metric_id"] for row in counts}
    assert len(metrics) == 12 and len(counts) == 12 * 90  # every metric, every day of the window, zeros included
    aggregates = running.requests("/api/metric-aggregates", account_id=account)
    assert len(aggregates) == len(metrics)  # one request per metric covers the 90 days
    assert {r["body"]["data"]["attributes"]["metric_id"] for r in aggregates} == metrics
    timezone = counts[0]["timezone"]
    assert {r["body"]["data"]["attributes"]["timezone"] for r in aggregates} == {timezone}

    # Three events of a known metric and two of a new one, dated 10 days ago, show up now.
    day = datetime.now(ZoneInfo(timezone)).date() - timedelta(days=10)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(timezone)).astimezone(UTC)
    for n in range(3):
        write_event(running, "Placed Order", noon + timedelta(minutes=n), n)
    for n in range(2):
        write_event(running, "Backfilled Order", noon + timedelta(minutes=n), n)
    assert running.release_late(account) == 5

    running.reset()
    code, second, err = run_tap({**config, "events_lookback_days": 7}, tmp_path, last_state(first), streams=STREAMS)
    assert code == 0, err[-3000:]
    assert "2 metric-day(s) before the events lookback changed in Klaviyo" in err
    # The events this test wrote carry `n` (the data set's own events of that day, re-read too, do not).
    late = [row for row in records(second, "events") if "n" in (row["event_properties"] or {})]
    assert sorted(row["event_properties"]["n"] for row in late) == [0, 0, 1, 1, 2]  # each once
    healed = [
        r["query"]["filter"]
        for r in running.requests("/api/events", method="GET", account_id=account)
        if "equals(metric_id" in r["query"].get("filter", "")
    ]
    names = {row["metric_id"]: row["metric_name"] for row in records(second, "event_counts")}
    by_name = {name: metric_id for metric_id, name in names.items()}
    assert {f.split('"')[1] for f in healed} == {by_name["Placed Order"], by_name["Backfilled Order"]}

    running.reset()
    code, third, err = run_tap({**config, "events_lookback_days": 7}, tmp_path, last_state(second), streams=STREAMS)
    assert code == 0, err[-3000:]
    assert not [r for r in running.requests("/api/events") if "equals(metric_id" in r["query"].get("filter", "")]
    baseline = last_state(third)["bookmarks"]["events"]["partitions"][0]["completeness"]
    assert len(json.dumps(baseline)) < 8_000 and set(baseline["counts"]) == set(names)


def assert_counted_days_read_after_the_counts(log: list[dict], counts: list[dict]) -> None:
    """Every events request of a window reaching into the counted days came after the last count: a count asked
    before a day is read holds only events the read finds (the windows before those days may come at any time)."""
    first_day = min(date.fromisoformat(row["local_date"]) for row in counts)
    since = datetime(first_day.year, first_day.month, first_day.day, tzinfo=ZoneInfo(counts[0]["timezone"]))
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    last_count = max(n for n, entry in enumerate(log) if entry["path"] == "/api/metric-aggregates")
    reads = [(n, e) for n, e in enumerate(log) if e["path"] == "/api/events" and e["query"].get("page[size]") != "1"]
    assert reads
    for n, entry in reads:  # the probe for the first event (page[size]=1) reads no row
        end = re.search(r"less-than\(datetime,([^)]+)\)", entry["query"].get("filter", ""))
        if end is None or end.group(1) > stamp:
            assert n > last_count, entry


def test_the_counted_days_are_read_after_the_counts_and_the_years_before_while_they_are_asked(tmp_path):
    # 200 ms a response: the twelve counts take over two seconds, long enough for the first windows to be read.
    running, config = tap_sandbox(
        tmp_path, "--accounts", "1", "--events", "6000", "--profiles", "10", "--end", "today",
        "--rate-limit-scale", "0", "--latency-ms", "200", rate_limit_scale=0, parallel_accounts=1,
    )  # fmt: skip
    try:
        code, messages, err = run_tap(config, tmp_path, None, streams=["event_counts", "events"])
        log = running.requests(account_id=running.accounts[0]["id"])
    finally:
        running.stop()
    assert code == 0, err[-3000:]
    assert_counted_days_read_after_the_counts(log, records(messages, "event_counts"))
    last_count = max(n for n, entry in enumerate(log) if entry["path"] == "/api/metric-aggregates")
    assert any(entry["path"] == "/api/events" for entry in log[:last_count])


def test_with_the_check_off_nothing_is_counted_or_re_read(sandbox, tmp_path):
    running, config = sandbox
    code, messages, err = run_tap({**config, "completeness_check_days": 0}, tmp_path, None, streams=STREAMS)
    assert code == 0, err[-3000:]
    assert records(messages, "event_counts") == []
    assert running.requests("/api/metric-aggregates") == []
    assert "completeness" not in last_state(messages)["bookmarks"]["events"]["partitions"][0]


def test_a_light_run_neither_counts_nor_re_reads(sandbox, tmp_path):
    """The run every 15 minutes reads events and profiles only: Klaviyo's counts are the full runs' to ask."""
    running, config = sandbox
    running.reset()
    code, messages, err = run_tap({**config, "scope": "light"}, tmp_path, None, streams=STREAMS)
    assert code == 0, err[-3000:]
    assert records(messages, "events") and records(messages, "event_counts") == []
    assert running.requests("/api/metric-aggregates") == []


def test_profile_ids_are_listed_whole_ids_only_once_per_interval(sandbox, tmp_path):
    running, config = sandbox
    code, first, err = run_tap(config, tmp_path, None, streams=STREAMS)
    assert code == 0, err[-3000:]
    ids = records(first, "profile_ids")
    assert len(ids) == 120 and len({row["id"] for row in ids}) == 120
    assert set(ids[0]) == {"account_id", "account_name", "id", "listed_at"}
    (listing,) = records(first, "profile_listings")
    assert listing["profiles"] == 120 and listing["started_at"] == ids[0]["listed_at"]
    # profile_listings comes after every id of the listing it reports
    order = [m["stream"] for m in first if m["type"] == "RECORD" and m["stream"] in ("profile_ids", "profile_listings")]
    assert order[-1] == "profile_listings" and order.count("profile_listings") == 1
    asked = [r["query"] for r in running.requests("/api/profiles") if "fields[profile]" in r["query"]]
    assert {q["fields[profile]"] for q in asked} == {"created"}  # the sparsest fieldset the windows can use
    sizes = [q["page[size]"] for q in asked]
    assert sizes.count("1") == 1 and set(sizes) == {"1", "100"}  # one probe for the first profile, then pages of 100

    running.reset()
    code, second, err = run_tap(config, tmp_path, last_state(first), streams=STREAMS)  # 20 hours: not due
    assert code == 0, err[-3000:]
    assert records(second, "profile_ids") == []
    # The latest listing's row again, from the state: a run killed after the STATE that ended the listing and before
    # this row (tests/tap/test_tap_resilience.py kills runs) loses nothing. The same row, an upsert by account.
    assert records(second, "profile_listings") == [listing]
    assert not [r for r in running.requests("/api/profiles") if "fields[profile]" in r["query"]]
    assert "profile ids not listed this run" in err

    code, third, err = run_tap({**config, "profile_listing_hours": 0}, tmp_path, last_state(second), streams=STREAMS)
    assert code == 0, err[-3000:]
    assert len(records(third, "profile_ids")) == 120 and len(records(third, "profile_listings")) == 1


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("completeness_check_days", -1, "-1 is less than the minimum of 0"),
        ("completeness_check_days", 2.5, "is not of type 'integer'"),
        ("completeness_check_days", "ninety", "'ninety' is not of type 'integer'"),
        ("completeness_check_days", 366, "366 is greater than the maximum of 365"),
        ("profile_listing_hours", -3, "-3 is less than the minimum of 0"),
    ],
)
def test_a_bad_check_window_gets_one_line_naming_the_setting(tmp_path, setting, value, says):
    config = {"accounts_json": "[]", setting: value}
    code, messages, err = run_tap(config, tmp_path)
    assert code != 0 and messages == []
    (line,) = [line for line in err.splitlines() if line.startswith("tap-klaviyo:")]
    assert says in line and f"config['{setting}']" in line
