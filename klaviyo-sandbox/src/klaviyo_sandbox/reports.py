"""The Reporting API's numbers, computed from the account's own events and members, and the response documents.

Campaign and flow reports count the events served by GET /api/events whose datetime is in the timeframe (and, for
a series, in the interval), per message, by the attribution in their properties (attribution.py):

- delivered = recipients: Received Email / Received SMS events naming the message in `$message`
- opens, opens_unique: Opened Email events (all, distinct profiles); clicks, clicks_unique: Clicked Email/SMS
- conversions, conversion_uniques, conversion_value: events of the conversion metric whose `$attribution.$message`
  is the message (count, distinct profiles, sum of `$value` rounded to cents)
- rates: open_rate = opens_unique / delivered, click_rate = clicks_unique / delivered, click_to_open_rate =
  clicks_unique / opens_unique, conversion_rate = conversion_uniques / delivered, delivery_rate = delivered /
  recipients, revenue_per_recipient = conversion_value / delivered, average_order_value = conversion_value /
  conversions; 0.0 when the denominator is 0 (fractions in [0, 1], as the SDK's field description says)
- message_segment_count_sum and text_message_credit_usage_amount: one segment, one credit per delivered SMS
- always 0: bounced, bounce_rate, failed, failed_rate, bounced_or_failed(_rate), spam_complaints(_rate),
  unsubscribes, unsubscribe_uniques, unsubscribe_rate, text_message_spend, text_message_roi: the sandbox has no
  bounce, spam, unsubscribe or SMS-cost metrics.

A row exists for each message with at least one counted event in the timeframe. Segment reports count members by
`joined_group_at`; form reports are empty (the sandbox has no forms).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .account import Account, AccountState
from .attribution import MESSAGE_METRICS, attributed_message, message_of
from .event_pages import event_draws
from .filters import Condition
from .metric_renames import original_name
from .report_requests import ReportRequest, interval_starts
from .tables import LazyTable, Record, Table

__all__ = ["MessageInfo", "build_report", "event_facts", "members_joined_before", "message_catalogue"]

SEND_CHANNEL = {"email": "email", "sms": "sms", "mobile_push": "push-notification"}
ZERO_STATISTICS = frozenset(
    {
        "bounced",
        "bounce_rate",
        "failed",
        "failed_rate",
        "bounced_or_failed",
        "bounced_or_failed_rate",
        "spam_complaints",
        "spam_complaint_rate",
        "unsubscribes",
        "unsubscribe_uniques",
        "unsubscribe_rate",
        "text_message_spend",
        "text_message_roi",
    }
)


@dataclass(frozen=True)
class MessageInfo:
    """A campaign or flow message as a report groups and filters it."""

    parent_id: str  # campaign id or flow id
    channel: str  # send_channel: email, sms, push-notification
    attributes: dict[str, str | None]  # scalar group-by attributes
    tags: tuple[tuple[str, str], ...]  # (tag id, tag name) of the campaign or flow


def message_catalogue(acc: AccountState, kind: str) -> dict[str, MessageInfo]:
    """message id -> MessageInfo, for `kind` "campaign" or "flow"."""
    tag_names = {tid: tag["k"]["name"] for tid, tag in acc.tags.records.items()}

    def tags_of(record: Record) -> tuple[tuple[str, str], ...]:
        return tuple((tid, tag_names.get(tid, "")) for tid in record["rel"].get("tags", []))

    out: dict[str, MessageInfo] = {}
    if kind == "campaign":
        for message in acc.campaign_messages.records.values():
            campaign = acc.campaigns.get(message["rel"]["campaign"])
            if campaign is None:
                continue
            channel = SEND_CHANNEL.get(message["f"]["channel"], message["f"]["channel"])
            attributes = {
                "campaign_id": campaign["id"],
                "campaign_message_id": message["id"],
                "campaign_message_name": message["f"]["name"],
                "send_channel": channel,
            }
            out[message["id"]] = MessageInfo(campaign["id"], channel, attributes, tags_of(campaign))
        return out
    for message in acc.flow_messages.records.values():
        action = acc.flow_actions.get(message["rel"]["flow-action"])
        flow = acc.flows.get(action["rel"]["flow"]) if action else None
        if flow is None:
            continue
        channel = SEND_CHANNEL.get(message["attributes"]["channel"], message["attributes"]["channel"])
        attributes = {
            "flow_id": flow["id"],
            "flow_message_id": message["id"],
            "flow_message_name": message["f"]["name"],
            "flow_name": flow["attributes"]["name"],
            "send_channel": channel,
        }
        out[message["id"]] = MessageInfo(flow["id"], channel, attributes, tags_of(flow))
    return out


# ---- filters and groupings --------------------------------------------------------------------------------------


def _matches(info: MessageInfo, condition: Condition) -> bool:
    if condition.field in ("tag_id", "tag_name"):
        have = {tid if condition.field == "tag_id" else name for tid, name in info.tags}
        wanted = set(condition.value)
        return bool(have & wanted) if condition.op == "contains-any" else wanted <= have
    value = info.attributes.get(condition.field)  # variation, text_message_format ...: None, matches nothing
    wanted_values: list[Any] = condition.value if isinstance(condition.value, list) else [condition.value]
    return value is not None and value in wanted_values


def _groupings(info: MessageInfo, group_by: tuple[str, ...]) -> list[dict[str, Any]]:
    """The result rows' groupings of one message: one per tag when grouped by tag_id or tag_name."""
    by_tag = "tag_id" in group_by or "tag_name" in group_by
    tags: list[tuple[str | None, str | None]] = list(info.tags) if by_tag and info.tags else [(None, None)]
    rows = []
    for tag_id, tag_name in tags:
        row: dict[str, Any] = {}
        for name in group_by:
            if name == "tag_id":
                row[name] = tag_id
            elif name == "tag_name":
                row[name] = tag_name
            else:
                # group, group_name, variation, variation_name, text_message_format: the sandbox has no A/B
                # tests, audience groups or MMS, so these are null.
                row[name] = info.attributes.get(name)
        rows.append(row)
    return rows


# ---- counting events ----------------------------------------------------------------------------------------------


@dataclass
class Counts:
    """What one message did in one bucket of time."""

    delivered: int = 0
    opens: int = 0
    clicks: int = 0
    conversions: int = 0
    value: float = 0.0
    openers: set[str] = field(default_factory=set)
    clickers: set[str] = field(default_factory=set)
    converters: set[str] = field(default_factory=set)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def statistic(name: str, c: Counts, channel: str) -> int | float:
    value = round(c.value, 2)
    derived: dict[str, Callable[[], int | float]] = {
        "recipients": lambda: c.delivered,
        "delivered": lambda: c.delivered,
        "delivery_rate": lambda: _ratio(c.delivered, c.delivered),
        "opens": lambda: c.opens,
        "opens_unique": lambda: len(c.openers),
        "open_rate": lambda: _ratio(len(c.openers), c.delivered),
        "clicks": lambda: c.clicks,
        "clicks_unique": lambda: len(c.clickers),
        "click_rate": lambda: _ratio(len(c.clickers), c.delivered),
        "click_to_open_rate": lambda: _ratio(len(c.clickers), len(c.openers)),
        "conversions": lambda: c.conversions,
        "conversion_uniques": lambda: len(c.converters),
        "conversion_value": lambda: value,
        "conversion_rate": lambda: _ratio(len(c.converters), c.delivered),
        "revenue_per_recipient": lambda: _ratio(value, c.delivered),
        "average_order_value": lambda: _ratio(value, c.conversions),
        "message_segment_count_sum": lambda: c.delivered if channel == "sms" else 0,
        "text_message_credit_usage_amount": lambda: c.delivered if channel == "sms" else 0,
    }
    if name in derived:
        return derived[name]()
    if name in ZERO_STATISTICS:
        return 0.0 if name.endswith(("_rate", "_spend", "_roi")) else 0
    raise KeyError(name)


# One event as a report sees it: (datetime, metric id, profile id, event properties).
Fact = tuple[float, str, str, dict[str, Any]]
_CHUNK = 1 << 16  # generated events drawn per numpy pass


def event_facts(account: Account, lo: float, hi: float, metric_ids: set[str]) -> Iterator[Fact]:
    """The events of metrics `metric_ids` that GET /api/events serves with lo <= datetime < hi.

    Generated events are drawn as arrays (event_pages.event_draws) and only those of the wanted metrics get their
    properties built: a year of a million-event account costs well under a second, not the seconds whole
    records would. Written events (and the generated ones they replace) come from the table's overlay."""
    data, events = account.data, account.state.events
    key = events.keys["datetime"]
    first = bisect.bisect_left(range(events.n), lo, key=key)
    last = bisect.bisect_left(range(events.n), hi, key=key)
    wanted = np.array([m for m, mid in enumerate(data.metric_ids) if mid in metric_ids], dtype=np.int64)
    for start in range(first, last, _CHUNK):
        idx = np.arange(start, min(start + _CHUNK, last), dtype=np.uint64)
        h, t, metrics, profiles = event_draws(data, idx)
        for k in np.nonzero(np.isin(metrics, wanted))[0].tolist():
            i = int(idx[k])
            if i in events.hidden:
                continue
            m = int(metrics[k])
            props = data.event_properties(i, int(h[k]), m, float(t[k]))
            yield float(t[k]), data.metric_ids[m], data.profile_id(int(profiles[k])), props
    for record in list(events.overlay.records.values()):
        if lo <= record["k"]["datetime"] < hi and record["rel"]["metric"] in metric_ids:
            yield _fact(record)


def _fact(record: Record) -> Fact:
    props = record["attributes"]["event_properties"] or {}
    return record["k"]["datetime"], record["rel"]["metric"], record["rel"]["profile"], props


def _message_counts(
    acc: Account, request: ReportRequest, messages: dict[str, MessageInfo], bounds: list[float]
) -> dict[tuple[str, int], Counts]:
    """(message id, bucket index) -> Counts, for buckets [bounds[k], bounds[k+1])."""
    # by the name each metric was generated with: Klaviyo's reports count a renamed metric as before
    roles = {
        mid: MESSAGE_METRICS[original_name(metric["attributes"]["name"])]
        for mid, metric in acc.state.metrics.records.items()
        if original_name(metric["attributes"]["name"]) in MESSAGE_METRICS
    }
    wanted = set(roles) | ({request.conversion_metric_id} if request.conversion_metric_id else set())
    counts: dict[tuple[str, int], Counts] = {}
    for t, metric_id, profile_id, props in event_facts(acc, bounds[0], bounds[-1], wanted):
        bucket = bisect.bisect_right(bounds, t) - 1
        role = roles.get(metric_id)
        if role is not None:
            message_id = message_of(props)
            if message_id in messages:
                c = counts.setdefault((message_id, bucket), Counts())
                if role[1] == "delivered":
                    c.delivered += 1
                elif role[1] == "opens":
                    c.opens += 1
                    c.openers.add(profile_id)
                else:
                    c.clicks += 1
                    c.clickers.add(profile_id)
        if metric_id == request.conversion_metric_id:
            message_id = attributed_message(props)
            if message_id in messages:
                c = counts.setdefault((message_id, bucket), Counts())
                c.conversions += 1
                c.converters.add(profile_id)
                amount = props.get("$value")
                if isinstance(amount, int | float) and not isinstance(amount, bool):
                    c.value += amount
    return counts


# ---- segment members ----------------------------------------------------------------------------------------------


def members_joined_before(table: Table, moments: list[float]) -> list[int]:
    """For each moment, the members served by GET /segments/{id}/profiles whose joined_group_at < moment."""
    if isinstance(table, LazyTable) and "joined_group_at" in table.keys:
        # Generated members join in index order: a binary search instead of a scan of every member.
        key = table.keys["joined_group_at"]
        hidden = sorted(key(i) for i in table.hidden)
        written = sorted(r["k"]["joined_group_at"] for r in table.overlay.records.values())
        generated = range(table.n)
        return [
            bisect.bisect_left(generated, m, key=key) - bisect.bisect_left(hidden, m) + bisect.bisect_left(written, m)
            for m in moments
        ]
    joined = sorted(r["k"]["joined_group_at"] for _, r in table.scan("joined_group_at", False, None, None, None))
    return [bisect.bisect_left(joined, m) for m in moments]


# ---- documents ----------------------------------------------------------------------------------------------------


def _bounds(request: ReportRequest) -> tuple[list[str], list[float]]:
    """The series' date_times and the bucket bounds as timestamps (one bucket for a values report)."""
    if request.interval is None:
        return [], [request.start.timestamp(), request.end.timestamp()]
    starts = interval_starts(request.start, request.end, request.interval)
    bounds = [max(s.timestamp(), request.start.timestamp()) for s in starts] + [request.end.timestamp()]
    return [s.isoformat() for s in starts], bounds


def _message_results(
    acc: Account, request: ReportRequest, n_buckets: int, bounds: list[float]
) -> tuple[list[dict[str, Any]], list[MessageInfo], list[str]]:
    kind = "campaign" if request.kind.type.startswith("campaign") else "flow"
    messages = {
        mid: info
        for mid, info in message_catalogue(acc.state, kind).items()
        if all(_matches(info, condition) for condition in request.filters)
    }
    counts = _message_counts(acc, request, messages, bounds)
    active = sorted({mid for mid, _ in counts}, key=lambda mid: (messages[mid].parent_id, mid))
    results = []
    for mid in active:
        info = messages[mid]
        per_bucket = [counts.get((mid, k)) or Counts() for k in range(n_buckets)]
        stats: dict[str, Any] = {}
        for name in request.statistics:
            values = [statistic(name, c, info.channel) for c in per_bucket]
            stats[name] = values if request.interval is not None else values[0]
        for grouping in _groupings(info, request.group_by):
            results.append({"groupings": grouping, "statistics": dict(stats)})
    return results, [messages[mid] for mid in active], active


def _segment_results(acc: AccountState, request: ReportRequest, bounds: list[float]) -> list[dict[str, Any]]:
    results = []
    for segment_id in acc.segments.records:
        if not all(segment_id == c.value if c.op == "equals" else segment_id in c.value for c in request.filters):
            continue
        table = acc.members.get(("segment", segment_id))
        before = members_joined_before(table, bounds) if table is not None else [0] * len(bounds)
        added = [before[k + 1] - before[k] for k in range(len(bounds) - 1)]
        series: dict[str, list[int]] = {
            "members_added": added,
            # The sandbox keeps no removal history: members leave no trace to count.
            "members_removed": [0] * len(added),
            "net_members_changed": added,
            "total_members": before[1:],
        }
        stats: dict[str, Any] = {
            name: series[name] if request.interval is not None else series[name][0] for name in request.statistics
        }
        results.append({"groupings": {"segment_id": segment_id}, "statistics": stats})
    return results


def build_report(acc: Account, request: ReportRequest, self_link: str) -> dict[str, Any]:
    """The response document of a report request, shaped as the SDK's Post*ResponseDTO models."""
    date_times, bounds = _bounds(request)
    n_buckets = len(bounds) - 1
    data: dict[str, Any] = {"type": request.kind.type, "attributes": {}}
    prefix = request.kind.type.split("-", 1)[0]
    if prefix in ("campaign", "flow"):
        results, infos, message_ids = _message_results(acc, request, n_buckets, bounds)
        parents = list(dict.fromkeys(info.parent_id for info in infos))
        if prefix == "campaign":
            data["relationships"] = {"campaigns": {"data": [{"type": "campaign", "id": i} for i in parents]}}
        else:
            data["relationships"] = {
                "flows": {"data": [{"type": "flow", "id": i} for i in parents]},
                "flow-messages": {"data": [{"type": "flow-message", "id": i} for i in message_ids]},
            }
    elif prefix == "segment":
        results = _segment_results(acc.state, request, bounds)
    else:
        results = []  # forms: the sandbox has none
    data["attributes"]["results"] = results
    if request.interval is not None:
        data["attributes"]["date_times"] = date_times
    return {"data": data, "links": {"self": self_link}}
