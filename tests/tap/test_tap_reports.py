"""The report streams as a real tap process against the sandbox: numbers that match the account's own events,
corrections in place after a late attribution, a daily quota spent mid-run and resumed, a bad conversion metric."""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sandbox_truth import walk
from tap_runs import last_state, records, run_tap

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox

REPORTS = ["campaign_values_reports", "flow_values_reports", "flow_series_reports", "segment_series_reports"]
SERIES = ["flow_series_reports", "segment_series_reports"]
KEYS = {
    "campaign_values_reports": ("account_id", "campaign_id", "campaign_message_id", "send_channel"),
    "flow_values_reports": ("account_id", "flow_id", "flow_message_id", "send_channel"),
    "flow_series_reports": ("account_id", "flow_id", "flow_message_id", "send_channel", "day"),
    "segment_series_reports": ("account_id", "segment_id", "day"),
}
# What Klaviyo counts for a message (the metric of the event -> the statistic it adds to).
MESSAGE_METRICS = {
    "Received Email": "delivered",
    "Opened Email": "opens",
    "Clicked Email": "clicks",
    "Received SMS": "delivered",
    "Clicked SMS": "clicks",
}
# Ends today: the default data set ends on 2026-11-01 and would drift out of the last days' windows.
DATA = ("--accounts", "2", "--events", "3000", "--profiles", "300", "--end", "today")


def sandbox_with(folder: Path, *options: str) -> RunningSandbox:
    folder.mkdir(parents=True, exist_ok=True)
    running = start_sandbox(*DATA, *options, "--accounts-file", str(folder / "accounts.json"))
    running.accounts_file = folder / "accounts.json"  # type: ignore[attr-defined]
    return running


def config_for(sandbox: RunningSandbox, **extra: Any) -> dict[str, Any]:
    return {
        "accounts_file": str(sandbox.accounts_file),  # type: ignore[attr-defined]
        "api_url": sandbox.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        **extra,
    }


def keyed(stream: str, rows: list[dict]) -> dict[tuple, dict]:
    out = {tuple(row[k] for k in KEYS[stream]): row for row in rows}
    assert len(out) == len(rows), f"{stream}: a key twice in one run"
    return out


def partition(state: dict, stream: str, account_id: str) -> dict:
    partitions = state["bookmarks"][stream]["partitions"]
    return next(p for p in partitions if p["context"] == {"account_id": account_id})


# ---- the truth: the account's events, read back through GET /api/events ----------------------------------------


@dataclass
class Counts:
    delivered: int = 0
    opens: int = 0
    clicks: int = 0
    conversions: int = 0
    value: float = 0.0
    openers: set[str] = field(default_factory=set)
    clickers: set[str] = field(default_factory=set)
    converters: set[str] = field(default_factory=set)

    def add(self, statistic: str, profile: str) -> None:
        if statistic == "delivered":
            self.delivered += 1
        elif statistic == "opens":
            self.opens += 1
            self.openers.add(profile)
        else:
            self.clicks += 1
            self.clickers.add(profile)


def account_zone(sandbox: RunningSandbox, index: int) -> ZoneInfo:
    return ZoneInfo(walk(sandbox, index, "/api/accounts")[0]["attributes"]["timezone"])


def message_events(sandbox: RunningSandbox, index: int) -> list[tuple[datetime, str, str, str, str, float]]:
    """(time, message id, flow id, statistic or "conversions", profile, value) of every event a report counts:
    message events by the message they name, Placed Order by the message it is attributed to."""
    names = {m["id"]: m["attributes"]["name"] for m in walk(sandbox, index, "/api/metrics")}
    out = []
    for event in walk(sandbox, index, "/api/events", sort="datetime"):
        name = names[event["relationships"]["metric"]["data"]["id"]]
        props = event["attributes"]["event_properties"] or {}
        when = datetime.fromisoformat(event["attributes"]["datetime"])
        profile = event["relationships"]["profile"]["data"]["id"]
        if name in MESSAGE_METRICS and props.get("$message"):
            out.append((when, props["$message"], props.get("$flow") or "", MESSAGE_METRICS[name], profile, 0.0))
        elif name == "Placed Order" and isinstance(props.get("$attribution"), dict):
            attribution = props["$attribution"]
            if attribution.get("$message"):
                value = float(props.get("$value") or 0)
                out.append(
                    (when, attribution["$message"], attribution.get("$flow") or "", "conversions", profile, value)
                )
    return out


def tally(events: list[tuple], key: Any) -> dict[Any, Counts]:
    counts: dict[Any, Counts] = defaultdict(Counts)
    for event in events:
        _, _, _, statistic, profile, value = event
        c = counts[key(event)]
        if statistic == "conversions":
            c.conversions += 1
            c.converters.add(profile)
            c.value += value
        else:
            c.add(statistic, profile)
    return counts


def assert_row_matches(row: dict, c: Counts, what: Any) -> None:
    expected = {
        "delivered": c.delivered,
        "recipients": c.delivered,
        "opens": c.opens,
        "opens_unique": len(c.openers),
        "clicks": c.clicks,
        "clicks_unique": len(c.clickers),
        "conversions": c.conversions,
        "conversion_uniques": len(c.converters),
    }
    got = {name: row[name] for name in expected}
    assert got == expected, what
    assert all(isinstance(v, int) for v in got.values()), what
    assert row["conversion_value"] == pytest.approx(round(c.value, 2)), what
    assert row["open_rate"] == pytest.approx(len(c.openers) / c.delivered if c.delivered else 0.0), what


# ---- the numbers -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = sandbox_with(tmp_path_factory.mktemp("sandbox"), "--rate-limit-scale", "0")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def first_run(sandbox, tmp_path_factory):
    code, messages, stderr = run_tap(config_for(sandbox), tmp_path_factory.mktemp("run"), None, streams=REPORTS)
    assert code == 0, stderr[-3000:]
    return records(messages), last_state(messages), stderr


def test_every_report_has_rows_for_every_account_keyed_once(sandbox, first_run):
    rows, _, stderr = first_run
    for stream in REPORTS:
        keyed(stream, rows[stream])
        assert {r["account_id"] for r in rows[stream]} == {a["id"] for a in sandbox.accounts}, stream
    placed_order = {
        index: next(m["id"] for m in walk(sandbox, index, "/api/metrics") if m["attributes"]["name"] == "Placed Order")
        for index in range(len(sandbox.accounts))
    }
    for index, account in enumerate(sandbox.accounts):
        for stream in REPORTS[:3]:  # each row names the conversion metric it was counted with
            mine = [r for r in rows[stream] if r["account_id"] == account["id"]]
            assert {(r["conversion_metric_id"], r["conversion_metric_name"]) for r in mine} == {
                (placed_order[index], "Placed Order")
            }
        assert f"flow_series_reports for '{account['account']}': 7 request(s)" in stderr


def test_flow_series_count_the_accounts_events_per_message_and_account_day(sandbox, first_run):
    rows = first_run[0]["flow_series_reports"]
    for index, account in enumerate(sandbox.accounts):
        zone = account_zone(sandbox, index)
        mine = [r for r in rows if r["account_id"] == account["id"]]
        days = sorted({r["day"] for r in mine})
        today = datetime.now(zone).date()
        # The year up to today (the data set ends at today's midnight, UTC: today itself may have no row).
        first, last = (today - timedelta(days=364)).isoformat(), today.isoformat()
        assert days[0] == first and days[-1] <= last
        events = [e for e in message_events(sandbox, index) if e[2]]  # flow messages only
        flows = {e[1]: e[2] for e in events}
        truth = tally(events, lambda e, zone=zone: (e[1], e[0].astimezone(zone).date().isoformat()))
        for row in mine:
            assert_row_matches(row, truth.get((row["flow_message_id"], row["day"]), Counts()), row["day"])
            assert flows.get(row["flow_message_id"], row["flow_id"]) == row["flow_id"]
        counted = {(message, day) for (message, day) in truth if first <= day <= last}
        assert counted <= {(r["flow_message_id"], r["day"]) for r in mine}
        assert sum(c.delivered for (_, day), c in truth.items() if first <= day) > 50  # a real check


@pytest.mark.parametrize(
    ("stream", "message"),
    [("campaign_values_reports", "campaign_message_id"), ("flow_values_reports", "flow_message_id")],
)
def test_values_count_the_accounts_events_within_their_timeframe(sandbox, first_run, stream, message):
    rows = first_run[0][stream]
    for index, account in enumerate(sandbox.accounts):
        mine = [r for r in rows if r["account_id"] == account["id"]]
        start, end = (datetime.fromisoformat(mine[0][k]) for k in ("timeframe_start", "timeframe_end"))
        assert {(r["timeframe_start"], r["timeframe_end"]) for r in mine} == {(start.isoformat(), end.isoformat())}
        zone = account_zone(sandbox, index)
        assert start == datetime.combine(datetime.now(zone).date() - timedelta(days=364), datetime.min.time(), zone)
        flows = stream == "flow_values_reports"
        events = [e for e in message_events(sandbox, index) if bool(e[2]) == flows and start <= e[0] < end]
        truth = tally(events, lambda e: e[1])
        assert {r[message] for r in mine} == set(truth)
        for row in mine:
            assert_row_matches(row, truth[row[message]], row[message])
            assert row["send_channel"] in ("email", "sms")


def test_segment_series_count_members_by_the_day_they_joined(sandbox, first_run):
    rows = first_run[0]["segment_series_reports"]
    for index, account in enumerate(sandbox.accounts):
        zone = account_zone(sandbox, index)
        mine = [r for r in rows if r["account_id"] == account["id"]]
        segments = walk(sandbox, index, "/api/segments")
        assert {r["segment_id"] for r in mine} == {s["id"] for s in segments}
        for segment in segments:
            members = walk(sandbox, index, f"/api/segments/{segment['id']}/profiles")
            joined = [datetime.fromisoformat(m["attributes"]["joined_group_at"]) for m in members]
            for row in (r for r in mine if r["segment_id"] == segment["id"]):
                day = date.fromisoformat(row["day"])
                lo = datetime.combine(day, datetime.min.time(), zone)
                hi = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
                assert row["total_members"] == sum(1 for j in joined if j < hi), row
                assert row["members_added"] == sum(1 for j in joined if lo <= j < hi), row


def test_series_bookmarks_are_the_last_day_read_per_account_with_the_days_requests(sandbox, first_run):
    _, state, _ = first_run
    for index, account in enumerate(sandbox.accounts):
        today = datetime.now(account_zone(sandbox, index)).date().isoformat()
        for stream in SERIES:
            kept = partition(state, stream, account["id"])
            assert kept["replication_key"] == "day" and kept["replication_key_value"] == today
            assert len(kept["report_requests"]) == 7
        assert len(partition(state, "campaign_values_reports", account["id"])["report_requests"]) == 1


# ---- corrections after a late attribution ------------------------------------------------------------------------


def test_a_late_attribution_changes_that_days_rows_in_place_on_the_next_run(tmp_path):
    sandbox = sandbox_with(tmp_path, "--rate-limit-scale", "0")
    try:
        streams = ["flow_series_reports", "flow_values_reports", "campaign_values_reports"]
        # An account whose attribution window is 45 days (report_lookback_days); the corrected day is the last one
        # with a flow row within 40 days, which the second run reads again.
        config = config_for(sandbox, report_lookback_days=45)
        account = sandbox.accounts[0]
        zone = account_zone(sandbox, 0)
        days_of_run = {datetime.now(zone).date()}
        code, messages, stderr = run_tap(config, tmp_path, None, streams=streams)
        days_of_run.add(datetime.now(zone).date())
        assert code == 0, stderr[-3000:]
        before, state = records(messages), last_state(messages)
        # The bookmark is the day the run read to: today in the account's timezone (either side of its midnight).
        bookmark = date.fromisoformat(partition(state, "flow_series_reports", account["id"])["replication_key_value"])
        assert bookmark in days_of_run
        mine = [r for r in before["flow_series_reports"] if r["account_id"] == account["id"]]
        day = max(date.fromisoformat(r["day"]) for r in mine if r["day"] >= str(bookmark - timedelta(days=40)))
        series_row = next(r for r in mine if r["day"] == str(day))
        campaign_row = next(r for r in before["campaign_values_reports"] if r["account_id"] == account["id"])
        noon = datetime.combine(day, datetime.min.time(), zone) + timedelta(hours=12)
        sandbox.attribute(account["id"], series_row["flow_message_id"], noon.isoformat(), value=42.5)
        sandbox.attribute(account["id"], campaign_row["campaign_message_id"], noon.isoformat(), value=10)

        sandbox.reset()  # the request log from here on is the second run's
        code, messages, stderr = run_tap(config, tmp_path, state, streams=streams)
        assert code == 0, stderr[-3000:]
        after = records(messages)
        series = keyed("flow_series_reports", after["flow_series_reports"])
        key = tuple(series_row[k] for k in KEYS["flow_series_reports"])
        assert series[key]["conversions"] == series_row["conversions"] + 1
        assert series[key]["conversion_value"] == pytest.approx(series_row["conversion_value"] + 42.5)
        # The second run asked for the lookback again (45 days before its bookmark), not the year: what it asked
        # for, from the sandbox's request log. Which days have rows depends on the data (a day with no activity
        # has none), so the rows only have to fall within what was asked.
        asked = sorted(
            entry["body"]["data"]["attributes"]["timeframe"]
            for entry in sandbox.requests("/api/flow-series-reports", method="POST", account_id=account["id"])
            if entry["status"] == 200
        )
        assert asked, "the second run asked for no flow series"
        assert asked[0]["start"] == f"{bookmark - timedelta(days=45)}T00:00:00"
        assert all(a["end"] == b["start"] for a, b in pairwise(asked)), asked  # consecutive slices, no gap
        again = sorted({r["day"] for r in series.values() if r["account_id"] == account["id"]})
        assert again[0] >= str(bookmark - timedelta(days=45)) and again[-1] <= asked[-1]["end"][:10]
        untouched = {k: r for k, r in series.items() if k != key and r["account_id"] == account["id"]}
        first = keyed("flow_series_reports", before["flow_series_reports"])
        # Every other row read again is unchanged; days a first-run slice had no activity in come as zeros.
        assert all(first[k] == r for k, r in untouched.items() if k in first)
        assert all(r["delivered"] == r["conversions"] == 0 for k, r in untouched.items() if k not in first)
        flow_values = keyed("flow_values_reports", after["flow_values_reports"])
        old_flow = next(
            r
            for r in before["flow_values_reports"]
            if r["account_id"] == account["id"] and r["flow_message_id"] == series_row["flow_message_id"]
        )
        assert flow_values[tuple(old_flow[k] for k in KEYS["flow_values_reports"])]["conversions"] == (
            old_flow["conversions"] + 1
        )
        campaigns = keyed("campaign_values_reports", after["campaign_values_reports"])
        assert campaigns[tuple(campaign_row[k] for k in KEYS["campaign_values_reports"])]["conversions"] == (
            campaign_row["conversions"] + 1
        )
    finally:
        sandbox.stop()


# ---- the daily quota ------------------------------------------------------------------------------------------------


def a_day_later(state: dict) -> dict:
    """The state as the next day's run sees it: every recorded report request (and refusal) 24 hours older."""
    shifted = copy.deepcopy(state)
    for stream in shifted["bookmarks"].values():
        for kept in stream.get("partitions", []):
            if "report_requests" in kept:
                kept["report_requests"] = [t - 86_400 for t in kept["report_requests"]]
            if "quota_spent_until" in kept:
                kept["quota_spent_until"] -= 86_400
    return shifted


def report_requests(sandbox: RunningSandbox, endpoint: str) -> int:
    return sum(buckets.get(endpoint, {}).get("200", 0) for buckets in sandbox.stats().values())


def test_a_spent_daily_quota_stops_cleanly_and_the_next_day_goes_on_from_the_bookmark(tmp_path):
    # 4 requests a day per account and report endpoint (1 x scale 4), 8 a minute: a year of daily series is 7.
    limited = sandbox_with(tmp_path / "limited", "--rate-limit-scale", "4", "--report-daily-quota", "1")
    clean = sandbox_with(tmp_path / "clean", "--rate-limit-scale", "0")  # the same data, no limits
    try:
        (tmp_path / "runs").mkdir()
        code, messages, stderr = run_tap(config_for(clean), tmp_path / "runs", None, streams=SERIES)
        assert code == 0, stderr[-3000:]
        truth = {stream: keyed(stream, rows) for stream, rows in records(messages).items()}

        config = config_for(limited, rate_limit_scale=4)
        code, messages, stderr = run_tap(config, tmp_path / "runs", None, streams=SERIES)
        assert code == 0, stderr[-3000:]
        first, state = records(messages), last_state(messages)
        for index, account in enumerate(limited.accounts):
            today = datetime.now(account_zone(limited, index)).date()
            for stream, endpoint in zip(SERIES, ("query_flow_series", "query_segment_series"), strict=True):
                line = (
                    f"{stream} for '{account['account']}': 3 of 7 requests left for tomorrow "
                    f"(daily quota of {endpoint} spent; frees up in "
                )
                assert stderr.count(line) == 1, stderr[-3000:]
                kept = partition(state, stream, account["id"])
                stopped_at = today - timedelta(days=364) + timedelta(days=4 * 59 - 1)  # 4 slices of 59 days
                assert kept["replication_key_value"] == str(stopped_at)
                assert len(kept["report_requests"]) == 4 and kept["quota_spent_until"] > datetime.now().timestamp()
                days = {r["day"] for r in first[stream] if r["account_id"] == account["id"]}
                assert max(days) == str(stopped_at)  # only timeframes read in full were emitted
        served = report_requests(limited, "query_flow_series")
        assert served == 8

        # The evening run of the same day: nothing left to ask for; it says so and keeps its bookmarks.
        code, messages, stderr = run_tap(config, tmp_path / "runs", state, streams=SERIES)
        assert code == 0, stderr[-3000:]
        assert not records(messages) and report_requests(limited, "query_flow_series") == served
        assert "3 of 3 requests left for tomorrow (daily quota of query_flow_series spent; frees up in" in stderr
        evening = last_state(messages)
        for stream in SERIES:
            for account in limited.accounts:
                assert (
                    partition(evening, stream, account["id"])["replication_key_value"]
                    == partition(state, stream, account["id"])["replication_key_value"]
                )

        # The next day (Klaviyo's window reset, the kept requests 24 hours old): it goes on from the bookmark.
        limited.reset()
        code, messages, stderr = run_tap(config, tmp_path / "runs", a_day_later(evening), streams=SERIES)
        assert code == 0, stderr[-3000:]
        assert "left for tomorrow" not in stderr
        second = records(messages)
        for stream in SERIES:
            merged = {**keyed(stream, first[stream]), **keyed(stream, second[stream])}  # as the warehouse MERGEs
            assert merged == truth[stream]  # nothing lost, nothing extra, the same numbers
            for account in limited.accounts:
                stopped = date.fromisoformat(partition(state, stream, account["id"])["replication_key_value"])
                overlap = {
                    key[-1]
                    for key in set(keyed(stream, first[stream])) & set(keyed(stream, second[stream]))
                    if key[0] == account["id"]
                }
                # read twice: the bookmark's day and the 5 before it (report_lookback_days), no more (segments have
                # members every day, so a row every day; flow messages only on the days they were active)
                lookback = {str(stopped - timedelta(days=d)) for d in range(6)}
                assert overlap == lookback if stream == "segment_series_reports" else overlap <= lookback
                again = [key[-1] for key in keyed(stream, second[stream]) if key[0] == account["id"]]
                assert min(again) >= min(lookback)
        final = last_state(messages)
        for index, account in enumerate(limited.accounts):
            today = datetime.now(account_zone(limited, index)).date()
            assert partition(final, "flow_series_reports", account["id"])["replication_key_value"] == str(today)
    finally:
        limited.stop()
        clean.stop()


# ---- a conversion metric an account does not have -------------------------------------------------------------------


def test_a_conversion_metric_missing_in_an_account_is_one_line_and_the_rest_syncs(tmp_path):
    sandbox = sandbox_with(tmp_path, "--rate-limit-scale", "0")
    try:
        # "Back In Stock" exists in the first account only (an event creates its metric).
        body = {
            "data": {
                "type": "event",
                "attributes": {
                    "properties": {},
                    "time": "2026-10-01T12:00:00+00:00",
                    "metric": {"data": {"type": "metric", "attributes": {"name": "Back In Stock"}}},
                    "profile": {"data": {"type": "profile", "attributes": {"email": "stock@example.com"}}},
                },
            }
        }
        response = requests.post(
            f"{sandbox.url}/api/events",
            data=json.dumps(body),
            headers={
                "Authorization": f"Klaviyo-API-Key {sandbox.key(0)}",
                "revision": "2026-10-15",
                "content-type": "application/vnd.api+json",
            },
            timeout=30,
        )
        assert response.status_code == 202, response.text
        code, messages, stderr = run_tap(
            config_for(sandbox, conversion_metric="Back In Stock"), tmp_path, None, streams=[*REPORTS, "metrics"]
        )
        assert code == 0, stderr[-3000:]
        has, lacks = sandbox.accounts
        lines = [line for line in stderr.splitlines() if "conversion_metric 'Back In Stock'" in line]
        assert len(lines) == 1, lines
        assert f"account '{lacks['account']}'" in lines[0] and "tap-klaviyo setting" in lines[0]
        rows = records(messages)
        for stream in REPORTS[:3]:
            assert {r["account_id"] for r in rows[stream]} == {has["id"]}, stream
            assert {r["conversion_metric_name"] for r in rows[stream]} == {"Back In Stock"}
        assert {r["account_id"] for r in rows["segment_series_reports"]} == {has["id"], lacks["id"]}
        assert {r["account_id"] for r in rows["metrics"]} == {has["id"], lacks["id"]}
    finally:
        sandbox.stop()
