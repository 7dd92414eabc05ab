"""Klaviyo's Query Metric Aggregates (`POST /api/metric-aggregates`): the request, its validation, the numbers and
the response document, computed from the account's events as GET /api/events serves them.

What the official SDK (klaviyo-api 25.0.0) says, and the sandbox follows:
- the body is `{"data": {"type": "metric-aggregate", "attributes": {...}}}`
  (MetricAggregateQueryResourceObjectAttributes): `metric_id` and `measurements` (`count`, `sum_value`, `unique`)
  and `filter` are required; `interval` (`hour`, `day`, `week`, `month`; default `day`), `page_size` (default 500),
  `by` (an enum of grouping attributes), `timezone` (IANA, case-sensitive; default `UTC`), `sort`, `return_fields`
  and `page_cursor` are optional;
- `filter` is a list of filter expressions that "must include time range": `greater-or-equal(datetime,…)` and
  `less-than(datetime,…)`;
- the answer (PostMetricAggregateResponse, status 200, https://github.com/klaviyo/klaviyo-api-python/pull/39) is
  `{"data": {"type": "metric-aggregate", "id": <ephemeral>, "attributes": {"dates": [...], "data": [{"dimensions":
  [...], "measurements": {name: [one value per date]}}]}, "links": {"self": ...}}}`; the dates are the starts of
  the intervals in the requested timezone, written as UTC instants (`2022-06-01T04:00:00+00:00` for June in
  US/Eastern, in a developer-community answer, topic 8333);
- the rate tier is 3/s 60/m (MetricsApi.query_metric_aggregates docstring).

The sandbox's readings where Klaviyo's documents are silent:
- the range may span at most one year (`MAX_RANGE`; public clients of the endpoint say "Max 1 year per call");
- the first interval starts at the range's start truncated to its hour, day, week (Monday) or month, in the
  timezone; events count from the range's start, so a truncated first interval holds only the events after it;
- `sum_value` sums each event's numeric `$value` property; `unique` counts distinct profiles per interval;
- `by` groups on the attribution properties the generated events carry (`$message`, `$flow`,
  `$attributed_message`, `$attributed_flow`, `$attributed_channel`) and on any other event property of that name;
  an event without it falls in the group "". Without `by`, one row with no dimensions, zeros included;
- besides the time range, `equals` and `any` on the same attributes filter the events;
- groups come sorted by their dimensions; at most `page_size` rows are answered (the response model carries no
  cursor to a next page, so the sandbox has none either).
"""

from __future__ import annotations

import bisect
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .account import Account
from .attribution import attributed_message, message_of
from .errors import KlaviyoError, invalid
from .filters import Condition, parse_filter
from .report_requests import interval_starts
from .reports import event_facts

__all__ = [
    "AGGREGATE_TYPE",
    "BY_ATTRIBUTES",
    "MAX_RANGE",
    "AggregateQuery",
    "aggregate",
    "aggregate_document",
    "parse_aggregate_query",
]

AGGREGATE_TYPE = "metric-aggregate"
MEASUREMENTS = ("count", "sum_value", "unique")
# MetricAggregateQueryResourceObjectAttributes.interval -> report_requests.interval_starts' name for it
INTERVALS = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}
ATTRIBUTES = frozenset(
    {"metric_id", "page_cursor", "measurements", "interval", "page_size", "by", "return_fields", "filter"}
    | {"timezone", "sort"}
)
# The SDK's enum for `by` (and, with a leading "-" or a measurement, for `sort`).
BY_ATTRIBUTES = frozenset(
    {
        "$attributed_channel",
        "$attributed_flow",
        "$attributed_message",
        "$attributed_variation",
        "$campaign_channel",
        "$flow",
        "$flow_channel",
        "$message",
        "$message_send_cohort",
        "$usage_amount",
        "$value_currency",
        "$variation",
        "$variation_send_cohort",
        "Bot Click",
        "Bounce Type",
        "Campaign Name",
        "Client Canonical",
        "Client Name",
        "Client Type",
        "Email Domain",
        "Failure Source",
        "Failure Type",
        "From Number",
        "From Phone Region",
        "Inbox Provider",
        "List",
        "Message Format",
        "Message Name",
        "Message Type",
        "Method",
        "Segment Count",
        "Subject",
        "To Number",
        "To Phone Region",
        "URL",
        "form_id",
    }
)
SORTS = frozenset({*BY_ATTRIBUTES, *MEASUREMENTS}) | {f"-{name}" for name in (*BY_ATTRIBUTES, *MEASUREMENTS)}
MAX_RANGE = timedelta(days=366)
DEFAULT_PAGE_SIZE = 500
ATTRS = "/data/attributes"


@dataclass(frozen=True)
class AggregateQuery:
    """A validated metric-aggregate request."""

    metric_id: str
    measurements: tuple[str, ...]
    interval: str  # hour, day, week, month
    start: datetime  # aware, in `zone`
    end: datetime  # aware, in `zone`
    zone: tzinfo
    by: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()  # equals/any on `by` attributes
    page_size: int = DEFAULT_PAGE_SIZE
    sort: str | None = None


# ---- the request ---------------------------------------------------------------------------------------------------


def _bad(detail: str, key: str | None = None) -> KlaviyoError:
    return invalid(detail, pointer=f"{ATTRS}/{key}" if key else "/data")


def _strings(value: Any, key: str, *, allowed: Iterable[str] | None = None, empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _bad(f"'{key}' must be a list of strings.", key)
    if not value and not empty:
        raise _bad(f"'{key}' must not be empty.", key)
    if allowed is not None:
        allowed = frozenset(allowed)
        for item in value:
            if item not in allowed:
                raise _bad(
                    f"'{item}' is not a valid value for '{key}'. Valid values: {', '.join(sorted(allowed))}.", key
                )
    return tuple(dict.fromkeys(value))


def _zone(value: Any) -> tzinfo:
    if value is None:
        return UTC
    if not isinstance(value, str) or not value:
        raise _bad("'timezone' must be an IANA time zone name, e.g. 'America/New_York'.", "timezone")
    try:
        # Case-sensitive, as the SDK's field description says; ZoneInfo would accept other cases on some systems.
        zone = ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None or str(zone) != value:
        raise _bad(f"'{value}' is not a valid timezone.", "timezone")
    return zone


def _time_range(conditions: list[Condition]) -> tuple[datetime, datetime, tuple[Condition, ...]]:
    """The [start, end) the `datetime` conditions give, and the other conditions."""
    starts = [c.value for c in conditions if c.field == "datetime" and c.op == "greater-or-equal"]
    ends = [c.value for c in conditions if c.field == "datetime" and c.op == "less-than"]
    others = tuple(c for c in conditions if c.field != "datetime")
    for condition in conditions:
        if condition.field == "datetime" and condition.op not in ("greater-or-equal", "less-than"):
            raise _bad(
                f"'{condition.op}' is not supported for 'datetime'; give the time range with "
                "greater-or-equal(datetime,...) and less-than(datetime,...).",
                "filter",
            )
        if condition.field == "datetime" and not isinstance(condition.value, datetime):
            raise _bad("'datetime' filters take an unquoted ISO 8601 datetime.", "filter")
    if len(starts) != 1 or len(ends) != 1:
        raise _bad(
            "The filter must include one time range: greater-or-equal(datetime,...) and less-than(datetime,...).",
            "filter",
        )
    start, end = starts[0], ends[0]
    if end <= start:
        raise _bad("The time range's end must be after its start.", "filter")
    if end - start > MAX_RANGE:
        raise _bad(f"The time range can span at most one year ({MAX_RANGE.days} days).", "filter")
    for other in others:
        if other.field not in BY_ATTRIBUTES or other.op not in ("equals", "any"):
            raise _bad(
                f"'{other.op}({other.field},...)' is not a supported filter; "
                "use equals or any on a grouping attribute.",
                "filter",
            )
    return start, end, others


def parse_aggregate_query(body: Any, metric_ids: set[str] | frozenset[str]) -> AggregateQuery:
    """Validate a metric-aggregate request body against the account's metrics; Klaviyo's 400s otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise invalid("The request body must be a JSON object with 'data'.", pointer="/data")
    data = body["data"]
    if data.get("type") != AGGREGATE_TYPE:
        raise invalid(f"Invalid resource type '{data.get('type')}'; expected '{AGGREGATE_TYPE}'.", pointer="/data/type")
    attrs = data.get("attributes")
    if not isinstance(attrs, dict):
        raise invalid("'attributes' must be an object.", pointer=ATTRS)
    for key in attrs:
        if key not in ATTRIBUTES:
            raise _bad(f"'{key}' is not a valid field for the resource '{AGGREGATE_TYPE}'.", key)
    for key in ("metric_id", "measurements", "filter"):
        if attrs.get(key) is None:
            raise _bad(f"'{key}' is required.", key)
    metric_id = attrs["metric_id"]
    if not isinstance(metric_id, str):
        raise _bad("'metric_id' must be a string.", "metric_id")
    if metric_id not in metric_ids:
        raise _bad(f"Metric with id '{metric_id}' does not exist.", "metric_id")
    measurements = _strings(attrs["measurements"], "measurements", allowed=MEASUREMENTS)
    interval = attrs.get("interval") or "day"
    if interval not in INTERVALS:
        raise _bad(f"'{interval}' is not a valid interval. Valid values: {', '.join(INTERVALS)}.", "interval")
    zone = _zone(attrs.get("timezone"))
    conditions: list[Condition] = []
    for text in _strings(attrs["filter"], "filter"):
        conditions += parse_filter(text)  # a malformed expression: Klaviyo's filter syntax error
    start, end, others = _time_range(conditions)
    by = _strings(attrs["by"], "by", allowed=BY_ATTRIBUTES, empty=True) if attrs.get("by") is not None else ()
    page_size = attrs.get("page_size", DEFAULT_PAGE_SIZE)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise _bad("'page_size' must be a positive integer.", "page_size")
    sort = attrs.get("sort")
    if sort is not None and sort not in SORTS:
        raise _bad(f"'{sort}' is not a valid sort.", "sort")
    return AggregateQuery(
        metric_id,
        measurements,
        interval,
        start.astimezone(zone),
        end.astimezone(zone),
        zone,
        by,
        others,
        page_size,
        sort,
    )


# ---- the numbers ---------------------------------------------------------------------------------------------------


def dimension(name: str, properties: dict[str, Any]) -> str:
    """The value an event shows for a grouping attribute ("" when it has none)."""
    found = properties.get("$attribution")
    attribution: dict[str, Any] = found if isinstance(found, dict) else {}
    if name == "$message":
        return message_of(properties)
    if name == "$attributed_message":
        return attributed_message(properties)
    if name in ("$attributed_flow", "$attributed_channel"):
        key = "$flow" if name == "$attributed_flow" else name
        return str(attribution.get(key) or "")
    value = properties.get(name)
    return "" if value is None or isinstance(value, dict | list) else str(value)


def _kept(query: AggregateQuery, properties: dict[str, Any]) -> bool:
    for condition in query.conditions:
        value = dimension(condition.field, properties)
        wanted = condition.value if isinstance(condition.value, list) else [condition.value]
        if value not in [str(w) for w in wanted]:
            return False
    return True


@dataclass
class _Group:
    count: list[int]
    value: list[float]
    profiles: list[set[str]]


def aggregate(
    account: Account, query: AggregateQuery
) -> tuple[list[datetime], list[tuple[list[str], dict[str, list[Any]]]]]:
    """The interval starts and the rows (dimensions, measurements) of `query` over the account's events as reads
    see them: late events not yet visible and deleted profiles' events are not counted."""
    first = query.start
    if query.interval == "week":  # weeks start on Monday
        first = query.start - timedelta(days=query.start.weekday())
    starts = interval_starts(first, query.end, INTERVALS[query.interval])
    bounds = [max(s.timestamp(), query.start.timestamp()) for s in starts] + [query.end.timestamp()]
    n = len(starts)
    groups: dict[tuple[str, ...], _Group] = {}

    def group(key: tuple[str, ...]) -> _Group:
        found = groups.get(key)
        if found is None:
            found = groups[key] = _Group([0] * n, [0.0] * n, [set() for _ in range(n)])
        return found

    if not query.by:
        group(())  # one row even when nothing happened
    for t, _, profile_id, properties in event_facts(account, bounds[0], bounds[-1], {query.metric_id}):
        if query.conditions and not _kept(query, properties):
            continue
        k = bisect.bisect_right(bounds, t) - 1  # bounds[k] <= t < bounds[k + 1]
        found = group(tuple(dimension(name, properties) for name in query.by))
        found.count[k] += 1
        amount = properties.get("$value")
        if isinstance(amount, int | float) and not isinstance(amount, bool) and math.isfinite(amount):
            found.value[k] += amount
        found.profiles[k].add(profile_id)
    rows = []
    for dims, totals in groups.items():
        measured: dict[str, list[Any]] = {}
        for name in query.measurements:
            if name == "count":
                measured[name] = list(totals.count)
            elif name == "sum_value":
                measured[name] = [round(v, 2) for v in totals.value]
            else:
                measured[name] = [len(p) for p in totals.profiles]
        rows.append((list(dims), measured))
    rows.sort(key=lambda row: row[0])
    if query.sort:
        key = query.sort.lstrip("-")
        if key in query.measurements:
            rows.sort(key=lambda row: sum(row[1][key]), reverse=query.sort.startswith("-"))
        elif key in query.by:
            rows.sort(key=lambda row: row[0][query.by.index(key)], reverse=query.sort.startswith("-"))
    return starts, rows[: query.page_size]


def aggregate_document(
    query: AggregateQuery,
    starts: list[datetime],
    rows: list[tuple[list[str], dict[str, list[Any]]]],
    self_link: str,
    fields: set[str] | None = None,
) -> dict[str, Any]:
    """PostMetricAggregateResponse; `fields` is `fields[metric-aggregate]` (None: every attribute)."""
    attributes: dict[str, Any] = {
        "dates": [s.astimezone(UTC).isoformat() for s in starts],
        "data": [{"dimensions": dims, "measurements": measured} for dims, measured in rows],
    }
    if fields is not None:
        attributes = {key: value for key, value in attributes.items() if key in fields}
    ephemeral = str(uuid.uuid4().int >> 66)  # Klaviyo's ids of these answers are large decimal numbers
    return {
        "data": {"type": AGGREGATE_TYPE, "id": ephemeral, "attributes": attributes, "links": {"self": self_link}},
        "links": {"self": self_link},
    }
