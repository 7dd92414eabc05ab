"""The columns of the report streams: every statistic Klaviyo offers for each report, typed, and the columns around
them. The schema files (schemas/reports/*.json) are written from these by tap-klaviyo/scripts/make_report_schemas.py,
and tests/tap/test_reports_schemas.py checks the statistics against the official SDK's enums.

Statistics (klaviyo-api 25.0.0, the `statistics` enum of CampaignValues/FlowValues/FlowSeries/SegmentSeries
RequestDTOResourceObjectAttributes): counts are integers; rates ("returned in fractional form [0.0, 1.0]", the same
docstrings), money (conversion_value, revenue_per_recipient, average_order_value, text_message_spend), text_message_roi
and text_message_credit_usage_amount are numbers.
"""

from __future__ import annotations

import typing as t

INTEGER, NUMBER = "integer", "number"

MESSAGE_STATISTICS: dict[str, str] = {
    "average_order_value": NUMBER,
    "bounce_rate": NUMBER,
    "bounced": INTEGER,
    "bounced_or_failed": INTEGER,
    "bounced_or_failed_rate": NUMBER,
    "click_rate": NUMBER,
    "click_to_open_rate": NUMBER,
    "clicks": INTEGER,
    "clicks_unique": INTEGER,
    "conversion_rate": NUMBER,
    "conversion_uniques": INTEGER,
    "conversion_value": NUMBER,
    "conversions": INTEGER,
    "delivered": INTEGER,
    "delivery_rate": NUMBER,
    "failed": INTEGER,
    "failed_rate": NUMBER,
    "message_segment_count_sum": INTEGER,
    "open_rate": NUMBER,
    "opens": INTEGER,
    "opens_unique": INTEGER,
    "recipients": INTEGER,
    "revenue_per_recipient": NUMBER,
    "spam_complaint_rate": NUMBER,
    "spam_complaints": INTEGER,
    "text_message_credit_usage_amount": NUMBER,
    "text_message_roi": NUMBER,
    "text_message_spend": NUMBER,
    "unsubscribe_rate": NUMBER,
    "unsubscribe_uniques": INTEGER,
    "unsubscribes": INTEGER,
}
SEGMENT_STATISTICS: dict[str, str] = {
    "members_added": INTEGER,
    "members_removed": INTEGER,
    "net_members_changed": INTEGER,
    "total_members": INTEGER,
}

STRING: dict[str, t.Any] = {"type": "string"}
NULLABLE_STRING: dict[str, t.Any] = {"type": ["string", "null"]}
DATE_TIME: dict[str, t.Any] = {"type": ["string", "null"], "format": "date-time"}
DAY: dict[str, t.Any] = {"type": "string", "format": "date"}


def conform(value: t.Any, kind: str) -> t.Any:
    """A statistic as its column's type: Klaviyo's JSON may write a count as 12.0."""
    if kind == INTEGER and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def report_schema(
    groupings: t.Sequence[str], statistics: t.Mapping[str, str], *, series: bool, conversion: bool
) -> dict[str, t.Any]:
    """A report stream's JSON schema: account columns and groupings (the key, required), the day (series) or the
    timeframe (values), the account's timezone, the conversion metric, then every statistic (nullable)."""
    properties: dict[str, t.Any] = {"account_id": STRING, "account_name": STRING}
    properties.update({name: STRING for name in groupings})
    required = [*properties]
    if series:
        properties["day"] = DAY
        required.append("day")
    else:
        properties["timeframe_start"] = DATE_TIME
        properties["timeframe_end"] = DATE_TIME
    properties["timezone"] = NULLABLE_STRING
    if conversion:
        properties["conversion_metric_id"] = NULLABLE_STRING
        properties["conversion_metric_name"] = NULLABLE_STRING
    for name, kind in statistics.items():
        properties[name] = {"type": [kind, "null"]}
    return {"type": "object", "properties": properties, "required": required}
