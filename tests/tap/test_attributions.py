"""tap_klaviyo.attributions: a page's included attributions as columns of its events rows, on pages shaped as
Klaviyo's OpenAPI document shapes them (the sandbox never renders `attributed-event` or a variation)."""

from __future__ import annotations

from tap_klaviyo.attributions import ATTRIBUTION_COLUMNS, add_attribution, attribution_index
from tap_klaviyo.flatten import as_resource


def attribution(aid: str, **related: str) -> dict:
    return {
        "type": "attribution",
        "id": aid,
        "attributes": {},
        "relationships": {
            name.replace("_", "-"): {"data": {"type": name.replace("_", "-"), "id": rid}, "links": {}}
            for name, rid in related.items()
        },
    }


INCLUDED = [
    as_resource(r)
    for r in (
        attribution(
            "a1", event="e1", attributed_event="open1", flow="F", flow_message="FM", flow_message_variation="V"
        ),
        attribution("a2", event="e2", campaign="C", campaign_message="CM"),
        {"type": "metric", "id": "m1", "attributes": {"name": "Placed Order"}},
    )
]


def test_a_flow_attribution_gives_every_id_it_names() -> None:
    row = add_attribution({"id": "e1", "attribution_ids": ["a1"]}, attribution_index(INCLUDED))
    assert row == {
        "id": "e1",
        "attribution_ids": ["a1"],
        "attributed_campaign_id": None,
        "attributed_campaign_message_id": None,
        "attributed_flow_id": "F",
        "attributed_flow_message_id": "FM",
        "attributed_flow_message_variation_id": "V",
        "attributed_event_id": "open1",
    }


def test_organic_and_unknown_attributions_give_every_column_empty() -> None:
    index = attribution_index(INCLUDED)
    for ids in ([], None, ["not-included"]):
        row = add_attribution({"id": "e3", "attribution_ids": ids}, index)
        assert {c: row[c] for c in ATTRIBUTION_COLUMNS.values()} == dict.fromkeys(ATTRIBUTION_COLUMNS.values())


def test_the_first_attribution_found_wins() -> None:
    row = add_attribution({"id": "e9", "attribution_ids": ["gone", "a2", "a1"]}, attribution_index(INCLUDED))
    assert (row["attributed_campaign_id"], row["attributed_campaign_message_id"], row["attributed_flow_id"]) == (
        "C",
        "CM",
        None,
    )
