"""The mapping config: the old package's format translated, payload shapes, and what a mapping must say."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from target_klaviyo.mapping import MappingError, Mappings, RowMapper, legacy_event, legacy_profile
from target_klaviyo.validate import Invalid, ValueChecks

CHECKS = ValueChecks(UTC, "US", now=datetime(2026, 1, 1, tzinfo=UTC))


def mapper(config: dict, columns: list[str], stream: str = "s") -> RowMapper:
    return RowMapper(stream, Mappings(config).for_stream(stream), CHECKS, columns)


def test_old_event_mapping_translated():
    old = {
        "event": "Placed Order",
        "customer_properties": {"$email": "EMAIL", "$first_name": "FIRST", "$city": "CITY", "Tier": "TIER"},
        "properties": {"$event_id": "ORDER_ID", "$value": "TOTAL", "OrderType": "TYPE"},
        "time": "DATE",
    }
    assert legacy_event(old, "event_mapping") == {
        "metric": "Placed Order",
        "profile": {
            "email": "EMAIL",
            "first_name": "FIRST",
            "location": {"city": "CITY"},
            "properties": {"Tier": "TIER"},
        },
        "unique_id": "ORDER_ID",
        "value": "TOTAL",
        "time": "DATE",
        "properties": {"OrderType": "TYPE"},
    }
    assert legacy_profile(
        {"properties": {"$email": "E", "$id": "ID", "$zip": "Z", "$phone_number": "P", "Plan": "PLAN"}},
        "profile_mapping",
    ) == {
        "email": "E",
        "external_id": "ID",
        "phone_number": "P",
        "location": {"zip": "Z"},
        "properties": {"Plan": "PLAN"},
    }


def test_event_payload_shape_and_empty_cells_left_out():
    config = {
        "mappings": {
            "s": {
                "event": {
                    "metric": "Viewed",
                    "profile": {"email": "e", "external_id": "id"},
                    "time": "t",
                    "value": "v",
                    "properties": {"Page": "p", "Ref": "r"},
                }
            }
        }
    }
    row = mapper(config, ["e", "id", "t", "v", "p", "r"])
    payload = row.event(
        {"e": " ann@example.com ", "id": "", "t": "2024-01-02T03:04:05Z", "v": "7", "p": "/home", "r": ""}
    )
    attributes = payload["attributes"]
    assert attributes["profile"] == {"data": {"type": "profile", "attributes": {"email": "ann@example.com"}}}
    [event] = attributes["events"]["data"]
    assert event["attributes"]["metric"] == {"data": {"type": "metric", "attributes": {"name": "Viewed"}}}
    assert event["attributes"]["properties"] == {"Page": "/home"}
    assert event["attributes"]["time"] == "2024-01-02T03:04:05+00:00"
    assert event["attributes"]["value"] == 7.0
    assert len(event["attributes"]["unique_id"]) == 40
    # The id is the content's: the same row gives it again, another row another.
    again = row.event({"e": "ann@example.com", "id": None, "t": "2024-01-02 03:04:05", "v": "7.0", "p": "/home"})
    assert again["attributes"]["events"]["data"][0]["attributes"]["unique_id"] == event["attributes"]["unique_id"]
    other = row.event({"e": "ann@example.com", "t": "2024-01-02T03:04:05Z", "v": "7", "p": "/cart"})
    assert other["attributes"]["events"]["data"][0]["attributes"]["unique_id"] != event["attributes"]["unique_id"]


def test_all_other_columns_as_properties():
    config = {"mappings": {"s": {"profile": {"email": "mail", "first_name": "first", "properties": "*"}}}}
    row = mapper(config, ["mail", "first", "plan", "score", "_sdc_extracted_at", "_sdc_row_number"])
    payload = row.profile({"mail": "a@b.co", "first": "A", "plan": "gold", "score": "", "_sdc_row_number": 4})
    assert payload == {
        "type": "profile",
        "attributes": {"email": "a@b.co", "first_name": "A", "properties": {"plan": "gold"}},
    }


def test_metric_from_a_column():
    config = {"mappings": {"s": {"event": {"metric_column": "kind", "profile": {"phone_number": "tel"}}}}}
    row = mapper(config, ["kind", "tel"])
    payload = row.event({"kind": "Refunded", "tel": "+44 20 7946 0958"})
    assert payload["attributes"]["profile"]["data"]["attributes"] == {"phone_number": "+442079460958"}
    assert (
        payload["attributes"]["events"]["data"][0]["attributes"]["metric"]["data"]["attributes"]["name"] == "Refunded"
    )
    with pytest.raises(Invalid, match="kind: no metric name"):
        row.event({"kind": " ", "tel": "+442079460958"})
    with pytest.raises(Invalid, match="metric name is 200 characters"):
        row.event({"kind": "x" * 200, "tel": "+442079460958"})


def test_event_reuses_the_stream_profile_identifiers():
    config = {"mappings": {"s": {"profile": {"external_id": "cid", "first_name": "f"}, "event": {"metric": "M"}}}}
    payload = mapper(config, ["cid", "f"]).event({"cid": "42", "f": "Ann"})
    # Identifiers only: the profile's other fields go through the profile import.
    assert payload["attributes"]["profile"]["data"]["attributes"] == {"external_id": "42"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "mappings: no mapping configured"),
        ({"mappings": {"s": {}}}, "mappings.s: map the stream to an event, a profile, a list, consent, or several"),
        (
            {"mappings": {"s": {"profile": {"first_name": "f"}}}},
            "mappings.s.profile: map at least one profile identifier",
        ),
        (
            {"mappings": {"s": {"profile": {"email": "e", "nickname": "n"}}}},
            "mappings.s.profile: unknown key(s) nickname",
        ),
        (
            {"mappings": {"s": {"event": {"metric": "M"}}}},
            "mappings.s.event.profile: map at least one profile identifier",
        ),
        (
            {"mappings": {"s": {"event": {"metric": "M", "metric_column": "m", "profile": {"email": "e"}}}}},
            "mappings.s.event: give the metric name as 'metric'",
        ),
        ({"mappings": {"s": {"profile": {"email": 3}}}}, "mappings.s.profile.email: must be a column name"),
        (
            {"mappings": {"*": {"profile": {"email": "e"}}}, "profile_mapping": {"properties": {"$email": "E"}}},
            "event_mapping/profile_mapping apply to every stream",
        ),
        (
            {"event_mapping": {"customer_properties": {"$email": "E"}}},
            "event_mapping/profile_mapping.event_mapping.event",
        ),
    ],
)
def test_mapping_errors_name_the_setting(config, message):
    with pytest.raises(MappingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Mappings(config)


def test_times():
    assert CHECKS.time("1704067200", "t") == "2024-01-01T00:00:00+00:00"
    assert CHECKS.time(1704067200.5, "t") == "2024-01-01T00:00:00.500000+00:00"
    assert CHECKS.time("2024-01-01", "t") == "2024-01-01T00:00:00+00:00"
    assert CHECKS.time("2024-01-01T01:00:00+01:00", "t") == "2024-01-01T00:00:00+00:00"
    with pytest.raises(Invalid, match="outside what Klaviyo accepts"):
        CHECKS.time("2027-06-01T00:00:00Z", "t")  # more than a year after "now" (2026-01-01)
    with pytest.raises(Invalid, match="neither ISO 8601"):
        CHECKS.time("Jan 5 2024", "t")
