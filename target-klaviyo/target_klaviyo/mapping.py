"""The mapping config: which columns of an input stream make a Klaviyo event and which make a profile.

Per stream (the key is the stream name after any stream map; "*" applies to every other stream):

    {"event":   {"metric": "Placed Order",            # a literal, or "metric_column": "<column>"
                 "profile": {"email": "EMAIL"},       # identifiers (default: the stream's profile identifiers)
                 "time": "DATE_ORDERED", "value": "ORDER_TOTAL", "value_currency": "CURRENCY",
                 "unique_id": "ORDER_ID",
                 "properties": {"OrderType": "ORDER_TYPE"}},   # name -> column; a list of columns; or "*"
     "profile": {"email": "EMAIL", "phone_number": "PHONE", "external_id": "CUSTOMER_ID",
                 "first_name": "FIRST", "last_name": "LAST", "organization": "...", "title": "...",
                 "locale": "...", "image": "...",
                 "location": {"address1": "...", "city": "...", "region": "...", "zip": "...", "country": "..."},
                 "properties": {"Plan": "PLAN"}},
     "list":    {"list_id": "AbC123", "mode": "mirror",          # or "add_only": never remove anyone
                 "profile": {"email": "EMAIL"}},      # identifiers (default: the stream's profile identifiers)
     "consent": {"email": "EMAIL_OPT_IN", "sms": "SMS_OPT_IN",   # consent columns: a boolean or a date
                 "profile": {"email": "EMAIL", "phone_number": "PHONE"}, "list_id": "AbC123"}}

The CSV-to-Klaviyo package's format (`event_mapping` / `profile_mapping` with `$email`, `$event_id`,
`customer_properties`, ...) is translated into this one by `legacy_event` and `legacy_profile`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .validate import MAX_EVENT_PROPERTIES, Consent, Invalid, ValueChecks, check_size, is_empty

IDENTIFIERS = ("email", "phone_number", "external_id")
PROFILE_FIELDS = ("first_name", "last_name", "organization", "title", "locale", "image")
LOCATION_FIELDS = (
    "address1",
    "address2",
    "city",
    "country",
    "region",
    "zip",
    "timezone",
    "ip",
    "latitude",
    "longitude",
)
EVENT_KEYS = ("metric", "metric_column", "profile", "time", "value", "value_currency", "unique_id", "properties")
LIST_KEYS = ("list_id", "mode", "profile")
LIST_MODES = ("mirror", "add_only")
CONSENT_KEYS = ("email", "sms", "profile", "list_id")
CONSENT_CHANNELS = {"email": "email", "sms": "phone_number"}  # channel -> the identifier it is given to
STREAM_KEYS = ("event", "profile", "list", "consent", "event_mapping", "profile_mapping")
WILDCARD = "*"
LIST_ID = re.compile(r"[A-Za-z0-9]{1,64}")

# The old package's special names -> this mapping's fields (Klaviyo's legacy names, shared reference).
LEGACY_PROFILE_NAMES = {
    "$email": "email",
    "$phone_number": "phone_number",
    "$id": "external_id",
    "$first_name": "first_name",
    "$last_name": "last_name",
    "$organization": "organization",
    "$title": "title",
    "$image": "image",
    "$locale": "locale",
}
LEGACY_LOCATION_NAMES = {f"${name}": name for name in LOCATION_FIELDS}


class MappingError(ValueError):
    """A mapping setting that cannot work; the message names the setting."""


@dataclass(frozen=True)
class ProfileMapping:
    identifiers: dict[str, str] = field(default_factory=dict)  # identifier -> column
    fields: dict[str, str] = field(default_factory=dict)  # first_name, ... -> column
    location: dict[str, str] = field(default_factory=dict)  # location field -> column
    properties: dict[str, str] = field(default_factory=dict)  # custom property -> column
    all_properties: bool = False  # "properties": "*": every column the mapping does not use otherwise

    def columns(self) -> list[str]:
        return [*self.identifiers.values(), *self.fields.values(), *self.location.values(), *self.properties.values()]


@dataclass(frozen=True)
class EventMapping:
    profile: ProfileMapping
    metric: str | None = None
    metric_column: str | None = None
    time: str | None = None
    value: str | None = None
    value_currency: str | None = None
    unique_id: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    all_properties: bool = False

    def columns(self) -> list[str]:
        singles = (self.metric_column, self.time, self.value, self.value_currency, self.unique_id)
        return [*self.profile.columns(), *(c for c in singles if c), *self.properties.values()]


@dataclass(frozen=True)
class ListMapping:
    """The stream's rows are members of a Klaviyo list: those that appear are added; in "mirror" mode, members
    remembered from earlier runs whose row is gone are removed."""

    profile: ProfileMapping  # identifiers only
    list_id: str
    mode: str  # "mirror" or "add_only"

    @property
    def mirror(self) -> bool:
        return self.mode == "mirror"

    def columns(self) -> list[str]:
        return self.profile.columns()


@dataclass(frozen=True)
class ConsentMapping:
    """Email and/or SMS marketing consent from consent columns (a boolean, or the date consent was given)."""

    profile: ProfileMapping  # identifiers only
    channels: dict[str, str]  # "email" / "sms" -> the consent column
    list_id: str | None = None

    def columns(self, channel: str) -> list[str]:
        """What a channel's consent reads: the profile's email and phone number (both sent, so that the channel's
        consent and the other identifier land on one profile) and the channel's consent column."""
        ids = self.profile.identifiers
        return [*(ids[k] for k in ("email", "phone_number") if k in ids), self.channels[channel]]


@dataclass(frozen=True)
class StreamMapping:
    setting: str  # where it was configured, for messages: "mappings.orders"
    event: EventMapping | None = None
    profile: ProfileMapping | None = None
    members: ListMapping | None = None  # the "list" mapping
    consent: ConsentMapping | None = None
    wildcard: bool = False  # from "*" or the top-level legacy settings: columns may be missing in some streams

    def list_ids(self) -> list[str]:
        """Every Klaviyo list this mapping writes to."""
        found = [self.members.list_id] if self.members else []
        if self.consent and self.consent.list_id:
            found.append(self.consent.list_id)
        return found

    def parts(self) -> list[tuple[str, list[str]]]:
        """Each part of the mapping ("event", "profile", "list", "consent") and the columns it reads."""
        out = []
        if self.event:
            out.append(("event", self.event.columns()))
        if self.profile:
            out.append(("profile", self.profile.columns()))
        if self.members:
            out.append(("list", self.members.columns()))
        if self.consent:
            out.append(("consent", [c for channel in self.consent.channels for c in self.consent.columns(channel)]))
        return out

    def columns(self) -> list[str]:
        return [column for _, columns in self.parts() for column in columns]


# --- parsing the config ------------------------------------------------------------------------------------------


def _expect(value: Any, kind: type | tuple[type, ...], setting: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise MappingError(f"{setting}: must be {what}, got {value!r}")
    return value


def _unknown(given: Iterable[str], known: Sequence[str], setting: str) -> None:
    extra = sorted(set(given) - set(known))
    if extra:
        raise MappingError(f"{setting}: unknown key(s) {', '.join(extra)} (known: {', '.join(known)})")


def _column(value: Any, setting: str) -> str:
    _expect(value, str, setting, "a column name (string)")
    if not value:
        raise MappingError(f"{setting}: the column name is empty")
    return str(value)


def _properties(value: Any, setting: str) -> tuple[dict[str, str], bool]:
    """`{"name": "column"}`, `["column", ...]` (names as the columns) or "*" (every column not otherwise used)."""
    if value is None:
        return {}, False
    if value == WILDCARD:
        return {}, True
    if isinstance(value, list):
        return {_column(c, f"{setting}[{i}]"): c for i, c in enumerate(value)}, False
    _expect(value, dict, setting, 'an object {"property": "column"}, a list of columns or "*"')
    return {str(name): _column(column, f"{setting}.{name}") for name, column in value.items()}, False


def parse_profile(raw: Any, setting: str) -> ProfileMapping:
    _expect(raw, dict, setting, "an object")
    _unknown(raw, (*IDENTIFIERS, *PROFILE_FIELDS, "location", "properties"), setting)
    location = raw.get("location") or {}
    _expect(location, dict, f"{setting}.location", "an object")
    _unknown(location, LOCATION_FIELDS, f"{setting}.location")
    properties, all_properties = _properties(raw.get("properties"), f"{setting}.properties")
    return ProfileMapping(
        identifiers={k: _column(raw[k], f"{setting}.{k}") for k in IDENTIFIERS if raw.get(k) is not None},
        fields={k: _column(raw[k], f"{setting}.{k}") for k in PROFILE_FIELDS if raw.get(k) is not None},
        location={k: _column(v, f"{setting}.location.{k}") for k, v in location.items() if v is not None},
        properties=properties,
        all_properties=all_properties,
    )


def parse_event(raw: Any, setting: str, stream_profile: ProfileMapping | None) -> EventMapping:
    _expect(raw, dict, setting, "an object")
    _unknown(raw, EVENT_KEYS, setting)
    metric, metric_column = raw.get("metric"), raw.get("metric_column")
    if (metric is None) == (metric_column is None):
        raise MappingError(
            f"{setting}: give the metric name as 'metric' (a literal such as \"Placed Order\") "
            "or 'metric_column' (the column holding it), one of the two"
        )
    if metric is not None:
        _expect(metric, str, f"{setting}.metric", "a metric name (string)")
        if not metric.strip() or len(metric.strip()) > 127:
            raise MappingError(f"{setting}.metric: a metric name has 1 to 127 characters, got {metric!r}")
    if raw.get("profile") is not None:
        profile = parse_profile(raw["profile"], f"{setting}.profile")
    elif stream_profile is not None:
        # One stream feeding both: the event's profile is identified as the stream's profile is.
        profile = ProfileMapping(identifiers=dict(stream_profile.identifiers))
    else:
        raise MappingError(
            f"{setting}.profile: map at least one profile identifier ({', '.join(IDENTIFIERS)}) to a column"
        )
    if not profile.identifiers:
        raise MappingError(f"{setting}.profile: map at least one profile identifier ({', '.join(IDENTIFIERS)})")
    properties, all_properties = _properties(raw.get("properties"), f"{setting}.properties")
    singles = {
        k: _column(raw[k], f"{setting}.{k}")
        for k in ("metric_column", "time", "value", "value_currency", "unique_id")
        if raw.get(k) is not None
    }
    return EventMapping(
        profile=profile,
        metric=metric.strip() if metric else None,
        properties=properties,
        all_properties=all_properties,
        **singles,
    )


def _identifiers(raw: Any, setting: str, stream_profile: ProfileMapping | None) -> ProfileMapping:
    """The profile identifiers of a list or consent mapping: its own `profile`, else the stream's profile's."""
    if raw is not None:
        _expect(raw, dict, setting, "an object")
        _unknown(raw, IDENTIFIERS, setting)
        profile = parse_profile(raw, setting)
    elif stream_profile is not None:
        profile = ProfileMapping(identifiers=dict(stream_profile.identifiers))
    else:
        profile = ProfileMapping()
    if not profile.identifiers:
        raise MappingError(f"{setting}: map at least one profile identifier ({', '.join(IDENTIFIERS)}) to a column")
    return profile


def _list_id(value: Any, setting: str) -> str:
    if not isinstance(value, str) or not LIST_ID.fullmatch(value):
        raise MappingError(f'{setting}: a Klaviyo list id (letters and digits, e.g. "Y6nRLr"), got {value!r}')
    return value


def parse_list(raw: Any, setting: str, stream_profile: ProfileMapping | None) -> ListMapping:
    _expect(raw, dict, setting, "an object")
    _unknown(raw, LIST_KEYS, setting)
    if raw.get("mode") not in LIST_MODES:
        raise MappingError(
            f'{setting}.mode: say what happens to members whose row is gone: "mirror" (they are removed from '
            f'the list) or "add_only" (they stay), got {raw.get("mode")!r}'
        )
    return ListMapping(
        profile=_identifiers(raw.get("profile"), f"{setting}.profile", stream_profile),
        list_id=_list_id(raw.get("list_id"), f"{setting}.list_id"),
        mode=raw["mode"],
    )


def parse_consent(raw: Any, setting: str, stream_profile: ProfileMapping | None) -> ConsentMapping:
    _expect(raw, dict, setting, "an object")
    _unknown(raw, CONSENT_KEYS, setting)
    channels = {c: _column(raw[c], f"{setting}.{c}") for c in CONSENT_CHANNELS if raw.get(c) is not None}
    if not channels:
        raise MappingError(f'{setting}: name the consent column of email and/or sms ("email": "EMAIL_OPT_IN")')
    profile = _identifiers(raw.get("profile"), f"{setting}.profile", stream_profile)
    for channel in channels:
        needed = CONSENT_CHANNELS[channel]
        if needed not in profile.identifiers:
            raise MappingError(
                f"{setting}.{channel}: {channel} consent is given to a profile's {needed}: map profile.{needed}"
            )
    list_id = _list_id(raw["list_id"], f"{setting}.list_id") if raw.get("list_id") is not None else None
    return ConsentMapping(profile=profile, channels=channels, list_id=list_id)


def parse_stream_mapping(raw: Any, setting: str, *, wildcard: bool = False) -> StreamMapping:
    _expect(raw, dict, setting, 'an object with "event", "profile", "list" and/or "consent"')
    _unknown(raw, STREAM_KEYS, setting)
    event_raw, profile_raw = raw.get("event"), raw.get("profile")
    if raw.get("event_mapping") is not None:
        event_raw = legacy_event(raw["event_mapping"], f"{setting}.event_mapping")
    if raw.get("profile_mapping") is not None:
        profile_raw = legacy_profile(raw["profile_mapping"], f"{setting}.profile_mapping")
    list_raw, consent_raw = raw.get("list"), raw.get("consent")
    if event_raw is None and profile_raw is None and list_raw is None and consent_raw is None:
        raise MappingError(f"{setting}: map the stream to an event, a profile, a list, consent, or several")
    profile = parse_profile(profile_raw, f"{setting}.profile") if profile_raw is not None else None
    if profile is not None and not profile.identifiers:
        raise MappingError(f"{setting}.profile: map at least one profile identifier ({', '.join(IDENTIFIERS)})")
    return StreamMapping(
        setting=setting,
        event=parse_event(event_raw, f"{setting}.event", profile) if event_raw is not None else None,
        profile=profile,
        members=parse_list(list_raw, f"{setting}.list", profile) if list_raw is not None else None,
        consent=parse_consent(consent_raw, f"{setting}.consent", profile) if consent_raw is not None else None,
        wildcard=wildcard,
    )


class Mappings:
    """Every stream's mapping, from `mappings` and the old top-level `event_mapping` / `profile_mapping`."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        raw = config.get("mappings") or {}
        _expect(raw, dict, "mappings", "an object {stream name: mapping}")
        self.streams = {
            name: parse_stream_mapping(value, f"mappings.{name}", wildcard=name == WILDCARD)
            for name, value in raw.items()
        }
        legacy = {k: config[k] for k in ("event_mapping", "profile_mapping") if config.get(k)}
        if legacy:
            if WILDCARD in self.streams:
                raise MappingError(
                    'event_mapping/profile_mapping apply to every stream, as mappings."*" does: give one of the two'
                )
            # The old package read one CSV: its mapping applies to every stream not mapped by name.
            self.streams[WILDCARD] = parse_stream_mapping(legacy, "event_mapping/profile_mapping", wildcard=True)
        if not self.streams:
            raise MappingError("mappings: no mapping configured (set mappings, or event_mapping/profile_mapping)")

    def list_ids(self) -> dict[str, str]:
        """Every list a mapping writes to -> the setting that names it."""
        return {lid: m.setting for m in self.streams.values() for lid in m.list_ids()}

    def for_stream(self, stream: str) -> StreamMapping:
        found = self.streams.get(stream) or self.streams.get(WILDCARD)
        if found is None:
            raise MappingError(
                f"mappings: no mapping for stream '{stream}' (mapped: {', '.join(self.streams)}; "
                'use "*" for every stream)'
            )
        return found


# --- the old package's format ------------------------------------------------------------------------------------


def _legacy_profile_attrs(properties: Mapping[str, Any], setting: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    location: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, column in properties.items():
        if name in LEGACY_PROFILE_NAMES:
            out[LEGACY_PROFILE_NAMES[name]] = column
        elif name in LEGACY_LOCATION_NAMES:
            location[LEGACY_LOCATION_NAMES[name]] = column
        else:
            custom[name] = column
    if location:
        out["location"] = location
    if custom:
        out["properties"] = custom
    return out


def legacy_event(raw: Any, setting: str) -> dict[str, Any]:
    """`{"event": "Placed Order", "customer_properties": {"$email": col}, "properties": {"$event_id": col,
    "$value": col, name: col}, "time": col}` -> this mapping's event format."""
    _expect(raw, dict, setting, "an object")
    _unknown(raw, ("event", "customer_properties", "properties", "time"), setting)
    if not raw.get("event"):
        raise MappingError(f'{setting}.event: the metric name (a literal such as "Placed Order") is required')
    customer = _expect(raw.get("customer_properties") or {}, dict, f"{setting}.customer_properties", "an object")
    properties = dict(_expect(raw.get("properties") or {}, dict, f"{setting}.properties", "an object"))
    out: dict[str, Any] = {"metric": raw["event"], "profile": _legacy_profile_attrs(customer, setting)}
    for legacy, name in (("$event_id", "unique_id"), ("$value", "value"), ("$value_currency", "value_currency")):
        if legacy in properties:
            out[name] = properties.pop(legacy)
    if raw.get("time"):
        out["time"] = raw["time"]
    if properties:
        out["properties"] = properties
    return out


def legacy_profile(raw: Any, setting: str) -> dict[str, Any]:
    """`{"properties": {"$email": col, "$first_name": col, "$zip": col, name: col}}` -> this mapping's profile."""
    _expect(raw, dict, setting, "an object")
    _unknown(raw, ("properties",), setting)
    properties = _expect(raw.get("properties") or {}, dict, f"{setting}.properties", "an object")
    return _legacy_profile_attrs(properties, setting)


# --- rows to payloads --------------------------------------------------------------------------------------------


def _resolve(columns: Sequence[str]) -> dict[str, str]:
    """Mapping column name -> the stream's column: exact, or ignoring a byte-order mark and outer spaces
    (a CSV saved by Excel carries a BOM in its first header)."""
    resolved = {c: c for c in columns}
    for c in columns:
        resolved.setdefault(c.lstrip("\ufeff").strip(), c)
    return resolved


class RowMapper:
    """Turns one stream's rows into Klaviyo payloads (dicts in the bulk endpoints' shapes), or raises Invalid."""

    def __init__(
        self,
        stream: str,
        mapping: StreamMapping,
        checks: ValueChecks,
        columns: Sequence[str],
        metadata_columns: Iterable[str] = (),
    ) -> None:
        self.stream = stream
        self.mapping = mapping
        self.checks = checks
        resolved = _resolve(columns)
        wanted = mapping.columns()
        for part, part_columns in mapping.parts():
            missing = sorted({c for c in part_columns if c not in resolved})
            if missing and not mapping.wildcard:
                raise MappingError(
                    f"{mapping.setting}.{part}: column(s) {', '.join(missing)} not in stream '{stream}' "
                    f"(its columns: {', '.join(columns)})"
                )
        self._col = {c: resolved.get(c, c) for c in wanted}
        skip = {*metadata_columns, *(resolved.get(c, c) for c in wanted)}
        rest = [c for c in columns if c not in skip and not c.startswith("_sdc_")]
        self._event_rest = rest if mapping.event and mapping.event.all_properties else []
        self._profile_rest = rest if mapping.profile and mapping.profile.all_properties else []

    def _get(self, record: Mapping[str, Any], column: str) -> Any:
        value = record.get(self._col.get(column, column))
        return None if is_empty(value) else value

    def identifier(self, record: Mapping[str, Any], profile: ProfileMapping | None = None) -> str | None:
        """The row's profile identifier (of `profile`, else of the stream's profile or event mapping): its
        external_id, else its email, else its phone number, as written."""
        mapping = self.mapping
        candidates = (profile,) if profile else (mapping.profile, mapping.event.profile if mapping.event else None)
        for found in candidates:
            if found is None:
                continue
            for key in ("external_id", "email", "phone_number"):
                column = found.identifiers.get(key)
                value = self._get(record, column) if column else None
                if value is not None:
                    return str(value).strip()
        return None

    def key_columns(self, profile: ProfileMapping) -> list[str]:
        """The stream's columns of a profile's identifiers, in the order `identifier` tries them."""
        ids = profile.identifiers
        return [self._col.get(ids[k], ids[k]) for k in ("external_id", "email", "phone_number") if k in ids]

    def column(self, name: str) -> str:
        """The stream's own name of a mapped column."""
        return self._col.get(name, name)

    def value(self, record: Mapping[str, Any], column: str) -> Any:
        """A mapped column's value in the row (None when empty)."""
        return self._get(record, column)

    def stream_columns(self, columns: Iterable[str], kind_rest: str | None = None) -> list[str]:
        """The stream's own names of mapped columns, and of the columns a "*" of `kind_rest` takes: what a
        kind reads from a row."""
        rest = {"event": self._event_rest, "profile": self._profile_rest}.get(kind_rest or "", [])
        return [*(self._col.get(c, c) for c in columns), *rest]

    def _custom(self, record: Mapping[str, Any], named: Mapping[str, str], rest: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, column in named.items():
            value = self._get(record, column)
            if value is not None:
                check_size(value, column)
                out[name] = value
        for column in rest:
            value = record.get(column)
            if not is_empty(value):
                check_size(value, column)
                out[column] = value
        return out

    def _profile_attributes(
        self, record: Mapping[str, Any], profile: ProfileMapping, rest: Sequence[str] = ()
    ) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        for key, column in profile.identifiers.items():
            value = self._get(record, column)
            if value is None:
                continue
            if key == "email":
                attrs[key] = self.checks.email(value, column)
            elif key == "phone_number":
                attrs[key] = self.checks.phone(value, column)
            else:
                check_size(str(value), column)
                attrs[key] = str(value).strip()
        if not attrs:
            columns = ", ".join(profile.identifiers.values())
            raise Invalid(f"no profile identifier: {columns} empty", "missing_identifier")
        for key, column in profile.fields.items():
            value = self._get(record, column)
            if value is not None:
                check_size(str(value), column)
                attrs[key] = str(value)
        location = {}
        for key, column in profile.location.items():
            value = self._get(record, column)
            if value is not None:
                check_size(str(value), column)
                location[key] = self.checks.number(value, column) if key in ("latitude", "longitude") else str(value)
        if location:
            attrs["location"] = location
        properties = self._custom(record, profile.properties, rest)
        if properties:
            attrs["properties"] = properties
        return attrs

    def profile(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A profile resource for /profile-bulk-import-jobs."""
        assert self.mapping.profile is not None
        return {
            "type": "profile",
            "attributes": self._profile_attributes(record, self.mapping.profile, self._profile_rest),
        }

    def event(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """One entry of /event-bulk-create-jobs: the profile and its (one) event."""
        mapping = self.mapping.event
        assert mapping is not None
        profile = self._profile_attributes(record, mapping.profile)
        metric = mapping.metric
        if mapping.metric_column:
            found = self._get(record, mapping.metric_column)
            if found is None:
                raise Invalid(
                    f"{mapping.metric_column}: no metric name (the event's name) in this row", "missing_metric"
                )
            metric = self.checks.metric_name(found, mapping.metric_column)
        attrs: dict[str, Any] = {}
        if mapping.time and (value := self._get(record, mapping.time)) is not None:
            attrs["time"] = self.checks.time(value, mapping.time)
        if mapping.value and (value := self._get(record, mapping.value)) is not None:
            attrs["value"] = self.checks.number(value, mapping.value)
        if mapping.value_currency and (value := self._get(record, mapping.value_currency)) is not None:
            attrs["value_currency"] = str(value).strip()
        properties = self._custom(record, mapping.properties, self._event_rest)
        if len(properties) > MAX_EVENT_PROPERTIES:
            raise Invalid(
                f"{len(properties)} event properties; Klaviyo accepts at most {MAX_EVENT_PROPERTIES}",
                "too_many_properties",
            )
        unique_id = self._get(record, mapping.unique_id) if mapping.unique_id else None
        if unique_id is not None:
            check_size(str(unique_id), mapping.unique_id or "unique_id")
            unique_id = str(unique_id).strip()
        else:
            unique_id = content_id(metric or "", profile, attrs, properties)
        event = {
            "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
            "properties": properties,
            **attrs,
            "unique_id": unique_id,
        }
        return {
            "type": "event-bulk-create",
            "attributes": {
                "profile": {"data": {"type": "profile", "attributes": profile}},
                "events": {"data": [{"type": "event", "attributes": event}]},
            },
        }

    def list_member(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A profile (its identifiers only) for an import job that adds it to the mapping's list."""
        assert self.mapping.members is not None
        return {"type": "profile", "attributes": self._profile_attributes(record, self.mapping.members.profile)}

    def _consent_identifier(self, identifier: str, value: Any, column: str) -> str:
        return self.checks.email(value, column) if identifier == "email" else self.checks.phone(value, column)

    def consent(self, record: Mapping[str, Any], channel: str) -> tuple[Consent, dict[str, Any]] | None:
        """A profile for a subscription job of `channel` ("email", "sms"): subscribed (with `consented_at` when
        the cell is a date) or unsubscribed; None when the consent cell is empty (it says nothing)."""
        mapping = self.mapping.consent
        assert mapping is not None
        column = mapping.channels[channel]
        raw = self._get(record, column)
        if raw is None:
            return None
        consent = self.checks.consent(raw, column)
        identifier = CONSENT_CHANNELS[channel]
        id_column = mapping.profile.identifiers[identifier]
        value = self._get(record, id_column)
        if value is None:
            raise Invalid(f"{id_column}: empty, and {channel} consent is given to a {identifier}", "missing_identifier")
        attrs: dict[str, Any] = {identifier: self._consent_identifier(identifier, value, id_column)}
        # The other identifier, when the row has a valid one, names the same profile ("If the email channel is
        # omitted from subscriptions, this will be set on the profile": the SDK's subscription model).
        other = "phone_number" if identifier == "email" else "email"
        other_column = mapping.profile.identifiers.get(other)
        other_value = self._get(record, other_column) if other_column else None
        if other_column and other_value is not None:
            # The channel's own identifier is enough; a profile mapping reports a bad other one.
            with contextlib.suppress(Invalid):
                attrs[other] = self._consent_identifier(other, other_value, other_column)
        marketing: dict[str, Any] = {"consent": "SUBSCRIBED" if consent.subscribed else "UNSUBSCRIBED"}
        if consent.consented_at:
            marketing["consented_at"] = consent.consented_at
        attrs["subscriptions"] = {channel: {"marketing": marketing}}
        return consent, {"type": "profile", "attributes": attrs}


def content_id(metric: str, profile: Mapping[str, Any], attrs: Mapping[str, Any], properties: Mapping[str, Any]) -> str:
    """A stable unique_id from what the row maps to: the same row gives the same id on every run and machine
    (unlike Python's per-process `hash()`, which made the old package duplicate events on every re-run)."""
    ids = {k: profile[k] for k in IDENTIFIERS if k in profile}
    content = orjson.dumps([metric, ids, attrs, properties], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(content).hexdigest()[:40]
