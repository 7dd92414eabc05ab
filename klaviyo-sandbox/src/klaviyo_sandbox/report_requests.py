"""Request bodies of the Reporting API, parsed and validated as Klaviyo does.

What each report accepts comes from the official SDK 25.0.0 (openapi_client/models/*_request_dto_resource_object_
attributes.py: the statistics, group_by and interval enums, the filter rules in the field descriptions) and from
Klaviyo's OpenAPI document (klaviyo/openapi, openapi/stable/categories/reporting.json: required attributes, the
timeframe keys, "Offset is ignored and the company timezone is used" for custom timeframes). A bad body raises a
400 `invalid` KlaviyoError whose pointer names the offending member.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import KlaviyoError, invalid
from .filters import Condition, parse_filter

__all__ = [
    "REPORTS",
    "ReportKind",
    "ReportRequest",
    "account_zone",
    "interval_starts",
    "parse_report",
    "resolve_timeframe",
]

# Campaign and flow reports share one list of statistics (SDK: CampaignValues/FlowValues/FlowSeries request models).
MESSAGE_STATISTICS = (
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
)
SEGMENT_STATISTICS = ("members_added", "members_removed", "net_members_changed", "total_members")
FORM_STATISTICS = (
    "closed_form",
    "closed_form_uniques",
    "qualified_form",
    "qualified_form_uniques",
    "submit_rate",
    "submits",
    "submitted_form_step",
    "submitted_form_step_uniques",
    "viewed_form",
    "viewed_form_step",
    "viewed_form_step_uniques",
    "viewed_form_uniques",
)
CAMPAIGN_GROUP_BY = (
    "campaign_id",
    "campaign_message_id",
    "campaign_message_name",
    "group",
    "group_name",
    "send_channel",
    "tag_id",
    "tag_name",
    "text_message_format",
    "variation",
    "variation_name",
)
FLOW_GROUP_BY = (
    "flow_id",
    "flow_message_id",
    "flow_message_name",
    "flow_name",
    "send_channel",
    "tag_id",
    "tag_name",
    "text_message_format",
    "variation",
    "variation_name",
)
# Filters: scalar attributes take equals and contains-any, list attributes contains-any and contains-all.
LIST_ATTRIBUTES = frozenset({"tag_id", "tag_name"})
SEND_CHANNELS = frozenset({"email", "sms", "push-notification", "whatsapp"})
MAX_FILTER_ITEMS = 100

TIMEFRAME_KEYS = (
    "last_12_months",
    "last_30_days",
    "last_365_days",
    "last_3_months",
    "last_7_days",
    "last_90_days",
    "last_month",
    "last_week",
    "last_year",
    "this_month",
    "this_week",
    "this_year",
    "today",
    "yesterday",
)
INTERVALS = ("daily", "hourly", "monthly", "weekly")
# The interval field's description: "If hourly is used, the timeframe cannot be longer than 7 days. If daily is
# used, the timeframe cannot be longer than 60 days. If monthly is used, the timeframe cannot be longer than 52
# weeks." (weekly: the timeframe's own limit of 1 year)
INTERVAL_MAX_SPAN = {"hourly": timedelta(days=7), "daily": timedelta(days=60), "monthly": timedelta(weeks=52)}


@dataclass(frozen=True)
class ReportKind:
    """One report endpoint: what its body may hold."""

    name: str  # the SDK method name: route name and rate-limit bucket
    path: str
    type: str  # the JSON:API resource type, also of the response
    statistics: tuple[str, ...]
    series: bool
    group_by: tuple[str, ...] = ()  # empty: the report takes no group_by
    default_group_by: tuple[str, ...] = ()
    required_group_by: tuple[str, ...] = ()
    filter_fields: tuple[str, ...] = ()
    filter_ops: frozenset[str] = frozenset({"equals", "contains-any", "contains-all"})
    conversion_metric: bool = False  # conversion_metric_id required

    @property
    def attributes(self) -> frozenset[str]:
        names = {"statistics", "timeframe", "filter"}
        if self.series:
            names.add("interval")
        if self.group_by:
            names.add("group_by")
        if self.conversion_metric:
            names.add("conversion_metric_id")
        return frozenset(names)


def _message_report(kind: str, name: str, series: bool) -> ReportKind:
    campaign = kind == "campaign"
    group_by = CAMPAIGN_GROUP_BY if campaign else FLOW_GROUP_BY
    required = ("campaign_id", "campaign_message_id") if campaign else ("flow_id", "flow_message_id")
    suffix = "series" if series else "values"
    return ReportKind(
        name=name,
        path=f"/api/{kind}-{suffix}-reports",
        type=f"{kind}-{suffix}-report",
        statistics=MESSAGE_STATISTICS,
        series=series,
        group_by=group_by,
        default_group_by=(*required, "send_channel"),
        required_group_by=required,
        # Every group-by attribute but `group`/`group_name` is filterable (the filter field's description).
        filter_fields=tuple(g for g in group_by if g not in ("group", "group_name")),
        conversion_metric=True,
    )


def _segment_report(name: str, series: bool) -> ReportKind:
    suffix = "series" if series else "values"
    return ReportKind(
        name=name,
        path=f"/api/segment-{suffix}-reports",
        type=f"segment-{suffix}-report",
        statistics=SEGMENT_STATISTICS,
        series=series,
        filter_fields=("segment_id",),
        filter_ops=frozenset({"equals", "any"}),
    )


def _form_report(name: str, series: bool) -> ReportKind:
    suffix = "series" if series else "values"
    return ReportKind(
        name=name,
        path=f"/api/form-{suffix}-reports",
        type=f"form-{suffix}-report",
        statistics=FORM_STATISTICS,
        series=series,
        group_by=("form_id", "form_version_id"),
        default_group_by=("form_id",),
        filter_fields=("form_id", "form_version_id"),
        filter_ops=frozenset({"equals", "any"}),
    )


REPORTS: tuple[ReportKind, ...] = (
    _message_report("campaign", "query_campaign_values", series=False),
    _message_report("flow", "query_flow_values", series=False),
    _message_report("flow", "query_flow_series", series=True),
    _segment_report("query_segment_values", series=False),
    _segment_report("query_segment_series", series=True),
    _form_report("query_form_values", series=False),
    _form_report("query_form_series", series=True),
)


@dataclass(frozen=True)
class ReportRequest:
    kind: ReportKind
    statistics: tuple[str, ...]
    start: datetime  # aware, in the account's timezone; the report counts [start, end)
    end: datetime
    interval: str | None = None
    conversion_metric_id: str | None = None
    group_by: tuple[str, ...] = ()
    filters: tuple[Condition, ...] = field(default_factory=tuple)


# ---- the account's clock ------------------------------------------------------------------------------------------


def account_zone(name: str | None) -> tzinfo:
    """The company timezone reports are computed in (UTC if the name is unknown)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _local(zone: tzinfo, year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=zone)


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def _plus_one_year(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year + 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + 1, day=28)


def resolve_timeframe(key: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of a timeframe key, `now` being aware in the company timezone.

    The "last N days" keys are the N whole days before today; the "this ..." keys run up to now; weeks start on
    Monday. (Klaviyo's docs name the keys without defining their bounds; these are the sandbox's reading.)
    """
    zone = now.tzinfo
    assert zone is not None
    today = _local(zone, now.year, now.month, now.day)
    month = _local(zone, now.year, now.month, 1)
    week = today - timedelta(days=today.weekday())

    def months_back(n: int) -> datetime:
        year, mon = _add_months(now.year, now.month, -n)
        return _local(zone, year, mon, 1)

    def days_back(n: int) -> datetime:
        day = today.date() - timedelta(days=n)
        return _local(zone, day.year, day.month, day.day)

    ranges = {
        "today": (today, now),
        "yesterday": (days_back(1), today),
        "this_week": (week, now),
        "last_week": (days_back(today.weekday() + 7), week),
        "this_month": (month, now),
        "last_month": (months_back(1), month),
        "last_3_months": (months_back(3), month),
        "last_12_months": (months_back(12), month),
        "this_year": (_local(zone, now.year, 1, 1), now),
        "last_year": (_local(zone, now.year - 1, 1, 1), _local(zone, now.year, 1, 1)),
        "last_7_days": (days_back(7), today),
        "last_30_days": (days_back(30), today),
        "last_90_days": (days_back(90), today),
        "last_365_days": (days_back(365), today),
    }
    return ranges[key]


def interval_starts(start: datetime, end: datetime, interval: str) -> list[datetime]:
    """The starts of the buckets of a series in the company timezone: `start` truncated to the hour (hourly), the
    day (daily, weekly: 7-day blocks from that day) or the month (monthly), then every interval until `end`.
    Steps are in local wall time, so a day is midnight to midnight across DST changes."""
    zone = start.tzinfo
    assert zone is not None
    out: list[datetime] = []
    if interval == "monthly":
        year, month = start.year, start.month
        while (moment := _local(zone, year, month, 1)) < end:
            out.append(moment)
            year, month = _add_months(year, month, 1)
        return out
    if interval == "hourly":
        step = 0
        # Hours are absolute (UTC arithmetic): a local wall-clock hour may not exist, or happen twice.
        first = start.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        while (moment := (first + timedelta(hours=step)).astimezone(zone)) < end:
            out.append(moment)
            step += 1
        return out
    days = 7 if interval == "weekly" else 1
    day = start.date()
    while (moment := _local(zone, day.year, day.month, day.day)) < end:
        out.append(moment)
        day += timedelta(days=days)
    return out


# ---- bodies -------------------------------------------------------------------------------------------------------

ATTRS = "/data/attributes"


def _obj(value: Any, pointer: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"'{what}' must be an object.", pointer=pointer)
    return value


def _required(attrs: dict[str, Any], key: str) -> Any:
    if attrs.get(key) is None:
        raise invalid(f"'{key}' is required.", pointer=f"{ATTRS}/{key}")
    return attrs[key]


def _statistics(value: Any, kind: ReportKind) -> tuple[str, ...]:
    pointer = f"{ATTRS}/statistics"
    if not isinstance(value, list) or not value:
        raise invalid("'statistics' must be a non-empty list of statistics.", pointer=pointer)
    out: list[str] = []
    for i, stat in enumerate(value):
        if not isinstance(stat, str) or stat not in kind.statistics:
            raise invalid(
                f"'{stat}' is not a valid statistic for the {kind.type}. Valid statistics: "
                f"{', '.join(kind.statistics)}.",
                pointer=f"{pointer}/{i}",
            )
        if stat not in out:
            out.append(stat)
    return tuple(out)


def _custom_time(value: Any, pointer: str, zone: tzinfo) -> datetime:
    name = pointer.rsplit("/", 1)[-1]
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be an ISO 8601 datetime string.", pointer=pointer)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(f"'{value}' is not a valid ISO 8601 datetime for '{name}'.", pointer=pointer) from None
    # OpenAPI (CustomTimeframe): "Offset is ignored and the company timezone is used."
    return parsed.replace(tzinfo=zone)


def _timeframe(value: Any, zone: tzinfo, now: datetime) -> tuple[datetime, datetime]:
    pointer = f"{ATTRS}/timeframe"
    frame = _obj(value, pointer, "timeframe")
    if "key" in frame:
        if set(frame) != {"key"}:
            raise invalid("A timeframe has either a 'key' or a 'start' and an 'end'.", pointer=pointer)
        key = frame["key"]
        if not isinstance(key, str) or key not in TIMEFRAME_KEYS:
            raise invalid(
                f"'{key}' is not a valid timeframe key. Valid keys: {', '.join(TIMEFRAME_KEYS)}.",
                pointer=f"{pointer}/key",
            )
        return resolve_timeframe(key, now.astimezone(zone))
    for name in ("start", "end"):
        if frame.get(name) is None:
            raise invalid(f"'{name}' is required for a custom timeframe.", pointer=f"{pointer}/{name}")
    extra = set(frame) - {"start", "end"}
    if extra:
        name = sorted(extra)[0]
        raise invalid(f"'{name}' is not a valid field of a timeframe.", pointer=f"{pointer}/{name}")
    start = _custom_time(frame["start"], f"{pointer}/start", zone)
    end = _custom_time(frame["end"], f"{pointer}/end", zone)
    if end <= start:
        raise invalid("The timeframe's 'end' must be after its 'start'.", pointer=pointer)
    if end > _plus_one_year(start):
        raise invalid("The timeframe must not be longer than 1 year.", pointer=pointer)
    return start, end


def _interval(value: Any, start: datetime, end: datetime) -> str:
    pointer = f"{ATTRS}/interval"
    if not isinstance(value, str) or value not in INTERVALS:
        raise invalid(f"'{value}' is not a valid interval. Valid intervals: {', '.join(INTERVALS)}.", pointer=pointer)
    limit = INTERVAL_MAX_SPAN.get(value)
    # Both ends share the company timezone, so this is a wall-clock span: a DST change does not make 7 days longer.
    if limit is not None and end - start > limit:
        days = limit.days
        raise invalid(
            f"The timeframe cannot be longer than {days} days when the interval is '{value}'.", pointer=pointer
        )
    return value


def _group_by(value: Any, kind: ReportKind) -> tuple[str, ...]:
    pointer = f"{ATTRS}/group_by"
    if value is None:
        return kind.default_group_by
    if not isinstance(value, list):
        raise invalid("'group_by' must be a list.", pointer=pointer)
    out: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or name not in kind.group_by:
            raise invalid(
                f"'{name}' is not a valid group by for the {kind.type}. Valid values: {', '.join(kind.group_by)}.",
                pointer=f"{pointer}/{i}",
            )
        if name not in out:
            out.append(name)
    missing = [name for name in kind.required_group_by if name not in out]
    if missing:
        raise invalid(
            f"The following group by attributes are required: {', '.join(kind.required_group_by)}.", pointer=pointer
        )
    if "form_version_id" in out and "form_id" not in out:
        raise invalid("Grouping by form_version_id requires grouping by form_id.", pointer=pointer)
    return tuple(out)


def _filters(value: Any, kind: ReportKind) -> tuple[Condition, ...]:
    pointer = f"{ATTRS}/filter"
    if value is None:
        return ()
    if not isinstance(value, str):
        raise invalid("'filter' must be a string.", pointer=pointer)

    def bad(detail: str) -> KlaviyoError:
        return invalid(f"Invalid filter provided: {detail}", pointer=pointer)

    try:
        conditions = parse_filter(value)
    except KlaviyoError as error:  # the query-string parser names the parameter; here the body member
        raise invalid(error.detail, pointer=pointer) from None
    seen: set[str] = set()
    for condition in conditions:
        name, op, operand = condition.field, condition.op, condition.value
        if name not in kind.filter_fields:
            raise bad(f"'{name}' is not a valid filter field. Valid fields: {', '.join(kind.filter_fields)}.")
        allowed = kind.filter_ops
        if kind.conversion_metric:  # campaign and flow reports: operators depend on the attribute
            list_attribute = name in LIST_ATTRIBUTES
            allowed = frozenset({"contains-any", "contains-all"} if list_attribute else {"equals", "contains-any"})
        if op not in allowed:
            raise bad(f"'{op}' is not a supported operator for '{name}'. Supported: {', '.join(sorted(allowed))}.")
        if name in seen:
            raise bad(f"only one filter can be used per attribute ('{name}' is filtered twice).")
        seen.add(name)
        items = operand if isinstance(operand, list) else [operand]
        if op == "equals" and isinstance(operand, list):
            raise bad(f"'equals' takes a single value, not a list ('{name}').")
        if op != "equals" and not isinstance(operand, list):
            raise bad(f'\'{op}\' takes a list of values, e.g. {op}({name},["a","b"]).')
        if not items or len(items) > MAX_FILTER_ITEMS:
            raise bad(f"a list filter takes between 1 and {MAX_FILTER_ITEMS} items ('{name}').")
        for item in items:
            if not isinstance(item, str):
                raise bad(f"values of '{name}' must be quoted strings.")
            if name == "send_channel" and item not in SEND_CHANNELS:
                raise bad(f"'{item}' is not a valid send_channel. Valid values: {', '.join(sorted(SEND_CHANNELS))}.")
    return tuple(conditions)


def parse_report(
    body: Any, kind: ReportKind, *, zone: tzinfo, now: datetime, metric_ids: set[str] | frozenset[str]
) -> ReportRequest:
    """Validate a report request body; `metric_ids` are the account's metrics (for conversion_metric_id)."""
    container = _obj(body, "/data", "body")
    data = _obj(container.get("data"), "/data", "data")
    if data.get("type") != kind.type:
        raise invalid(f"Invalid resource type '{data.get('type')}'; expected '{kind.type}'.", pointer="/data/type")
    attrs = _obj(data.get("attributes"), ATTRS, "attributes")
    for key in attrs:
        if key not in kind.attributes:
            raise invalid(f"'{key}' is not a valid field for the resource '{kind.type}'.", pointer=f"{ATTRS}/{key}")
    statistics = _statistics(_required(attrs, "statistics"), kind)
    start, end = _timeframe(_required(attrs, "timeframe"), zone, now)
    interval = _interval(_required(attrs, "interval"), start, end) if kind.series else None
    metric_id = None
    if kind.conversion_metric:
        metric_id = _required(attrs, "conversion_metric_id")
        if not isinstance(metric_id, str) or metric_id not in metric_ids:
            raise invalid(f"Metric with id '{metric_id}' does not exist.", pointer=f"{ATTRS}/conversion_metric_id")
    group_by = _group_by(attrs.get("group_by"), kind) if kind.group_by else ()
    filters = _filters(attrs.get("filter"), kind)
    return ReportRequest(kind, statistics, start, end, interval, metric_id, group_by, filters)
