"""Reporting API request bodies (klaviyo_sandbox.report_requests), in-process: what is accepted, how timeframes
and intervals resolve in the company timezone, and the pointer of each 400."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from klaviyo_sandbox.errors import KlaviyoError
from klaviyo_sandbox.report_requests import (
    REPORTS,
    TIMEFRAME_KEYS,
    ReportRequest,
    interval_starts,
    parse_report,
    resolve_timeframe,
)

CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 3, 11, 15, 30, tzinfo=CHICAGO)  # a Wednesday, three days after the US DST change
METRICS = {"PLACED"}
KIND = {kind.name: kind for kind in REPORTS}


def body(kind: str, **attributes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "statistics": ["opens", "open_rate"],
        "timeframe": {"start": "2026-01-01T00:00:00", "end": "2026-02-01T00:00:00"},
        "conversion_metric_id": "PLACED",
    }
    if kind.endswith("series"):
        base["interval"] = "daily"
    if kind.startswith("query_segment") or kind.startswith("query_form"):
        base["statistics"] = ["total_members"] if kind.startswith("query_segment") else ["submits"]
        del base["conversion_metric_id"]
    base.update(attributes)
    return {"data": {"type": KIND[kind].type, "attributes": {k: v for k, v in base.items() if v is not None}}}


def parse(kind: str, payload: dict[str, Any]) -> ReportRequest:
    return parse_report(payload, KIND[kind], zone=CHICAGO, now=NOW, metric_ids=METRICS)


def pointer_of(kind: str, payload: dict[str, Any]) -> str:
    with pytest.raises(KlaviyoError) as caught:
        parse(kind, payload)
    error = caught.value
    assert (error.status, error.code) == (400, "invalid")
    assert error.parameter is None
    assert error.pointer is not None
    return error.pointer


# ---- accepted bodies ------------------------------------------------------------------------------------------------


def test_every_report_accepts_its_minimal_body() -> None:
    for kind in REPORTS:
        request = parse(kind.name, body(kind.name))
        assert request.kind is kind
        assert request.start == datetime(2026, 1, 1, tzinfo=CHICAGO)
        assert request.end == datetime(2026, 2, 1, tzinfo=CHICAGO)


def test_default_and_given_group_by() -> None:
    assert parse("query_campaign_values", body("query_campaign_values")).group_by == (
        "campaign_id",
        "campaign_message_id",
        "send_channel",
    )
    assert parse("query_flow_series", body("query_flow_series")).group_by == (
        "flow_id",
        "flow_message_id",
        "send_channel",
    )
    given = body("query_flow_values", group_by=["flow_message_id", "flow_id", "tag_name"])
    assert parse("query_flow_values", given).group_by == ("flow_message_id", "flow_id", "tag_name")
    assert parse("query_segment_values", body("query_segment_values")).group_by == ()


def test_custom_timeframe_offset_is_ignored_for_the_company_timezone() -> None:
    # OpenAPI CustomTimeframe: "Offset is ignored and the company timezone is used."
    payload = body(
        "query_campaign_values", timeframe={"start": "2026-10-01T00:00:00+09:00", "end": "2026-10-02T00:00Z"}
    )
    request = parse("query_campaign_values", payload)
    assert request.start == datetime(2026, 10, 1, tzinfo=CHICAGO)
    assert request.start.utcoffset() == timedelta(hours=-5)
    assert request.end - request.start == timedelta(days=1)


def test_a_timeframe_of_exactly_one_year_is_accepted() -> None:
    payload = body("query_flow_values", timeframe={"start": "2025-03-01T00:00:00", "end": "2026-03-01T00:00:00"})
    assert parse("query_flow_values", payload).end.year == 2026


def test_filters_of_each_kind_are_accepted() -> None:
    ok = 'and(equals(campaign_id,"c1"),contains-any(send_channel,["email","sms"]),contains-all(tag_name,["VIP"]))'
    assert len(parse("query_campaign_values", body("query_campaign_values", filter=ok)).filters) == 3
    assert parse("query_segment_series", body("query_segment_series", filter='any(segment_id,["a","b"])')).filters


# ---- timeframe keys and intervals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "start", "end"),
    [
        ("today", datetime(2026, 3, 11), NOW.replace(tzinfo=None)),
        ("yesterday", datetime(2026, 3, 10), datetime(2026, 3, 11)),
        ("this_week", datetime(2026, 3, 9), NOW.replace(tzinfo=None)),
        ("last_week", datetime(2026, 3, 2), datetime(2026, 3, 9)),
        ("last_7_days", datetime(2026, 3, 4), datetime(2026, 3, 11)),
        ("last_30_days", datetime(2026, 2, 9), datetime(2026, 3, 11)),
        ("this_month", datetime(2026, 3, 1), NOW.replace(tzinfo=None)),
        ("last_month", datetime(2026, 2, 1), datetime(2026, 3, 1)),
        ("last_3_months", datetime(2025, 12, 1), datetime(2026, 3, 1)),
        ("last_12_months", datetime(2025, 3, 1), datetime(2026, 3, 1)),
        ("last_365_days", datetime(2025, 3, 11), datetime(2026, 3, 11)),
        ("this_year", datetime(2026, 1, 1), NOW.replace(tzinfo=None)),
        ("last_year", datetime(2025, 1, 1), datetime(2026, 1, 1)),
    ],
)
def test_timeframe_keys_in_the_company_timezone(key: str, start: datetime, end: datetime) -> None:
    got = resolve_timeframe(key, NOW)
    assert got == (start.replace(tzinfo=CHICAGO), end.replace(tzinfo=CHICAGO))


def test_every_timeframe_key_is_accepted_and_at_most_a_year() -> None:
    for key in TIMEFRAME_KEYS:
        request = parse("query_campaign_values", body("query_campaign_values", timeframe={"key": key}))
        assert request.start < request.end <= request.start.replace(year=request.start.year + 1)


def test_daily_buckets_are_local_midnights_across_dst() -> None:
    starts = interval_starts(datetime(2026, 3, 7, tzinfo=CHICAGO), datetime(2026, 3, 10, tzinfo=CHICAGO), "daily")
    assert [s.isoformat() for s in starts] == [
        "2026-03-07T00:00:00-06:00",
        "2026-03-08T00:00:00-06:00",
        "2026-03-09T00:00:00-05:00",
    ]


def test_hourly_buckets_are_real_hours_across_dst() -> None:
    starts = interval_starts(datetime(2026, 3, 8, tzinfo=CHICAGO), datetime(2026, 3, 9, tzinfo=CHICAGO), "hourly")
    assert len(starts) == 23  # the day the clocks go forward
    assert starts[2].isoformat() == "2026-03-08T03:00:00-05:00"


def test_weekly_and_monthly_buckets() -> None:
    start = datetime(2026, 1, 15, 12, tzinfo=CHICAGO)
    weekly = interval_starts(start, datetime(2026, 2, 5, tzinfo=CHICAGO), "weekly")
    assert [s.day for s in weekly] == [15, 22, 29]
    monthly = interval_starts(start, datetime(2026, 4, 1, tzinfo=CHICAGO), "monthly")
    assert [(s.month, s.day) for s in monthly] == [(1, 1), (2, 1), (3, 1)]


# ---- 400s and their pointers --------------------------------------------------------------------------------------


def drop(payload: dict[str, Any], name: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    del out["data"]["attributes"][name]
    return out


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("query_campaign_values", {"data": {"type": "flow-values-report", "attributes": {}}}, "/data/type"),
    ("query_campaign_values", {"data": []}, "/data"),
    ("query_campaign_values", body("query_campaign_values", bogus=1), "/data/attributes/bogus"),
    ("query_campaign_values", drop(body("query_campaign_values"), "statistics"), "/data/attributes/statistics"),
    ("query_campaign_values", body("query_campaign_values", statistics=[]), "/data/attributes/statistics"),
    (
        "query_campaign_values",
        body("query_campaign_values", statistics=["opens", "total_members"]),
        "/data/attributes/statistics/1",
    ),
    ("query_segment_values", body("query_segment_values", statistics=["opens"]), "/data/attributes/statistics/0"),
    (
        "query_campaign_values",
        drop(body("query_campaign_values"), "conversion_metric_id"),
        "/data/attributes/conversion_metric_id",
    ),
    (
        "query_flow_series",
        body("query_flow_series", conversion_metric_id="NOPE"),
        "/data/attributes/conversion_metric_id",
    ),
    (
        "query_segment_values",
        body("query_segment_values", conversion_metric_id="PLACED"),
        "/data/attributes/conversion_metric_id",
    ),
    ("query_flow_values", drop(body("query_flow_values"), "timeframe"), "/data/attributes/timeframe"),
    (
        "query_flow_values",
        body("query_flow_values", timeframe={"key": "last_2_days"}),
        "/data/attributes/timeframe/key",
    ),
    (
        "query_flow_values",
        body("query_flow_values", timeframe={"start": "2026-01-01T00:00:00"}),
        "/data/attributes/timeframe/end",
    ),
    (
        "query_flow_values",
        body("query_flow_values", timeframe={"start": "January", "end": "2026-01-01T00:00:00"}),
        "/data/attributes/timeframe/start",
    ),
    (
        "query_flow_values",
        body("query_flow_values", timeframe={"start": "2026-02-01T00:00:00", "end": "2026-01-01T00:00:00"}),
        "/data/attributes/timeframe",
    ),
    (
        "query_campaign_values",
        body("query_campaign_values", timeframe={"start": "2025-01-01T00:00:00", "end": "2026-01-01T00:00:01"}),
        "/data/attributes/timeframe",
    ),
    ("query_flow_series", drop(body("query_flow_series"), "interval"), "/data/attributes/interval"),
    ("query_flow_series", body("query_flow_series", interval="yearly"), "/data/attributes/interval"),
    (
        "query_flow_series",
        body("query_flow_series", interval="daily", timeframe={"key": "last_90_days"}),
        "/data/attributes/interval",
    ),
    (
        "query_segment_series",
        body("query_segment_series", interval="hourly", timeframe={"key": "last_30_days"}),
        "/data/attributes/interval",
    ),
    (
        "query_flow_series",
        body("query_flow_series", interval="monthly", timeframe={"key": "last_365_days"}),
        "/data/attributes/interval",
    ),
    ("query_flow_values", body("query_flow_values", interval="daily"), "/data/attributes/interval"),
    ("query_flow_values", body("query_flow_values", group_by=["flow_id"]), "/data/attributes/group_by"),
    (
        "query_flow_values",
        body("query_flow_values", group_by=["flow_id", "campaign_id"]),
        "/data/attributes/group_by/1",
    ),
    ("query_form_values", body("query_form_values", group_by=["form_version_id"]), "/data/attributes/group_by"),
    ("query_segment_values", body("query_segment_values", group_by=["segment_id"]), "/data/attributes/group_by"),
    ("query_campaign_values", body("query_campaign_values", filter="equals(campaign_id,"), "/data/attributes/filter"),
    ("query_campaign_values", body("query_campaign_values", filter='equals(flow_id,"x")'), "/data/attributes/filter"),
    (
        "query_campaign_values",
        body("query_campaign_values", filter='contains-all(send_channel,["email"])'),
        "/data/attributes/filter",
    ),
    (
        "query_campaign_values",
        body("query_campaign_values", filter='equals(send_channel,"fax")'),
        "/data/attributes/filter",
    ),
    (
        "query_campaign_values",
        body("query_campaign_values", filter='and(equals(campaign_id,"a"),equals(campaign_id,"b"))'),
        "/data/attributes/filter",
    ),
    ("query_campaign_values", body("query_campaign_values", filter='equals(tag_id,"t")'), "/data/attributes/filter"),
    ("query_segment_values", body("query_segment_values", filter='any(segment_id,"a")'), "/data/attributes/filter"),
    (
        "query_segment_values",
        body("query_segment_values", filter="any(segment_id,[" + ",".join(f'"{i}"' for i in range(101)) + "])"),
        "/data/attributes/filter",
    ),
    ("query_flow_values", body("query_flow_values", filter='or(equals(flow_id,"a"))'), "/data/attributes/filter"),
]


@pytest.mark.parametrize(("kind", "payload", "pointer"), CASES)
def test_bad_bodies_are_400_with_the_pointer(kind: str, payload: dict[str, Any], pointer: str) -> None:
    assert pointer_of(kind, payload) == pointer
