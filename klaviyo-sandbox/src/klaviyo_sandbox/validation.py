"""Request bodies of Klaviyo's write endpoints, parsed and validated as Klaviyo does.

Body shapes follow the official SDK's pydantic models (klaviyo-api 25.0.0, revision 2026-10-15); limits follow
the shared reference `klaviyo-facts.md`, which wins where the two disagree. A bad body raises a 400 `invalid`
KlaviyoError whose pointer names the offending member. Attribute names Klaviyo does not know are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import KlaviyoError, invalid

__all__ = [
    "EventInput",
    "ProfileInput",
    "ProfileRowError",
    "SubscriptionInput",
    "SubscriptionJob",
    "parse_event_bulk_create_job",
    "parse_event_create",
    "parse_profile_bulk_import_job",
    "parse_profile_identifiers",
    "parse_profile_upsert",
    "parse_subscription_job",
]

MAX_BULK_EVENTS = 1_000  # reference and SDK: up to 1,000 events per request
MAX_BULK_PROFILES = 10_000  # reference and SDK: up to 10,000 profiles per request
MAX_LIST_MEMBERS = 1_000  # SDK docstrings of add_profiles_to_list / remove_profiles_from_list: 1000 per call
# SDK docstrings: bulk_subscribe_profiles "Maximum number of profiles can be submitted for subscription: 1000",
# bulk_unsubscribe_profiles "Maximum number of profiles per call: 100".
MAX_SUBSCRIBE = 1_000
MAX_UNSUBSCRIBE = 100
MAX_EVENT_PROPERTIES = 300  # SDK docstring says "must not exceed 400 properties"; the reference says 300
MAX_STRING_BYTES = 100 * 1024  # reference: 100 KB per string
MAX_ARRAY_ITEMS = 4_000  # reference: 4,000 array items
MAX_NESTING = 10  # reference: 10 levels of nesting
MAX_METRIC_NAME = 127  # SDK: the metric name "must be less than 128 characters"
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)  # SDK says "after the year 1990"; the reference says the year 2000

EMAIL_RE = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
PHONE_RE = re.compile(r"\+[1-9]\d{6,14}")  # E.164

# Identifier attributes (besides the resource `id`): the event profile model has anonymous_id, the upsert one not.
EVENT_PROFILE_IDS = ("email", "phone_number", "external_id", "anonymous_id")
UPSERT_PROFILE_IDS = ("email", "phone_number", "external_id")
NAME_FIELDS = ("first_name", "last_name", "organization", "locale", "title", "image")
LOCATION_STRINGS = ("address1", "address2", "city", "country", "region", "zip", "timezone", "ip")
LOCATION_ANY = ("latitude", "longitude")  # the SDK types these as Any
EVENT_ATTRIBUTES = frozenset(
    {"properties", "time", "value", "value_currency", "unique_id", "backfill", "metric", "profile"}
)


def _reject_unknown(attrs: dict[str, Any], allowed: frozenset[str] | set[str], ptr: str, resource: str) -> None:
    """JSON:API strictness: Klaviyo answers 400 to an attribute its resource does not have (seen in real
    responses, e.g. verbb/formie#1986), rather than dropping it silently."""
    for key in attrs:
        if key not in allowed:
            raise invalid(f"'{key}' is not a valid field for the resource '{resource}'.", pointer=f"{ptr}/{key}")


@dataclass
class ProfileInput:
    id: str | None = None
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    anonymous_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class EventInput:
    metric_name: str
    metric_service: str | None
    profile: ProfileInput
    properties: dict[str, Any]
    time: datetime | None
    value: float | None
    value_currency: str | None
    unique_id: str | None


@dataclass
class ProfileRowError:
    index: int
    code: str
    title: str
    detail: str
    pointer: str
    original_payload: dict[str, Any]


# --- JSON:API structure ------------------------------------------------------------------------------------------


def _escape(token: object) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _name(ptr: str) -> str:
    return ptr.rsplit("/", 1)[-1] or "body"


def _obj(value: Any, ptr: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"'{_name(ptr)}' must be an object.", pointer=ptr)
    return value


def _require(obj: dict[str, Any], key: str, ptr: str) -> Any:
    value = obj.get(key)
    if value is None:
        raise invalid(f"'{key}' is required.", pointer=f"{ptr}/{key}")
    return value


def _opt_str(obj: dict[str, Any], key: str, ptr: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise invalid(f"'{key}' must be a string.", pointer=f"{ptr}/{key}")
    return value


def _resource_object(value: Any, ptr: str, type_: str) -> dict[str, Any]:
    """A resource object `{"type": type_, "attributes": {...}}` at `ptr`."""
    data = _obj(value, ptr)
    given = _require(data, "type", ptr)
    if given != type_:
        raise invalid(f"Invalid resource type '{given}'; expected '{type_}'.", pointer=f"{ptr}/type")
    _obj(_require(data, "attributes", ptr), f"{ptr}/attributes")
    return data


def _resource(container: Any, ptr: str, type_: str) -> dict[str, Any]:
    """The resource object of a `{"data": {...}}` container at `ptr` ("" for the request body)."""
    if not isinstance(container, dict):
        raise invalid(
            "The request body must be a JSON object." if not ptr else f"'{_name(ptr)}' must be an object.",
            pointer=ptr or "/data",
        )
    return _resource_object(_require(container, "data", ptr), f"{ptr}/data", type_)


def _data_list(container: Any, ptr: str) -> list[Any]:
    """The `data` array of a `{"data": [...]}` container at `ptr`."""
    rows = _require(_obj(container, ptr), "data", ptr)
    if not isinstance(rows, list):
        raise invalid("'data' must be an array.", pointer=f"{ptr}/data")
    return rows


# --- profiles ----------------------------------------------------------------------------------------------------


def _profile(data: dict[str, Any], ptr: str, identifiers: tuple[str, ...], *, keep_nulls: bool) -> ProfileInput:
    """A profile resource object already type-checked; structural problems raise. Nulls clear fields only
    on profile-import (SDK docstring), so elsewhere they are dropped."""
    pid = _opt_str(data, "id", ptr)
    aptr = f"{ptr}/attributes"
    attrs: dict[str, Any] = data["attributes"]
    _reject_unknown(attrs, {*identifiers, "_kx", *NAME_FIELDS, "location", "properties"}, aptr, "profile")
    ids = {key: _opt_str(attrs, key, aptr) for key in identifiers}
    out: dict[str, Any] = {key: _opt_str(attrs, key, aptr) for key in NAME_FIELDS if key in attrs}
    if attrs.get("location") is not None:
        location = _obj(attrs["location"], f"{aptr}/location")
        loc = {key: _opt_str(location, key, f"{aptr}/location") for key in LOCATION_STRINGS if key in location}
        loc.update({key: location[key] for key in LOCATION_ANY if key in location})
        out["location"] = loc if keep_nulls else {k: v for k, v in loc.items() if v is not None}
    elif "location" in attrs:
        out["location"] = None
    if attrs.get("properties") is not None:
        out["properties"] = dict(_obj(attrs["properties"], f"{aptr}/properties"))
    elif "properties" in attrs:
        out["properties"] = None
    if not keep_nulls:
        out = {k: v for k, v in out.items() if v is not None}
    return ProfileInput(id=pid or None, attributes=out, **ids)


def _check_identity(p: ProfileInput, aptr: str, identifiers: tuple[str, ...]) -> None:
    """Email and phone formats, and at least one identifier: per-row problems in a bulk import."""
    if p.email is not None and not EMAIL_RE.fullmatch(p.email):
        raise invalid(f"Invalid email address: '{p.email}'.", pointer=f"{aptr}/email")
    if p.phone_number is not None and not PHONE_RE.fullmatch(p.phone_number):
        raise invalid(
            f"Invalid phone number: '{p.phone_number}'. Phone numbers must be in E.164 format, e.g. +15555550123.",
            pointer=f"{aptr}/phone_number",
        )
    if not p.id and not any(getattr(p, key) for key in identifiers):
        names = ", ".join(("id", *identifiers))
        raise invalid(f"A profile needs at least one identifier ({names}).", pointer=aptr)


def _event_profile(container: Any, ptr: str) -> ProfileInput:
    data = _resource(container, ptr, "profile")
    profile = _profile(data, f"{ptr}/data", EVENT_PROFILE_IDS, keep_nulls=False)
    _check_identity(profile, f"{ptr}/data/attributes", EVENT_PROFILE_IDS)
    return profile


# --- events ------------------------------------------------------------------------------------------------------


def _check_property(value: Any, ptr: str, depth: int) -> None:
    """Reference ingestion limits on one property value; `depth` counts the containers down to `value`."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_BYTES // 4 and len(value.encode()) > MAX_STRING_BYTES:
            raise invalid("A string value must not exceed 100 KB.", pointer=ptr)
        return
    if not isinstance(value, dict | list):
        return
    if depth > MAX_NESTING:
        raise invalid(f"Event properties must not be nested more than {MAX_NESTING} levels deep.", pointer=ptr)
    if isinstance(value, list) and len(value) > MAX_ARRAY_ITEMS:
        raise invalid(f"An array must not have more than {MAX_ARRAY_ITEMS} items.", pointer=ptr)
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        _check_property(item, f"{ptr}/{_escape(key)}", depth + 1)


def _properties(value: Any, ptr: str) -> dict[str, Any]:
    props = _obj(value, ptr)
    if len(props) > MAX_EVENT_PROPERTIES:
        raise invalid(f"An event must not have more than {MAX_EVENT_PROPERTIES} properties.", pointer=ptr)
    for key, item in props.items():
        _check_property(item, f"{ptr}/{_escape(key)}", 1)
    return dict(props)


def _one_year_after(now: datetime) -> datetime:
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    try:
        return now.replace(year=now.year + 1)
    except ValueError:  # 29 February
        return now.replace(year=now.year + 1, day=28)


def _time(value: Any, ptr: str, now: datetime) -> datetime | None:
    """ISO 8601 (a naive time is UTC; Unix numbers are not accepted), truncated to the second, 2000 .. now+1y."""
    if value is None:
        return None
    message = "'time' must be an ISO 8601 datetime string, e.g. 2024-01-31T12:00:00Z."
    if not isinstance(value, str):
        raise invalid(message, pointer=ptr)
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(message, pointer=ptr) from None
    t = (t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)).replace(microsecond=0)
    if not EARLIEST_TIME <= t <= _one_year_after(now):
        raise invalid("'time' must be after the year 2000 and at most one year in the future.", pointer=ptr)
    return t


def _event(attrs: dict[str, Any], ptr: str, now: datetime, profile: ProfileInput) -> EventInput:
    """The attributes of one event at `ptr` (its profile parsed by the caller)."""
    _reject_unknown(attrs, EVENT_ATTRIBUTES, ptr, "event")
    metric_ptr = f"{ptr}/metric"
    metric = _resource(_require(attrs, "metric", ptr), metric_ptr, "metric")["attributes"]
    mptr = f"{metric_ptr}/data/attributes"
    name = metric.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("The metric 'name' is required and must be a non-empty string.", pointer=f"{mptr}/name")
    if len(name) > MAX_METRIC_NAME:
        raise invalid(f"The metric 'name' must be less than {MAX_METRIC_NAME + 1} characters.", pointer=f"{mptr}/name")
    value = attrs.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise invalid("'value' must be a number.", pointer=f"{ptr}/value")
    if attrs.get("backfill") is not None and not isinstance(attrs["backfill"], bool):
        raise invalid("'backfill' must be a boolean.", pointer=f"{ptr}/backfill")
    return EventInput(
        metric_name=name,
        metric_service=_opt_str(metric, "service", mptr),
        profile=profile,
        properties=_properties(_require(attrs, "properties", ptr), f"{ptr}/properties"),
        time=_time(attrs.get("time"), f"{ptr}/time", now),
        value=None if value is None else float(value),
        value_currency=_opt_str(attrs, "value_currency", ptr),
        unique_id=_opt_str(attrs, "unique_id", ptr),
    )


# --- endpoints ---------------------------------------------------------------------------------------------------


def parse_event_create(body: Any, now: datetime) -> EventInput:
    """POST /api/events: `{"data": {"type": "event", "attributes": {metric, profile, properties, ...}}}`."""
    attrs = _resource(body, "", "event")["attributes"]
    ptr = "/data/attributes"
    profile = _event_profile(_require(attrs, "profile", ptr), f"{ptr}/profile")
    return _event(attrs, ptr, now, profile)


def parse_event_bulk_create_job(body: Any, now: datetime) -> list[EventInput]:
    """POST /api/event-bulk-create-jobs: profiles each with their events, at most 1,000 events in all.

    Any bad event or profile rejects the whole request."""
    attrs = _resource(body, "", "event-bulk-create-job")["attributes"]
    ptr = "/data/attributes/events-bulk-create"
    entries = _data_list(_require(attrs, "events-bulk-create", "/data/attributes"), ptr)
    groups: list[tuple[str, dict[str, Any], list[Any]]] = []
    for i, entry in enumerate(entries):
        eptr = f"{ptr}/data/{i}"
        entry_attrs = _resource_object(entry, eptr, "event-bulk-create")["attributes"]
        aptr = f"{eptr}/attributes"
        events = _data_list(_require(entry_attrs, "events", aptr), f"{aptr}/events")
        groups.append((aptr, entry_attrs, events))
    total = sum(len(events) for _, _, events in groups)
    if total > MAX_BULK_EVENTS:
        raise invalid(
            f"A bulk create job accepts at most {MAX_BULK_EVENTS} events; got {total}.", pointer=f"{ptr}/data"
        )
    out: list[EventInput] = []
    for aptr, entry_attrs, events in groups:
        profile = _event_profile(_require(entry_attrs, "profile", aptr), f"{aptr}/profile")
        for j, event in enumerate(events):
            evptr = f"{aptr}/events/data/{j}"
            out.append(
                _event(_resource_object(event, evptr, "event")["attributes"], f"{evptr}/attributes", now, profile)
            )
    return out


def parse_profile_upsert(body: Any) -> ProfileInput:
    """POST /api/profile-import: `{"data": {"type": "profile", "id"?: ..., "attributes": {...}}}`."""
    data = _resource(body, "", "profile")
    profile = _profile(data, "/data", UPSERT_PROFILE_IDS, keep_nulls=True)
    _check_identity(profile, "/data/attributes", UPSERT_PROFILE_IDS)
    return profile


def _list_ids(job: dict[str, Any]) -> list[str]:
    relationships = job.get("relationships")
    if relationships is None:
        return []
    lists = _obj(relationships, "/data/relationships").get("lists")
    if lists is None:
        return []
    ptr = "/data/relationships/lists"
    rows = _obj(lists, ptr).get("data")
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise invalid("'data' must be an array.", pointer=f"{ptr}/data")
    ids: list[str] = []
    for i, row in enumerate(rows):
        rptr = f"{ptr}/data/{i}"
        given = _require(_obj(row, rptr), "type", rptr)
        if given != "list":
            raise invalid(f"Invalid resource type '{given}'; expected 'list'.", pointer=f"{rptr}/type")
        lid = _opt_str(row, "id", rptr)
        if not lid:
            raise invalid("'id' is required.", pointer=f"{rptr}/id")
        ids.append(lid)
    return ids


def parse_profile_bulk_import_job(
    body: Any,
) -> tuple[list[ProfileInput | None], list[ProfileRowError], list[str]]:
    """POST /api/profile-bulk-import-jobs: 1..10,000 profiles and optional lists to add them to.

    Structural problems reject the request; a row with a bad email or phone number or without an identifier
    becomes a row error (read later at /import-errors) and None in the profiles."""
    job = _resource(body, "", "profile-bulk-import-job")
    ptr = "/data/attributes/profiles"
    rows = _data_list(_require(job["attributes"], "profiles", "/data/attributes"), ptr)
    if not 1 <= len(rows) <= MAX_BULK_PROFILES:
        raise invalid(
            f"A bulk import job accepts 1 to {MAX_BULK_PROFILES} profiles; got {len(rows)}.", pointer=f"{ptr}/data"
        )
    profiles: list[ProfileInput | None] = []
    errors: list[ProfileRowError] = []
    for i, row in enumerate(rows):
        rptr = f"{ptr}/data/{i}"
        parsed = _profile(
            _resource_object(row, rptr, "profile"), rptr, UPSERT_PROFILE_IDS, keep_nulls=False
        )  # peers.md: a bulk import cannot clear a field
        profile: ProfileInput | None = parsed
        try:
            _check_identity(parsed, f"{rptr}/attributes", UPSERT_PROFILE_IDS)
        except KlaviyoError as e:
            errors.append(
                ProfileRowError(
                    index=i,
                    code=e.code,
                    title=e.title,
                    detail=e.detail,
                    pointer=e.pointer or rptr,
                    original_payload=row,
                )
            )
            profile = None
        profiles.append(profile)
    return profiles, errors, _list_ids(job)


def parse_profile_identifiers(body: Any) -> list[str]:
    """POST and DELETE /api/lists/{id}/relationships/profiles: `{"data": [{"type": "profile", "id": ...}]}`,
    at most 1,000 profiles (SDK: ListMembersAddQuery / ListMembersDeleteQuery, a list of {type, id})."""
    rows = _data_list(body, "")
    if len(rows) > MAX_LIST_MEMBERS:
        raise invalid(
            f"This endpoint accepts at most {MAX_LIST_MEMBERS} profiles per request; got {len(rows)}.", pointer="/data"
        )
    ids: list[str] = []
    for i, row in enumerate(rows):
        rptr = f"/data/{i}"
        given = _require(_obj(row, rptr), "type", rptr)
        if given != "profile":
            raise invalid(f"Invalid resource type '{given}'; expected 'profile'.", pointer=f"{rptr}/type")
        pid = _opt_str(row, "id", rptr)
        if not pid:
            raise invalid("'id' is required.", pointer=f"{rptr}/id")
        ids.append(pid)
    return ids


# --- subscriptions -------------------------------------------------------------------------------------------------

# Channels and their parameters, as the SDK's SubscriptionChannels / UnsubscriptionChannels models have them. The
# sandbox keeps marketing consent of email and SMS; the other parameters are checked for shape and not kept.
SUBSCRIPTION_CHANNELS = {
    "email": frozenset({"marketing", "open_tracking", "click_tracking"}),
    "sms": frozenset({"marketing", "transactional"}),
    "whatsapp": frozenset({"marketing", "transactional", "conversational"}),
    "push": frozenset({"marketing", "tokens"}),
}
CHANNEL_IDENTIFIER = {"email": "email", "sms": "phone_number"}


@dataclass
class SubscriptionInput:
    """One profile of a subscription job: who (identifiers), and the channels whose marketing consent changes,
    each with when consent was given (a historical import) or None."""

    profile: ProfileInput
    channels: dict[str, datetime | None]


@dataclass
class SubscriptionJob:
    subscribe: bool
    profiles: list[SubscriptionInput]
    list_id: str | None
    historical: bool = False
    custom_source: str | None = None


def _list_id(job: dict[str, Any]) -> str | None:
    """The optional `relationships.list` of a subscription job: `{"data": {"type": "list", "id": ...}}`."""
    relationships = job.get("relationships")
    if relationships is None:
        return None
    found = _obj(relationships, "/data/relationships").get("list")
    if found is None:
        return None
    ptr = "/data/relationships/list/data"
    row = _obj(_require(_obj(found, "/data/relationships/list"), "data", "/data/relationships/list"), ptr)
    given = _require(row, "type", ptr)
    if given != "list":
        raise invalid(f"Invalid resource type '{given}'; expected 'list'.", pointer=f"{ptr}/type")
    lid = _opt_str(row, "id", ptr)
    if not lid:
        raise invalid("'id' is required.", pointer=f"{ptr}/id")
    return lid


def _consented_at(marketing: dict[str, Any], ptr: str, historical: bool, now: datetime) -> datetime | None:
    """SDK (SubscriptionParameters.consented_at): only with `historical_import`, which requires it, in the past."""
    value = marketing.get("consented_at")
    if not historical:
        if value is not None:
            raise invalid(
                "'consented_at' may only be given when 'historical_import' is true.", pointer=f"{ptr}/consented_at"
            )
        return None
    if value is None:
        raise invalid("'consented_at' is required when 'historical_import' is true.", pointer=f"{ptr}/consented_at")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise invalid("'consented_at' must be an ISO 8601 datetime.", pointer=f"{ptr}/consented_at")
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > now:
        raise invalid("'consented_at' must be in the past.", pointer=f"{ptr}/consented_at")
    return moment


def _subscription_profile(row: Any, rptr: str, job: SubscriptionJob, now: datetime) -> SubscriptionInput:
    data = _resource_object(row, rptr, "profile")
    aptr = f"{rptr}/attributes"
    attrs: dict[str, Any] = data["attributes"]
    allowed = {"email", "phone_number", "subscriptions"} | ({"age_gated_date_of_birth"} if job.subscribe else set())
    _reject_unknown(attrs, allowed, aptr, "profile")
    profile = ProfileInput(
        id=_opt_str(data, "id", rptr) if job.subscribe else None,
        email=_opt_str(attrs, "email", aptr),
        phone_number=_opt_str(attrs, "phone_number", aptr),
    )
    sptr = f"{aptr}/subscriptions"
    subscriptions = _obj(_require(attrs, "subscriptions", aptr), sptr)
    _reject_unknown(subscriptions, set(SUBSCRIPTION_CHANNELS), sptr, "subscriptions")
    expected = "SUBSCRIBED" if job.subscribe else "UNSUBSCRIBED"
    channels: dict[str, datetime | None] = {}
    for channel, parameters in subscriptions.items():
        if parameters is None:  # the SDK sends the channels it was not given as nulls
            continue
        cptr = f"{sptr}/{channel}"
        params = _obj(parameters, cptr)
        _reject_unknown(params, SUBSCRIPTION_CHANNELS[channel], cptr, channel)
        if params.get("marketing") is None or channel not in CHANNEL_IDENTIFIER:
            continue
        mptr = f"{cptr}/marketing"
        marketing = _obj(params["marketing"], mptr)
        _reject_unknown(marketing, {"consent", "consented_at"} if job.subscribe else {"consent"}, mptr, "marketing")
        if marketing.get("consent") != expected:
            raise invalid(f"'consent' must be \"{expected}\".", pointer=f"{mptr}/consent")
        at = _consented_at(marketing, mptr, job.historical, now) if job.subscribe else None
        identifier = CHANNEL_IDENTIFIER[channel]
        if not getattr(profile, identifier):
            raise invalid(f"'{identifier}' is required to change {channel} consent.", pointer=f"{aptr}/{identifier}")
        channels[channel] = at
    if not channels:
        raise invalid("Give the marketing consent of at least one channel (email, sms).", pointer=sptr)
    _check_identity(profile, aptr, ("email", "phone_number"))
    return SubscriptionInput(profile, channels)


def parse_subscription_job(body: Any, now: datetime, *, subscribe: bool) -> SubscriptionJob:
    """POST /api/profile-subscription-bulk-create-jobs (`subscribe`) or -delete-jobs: profiles whose email and/or
    SMS marketing consent changes, and an optional list they join (or leave). A bad profile rejects the request."""
    type_ = f"profile-subscription-bulk-{'create' if subscribe else 'delete'}-job"
    data = _resource(body, "", type_)
    attrs: dict[str, Any] = data["attributes"]
    aptr = "/data/attributes"
    known = {"profiles", "custom_source", "historical_import"} if subscribe else {"profiles"}
    _reject_unknown(attrs, known, aptr, type_)
    historical = attrs.get("historical_import", False)
    if not isinstance(historical, bool):
        raise invalid("'historical_import' must be a boolean.", pointer=f"{aptr}/historical_import")
    job = SubscriptionJob(subscribe, [], _list_id(data), historical, _opt_str(attrs, "custom_source", aptr))
    ptr = f"{aptr}/profiles"
    rows = _data_list(_require(attrs, "profiles", aptr), ptr)
    most = MAX_SUBSCRIBE if subscribe else MAX_UNSUBSCRIBE
    if not 1 <= len(rows) <= most:
        raise invalid(f"A job accepts 1 to {most} profiles; got {len(rows)}.", pointer=f"{ptr}/data")
    job.profiles = [_subscription_profile(row, f"{ptr}/data/{i}", job, now) for i, row in enumerate(rows)]
    return job
