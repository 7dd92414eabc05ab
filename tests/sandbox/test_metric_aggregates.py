"""POST /api/metric-aggregates through the official SDK (MetricsApi.query_metric_aggregates): the route and tier the
SDK names, answers its models parse without losing a key, numbers that agree with GET /api/events, and Klaviyo's
validation. Late events count only once readable (the 10-days-late knob: an event written now with a datetime 10
days ago, held by --late-share, then released).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openapi_client.models import EventCreateQueryV2, MetricAggregateQuery, PostMetricAggregateResponse
from sdk_support import api_error, only_error, raw_get, raw_request, raw_walk, sdk_call, sdk_client, sdk_route, sdk_tier

from klaviyo_sandbox.app import make_app
from klaviyo_sandbox.routing import SANDBOX_KEY

END = datetime(2026, 11, 1, tzinfo=UTC)  # the session sandbox's data set ends here (DataSettings.end)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def query(metric_id: str, start: datetime, end: datetime, **attributes: object) -> dict:
    return {
        "data": {
            "type": "metric-aggregate",
            "attributes": {
                "metric_id": metric_id,
                "measurements": ["count"],
                "filter": [f"greater-or-equal(datetime,{stamp(start)})", f"less-than(datetime,{stamp(end)})"],
                **attributes,
            },
        }
    }


def ask(sandbox, body: dict, index: int = 0) -> PostMetricAggregateResponse:
    status, model, _ = sdk_call(
        sdk_client(sandbox, index).Metrics,
        "query_metric_aggregates",
        metric_aggregate_query=MetricAggregateQuery.from_dict(body),
    )
    assert status == 200
    return model


def metric_named(sandbox, name: str, index: int = 0) -> str:
    return next(m["id"] for m in raw_get(sandbox, "/api/metrics", index)["data"] if m["attributes"]["name"] == name)


def timezone_of(sandbox, index: int = 0) -> str:
    return raw_get(sandbox, "/api/accounts", index)["data"][0]["attributes"]["timezone"]


def events_of(sandbox, metric_id: str, start: datetime, end: datetime, index: int = 0) -> list[dict]:
    conditions = (
        f'equals(metric_id,"{metric_id}"),greater-or-equal(datetime,{stamp(start)}),less-than(datetime,{stamp(end)})'
    )
    return raw_walk(sandbox, "/api/events", index, filter=conditions, **{"page[size]": "1000"})


def test_the_route_and_tier_are_the_sdks():
    tiers = make_app()[SANDBOX_KEY].tiers
    assert sdk_route("query_metric_aggregates") == ("POST", "/api/metric-aggregates")
    assert (tiers["query_metric_aggregates"].burst, tiers["query_metric_aggregates"].steady) == sdk_tier(
        "query_metric_aggregates"
    )


def test_daily_counts_in_the_accounts_timezone_agree_with_the_events_reads_serve(klaviyo_sandbox):
    zone_name = timezone_of(klaviyo_sandbox)
    zone = ZoneInfo(zone_name)
    metric_id = metric_named(klaviyo_sandbox, "Placed Order")
    end = END.astimezone(zone).replace(hour=0, minute=0, second=0)
    start = end - timedelta(days=200)
    model = ask(
        klaviyo_sandbox,
        query(metric_id, start, end, measurements=["count", "sum_value", "unique"], timezone=zone_name),
    )
    dates = [d.astimezone(zone) for d in model.data.attributes.dates]
    assert [d.hour for d in dates] == [0] * len(dates)  # local midnights
    assert dates[0] == start and len(dates) == 200
    (row,) = model.data.attributes.data
    assert row.dimensions == []
    events = events_of(klaviyo_sandbox, metric_id, start, end)
    assert len(events) > 20
    by_day: Counter[str] = Counter()
    value: Counter[str] = Counter()
    people: dict[str, set[str]] = {}
    for event in events:
        day = datetime.fromisoformat(event["attributes"]["datetime"]).astimezone(zone).date().isoformat()
        by_day[day] += 1
        value[day] += event["attributes"]["event_properties"].get("$value", 0)
        people.setdefault(day, set()).add(event["relationships"]["profile"]["data"]["id"])
    days = [d.date().isoformat() for d in dates]
    assert row.measurements["count"] == [by_day[d] for d in days]
    assert row.measurements["sum_value"] == pytest.approx([round(value[d], 2) for d in days])
    assert row.measurements["unique"] == [len(people.get(d, ())) for d in days]


def test_intervals_and_grouping(klaviyo_sandbox):
    metric_id = metric_named(klaviyo_sandbox, "Received Email")
    start, end = END - timedelta(days=120), END
    daily = ask(klaviyo_sandbox, query(metric_id, start, end))
    total = sum(daily.data.attributes.data[0].measurements["count"])
    monthly = ask(klaviyo_sandbox, query(metric_id, start, end, interval="month"))
    assert [d.day for d in monthly.data.attributes.dates] == [1] * len(monthly.data.attributes.dates)
    assert sum(monthly.data.attributes.data[0].measurements["count"]) == total
    weekly = ask(klaviyo_sandbox, query(metric_id, start, end, interval="week"))
    assert {d.weekday() for d in weekly.data.attributes.dates[1:]} == {0}  # Mondays
    hourly = ask(klaviyo_sandbox, query(metric_id, end - timedelta(days=2), end, interval="hour"))
    assert len(hourly.data.attributes.dates) == 48
    grouped = ask(klaviyo_sandbox, query(metric_id, start, end, by=["$message"]))
    rows = grouped.data.attributes.data
    assert len(rows) > 1 and all(len(r.dimensions) == 1 for r in rows)
    assert sum(sum(r.measurements["count"]) for r in rows) == total
    one = rows[0].dimensions[0]
    only = ask(
        klaviyo_sandbox,
        query(
            metric_id,
            start,
            end,
            filter=[*query(metric_id, start, end)["data"]["attributes"]["filter"], f'equals($message,"{one}")'],
        ),
    )
    assert only.data.attributes.data[0].measurements["count"] == rows[0].measurements["count"]


def test_sparse_fieldset(klaviyo_sandbox):
    metric_id = metric_named(klaviyo_sandbox, "Opened Email")
    response = raw_request(
        klaviyo_sandbox,
        "POST",
        "/api/metric-aggregates",
        body=query(metric_id, END - timedelta(days=3), END),
        **{"fields[metric-aggregate]": "dates"},
    )
    assert response.status_code == 200
    assert set(response.json()["data"]["attributes"]) == {"dates"}


@pytest.mark.parametrize(
    ("change", "pointer", "detail"),
    [
        ({"filter": ["greater-or-equal(datetime,2026-10-01T00:00:00)"]}, "filter", "time range"),
        (
            {"filter": ["greater-or-equal(datetime,2025-01-01T00:00:00)", "less-than(datetime,2026-06-01T00:00:00)"]},
            "filter",
            "one year",
        ),
        (
            {"filter": ["greater-or-equal(datetime,2026-10-02T00:00:00)", "less-than(datetime,2026-10-01T00:00:00)"]},
            "filter",
            "after its start",
        ),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "not a valid timezone"),
        ({"timezone": "america/chicago"}, "timezone", "not a valid timezone"),
        ({"metric_id": "NoSuch"}, "metric_id", "does not exist"),
        ({"measurements": ["median"]}, "measurements", "not a valid value"),
        ({"interval": "year"}, "interval", "not a valid interval"),
        ({"by": ["Favourite Colour"]}, "by", "not a valid value"),
        ({"page_size": 0}, "page_size", "positive integer"),
        ({"color": "red"}, "color", "not a valid field"),
    ],
)
def test_validation(klaviyo_sandbox, change, pointer, detail):
    body = query(metric_named(klaviyo_sandbox, "Opened Email"), END - timedelta(days=30), END)
    body["data"]["attributes"].update(change)
    response = raw_request(klaviyo_sandbox, "POST", "/api/metric-aggregates", body=body)
    assert response.status_code == 400
    error = only_error(response)
    assert error["source"]["pointer"] == f"/data/attributes/{pointer}"
    assert detail in error["detail"]


def test_an_error_parses_with_the_sdks_error_model(klaviyo_sandbox):
    body = query(metric_named(klaviyo_sandbox, "Opened Email"), END - timedelta(days=30), END)
    body["data"]["attributes"]["filter"] = body["data"]["attributes"]["filter"][:1]
    client = sdk_client(klaviyo_sandbox)
    status, error = api_error(
        lambda: client.Metrics.query_metric_aggregates(metric_aggregate_query=MetricAggregateQuery.from_dict(body))
    )
    assert status == 400 and "time range" in error.errors[0].detail


def test_an_event_ten_days_late_counts_only_once_readable(klaviyo_sandbox_factory):
    """The knob the completeness check is tested with: an event written now with a datetime 10 days ago, held back
    by --late-share until the test releases it. Aggregates count what reads see: not it, then it."""
    sandbox = klaviyo_sandbox_factory("--accounts", "1", "--rate-limit-scale", "0", late_share=1.0, late_hours=1000)
    account_id = sandbox.accounts[0]["id"]
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    metric = f"Late Order {uuid.uuid4().hex[:6]}"
    client = sdk_client(sandbox)
    for n in range(3):
        body = {
            "data": {
                "type": "event",
                "attributes": {
                    "properties": {"$value": 10},
                    "time": when.isoformat(),
                    "unique_id": f"late-{n}",
                    "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
                    "profile": {"data": {"type": "profile", "attributes": {"email": f"late{n}@example.com"}}},
                },
            }
        }
        status, _, _ = sdk_call(client.Events, "create_event", event_create_query_v2=EventCreateQueryV2.from_dict(body))
        assert status == 202
    metric_id = metric_named(sandbox, metric)
    window = query(metric_id, when - timedelta(days=1), datetime.now(UTC), measurements=["count", "sum_value"])
    before = ask(sandbox, window).data.attributes.data[0].measurements
    assert sum(before["count"]) == 0
    assert sandbox.release_late(account_id) == 3
    after = ask(sandbox, window).data.attributes.data[0].measurements
    assert sum(after["count"]) == 3 and sum(after["sum_value"]) == 30
    day = after["count"].index(3)
    assert ask(sandbox, window).data.attributes.dates[day].date() == when.date()
