"""An event's Klaviyo attribution as columns of its row.

`GET /api/events?include=attributions` names an attributed event's attribution in
`relationships.attributions.data` (the row's `attribution_ids`) and side-loads it in `included`: a resource of type
`attribution` with no attributes, whose relationships name the event, the open or click that earned the credit
(`attributed-event`), and the campaign and campaign message, or the flow, flow message and flow message variation
(AttributionResponseObjectResource in klaviyo/openapi, openapi/stable/apis/get_events.json). Deeper includes are not
offered, so ids are what one request gives; names come from the campaigns and flows streams.

Every events row gets every column (None for an organic event), so a page's rows share one shape. Klaviyo credits
a conversion to one message; should an event ever name several attributions, the first one's ids are the columns
and `attribution_ids` keeps them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .flatten import Ref, Resource

# relationship of the attribution -> the events row's column
ATTRIBUTION_COLUMNS: dict[str, str] = {
    "campaign": "attributed_campaign_id",
    "campaign-message": "attributed_campaign_message_id",
    "flow": "attributed_flow_id",
    "flow-message": "attributed_flow_message_id",
    "flow-message-variation": "attributed_flow_message_variation_id",
    "attributed-event": "attributed_event_id",
}
_ORGANIC: dict[str, str | None] = dict.fromkeys(ATTRIBUTION_COLUMNS.values())


def attribution_index(included: Iterable[Resource]) -> dict[str, dict[str, str | None]]:
    """A page's included attributions as the columns each gives, by the attribution's id."""
    index: dict[str, dict[str, str | None]] = {}
    for resource in included:
        if resource.type != "attribution":
            continue
        columns = dict(_ORGANIC)
        for name, relationship in resource.relationships.items():
            if name in ATTRIBUTION_COLUMNS and isinstance(relationship.data, Ref):
                columns[ATTRIBUTION_COLUMNS[name]] = relationship.data.id
        index[resource.id] = columns
    return index


def add_attribution(row: dict[str, Any], index: dict[str, dict[str, str | None]]) -> dict[str, Any]:
    """`row` with the attribution columns of its first attribution found in `index` (None when there is none)."""
    for attribution_id in row.get("attribution_ids") or ():
        found = index.get(attribution_id)
        if found is not None:
            row.update(found)
            return row
    row.update(_ORGANIC)
    return row
