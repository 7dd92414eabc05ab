"""The Reporting API of a running sandbox, through the official SDK's ReportingApi (klaviyo-api 25.0.0) and plain
HTTP: every report parses into the SDK's model with no key lost, the numbers equal counts made independently from
the events GET /api/events serves, a late attribution changes one past day and nothing else, and the limits
(1/s, 2/m, 225/d per account and report) answer as Klaviyo's do.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from openapi_client.models import (
    PostCampaignValuesResponseDTO,
    PostFlowSeriesResponseDTO,
    PostFlowValuesResponseDTO,
    PostFormSeriesResponseDTO,
    PostFormValuesResponseDTO,
    PostSegmentSeriesResponseDTO,
    PostSegmentValuesResponseDTO,
)
from sdk_support import REVISION, api_error, raw_get, raw_walk, sdk_call, sdk_client

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox

ALL_STATISTICS = [
    "average_order_value",
    "bounce_rate",
    "bounced",
    "bounced_or_failed",
    "bounced_or_failed_rate",
    "click_rate",
    "click_to_open_rate",
    "clicks",
    "clicks_unique",
    "conversion_rate",
    "conversion_uniques",
    "conversion_value",
    "conversions",
    "delivered",
    "delivery_rate",
    "failed",
    "failed_rate",
    "message_segment_count_sum",
    "open_rate",
    "opens",
    "opens_unique",
    "recipients",
    "revenue_per_recipient",
    "spam_complaint_rate",
    "spam_complaints",
    "text_message_credit_usage_amount",
    "text_message_roi",
    "text_message_spend",
    "unsubscribe_rate",
    "unsubscribe_uniques",
    "unsubscribes",
]
ALWAYS_ZERO = {
    "bounce_rate",
    "bounced",
    "bounced_or_failed",
    "bounced_or_failed_rate",
    "failed",
    "failed_rate",
    "spam_complaint_rate",
    "spam_complaints",
    "text_message_roi",
    "text_message_spend",
    "unsubscribe_rate",
    "unsubscribe_uniques",
    "unsubscribes",
}
MESSAGE_METRICS = {"Received Email", "Opened Email", "Clicked Email", "Received SMS", "Clicked SMS"}
YEAR = {"start": "2025-11-01T00:00:00", "end": "2026-11-01T00:00:00"}  # the data set's last year, local time


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """A sandbox of its own: the late-attribution test writes an event, and reports are unthrottled here."""
    running = start_sandbox("--accounts", "2", "--seed", "7", "--rate-limit-scale", "0")
    yield running
    running.stop()


def headers(key: str) -> dict[str, str]:
    return {
        "Authorization": f"Klaviyo-API-Key {key}",
        "revision": REVISION,
        "content-type": "application/vnd.api+json",
        "accept": "application/vnd.api+json",
    }


def post(sandbox: RunningSandbox, path: str, body: Any, index: int = 0, **params: str) -> requests.Response:
    return requests.post(
        f"{sandbox.url}{path}", json=body, params=params, headers=headers(sandbox.key(index)), timeout=60
    )


def report_body(type_: str, statistics: list[str], timeframe: dict[str, str], **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": type_, "attributes": {"statistics": statistics, "timeframe": timeframe, **attributes}}}


def metric_ids(sandbox: RunningSandbox, index: int = 0) -> dict[str, str]:
    return {m["attributes"]["name"]: m["id"] for m in raw_get(sandbox, "/api/metrics", index)["data"]}


def zone_of(sandbox: RunningSandbox, index: int = 0) -> ZoneInfo:
    return ZoneInfo(raw_get(sandbox, "/api/accounts", index)["data"][0]["attributes"]["timezone"])


def instant(local: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=zone).astimezone(UTC)


def events_between(sandbox: RunningSandbox, start: datetime, end: datetime, index: int = 0) -> list[dict]:
    """Every event GET /api/events serves with start <= datetime < end."""
    window = f"greater-or-equal(datetime,{start.isoformat()}),less-than(datetime,{end.isoformat()})"
    return raw_walk(sandbox, "/api/events", index, filter=window, **{"page[size]": "1000"})


# ---- independent counting -------------------------------------------------------------------------------------------


def tally(events: list[dict], metric_names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per message id: what its events add up to, read from event properties as Klaviyo carries them:
    `$message` on Received/Opened/Clicked events, `$attribution.$message` on conversions (per metric)."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "delivered": 0,
            "opens": 0,
            "clicks": 0,
            "openers": set(),
            "clickers": set(),
            "conversions": defaultdict(list),  # metric id -> [(profile, value)]
        }
    )
    for event in events:
        name = metric_names[event["relationships"]["metric"]["data"]["id"]]
        props = event["attributes"]["event_properties"]
        profile = event["relationships"]["profile"]["data"]["id"]
        if name in MESSAGE_METRICS and props.get("$message"):
            row = out[props["$message"]]
            if name.startswith("Received"):
                row["delivered"] += 1
            elif name == "Opened Email":
                row["opens"] += 1
                row["openers"].add(profile)
            else:
                row["clicks"] += 1
                row["clickers"].add(profile)
        attribution = props.get("$attribution")
        if isinstance(attribution, dict) and attribution.get("$message"):
            metric = event["relationships"]["metric"]["data"]["id"]
            out[attribution["$message"]]["conversions"][metric].append((profile, props.get("$value", 0)))
    return out


def expected_statistics(row: dict[str, Any], metric: str, channel: str) -> dict[str, float]:
    conversions = row["conversions"][metric]
    delivered = row["delivered"]
    value = round(sum(v for _, v in conversions), 2)
    uniques = len({p for p, _ in conversions})

    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    stats = {
        "recipients": delivered,
        "delivered": delivered,
        "delivery_rate": ratio(delivered, delivered),
        "opens": row["opens"],
        "opens_unique": len(row["openers"]),
        "open_rate": ratio(len(row["openers"]), delivered),
        "clicks": row["clicks"],
        "clicks_unique": len(row["clickers"]),
        "click_rate": ratio(len(row["clickers"]), delivered),
        "click_to_open_rate": ratio(len(row["clickers"]), len(row["openers"])),
        "conversions": len(conversions),
        "conversion_uniques": uniques,
        "conversion_value": value,
        "conversion_rate": ratio(uniques, delivered),
        "revenue_per_recipient": ratio(value, delivered),
        "average_order_value": ratio(value, len(conversions)),
        "message_segment_count_sum": delivered if channel == "sms" else 0,
        "text_message_credit_usage_amount": delivered if channel == "sms" else 0,
    }
    return {**stats, **dict.fromkeys(ALWAYS_ZERO, 0)}


def best_message(counts: dict[str, dict[str, Any]], candidates: set[str]) -> tuple[str, str]:
    """The (message, conversion metric) with the most conversions among `candidates`."""
    pairs = [
        (len(rows), message, metric)
        for message, row in counts.items()
        if message in candidates
        for metric, rows in row["conversions"].items()
    ]
    n, message, metric = max(pairs)
    assert n > 0
    return message, metric


def assert_statistics(got: dict[str, Any], expected: dict[str, float]) -> None:
    assert set(got) == set(ALL_STATISTICS)
    for name in ALL_STATISTICS:
        assert got[name] == pytest.approx(expected[name]), name


# ---- every report through the SDK ---------------------------------------------------------------------------------


def test_every_report_parses_into_the_sdks_model(sandbox: RunningSandbox) -> None:
    api = sdk_client(sandbox)
    placed = metric_ids(sandbox)["Placed Order"]
    month = {"start": "2026-09-01T00:00:00", "end": "2026-10-01T00:00:00"}
    calls = [
        ("query_campaign_values", "campaign-values-report", {"conversion_metric_id": placed}, YEAR),
        ("query_flow_values", "flow-values-report", {"conversion_metric_id": placed}, YEAR),
        ("query_flow_series", "flow-series-report", {"conversion_metric_id": placed, "interval": "daily"}, month),
        ("query_segment_values", "segment-values-report", {}, YEAR),
        ("query_segment_series", "segment-series-report", {"interval": "weekly"}, month),
        ("query_form_values", "form-values-report", {}, YEAR),
        ("query_form_series", "form-series-report", {"interval": "monthly"}, {"key": "last_3_months"}),
    ]
    models = {
        "query_campaign_values": PostCampaignValuesResponseDTO,
        "query_flow_values": PostFlowValuesResponseDTO,
        "query_flow_series": PostFlowSeriesResponseDTO,
        "query_segment_values": PostSegmentValuesResponseDTO,
        "query_segment_series": PostSegmentSeriesResponseDTO,
        "query_form_values": PostFormValuesResponseDTO,
        "query_form_series": PostFormSeriesResponseDTO,
    }
    statistics = {
        "segment": ["members_added", "members_removed", "net_members_changed", "total_members"],
        "form": ["viewed_form", "submits", "submit_rate"],
    }
    for method, type_, extra, timeframe in calls:
        stats = statistics.get(type_.split("-")[0], ALL_STATISTICS)
        # sdk_call: the `_with_http_info` variant; it also checks that the model kept every key of the JSON.
        status, model, raw = sdk_call(
            api.Reporting, method, **{_param(method): report_body(type_, stats, timeframe, **extra)}
        )
        assert status == 200
        assert isinstance(model, models[method])
        assert model.data.type.value == type_
        assert raw is not None and raw["links"]["self"].endswith(f"/api/{type_}s")
        if type_.startswith("form"):
            assert model.data.attributes.results == []  # the sandbox has no forms
        else:
            assert model.data.attributes.results, method
        for result in model.data.attributes.results:
            assert list(result.statistics) == stats
        if "series" in type_:
            n = len(model.data.attributes.date_times)
            assert n == {"daily": 30, "weekly": 5, "monthly": 3}[extra["interval"]]  # last_3_months: 3 whole months
            for result in model.data.attributes.results:
                assert all(len(values) == n for values in result.statistics.values())


def _param(method: str) -> str:
    """The SDK's name for a report method's body parameter, e.g. campaign_values_request_dto."""
    return method.removeprefix("query_") + "_request_dto"


def test_series_date_times_are_company_midnights(sandbox: RunningSandbox) -> None:
    api = sdk_client(sandbox)
    zone = zone_of(sandbox)
    body = report_body(
        "flow-series-report",
        ["delivered"],
        {"start": "2026-10-30T00:00:00", "end": "2026-11-03T00:00:00"},  # US DST ends on 1 November 2026
        interval="daily",
        conversion_metric_id=metric_ids(sandbox)["Placed Order"],
    )
    model = api.Reporting.query_flow_series(body)
    got = model.data.attributes.date_times
    assert [d.astimezone(zone).replace(tzinfo=None) for d in got] == [
        datetime(2026, 10, 30) + timedelta(days=k) for k in range(4)
    ]
    assert got[0].utcoffset() != got[-1].utcoffset()


# ---- the numbers add up -------------------------------------------------------------------------------------------


def test_campaign_values_equal_counts_of_the_events(sandbox: RunningSandbox) -> None:
    zone = zone_of(sandbox)
    names = {v: k for k, v in metric_ids(sandbox).items()}
    counts = tally(events_between(sandbox, instant(YEAR["start"], zone), instant(YEAR["end"], zone)), names)
    messages = {m["id"]: m for m in raw_walk(sandbox, "/api/campaign-messages")}
    message_id, metric = best_message(counts, set(messages))
    campaign_id = messages[message_id]["relationships"]["campaign"]["data"]["id"]
    channel = _campaign_channel(sandbox, campaign_id)

    api = sdk_client(sandbox)
    body = report_body(
        "campaign-values-report",
        ALL_STATISTICS,
        YEAR,
        conversion_metric_id=metric,
        filter=f'equals(campaign_message_id,"{message_id}")',
    )
    model = api.Reporting.query_campaign_values(body)
    [result] = model.data.attributes.results
    assert result.groupings == {"campaign_id": campaign_id, "campaign_message_id": message_id, "send_channel": channel}
    assert_statistics(result.statistics, expected_statistics(counts[message_id], metric, channel))
    assert [c.id for c in model.data.relationships.campaigns.data] == [campaign_id]

    # Unfiltered: one row per campaign message with events, and the deliveries of all rows add up.
    everything = api.Reporting.query_campaign_values(
        report_body("campaign-values-report", ["delivered"], YEAR, conversion_metric_id=metric)
    )
    rows = {r.groupings["campaign_message_id"]: r.statistics["delivered"] for r in everything.data.attributes.results}
    independent = {m: c["delivered"] for m, c in counts.items() if m in messages and c["delivered"]}
    assert {m: d for m, d in rows.items() if d} == independent


def _campaign_channel(sandbox: RunningSandbox, campaign_id: str) -> str:
    for channel in ("email", "sms"):
        found = raw_get(
            sandbox, "/api/campaigns", filter=f"equals(messages.channel,'{channel}'),any(id,['{campaign_id}'])"
        )
        if found["data"]:
            return channel
    raise AssertionError(f"campaign {campaign_id} is neither email nor sms")


def test_flow_values_and_series_equal_counts_of_the_events(sandbox: RunningSandbox) -> None:
    zone = zone_of(sandbox)
    names = {v: k for k, v in metric_ids(sandbox).items()}
    counts = tally(events_between(sandbox, instant(YEAR["start"], zone), instant(YEAR["end"], zone)), names)
    flow_messages = {}
    for flow in raw_walk(sandbox, "/api/flows"):
        for action in raw_walk(sandbox, f"/api/flows/{flow['id']}/flow-actions"):
            for message in raw_walk(sandbox, f"/api/flow-actions/{action['id']}/flow-messages"):
                flow_messages[message["id"]] = (flow["id"], message["attributes"]["channel"])
    message_id, metric = best_message(counts, set(flow_messages))
    flow_id, channel = flow_messages[message_id]

    api = sdk_client(sandbox)
    only = f'and(equals(flow_id,"{flow_id}"),equals(flow_message_id,"{message_id}"))'
    values = api.Reporting.query_flow_values(
        report_body("flow-values-report", ALL_STATISTICS, YEAR, conversion_metric_id=metric, filter=only)
    )
    [result] = values.data.attributes.results
    assert result.groupings == {"flow_id": flow_id, "flow_message_id": message_id, "send_channel": channel}
    expected = expected_statistics(counts[message_id], metric, channel)
    assert_statistics(result.statistics, expected)
    assert [f.id for f in values.data.relationships.flows.data] == [flow_id]
    assert [m.id for m in values.data.relationships.flow_messages.data] == [message_id]

    # Weekly series over the same year: every count adds up to the values report's.
    series = api.Reporting.query_flow_series(
        report_body(
            "flow-series-report", ALL_STATISTICS, YEAR, conversion_metric_id=metric, filter=only, interval="weekly"
        )
    )
    [row] = series.data.attributes.results
    assert len(series.data.attributes.date_times) == 53
    for name in ("recipients", "delivered", "opens", "clicks", "conversions"):
        assert sum(row.statistics[name]) == expected[name], name
    assert sum(row.statistics["conversion_value"]) == pytest.approx(expected["conversion_value"])
    # Uniques are per week: never more than the year's, at least as many.
    assert sum(row.statistics["opens_unique"]) >= expected["opens_unique"]


def test_segment_members_equal_the_members_served(sandbox: RunningSandbox) -> None:
    zone = zone_of(sandbox)
    segment_id = raw_get(sandbox, "/api/segments")["data"][0]["id"]
    members = raw_walk(sandbox, f"/api/segments/{segment_id}/profiles", **{"page[size]": "100"})
    joined = sorted(datetime.fromisoformat(m["attributes"]["joined_group_at"]) for m in members)
    timeframe = {"start": "2026-06-01T00:00:00", "end": "2026-07-01T00:00:00"}
    start, end = instant(timeframe["start"], zone), instant(timeframe["end"], zone)

    api = sdk_client(sandbox)
    body = report_body(
        "segment-series-report",
        ["total_members", "members_added", "members_removed", "net_members_changed"],
        timeframe,
        interval="weekly",
        filter=f'equals(segment_id,"{segment_id}")',
    )
    series = api.Reporting.query_segment_series(body)
    [row] = series.data.attributes.results
    assert row.groupings == {"segment_id": segment_id}
    bounds = [max(d, start) for d in series.data.attributes.date_times] + [end]
    added = [sum(1 for j in joined if lo <= j < hi) for lo, hi in itertools.pairwise(bounds)]
    assert row.statistics["members_added"] == added
    assert row.statistics["net_members_changed"] == added
    assert row.statistics["members_removed"] == [0] * len(added)
    assert row.statistics["total_members"] == [sum(1 for j in joined if j < hi) for hi in bounds[1:]]

    values = api.Reporting.query_segment_values(
        report_body(
            "segment-values-report",
            ["total_members", "members_added"],
            timeframe,
            filter=f'any(segment_id,["{segment_id}"])',
        )
    )
    [total] = values.data.attributes.results
    assert total.statistics == {"total_members": sum(1 for j in joined if j < end), "members_added": sum(added)}


# ---- late attribution -------------------------------------------------------------------------------------------


def flow_series(sandbox: RunningSandbox, metric: str, timeframe: dict[str, str]) -> dict[str, Any]:
    stats = ["delivered", "opens", "conversions", "conversion_uniques", "conversion_value", "conversion_rate"]
    stats += ["revenue_per_recipient", "average_order_value"]
    response = post(
        sandbox,
        "/api/flow-series-reports",
        report_body("flow-series-report", stats, timeframe, interval="daily", conversion_metric_id=metric),
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["attributes"]


def test_a_late_attribution_changes_that_day_and_nothing_else(sandbox: RunningSandbox) -> None:
    placed = metric_ids(sandbox)["Placed Order"]
    september = {"start": "2026-09-01T00:00:00", "end": "2026-10-01T00:00:00"}
    before = flow_series(sandbox, placed, september)
    campaigns_before = post(
        sandbox,
        "/api/campaign-values-reports",
        report_body("campaign-values-report", ALL_STATISTICS, september, conversion_metric_id=placed),
    ).json()["data"]["attributes"]

    # The first (message, day) of the month with deliveries and no conversion yet.
    target = next(
        (row["groupings"]["flow_message_id"], day)
        for row in before["results"]
        for day in range(len(before["date_times"]))
        if row["statistics"]["delivered"][day] and not row["statistics"]["conversions"][day]
    )
    message_id, day = target
    when = datetime.fromisoformat(before["date_times"][day]) + timedelta(hours=12)
    answer = sandbox.attribute(
        sandbox.accounts[0]["id"], message_id, when.isoformat(), metric="Placed Order", value=50.25
    )
    event_id = answer["id"]

    # The event is an ordinary event of the account, attributed by its properties.
    event = raw_get(sandbox, f"/api/events/{event_id}")["data"]
    assert event["relationships"]["metric"]["data"]["id"] == placed
    assert datetime.fromisoformat(event["attributes"]["datetime"]) == when.astimezone(UTC)
    assert event["attributes"]["event_properties"]["$attribution"]["$message"] == message_id
    assert event["attributes"]["event_properties"]["$value"] == 50.25

    after = flow_series(sandbox, placed, september)
    assert after["date_times"] == before["date_times"]
    changed = []
    for old, new in zip(before["results"], after["results"], strict=True):
        assert old["groupings"] == new["groupings"]
        for name, values in old["statistics"].items():
            for k, value in enumerate(values):
                if new["statistics"][name][k] != value:
                    changed.append((new["groupings"]["flow_message_id"], k, name))
    rates = {"conversion_rate", "revenue_per_recipient", "average_order_value"}
    counts = {"conversions", "conversion_uniques", "conversion_value"}
    assert {(m, k) for m, k, _ in changed} == {(message_id, day)}
    assert counts <= {name for *_, name in changed} <= counts | rates

    [row] = [r for r in after["results"] if r["groupings"]["flow_message_id"] == message_id]
    stats = {name: values[day] for name, values in row["statistics"].items()}
    assert (stats["conversions"], stats["conversion_uniques"], stats["conversion_value"]) == (1, 1, 50.25)
    assert stats["conversion_rate"] == pytest.approx(1 / stats["delivered"])
    assert stats["revenue_per_recipient"] == pytest.approx(50.25 / stats["delivered"])
    assert stats["average_order_value"] == pytest.approx(50.25)

    # The campaign report of the same month does not move.
    campaigns_after = post(
        sandbox,
        "/api/campaign-values-reports",
        report_body("campaign-values-report", ALL_STATISTICS, september, conversion_metric_id=placed),
    ).json()["data"]["attributes"]
    assert campaigns_after == campaigns_before


def test_attribute_rejects_unknown_messages_and_future_times(sandbox: RunningSandbox) -> None:
    path = f"{sandbox.url}/_sandbox/accounts/{sandbox.accounts[0]['id']}/attribute"
    unknown = requests.post(path, json={"message_id": "nope", "datetime": "2026-09-01T00:00:00Z"}, timeout=30)
    assert unknown.status_code == 400 and "nope" in unknown.json()["error"]
    message_id = raw_get(sandbox, "/api/campaign-messages")["data"][0]["id"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert requests.post(path, json={"message_id": message_id, "datetime": future}, timeout=30).status_code == 400
    no_account = requests.post(f"{sandbox.url}/_sandbox/accounts/XXXXXX/attribute", json={}, timeout=30)
    assert no_account.status_code == 404


# ---- errors -----------------------------------------------------------------------------------------------------


def only_error(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["status"] == response.status_code
    return error


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"statistics": ["opens", "open_rates"]}, "/data/attributes/statistics/1"),
        ({"conversion_metric_id": None}, "/data/attributes/conversion_metric_id"),
        ({"conversion_metric_id": "XXXXXX"}, "/data/attributes/conversion_metric_id"),
        ({"timeframe": {"start": "2025-01-01T00:00:00", "end": "2026-01-02T00:00:00"}}, "/data/attributes/timeframe"),
        ({"timeframe": {"key": "last_2_weeks"}}, "/data/attributes/timeframe/key"),
        ({"interval": "fortnightly"}, "/data/attributes/interval"),
        ({"interval": "hourly"}, "/data/attributes/interval"),  # a month of hours: 7 days at most
        ({"filter": "equals(flow_id,"}, "/data/attributes/filter"),
        ({"filter": 'equals(campaign_id,"x")'}, "/data/attributes/filter"),
        ({"group_by": ["flow_id", "send_channel"]}, "/data/attributes/group_by"),
    ],
)
def test_bad_requests_are_400_naming_the_pointer(sandbox: RunningSandbox, attributes: dict, pointer: str) -> None:
    base = {
        "statistics": ["opens"],
        "timeframe": {"start": "2026-09-01T00:00:00", "end": "2026-10-01T00:00:00"},
        "interval": "daily",
        "conversion_metric_id": metric_ids(sandbox)["Placed Order"],
    }
    merged = {k: v for k, v in {**base, **attributes}.items() if v is not None}
    response = post(sandbox, "/api/flow-series-reports", {"data": {"type": "flow-series-report", "attributes": merged}})
    assert response.status_code == 400
    error = only_error(response)
    assert error["code"] == "invalid"
    assert error["source"] == {"pointer": pointer}


def test_unknown_conversion_metric_through_the_sdk(sandbox: RunningSandbox) -> None:
    api = sdk_client(sandbox)
    body = report_body("campaign-values-report", ["conversions"], YEAR, conversion_metric_id="XXXXXX")
    status, error = api_error(lambda: api.Reporting.query_campaign_values(body))
    assert status == 400
    assert error.errors[0].source.pointer == "/data/attributes/conversion_metric_id"


def test_sparse_fieldsets(sandbox: RunningSandbox) -> None:
    body = report_body("segment-series-report", ["total_members"], {"key": "last_30_days"}, interval="daily")
    only_dates = post(sandbox, "/api/segment-series-reports", body, **{"fields[segment-series-report]": "date_times"})
    assert only_dates.status_code == 200
    assert list(only_dates.json()["data"]["attributes"]) == ["date_times"]
    bad = post(sandbox, "/api/segment-series-reports", body, **{"fields[segment-series-report]": "results,totals"})
    assert bad.status_code == 400
    assert only_error(bad)["source"] == {"parameter": "fields[segment-series-report]"}


def test_success_carries_the_ratelimit_headers(sandbox: RunningSandbox) -> None:
    body = report_body("segment-values-report", ["total_members"], {"key": "last_7_days"})
    response = post(sandbox, "/api/segment-values-reports", body)
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "2"  # 2/m; this sandbox runs unthrottled
    assert {"RateLimit-Remaining", "RateLimit-Reset"} <= set(response.headers)


# ---- limits -------------------------------------------------------------------------------------------------------


def test_reports_have_klaviyos_burst_and_steady_limits() -> None:
    running = start_sandbox("--accounts", "1", "--events", "50", "--profiles", "50")
    try:
        body = report_body("segment-values-report", ["total_members"], {"key": "last_7_days"})
        first = post(running, "/api/segment-values-reports", body)
        assert first.status_code == 200
        assert (first.headers["RateLimit-Limit"], first.headers["RateLimit-Remaining"]) == ("2", "1")
        burst = post(running, "/api/segment-values-reports", body)
        assert burst.status_code == 429 and burst.headers["Retry-After"] == "1"
        assert only_error(burst)["code"] == "throttled"
        time.sleep(1.05)
        assert post(running, "/api/segment-values-reports", body).status_code == 200
        time.sleep(1.05)
        steady = post(running, "/api/segment-values-reports", body)  # third in the minute: 2/m
        assert steady.status_code == 429 and 50 <= int(steady.headers["Retry-After"]) <= 60
        counts = running.stats()[running.accounts[0]["id"]]["query_segment_values"]
        assert counts == {"requests": 4, "200": 2, "throttled": 2}
    finally:
        running.stop()


def test_daily_quota_is_429_with_retry_after_until_the_day_resets() -> None:
    # Quota 1 scaled by 3 is 3 a day; burst and steady become 3/s and 6/m.
    running = start_sandbox(
        "--accounts", "2", "--events", "200", "--profiles", "50", "--report-daily-quota", "1", "--rate-limit-scale", "3"
    )
    try:
        placed = metric_ids(running)["Placed Order"]
        body = report_body("campaign-values-report", ["opens"], {"key": "last_30_days"}, conversion_metric_id=placed)
        answers = []
        for _ in range(4):
            answers.append(post(running, "/api/campaign-values-reports", body))
            time.sleep(0.4)  # 4 requests in 1.6 s: never 3 within one second
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["RateLimit-Limit"] == "6"
        refused = answers[-1]
        assert only_error(refused)["code"] == "throttled"
        assert 86_390 <= int(refused.headers["Retry-After"]) <= 86_400
        assert f"{refused.headers['Retry-After']} seconds" in only_error(refused)["detail"]

        # Per account and per report: the others still answer.
        other_metric = metric_ids(running, 1)["Placed Order"]
        other_body = report_body(
            "campaign-values-report", ["opens"], {"key": "last_30_days"}, conversion_metric_id=other_metric
        )
        assert post(running, "/api/campaign-values-reports", other_body, index=1).status_code == 200
        flow_body = report_body("flow-values-report", ["opens"], {"key": "last_30_days"}, conversion_metric_id=placed)
        assert post(running, "/api/flow-values-reports", flow_body).status_code == 200

        stats = running.stats()[running.accounts[0]["id"]]
        assert stats["query_campaign_values"] == {"requests": 4, "200": 3, "throttled": 1, "throttled_daily": 1}
        assert stats["query_flow_values"] == {"requests": 1, "200": 1}

        running.reset()  # POST /_sandbox/reset: a new day
        assert post(running, "/api/campaign-values-reports", body).status_code == 200
    finally:
        running.stop()


def test_report_daily_quota_must_be_positive() -> None:
    with pytest.raises(RuntimeError, match="report-daily-quota"):
        start_sandbox("--accounts", "1", "--report-daily-quota", "0")
