"""What one stream's rows become, kind by kind: an event, a profile, a list member, email or SMS consent.

A `Kind` knows, for its stream's rows: their key and fingerprint in the change memory, the payload and the route
it goes to, and (as the dispatcher's `Lane`) what to count and remember once Klaviyo accepted a batch.

| kind | key | route |
|---|---|---|
| event | the unique_id column, else the fingerprint itself (the content is the event) | event bulk create |
| profile | external_id, else email, else phone number | profile import job |
| list | as profile, from the list mapping's identifiers | profile import job with the list |
| email_consent / sms_consent | the email / the phone number | subscription bulk create (or delete) job |

A fingerprint covers the values of every column the kind reads (the whole row's own columns for a "*" of
properties) and a digest of the kind's mapping and the settings that shape payloads, so a changed mapping sends
every row again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson

from .bulk import Item, identity_of
from .changes import Accepted, Changes, Fingerprint, key_hash
from .mapping import CONSENT_CHANNELS, RowMapper
from .memory import ChangeMemory
from .rejects import Outcomes
from .routes import EVENTS, PROFILES, Route, into_list, subscribe, unsubscribe
from .validate import Invalid

Built = tuple[Route, dict[str, Any], tuple[str, str] | None]
MemoryInputs = tuple[str | None, int | None, int]  # key as written, its hash, fingerprint


def json_number(value: Any) -> Any:
    """What orjson cannot write: singer-sdk reads a JSON number with a fraction (a warehouse's NUMBER, FLOAT) as a
    Decimal; Klaviyo takes JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.is_finite() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")  # the route, the payload, a list member's identity


class Kind:
    """One kind of one stream: how its rows are keyed, fingerprinted and built, and what their acceptance does."""

    def __init__(
        self,
        stream: str,
        kind: str,
        mapper: RowMapper,
        outcomes: Outcomes,
        memory: ChangeMemory,
        settings_digest: Any,
    ) -> None:
        self.stream = stream
        self.kind = kind
        self.mapper = mapper
        self.outcomes = outcomes
        mapping = mapper.mapping
        self.mirror = False
        self.list_id: str | None = None
        self.channel: str | None = None
        self.routes: dict[str, Route] = {}
        if kind == "event":
            assert mapping.event is not None
            self.columns = mapper.stream_columns(mapping.event.columns(), "event")
            self.key_columns = [mapper.column(mapping.event.unique_id)] if mapping.event.unique_id else []
            digest: Any = asdict(mapping.event)
            self.routes[""] = EVENTS
        elif kind == "profile":
            assert mapping.profile is not None
            self.columns = mapper.stream_columns(mapping.profile.columns(), "profile")
            self.key_columns = mapper.key_columns(mapping.profile)
            digest = asdict(mapping.profile)
            self.routes[""] = PROFILES
        elif kind == "list":
            assert mapping.members is not None
            self.columns = mapper.stream_columns(mapping.members.columns())
            self.key_columns = mapper.key_columns(mapping.members.profile)
            self.mirror = mapping.members.mirror
            self.list_id = mapping.members.list_id
            digest = asdict(mapping.members.profile)  # not the list or mode: each list has a memory of its own
            self.routes[""] = into_list(self.list_id, profile_ids=self.mirror)
        else:
            consent = mapping.consent
            assert consent is not None
            self.channel = kind.removesuffix("_consent")
            self.columns = mapper.stream_columns(consent.columns(self.channel))
            self.key_columns = [mapper.column(consent.profile.identifiers[CONSENT_CHANNELS[self.channel]])]
            self.list_id = consent.list_id
            digest = [consent.list_id, consent.channels[self.channel]]
            self.routes = {
                "subscribed": subscribe(historical=False, list_id=consent.list_id),
                "historical": subscribe(historical=True, list_id=consent.list_id),
                "unsubscribed": unsubscribe(list_id=consent.list_id),
            }
        self.fingerprint = Fingerprint(kind, digest, self.columns, settings_digest)
        self._values = values_of(self.columns)
        self.changes: Changes = memory.open(stream, self.memory_name, mirror=self.mirror)

    @property
    def memory_name(self) -> str:
        """The kind's name in the change memory: a list's members have a memory per list."""
        return f"list-{self.list_id}" if self.kind == "list" else self.kind

    # --- a row -----------------------------------------------------------------------------------------------

    def applies(self, record: Mapping[str, Any]) -> bool:
        """Consent says something only where its cell is not empty; every other kind takes every row."""
        if self.channel is None:
            return True
        consent = self.mapper.mapping.consent
        assert consent is not None
        return self.mapper.value(record, consent.channels[self.channel]) is not None

    def memory_inputs(self, record: Mapping[str, Any]) -> MemoryInputs:
        """What the change memory needs of a row: its key as written (the first of `key_columns` not empty; None
        when it has none: it is then rejected when built, or an event keyed by its content), that key's hash, and
        the row's fingerprint. One call, as every row of a re-run takes it."""
        fp = self.fingerprint.of(self._values(record))
        for column in self.key_columns:
            value = record.get(column)
            if value is not None and (text := str(value).strip()):
                return text, key_hash(text), fp
        return None, None, fp

    def reject_key(self, record: Mapping[str, Any], key: str | None) -> str | None:
        """The key the rejected-rows file shows: the row's key, or for an event without a unique_id column, its
        profile's identifier (a fingerprint means nothing to a reader)."""
        if key is not None or self.kind != "event":
            return key
        event = self.mapper.mapping.event
        return self.mapper.identifier(record, event.profile if event else None)

    def build(self, record: Mapping[str, Any]) -> Built:
        """The row's payload and route; raises Invalid with the reason Klaviyo would refuse it."""
        if self.kind == "event":
            return self.routes[""], self.mapper.event(record), None
        if self.kind == "profile":
            return self.routes[""], self.mapper.profile(record), None
        if self.kind == "list":
            payload = self.mapper.list_member(record)
            return self.routes[""], payload, identity_of(payload["attributes"])
        assert self.channel is not None
        found = self.mapper.consent(record, self.channel)
        if found is None:  # applies() said otherwise: a row checked twice
            raise Invalid("the consent cell is empty", "missing_consent")
        consent, payload = found
        variant = "unsubscribed" if not consent.subscribed else "historical" if consent.consented_at else "subscribed"
        return self.routes[variant], payload, None

    @staticmethod
    def serialize(payload: dict[str, Any]) -> bytes:
        # orjson's bytes keep its 4 KB working buffer: an exact copy makes a batch of 10,000 rows take ~2 MB,
        # not 40 MB.
        return bytes(memoryview(orjson.dumps(payload, default=json_number)))

    # --- the dispatcher's Lane -------------------------------------------------------------------------------

    def accepted(self, items: Sequence[Item], route: Route, profile_ids: Sequence[str] | None) -> None:
        """Klaviyo accepted these rows: count them, and remember what they sent."""
        created = sum(1 for item in items if item.new)
        extra: dict[str, int] = {}
        if self.kind == "list":
            extra["added"] = len(items)
        elif self.channel is not None:
            extra["unsubscribed" if route.name == "bulk_unsubscribe_profiles" else "subscribed"] = len(items)
        self.outcomes.accepted(self.stream, self.kind, created=created, changed=len(items) - created, **extra)
        ids = profile_ids or [""] * len(items)
        self.changes.accept(
            Accepted(item.seq, item.key, item.fp, profile_id) for item, profile_id in zip(items, ids, strict=True)
        )


def values_of(columns: Sequence[str]) -> Callable[[Mapping[str, Any]], Sequence[Any]]:
    """A row's values of `columns`, in their order, None for a column the row lacks. `itemgetter` where the row has
    every column takes a third of the time of a `get` per column, which every row of a re-run pays."""
    if len(columns) < 2:  # itemgetter of one column gives the value, not a sequence of it
        return lambda record: [record.get(column) for column in columns]
    take = itemgetter(*columns)

    def values(record: Mapping[str, Any]) -> Sequence[Any]:
        try:
            return take(record)  # type: ignore[no-any-return]
        except KeyError:
            return [record.get(column) for column in columns]

    return values
