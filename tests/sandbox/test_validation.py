"""Unit tests for klaviyo_sandbox.validation: write-endpoint bodies built with the official SDK's models parse;
each rule's violation is a 400 `invalid` with the right pointer; bulk-import row errors; limits at their edges."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openapi_client.models import (
    BaseEventCreateQueryBulkEntryResourceObject,
    BaseEventCreateQueryBulkEntryResourceObjectAttributes,
    EventCreateQueryV2,
    EventCreateQueryV2ResourceObject,
    EventCreateQueryV2ResourceObjectAttributes,
    EventCreateQueryV2ResourceObjectAttributesMetric,
    EventCreateQueryV2ResourceObjectAttributesProfile,
    EventProfileCreateQueryResourceObject,
    EventProfileCreateQueryResourceObjectAttributes,
    EventsBulkCreateJob,
    EventsBulkCreateJobResourceObject,
    EventsBulkCreateJobResourceObjectAttributes,
    EventsBulkCreateJobResourceObjectAttributesEventsBulkCreate,
    EventsBulkCreateQueryResourceObject,
    EventsBulkCreateQueryResourceObjectAttributes,
    EventsBulkCreateQueryResourceObjectAttributesEvents,
    EventsBulkCreateQueryResourceObjectAttributesProfile,
    MetricCreateQueryResourceObject,
    MetricCreateQueryResourceObjectAttributes,
    OnsiteProfileCreateQueryResourceObject,
    ProfileImportJobCreateQuery,
    ProfileImportJobCreateQueryResourceObject,
    ProfileImportJobCreateQueryResourceObjectAttributes,
    ProfileImportJobCreateQueryResourceObjectAttributesProfiles,
    ProfileImportJobCreateQueryResourceObjectRelationships,
    ProfileImportJobCreateQueryResourceObjectRelationshipsLists,
    ProfileImportJobCreateQueryResourceObjectRelationshipsListsDataInner,
    ProfileLocation,
    ProfileUpsertQuery,
    ProfileUpsertQueryResourceObject,
    ProfileUpsertQueryResourceObjectAttributes,
)

from klaviyo_sandbox.errors import KlaviyoError
from klaviyo_sandbox.validation import (
    EventInput,
    ProfileInput,
    parse_event_bulk_create_job,
    parse_event_create,
    parse_profile_bulk_import_job,
    parse_profile_upsert,
)

NOW = datetime(2026, 6, 15, 12, 0, 0, tzinfo=UTC)
EV_PROFILE = "/data/attributes/profile/data/attributes"
BULK = "/data/attributes/events-bulk-create/data"
ROWS = "/data/attributes/profiles/data"


def wire(model: Any) -> dict[str, Any]:
    """What the SDK sends: its to_dict() with enums and datetimes as JSON."""
    return json.loads(json.dumps(model.to_dict(), default=lambda o: o.isoformat()))


def metric(name: str = "Placed Order", service: str | None = None) -> EventCreateQueryV2ResourceObjectAttributesMetric:
    return EventCreateQueryV2ResourceObjectAttributesMetric(
        data=MetricCreateQueryResourceObject(
            type="metric", attributes=MetricCreateQueryResourceObjectAttributes(name=name, service=service)
        )
    )


def event_profile_attrs(**kw: Any) -> EventProfileCreateQueryResourceObjectAttributes:
    return EventProfileCreateQueryResourceObjectAttributes(**({"email": "ada@example.com"} | kw))


def event_body(properties: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    attrs = EventCreateQueryV2ResourceObjectAttributes(
        properties={"OrderId": "A1"} if properties is None else properties,
        metric=metric(),
        profile=EventCreateQueryV2ResourceObjectAttributesProfile(
            data=EventProfileCreateQueryResourceObject(type="profile", attributes=event_profile_attrs())
        ),
        **kw,
    )
    return wire(EventCreateQueryV2(data=EventCreateQueryV2ResourceObject(type="event", attributes=attrs)))


def bulk_entry(email: str, n: int, start: int = 0) -> EventsBulkCreateQueryResourceObject:
    events = [
        BaseEventCreateQueryBulkEntryResourceObject(
            type="event",
            attributes=(
                BaseEventCreateQueryBulkEntryResourceObjectAttributes(
                    properties={"n": start + k}, metric=metric(), unique_id=f"{email}-{start + k}"
                )
            ),
        )
        for k in range(n)
    ]
    return EventsBulkCreateQueryResourceObject(
        type="event-bulk-create",
        attributes=(
            EventsBulkCreateQueryResourceObjectAttributes(
                profile=EventsBulkCreateQueryResourceObjectAttributesProfile(
                    data=OnsiteProfileCreateQueryResourceObject(
                        type="profile", attributes=event_profile_attrs(email=email)
                    )
                ),
                events=EventsBulkCreateQueryResourceObjectAttributesEvents(data=events),
            )
        ),
    )


def bulk_events_body(*entries: EventsBulkCreateQueryResourceObject) -> dict[str, Any]:
    return wire(
        EventsBulkCreateJob(
            data=EventsBulkCreateJobResourceObject(
                type="event-bulk-create-job",
                attributes=EventsBulkCreateJobResourceObjectAttributes.model_validate(
                    {
                        "events-bulk-create": EventsBulkCreateJobResourceObjectAttributesEventsBulkCreate(
                            data=list(entries)
                        )
                    }
                ),
            )
        )
    )


def upsert_row(**kw: Any) -> ProfileUpsertQueryResourceObject:
    ident = {"id": kw.pop("id")} if "id" in kw else {}  # the SDK sends an explicit "id": null when given None
    return ProfileUpsertQueryResourceObject(
        type="profile", **ident, attributes=ProfileUpsertQueryResourceObjectAttributes(**kw)
    )


def upsert_body(**kw: Any) -> dict[str, Any]:
    return wire(ProfileUpsertQuery(data=upsert_row(**kw)))


def import_body(rows: list[ProfileUpsertQueryResourceObject], list_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    relationships = (
        ProfileImportJobCreateQueryResourceObjectRelationships(
            lists=ProfileImportJobCreateQueryResourceObjectRelationshipsLists(
                data=[
                    ProfileImportJobCreateQueryResourceObjectRelationshipsListsDataInner(type="list", id=lid)
                    for lid in list_ids
                ]
            )
        )
        if list_ids
        else None
    )
    return wire(
        ProfileImportJobCreateQuery(
            data=ProfileImportJobCreateQueryResourceObject(
                type="profile-bulk-import-job",
                relationships=relationships,
                attributes=ProfileImportJobCreateQueryResourceObjectAttributes(
                    profiles=ProfileImportJobCreateQueryResourceObjectAttributesProfiles(data=rows)
                ),
            )
        )
    )


def emails(n: int) -> list[ProfileUpsertQueryResourceObject]:
    return [upsert_row(email=f"p{i}@example.com") for i in range(n)]


def rejected(fn: Any, *args: Any, pointer: str) -> KlaviyoError:
    with pytest.raises(KlaviyoError) as info:
        fn(*args)
    err = info.value
    assert (err.status, err.code, err.title) == (400, "invalid", "Invalid input.")
    assert err.pointer == pointer, err.detail
    assert err.detail
    assert err.body()["errors"][0]["source"] == {"pointer": pointer}
    return err


def set_at(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `body` with the member at JSON-pointer-like `path` set (or deleted when value is DELETE)."""
    out = copy.deepcopy(body)
    *parents, last = path.strip("/").split("/")
    node: Any = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


DELETE = object()


# --- POST /api/events -------------------------------------------------------------------------------------------


def test_event_from_sdk_model_parses() -> None:
    attrs = EventCreateQueryV2ResourceObjectAttributes(
        properties={"OrderId": "A1", "Items": [{"sku": "x"}], "$extra": {"html": "<p/>"}},
        time=datetime(2025, 3, 1, 8, 30, 15, 987654, tzinfo=UTC),
        value=19.99,
        value_currency="EUR",
        unique_id="A1",
        metric=metric("Placed Order", "shopify"),
        profile=EventCreateQueryV2ResourceObjectAttributesProfile(
            data=EventProfileCreateQueryResourceObject(
                type="profile",
                id="01HPROFILE",
                attributes=event_profile_attrs(
                    phone_number="+15555550123",
                    external_id="c-1",
                    first_name="Ada",
                    location=ProfileLocation(city="London", latitude=51.5),
                    properties={"tier": "gold"},
                ),
            )
        ),
    )
    event = parse_event_create(
        wire(EventCreateQueryV2(data=EventCreateQueryV2ResourceObject(type="event", attributes=attrs))), NOW
    )
    assert event == EventInput(
        metric_name="Placed Order",
        metric_service="shopify",
        profile=ProfileInput(
            id="01HPROFILE",
            email="ada@example.com",
            phone_number="+15555550123",
            external_id="c-1",
            attributes={
                "first_name": "Ada",
                "properties": {"tier": "gold"},
                "location": {"city": "London", "latitude": 51.5},
            },
        ),
        properties={"OrderId": "A1", "Items": [{"sku": "x"}], "$extra": {"html": "<p/>"}},
        time=datetime(2025, 3, 1, 8, 30, 15, tzinfo=UTC),
        value=19.99,
        value_currency="EUR",
        unique_id="A1",
    )


def test_event_optional_fields_default_to_none() -> None:
    event = parse_event_create(event_body(), NOW)
    assert (event.time, event.value, event.value_currency, event.unique_id, event.metric_service) == (None,) * 5
    assert event.profile == ProfileInput(email="ada@example.com")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-01-31T12:00:00+03:00", datetime(2025, 1, 31, 9, tzinfo=UTC)),
        ("2025-01-31T12:00:00-05:30", datetime(2025, 1, 31, 17, 30, tzinfo=UTC)),
        ("2025-01-31T12:00:00", datetime(2025, 1, 31, 12, tzinfo=UTC)),  # naive means UTC
        ("2025-01-31 12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-01-31T12:00:00.999999Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),  # truncated, not rounded
        ("2025-01-31T12:00:59.5+00:00", datetime(2025, 1, 31, 12, 0, 59, tzinfo=UTC)),
    ],
)
def test_event_time_is_utc_truncated_to_the_second(given: str, expected: datetime) -> None:
    t = parse_event_create(set_at(event_body(), "/data/attributes/time", given), NOW).time
    assert t == expected
    assert t is not None and t.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "given",
    [
        1700000000,
        1.5,
        True,
        "",
        "yesterday",
        "2025-13-01T00:00:00Z",
        "2025-01-31T25:00:00Z",
        "31/01/2025",
        ["2025-01-31"],
        {"t": 1},
    ],
)
def test_event_time_must_be_iso_8601(given: Any) -> None:
    rejected(
        parse_event_create, set_at(event_body(), "/data/attributes/time", given), NOW, pointer="/data/attributes/time"
    )


@pytest.mark.parametrize(
    ("given", "ok"),
    [
        ("2000-01-01T00:00:00Z", True),
        ("1999-12-31T23:59:59Z", False),
        ("1999-12-31T23:59:59.999Z", False),
        ("2000-01-01T01:00:00+01:00", True),  # the same instant as the lower edge
        ("1995-06-01T00:00:00Z", False),  # allowed by the SDK's "after 1990", not by the reference
        ("2027-06-15T12:00:00Z", True),  # now + 1 year
        ("2027-06-15T12:00:00.999Z", True),  # truncated onto the edge
        ("2027-06-15T12:00:01Z", False),
        ("2027-06-15T13:00:00+01:00", True),
        ("2030-01-01T00:00:00Z", False),
    ],
)
def test_event_time_range_edges(given: str, ok: bool) -> None:
    body = set_at(event_body(), "/data/attributes/time", given)
    if ok:
        assert parse_event_create(body, NOW).time is not None
    else:
        rejected(parse_event_create, body, NOW, pointer="/data/attributes/time")


def test_event_time_upper_edge_from_29_february() -> None:
    leap = datetime(2028, 2, 29, 10, tzinfo=UTC)
    assert parse_event_create(set_at(event_body(), "/data/attributes/time", "2029-02-28T10:00:00Z"), leap).time
    rejected(
        parse_event_create,
        set_at(event_body(), "/data/attributes/time", "2029-02-28T10:00:01Z"),
        leap,
        pointer="/data/attributes/time",
    )


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        ("/data", DELETE, "/data"),
        ("/data", [], "/data"),
        ("/data", "event", "/data"),
        ("/data/type", DELETE, "/data/type"),
        ("/data/type", "events", "/data/type"),
        ("/data/type", "profile", "/data/type"),
        ("/data/attributes", DELETE, "/data/attributes"),
        ("/data/attributes", [], "/data/attributes"),
        ("/data/attributes/metric", DELETE, "/data/attributes/metric"),
        ("/data/attributes/metric", "Placed Order", "/data/attributes/metric"),
        ("/data/attributes/metric/data", DELETE, "/data/attributes/metric/data"),
        ("/data/attributes/metric/data/type", "event", "/data/attributes/metric/data/type"),
        ("/data/attributes/metric/data/attributes", DELETE, "/data/attributes/metric/data/attributes"),
        ("/data/attributes/profile", DELETE, "/data/attributes/profile"),
        ("/data/attributes/profile", {"email": "ada@example.com"}, "/data/attributes/profile/data"),
        ("/data/attributes/profile/data/type", "person", "/data/attributes/profile/data/type"),
        ("/data/attributes/profile/data/attributes", None, "/data/attributes/profile/data/attributes"),
        ("/data/attributes/properties", DELETE, "/data/attributes/properties"),
        ("/data/attributes/properties", ["a"], "/data/attributes/properties"),
        ("/data/attributes/properties", "a=1", "/data/attributes/properties"),
    ],
)
def test_event_structure(path: str, value: Any, pointer: str) -> None:
    rejected(parse_event_create, set_at(event_body(), path, value), NOW, pointer=pointer)


@pytest.mark.parametrize("body", [None, [], "data", 42])
def test_event_body_must_be_an_object(body: Any) -> None:
    rejected(parse_event_create, body, NOW, pointer="/data")


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/data/attributes/colour", "event"),
        ("/data/attributes/profile/data/attributes/$email", "profile"),  # a legacy name is not silently dropped
    ],
)
def test_unknown_attributes_are_rejected(path: str, resource: str) -> None:
    error = rejected(parse_event_create, set_at(event_body(), path, "red"), NOW, pointer=path)
    assert error.detail == f"'{path.rsplit('/', 1)[1]}' is not a valid field for the resource '{resource}'."


def test_profile_upsert_has_no_anonymous_id() -> None:
    # anonymous_id is an attribute of an event's profile only, not of the upsert model.
    body = {"data": {"type": "profile", "attributes": {"anonymous_id": "anon-1"}}}
    rejected(parse_profile_upsert, body, pointer="/data/attributes/anonymous_id")


def test_profile_meta_is_not_an_attribute() -> None:
    body = set_at(event_body(), "/data/attributes/profile/data/meta", {"patch_properties": {"append": {"a": 1}}})
    assert parse_event_create(body, NOW).profile == ProfileInput(email="ada@example.com")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Placed Order", True),
        ("x", True),
        ("x" * 127, True),
        ("x" * 128, False),
        ("", False),
        ("   ", False),
        (None, False),
        (42, False),
        (["Placed Order"], False),
    ],
)
def test_metric_name(name: Any, ok: bool) -> None:
    body = set_at(event_body(), "/data/attributes/metric/data/attributes/name", name)
    if ok:
        assert parse_event_create(body, NOW).metric_name == name
    else:
        rejected(parse_event_create, body, NOW, pointer="/data/attributes/metric/data/attributes/name")


def test_metric_service_must_be_a_string() -> None:
    rejected(
        parse_event_create,
        set_at(event_body(), "/data/attributes/metric/data/attributes/service", 1),
        NOW,
        pointer="/data/attributes/metric/data/attributes/service",
    )


@pytest.mark.parametrize(
    ("attrs", "resource_id", "expected"),
    [
        ({"email": "ada@example.com"}, None, ProfileInput(email="ada@example.com")),
        ({"phone_number": "+15555550123"}, None, ProfileInput(phone_number="+15555550123")),
        ({"external_id": "c-1"}, None, ProfileInput(external_id="c-1")),
        ({"anonymous_id": "anon-1"}, None, ProfileInput(anonymous_id="anon-1")),
        ({}, "01HPROFILE", ProfileInput(id="01HPROFILE")),
        ({"first_name": "Ada"}, "01HPROFILE", ProfileInput(id="01HPROFILE", attributes={"first_name": "Ada"})),
    ],
)
def test_event_profile_identifiers(attrs: dict[str, Any], resource_id: str | None, expected: ProfileInput) -> None:
    body = set_at(event_body(), "/data/attributes/profile/data/attributes", attrs)
    if resource_id:
        body = set_at(body, "/data/attributes/profile/data/id", resource_id)
    assert parse_event_create(body, NOW).profile == expected


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"first_name": "Ada", "last_name": "Lovelace"},
        {"external_id": ""},
        {"email": None},
        {"properties": {"email": "ada@example.com"}},
        {"_kx": "abc"},
    ],
)
def test_event_profile_needs_an_identifier(attrs: dict[str, Any]) -> None:
    rejected(
        parse_event_create,
        set_at(event_body(), "/data/attributes/profile/data/attributes", attrs),
        NOW,
        pointer=EV_PROFILE,
    )


VALID_EMAILS = ["a@b.co", "ada@example.com", "first.last+tag@sub.example.org", "o'neil@example.ie", "ÄDA@exämple.de"]
INVALID_EMAILS = [
    "",
    "plain",
    "ada@example",
    "ada@@example.com",
    "ada@exa@mple.com",
    "ada lovelace@example.com",
    " ada@example.com",
    "ada@example.com ",
    "@example.com",
    "ada@.com",
    "ada@example.",
    "ada@example..com",
    "ada@exam ple.com",
]
VALID_PHONES = ["+15555550123", "+447911123456", "+1234567", "+123456789012345"]
INVALID_PHONES = [
    "",
    "15555550123",
    "+0123456789",
    "+123456",
    "+1234567890123456",
    "+1 555 555 0123",
    "+1-555-555-0123",
    "(555) 555-0123",
    "+1555555012a",
    "++15555550123",
]


@pytest.mark.parametrize("email", VALID_EMAILS)
def test_valid_email(email: str) -> None:
    body = set_at(event_body(), "/data/attributes/profile/data/attributes/email", email)
    assert parse_event_create(body, NOW).profile.email == email
    assert parse_profile_upsert(upsert_body(email=email)).email == email


@pytest.mark.parametrize("email", INVALID_EMAILS)
def test_invalid_email(email: str) -> None:
    body = set_at(event_body(), "/data/attributes/profile/data/attributes/email", email)
    rejected(parse_event_create, body, NOW, pointer=f"{EV_PROFILE}/email")
    rejected(parse_profile_upsert, upsert_body(email=email, external_id="c-1"), pointer="/data/attributes/email")


@pytest.mark.parametrize("phone", VALID_PHONES)
def test_valid_phone_number(phone: str) -> None:
    body = set_at(event_body(), "/data/attributes/profile/data/attributes/phone_number", phone)
    assert parse_event_create(body, NOW).profile.phone_number == phone
    assert parse_profile_upsert(upsert_body(phone_number=phone)).phone_number == phone


@pytest.mark.parametrize("phone", INVALID_PHONES)
def test_invalid_phone_number(phone: str) -> None:
    body = set_at(event_body(), "/data/attributes/profile/data/attributes/phone_number", phone)
    rejected(parse_event_create, body, NOW, pointer=f"{EV_PROFILE}/phone_number")
    rejected(
        parse_profile_upsert,
        upsert_body(phone_number=phone, email="ada@example.com"),
        pointer="/data/attributes/phone_number",
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("email", 42),
        ("phone_number", 15555550123),
        ("external_id", 7),
        ("anonymous_id", ["a"]),
        ("first_name", 1),
        ("last_name", True),
        ("organization", {}),
        ("locale", 1),
        ("title", 1),
        ("image", 1),
        ("location", "London"),
        ("location", ["London"]),
        ("location/city", 1),
        ("location/zip", 10115),
        ("properties", "tier=gold"),
        ("properties", [1]),
    ],
)
def test_event_profile_attribute_types(path: str, value: Any) -> None:
    body = set_at(event_body(), f"{EV_PROFILE}/location", {"city": "London"})
    rejected(parse_event_create, set_at(body, f"{EV_PROFILE}/{path}", value), NOW, pointer=f"{EV_PROFILE}/{path}")


def test_event_profile_id_must_be_a_string() -> None:
    rejected(
        parse_event_create,
        set_at(event_body(), "/data/attributes/profile/data/id", 5),
        NOW,
        pointer="/data/attributes/profile/data/id",
    )


def test_event_profile_drops_nulls() -> None:
    body = set_at(
        event_body(),
        EV_PROFILE,
        {"email": "ada@example.com", "first_name": None, "location": None, "properties": None, "title": "Dr"},
    )
    assert parse_event_create(body, NOW).profile.attributes == {"title": "Dr"}


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (5, 5.0), (-2.5, -2.5), (19.99, 19.99), (None, None)])
def test_event_value(value: Any, expected: float | None) -> None:
    v = parse_event_create(set_at(event_body(), "/data/attributes/value", value), NOW).value
    assert v == expected
    assert v is None or isinstance(v, float)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("value", "9.99"),
        ("value", True),
        ("value", [1]),
        ("value", {"amount": 1}),
        ("unique_id", 123),
        ("unique_id", ["a"]),
        ("value_currency", 978),
        ("backfill", "yes"),
        ("backfill", 1),
    ],
)
def test_event_scalar_types(field: str, value: Any) -> None:
    rejected(
        parse_event_create,
        set_at(event_body(), f"/data/attributes/{field}", value),
        NOW,
        pointer=f"/data/attributes/{field}",
    )


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for k in range(levels):
        value = {"k": value} if k % 2 else [value]
    return value


@pytest.mark.parametrize(
    ("properties", "pointer"),
    [
        ({f"p{i}": i for i in range(300)}, None),
        ({f"p{i}": i for i in range(301)}, "/data/attributes/properties"),
        ({"s": "x" * 102_400}, None),
        ({"s": "x" * 102_401}, "/data/attributes/properties/s"),
        ({"s": "é" * 51_200}, None),  # 102,400 bytes in UTF-8
        ({"s": "é" * 51_201}, "/data/attributes/properties/s"),
        ({"deep": {"list": ["ok", "x" * 102_401]}}, "/data/attributes/properties/deep/list/1"),
        ({"a": list(range(4000))}, None),
        ({"a": list(range(4001))}, "/data/attributes/properties/a"),
        ({"a": {"b": list(range(4001))}}, "/data/attributes/properties/a/b"),
        ({"n": nested(10)}, None),
        ({"n": nested(11)}, "/data/attributes/properties/n/0/k/0/k/0/k/0/k/0/k"),
        ({"a/b~c": {"s": "x" * 102_401}}, "/data/attributes/properties/a~1b~0c/s"),
        ({}, None),
    ],
)
def test_event_property_limits(properties: dict[str, Any], pointer: str | None) -> None:
    body = event_body(properties)
    if pointer is None:
        assert parse_event_create(body, NOW).properties == properties
    else:
        rejected(parse_event_create, body, NOW, pointer=pointer)


# --- POST /api/event-bulk-create-jobs ---------------------------------------------------------------------------


def test_bulk_events_from_sdk_model_parse() -> None:
    events = parse_event_bulk_create_job(
        bulk_events_body(bulk_entry("a@example.com", 2), bulk_entry("b@example.com", 3, start=2)), NOW
    )
    assert [(e.profile.email, e.properties["n"], e.unique_id) for e in events] == [
        ("a@example.com", 0, "a@example.com-0"),
        ("a@example.com", 1, "a@example.com-1"),
        ("b@example.com", 2, "b@example.com-2"),
        ("b@example.com", 3, "b@example.com-3"),
        ("b@example.com", 4, "b@example.com-4"),
    ]
    assert {e.metric_name for e in events} == {"Placed Order"}


@pytest.mark.parametrize(
    ("sizes", "ok"),
    [
        ((1000,), True),
        ((1001,), False),
        ((500, 500), True),
        ((500, 501), False),
        ((1, 999), True),
        ((400, 400, 201), False),
        ((0,), True),
    ],
)
def test_bulk_events_at_most_1000(sizes: tuple[int, ...], ok: bool) -> None:
    body = bulk_events_body(*(bulk_entry(f"p{i}@example.com", n, start=sum(sizes[:i])) for i, n in enumerate(sizes)))
    if ok:
        assert len(parse_event_bulk_create_job(body, NOW)) == sum(sizes)
    else:
        rejected(parse_event_bulk_create_job, body, NOW, pointer=BULK)


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        ("/data/type", "event-bulk-create", "/data/type"),
        ("/data/type", "event", "/data/type"),
        ("/data/attributes/events-bulk-create", DELETE, "/data/attributes/events-bulk-create"),
        ("/data/attributes/events-bulk-create/data", {"type": "event-bulk-create"}, BULK),
        (f"{BULK}/1", "event", f"{BULK}/1"),
        (f"{BULK}/1/type", "event-bulk-create-job", f"{BULK}/1/type"),
        (f"{BULK}/1/attributes/events", DELETE, f"{BULK}/1/attributes/events"),
        (f"{BULK}/1/attributes/events/data", {}, f"{BULK}/1/attributes/events/data"),
        (f"{BULK}/1/attributes/profile", DELETE, f"{BULK}/1/attributes/profile"),
        (f"{BULK}/1/attributes/profile/data/type", "list", f"{BULK}/1/attributes/profile/data/type"),
        (
            f"{BULK}/1/attributes/profile/data/attributes",
            {"first_name": "B"},
            f"{BULK}/1/attributes/profile/data/attributes",
        ),
        (
            f"{BULK}/1/attributes/profile/data/attributes/email",
            "b@",
            f"{BULK}/1/attributes/profile/data/attributes/email",
        ),
        (
            f"{BULK}/1/attributes/profile/data/attributes/phone_number",
            "555",
            f"{BULK}/1/attributes/profile/data/attributes/phone_number",
        ),
        (f"{BULK}/1/attributes/events/data/2/type", "metric", f"{BULK}/1/attributes/events/data/2/type"),
        (
            f"{BULK}/1/attributes/events/data/2/attributes/time",
            "2040-01-01T00:00:00Z",
            f"{BULK}/1/attributes/events/data/2/attributes/time",
        ),
        (
            f"{BULK}/1/attributes/events/data/2/attributes/value",
            "1",
            f"{BULK}/1/attributes/events/data/2/attributes/value",
        ),
        (
            f"{BULK}/1/attributes/events/data/2/attributes/metric/data/attributes/name",
            "",
            f"{BULK}/1/attributes/events/data/2/attributes/metric/data/attributes/name",
        ),
        (
            f"{BULK}/1/attributes/events/data/2/attributes/properties",
            DELETE,
            f"{BULK}/1/attributes/events/data/2/attributes/properties",
        ),
        (
            f"{BULK}/1/attributes/events/data/2/attributes/properties/big",
            "x" * 102_401,
            f"{BULK}/1/attributes/events/data/2/attributes/properties/big",
        ),
    ],
)
def test_bulk_events_any_bad_event_rejects_the_request(path: str, value: Any, pointer: str) -> None:
    body = bulk_events_body(bulk_entry("a@example.com", 3), bulk_entry("b@example.com", 3, start=3))
    rejected(parse_event_bulk_create_job, set_at(body, path, value), NOW, pointer=pointer)


# --- POST /api/profile-import -----------------------------------------------------------------------------------


def test_profile_upsert_from_sdk_model_parses() -> None:
    p = parse_profile_upsert(
        upsert_body(
            id="01HPROFILE",
            email="ada@example.com",
            phone_number="+447911123456",
            external_id="c-1",
            first_name="Ada",
            last_name="Lovelace",
            organization="Analytical Engines",
            locale="en-GB",
            title="Countess",
            image="https://example.com/ada.png",
            location=ProfileLocation(
                address1="1 St James's Sq", city="London", country="UK", zip="SW1Y", longitude="-0.13"
            ),
            properties={"tier": "gold", "nested": {"a": [1, 2]}},
        )
    )
    assert p == ProfileInput(
        id="01HPROFILE",
        email="ada@example.com",
        phone_number="+447911123456",
        external_id="c-1",
        attributes={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "organization": "Analytical Engines",
            "locale": "en-GB",
            "title": "Countess",
            "image": "https://example.com/ada.png",
            "location": {
                "address1": "1 St James's Sq",
                "city": "London",
                "country": "UK",
                "zip": "SW1Y",
                "longitude": "-0.13",
            },
            "properties": {"tier": "gold", "nested": {"a": [1, 2]}},
        },
    )


def test_profile_upsert_keeps_nulls_to_clear_fields() -> None:
    body = wire(ProfileUpsertQuery(data=upsert_row(email="ada@example.com", first_name=None, properties=None)))
    body = set_at(body, "/data/attributes/location", {"city": None, "region": "Greater London"})
    assert parse_profile_upsert(body).attributes == {
        "first_name": None,
        "properties": None,
        "location": {"city": None, "region": "Greater London"},
    }


@pytest.mark.parametrize(
    "kw", [{"email": "ada@example.com"}, {"phone_number": "+15555550123"}, {"external_id": "c-1"}, {"id": "01HPROFILE"}]
)
def test_profile_upsert_identifiers(kw: dict[str, str]) -> None:
    p = parse_profile_upsert(upsert_body(**kw))
    assert {k: getattr(p, k) for k in kw} == kw


@pytest.mark.parametrize("attrs", [{}, {"first_name": "Ada"}, {"email": None}])
def test_profile_upsert_needs_an_identifier(attrs: dict[str, Any]) -> None:
    rejected(parse_profile_upsert, {"data": {"type": "profile", "attributes": attrs}}, pointer="/data/attributes")


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        ("/data", DELETE, "/data"),
        ("/data", [{"type": "profile"}], "/data"),
        ("/data/type", "profiles", "/data/type"),
        ("/data/type", "event", "/data/type"),
        ("/data/id", 12, "/data/id"),
        ("/data/attributes", DELETE, "/data/attributes"),
        ("/data/attributes", "ada@example.com", "/data/attributes"),
        ("/data/attributes/location", "London", "/data/attributes/location"),
        ("/data/attributes/location", {"city": ["London"]}, "/data/attributes/location/city"),
        ("/data/attributes/properties", ["gold"], "/data/attributes/properties"),
        ("/data/attributes/first_name", 1, "/data/attributes/first_name"),
        ("/data/attributes/email", ["ada@example.com"], "/data/attributes/email"),
    ],
)
def test_profile_upsert_structure(path: str, value: Any, pointer: str) -> None:
    rejected(parse_profile_upsert, set_at(upsert_body(email="ada@example.com"), path, value), pointer=pointer)


# --- POST /api/profile-bulk-import-jobs -------------------------------------------------------------------------


def test_bulk_import_from_sdk_model_parses() -> None:
    rows = [
        upsert_row(email="a@example.com", first_name="A"),
        upsert_row(external_id="c-2", location=ProfileLocation(city="Paris"), properties={"vip": True}),
    ]
    profiles, errors, list_ids = parse_profile_bulk_import_job(import_body(rows, ("Xy12Ab", "Zz99Qq")))
    assert profiles == [
        ProfileInput(email="a@example.com", attributes={"first_name": "A"}),
        ProfileInput(external_id="c-2", attributes={"location": {"city": "Paris"}, "properties": {"vip": True}}),
    ]
    assert (errors, list_ids) == ([], ["Xy12Ab", "Zz99Qq"])


def test_bulk_import_without_lists() -> None:
    assert parse_profile_bulk_import_job(import_body(emails(1)))[2] == []
    body = set_at(import_body(emails(1)), "/data/relationships", {"lists": {"data": []}})
    assert parse_profile_bulk_import_job(body)[2] == []


def test_bulk_import_row_errors() -> None:
    rows = [
        upsert_row(email="ok@example.com"),
        upsert_row(email="not-an-email", first_name="B"),
        upsert_row(first_name="no identifier"),
        upsert_row(phone_number="5555550123"),
        upsert_row(id="01HPROFILE"),
        upsert_row(email="ok2@example.com", phone_number="+1 555"),
    ]
    body = import_body(rows)
    profiles, errors, _ = parse_profile_bulk_import_job(body)
    assert [p is not None for p in profiles] == [True, False, False, False, True, False]
    assert [(e.index, e.pointer) for e in errors] == [
        (1, f"{ROWS}/1/attributes/email"),
        (2, f"{ROWS}/2/attributes"),
        (3, f"{ROWS}/3/attributes/phone_number"),
        (5, f"{ROWS}/5/attributes/phone_number"),
    ]
    for e in errors:
        assert (e.code, e.title) == ("invalid", "Invalid input.")
        assert e.detail
        assert e.original_payload == body["data"]["attributes"]["profiles"]["data"][e.index]
    assert errors[0].original_payload == {"type": "profile", "attributes": {"email": "not-an-email", "first_name": "B"}}


def test_bulk_import_row_errors_do_not_fail_the_request_even_when_all_rows_are_bad() -> None:
    profiles, errors, _ = parse_profile_bulk_import_job(import_body([upsert_row(email="x")] * 3))
    assert profiles == [None, None, None]
    assert [e.index for e in errors] == [0, 1, 2]


def test_bulk_import_drops_nulls() -> None:
    body = set_at(
        import_body(emails(1)),
        f"{ROWS}/0/attributes",
        {"email": "a@example.com", "first_name": None, "location": {"city": None, "zip": "75001"}},
    )
    profiles, _, _ = parse_profile_bulk_import_job(body)
    assert profiles == [ProfileInput(email="a@example.com", attributes={"location": {"zip": "75001"}})]


@pytest.mark.parametrize(("n", "ok"), [(1, True), (10_000, True), (10_001, False), (0, False)])
def test_bulk_import_size(n: int, ok: bool) -> None:
    body = {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [{"type": "profile", "attributes": {"email": f"p{i}@example.com"}} for i in range(n)]
                }
            },
        }
    }
    if ok:
        profiles, errors, _ = parse_profile_bulk_import_job(body)
        assert (len(profiles), errors) == (n, [])
    else:
        rejected(parse_profile_bulk_import_job, body, pointer=ROWS)


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        ("/data/type", "profile-import-job", "/data/type"),
        ("/data/type", "profile", "/data/type"),
        ("/data/attributes/profiles", DELETE, "/data/attributes/profiles"),
        ("/data/attributes/profiles", [], "/data/attributes/profiles"),
        ("/data/attributes/profiles/data", {"type": "profile"}, ROWS),
        (f"{ROWS}/1", "b@example.com", f"{ROWS}/1"),
        (f"{ROWS}/1/type", "profiles", f"{ROWS}/1/type"),
        (f"{ROWS}/1/attributes", DELETE, f"{ROWS}/1/attributes"),
        (f"{ROWS}/1/attributes/email", 5, f"{ROWS}/1/attributes/email"),
        (f"{ROWS}/1/attributes/location", "Paris", f"{ROWS}/1/attributes/location"),
        (f"{ROWS}/1/attributes/properties", "vip", f"{ROWS}/1/attributes/properties"),
        (f"{ROWS}/1/attributes/last_name", 0, f"{ROWS}/1/attributes/last_name"),
        ("/data/relationships", [], "/data/relationships"),
        ("/data/relationships/lists", "Xy12Ab", "/data/relationships/lists"),
        ("/data/relationships/lists/data", {"type": "list", "id": "Xy12Ab"}, "/data/relationships/lists/data"),
        ("/data/relationships/lists/data/0", "Xy12Ab", "/data/relationships/lists/data/0"),
        ("/data/relationships/lists/data/0/type", "segment", "/data/relationships/lists/data/0/type"),
        ("/data/relationships/lists/data/0/id", DELETE, "/data/relationships/lists/data/0/id"),
        ("/data/relationships/lists/data/0/id", 7, "/data/relationships/lists/data/0/id"),
    ],
)
def test_bulk_import_structure_rejects_the_request(path: str, value: Any, pointer: str) -> None:
    rejected(parse_profile_bulk_import_job, set_at(import_body(emails(3), ("Xy12Ab",)), path, value), pointer=pointer)
