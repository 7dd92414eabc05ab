"""GET handlers' logic: parse Klaviyo's query parameters, walk a table in keyset order, build the page."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

from . import errors
from .account import Account
from .attribution import attributed_message, attribution_id, attribution_record
from .consent import with_written_consent
from .endpoints import REL_TYPES, Endpoint
from .event_pages import fast_page
from .filters import Condition, matches, parse_filter, time_bounds, validate
from .jsonapi import parse_fields, resource, resource_json
from .tables import Pos, Record

# A page stops early (with a next link) after looking at this many records, so a filter that
# matches rarely cannot make one request scan a million events; Klaviyo also returns short pages.
MAX_SCAN = 50_000
PROFILE_RELATIONSHIPS = ("lists", "segments", "push-tokens", "conversations")

CAMPAIGN_CHANNEL_DETAIL = (
    "A channel filter is required to list campaigns. Please try again with a filter for one of "
    "equals(messages.channel,'email'), equals(messages.channel,'sms'), equals(messages.channel,'mobile_push')."
)


def field_value(record: Record, field: str) -> Any:
    """The value a filter on `field` sees for this record."""
    extra = record.get("f")
    if extra and field in extra:
        return extra[field]
    if field == "id":
        return record["id"]
    value: Any = record["attributes"]
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is not None:
        return value
    rel = record["rel"]
    if field in rel:
        return rel[field]
    if field.endswith("_id") and field[:-3] in rel:
        return rel[field[:-3]]
    return None


def _predicate(condition: Condition, kind: str) -> Callable[[Record], bool]:
    field = condition.field
    if kind == "date-time":
        # Klaviyo shows times truncated to the second, so compare what it shows.
        target: float = condition.value.timestamp()
        op = condition.op

        def check_time(record: Record) -> bool:
            key = record["k"].get(field)
            if key is None:
                return matches(condition, field_value(record, field))
            shown: int = math.floor(key)
            if op == "greater-than":
                return shown > target
            if op == "greater-or-equal":
                return shown >= target
            if op == "less-than":
                return shown < target
            if op == "less-or-equal":
                return shown <= target
            return shown == target

        return check_time
    return lambda record: matches(condition, field_value(record, field))


def encode_cursor(pos: Pos, order: str, descending: bool) -> str:
    raw = orjson.dumps([pos[0], pos[1], pos[2], order, descending])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_text(text: str) -> str:
    """The cursor a client meant. The official SDK, handed a whole `links.next` URL, extracts the cursor
    only from https URLs (so against this http server it sends the URL itself) and keeps the `=` of
    `page[cursor]=`; Klaviyo's own https links never meet either case, so accept both here."""
    if text.startswith(("http://", "https://")):
        text = parse_qs(urlsplit(text).query).get("page[cursor]", [""])[0]
    return text.lstrip("=")


def decode_cursor(text: str, order: str, descending: bool) -> Pos:
    try:
        text = cursor_text(text)
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key, rank, rid, c_order, c_desc = orjson.loads(raw)
        if c_order != order or c_desc != descending or not isinstance(rid, str):
            raise ValueError
        return (key, int(rank), rid)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise errors.invalid("Invalid page cursor.", parameter="page[cursor]") from None


def parse_list(query: dict[str, str], key: str, allowed: tuple[str, ...], what: str) -> list[str]:
    values = [v for v in query.get(key, "").split(",") if v]
    for value in values:
        if value not in allowed:
            choices = ", ".join(allowed) if allowed else "none"
            raise errors.invalid(f"'{value}' is not a valid {what}. Valid values: {choices}.", parameter=key)
    return values


class ReadRequest:
    """One GET against one endpoint for one account."""

    def __init__(
        self,
        endpoint: Endpoint,
        account: Account,
        query: dict[str, str],
        base: str,
        path: str,
        params: dict[str, str],
    ) -> None:
        self.ep = endpoint
        self.data = account.data  # as generated
        self.state = account.state  # as it is now: what the read serves
        self.query = query
        self.base = base
        self.path = path
        self.params = params
        self.includes = parse_list(query, "include", endpoint.includes, "include")
        self.additional = parse_list(
            query,
            f"additional-fields[{endpoint.type}]",
            endpoint.additional_fields,
            f"additional-fields[{endpoint.type}] value",
        )
        # A relationships route returns identifiers only: no sparse fieldset applies to it.
        allowed_types = set() if endpoint.ids_only else {endpoint.type} | {REL_TYPES[i] for i in self.includes}
        self.fields = parse_fields(query, allowed_types)

    # ---- one resource --------------------------------------------------------------------------
    def single(self) -> dict[str, Any]:
        table = self.ep.table(self.state, self.params)
        record = table.get(self.params["id"]) if table is not None else None
        if record is None:
            raise errors.not_found(f"A {self.ep.type} with id {self.params['id']} does not exist.")
        body: dict[str, Any] = {"data": self._resource(record), "links": {"self": self._url({})}}
        if self.includes:
            body["included"] = self._included([record])
        return body

    # ---- a collection --------------------------------------------------------------------------
    def collection(self) -> dict[str, Any]:
        ep = self.ep
        if ep.filters or "filter" in self.query:
            conditions = (
                validate(parse_filter(self.query["filter"]), ep.filters, resource=ep.type)
                if "filter" in self.query
                else []
            )
        else:
            conditions = []
        if ep.name == "get_campaigns" and not any(
            c.field == "messages.channel" and c.op == "equals" for c in conditions
        ):
            raise errors.invalid(CAMPAIGN_CHANNEL_DETAIL, parameter="filter")

        if ep.name in ("get_campaigns", "get_flows") and not any(c.field == "archived" for c in conditions):
            # Klaviyo lists archived campaigns and flows only when asked: equals(archived,true).
            conditions = [*conditions, Condition("equals", "archived", False)]

        order, descending = self._sort()
        size = self._page_size()
        if not ep.paginated:
            size = 10_000
        after = None
        if "page[cursor]" in self.query:
            after = decode_cursor(self.query["page[cursor]"], order, descending)

        table = ep.table(self.state, self.params)
        if table is None:
            raise errors.not_found(f"A {ep.path.split('/')[2][:-1]} with id {self.params.get('id')} does not exist.")

        kinds = {c.field: ep.filters[c.field].kind for c in conditions}
        checks = [_predicate(c, kinds[c.field]) for c in conditions]
        lo = hi = None
        if kinds.get(order) == "date-time" or (order == "datetime" and "timestamp" in kinds):
            field = order if order in kinds else "timestamp"
            lower, _, upper, _ = time_bounds(conditions, field)
            lo = lower.timestamp() if lower else None
            hi = upper.timestamp() + 1 if upper else None  # shown times are truncated: keep that second

        page: list[Record] = []
        last_pos: Pos | None = None
        more = False
        fast_included: list[Record] | None = None
        if self._plain_event_page(table, conditions):
            attribution_of = self._attribution if self.includes else None
            texts, last_pos, more, fast_included = fast_page(
                self.data, self.state.events, order, descending, after, lo, hi, checks, size, self.base, attribution_of
            )
            data: list[Any] = [orjson.Fragment(text) for text in texts]
        else:
            for scanned, (pos, record) in enumerate(table.scan(order, descending, after, lo, hi), start=1):
                if all(check(record) for check in checks):
                    if len(page) == size:
                        more = True
                        break
                    page.append(record)
                    last_pos = pos
                elif scanned >= MAX_SCAN:
                    last_pos, more = pos, True
                    break
            data = [self._resource(r) for r in page]
        body: dict[str, Any] = {"data": data}
        links: dict[str, Any] = {"self": self._url({}), "next": None, "prev": None}
        if more and last_pos is not None and ep.paginated:
            links["next"] = self._url({"page[cursor]": encode_cursor(last_pos, order, descending)})
        body["links"] = links
        if fast_included is not None and self.includes:
            body["included"] = [resource(a, self.base, self.fields) for a in fast_included]
        elif self.includes:
            body["included"] = self._included(page)
        return body

    def _plain_event_page(self, table: object, conditions: list[Condition]) -> bool:
        """Whether event_pages.fast_page can serve this page: generated events only (no writes to merge),
        time conditions only, nothing side-loaded but attributions (made from the page's events), no event
        trimmed."""
        return (
            table is self.state.events
            and not self.state.events.overlay
            and all(c.field in ("datetime", "timestamp") for c in conditions)
            and set(self.includes) <= {"attributions"}
            and "event" not in self.fields
        )

    def _sort(self) -> tuple[str, bool]:
        ep = self.ep
        text = self.query.get("sort")
        if text is None:
            return ep.default_sort, False
        field = text[1:] if text.startswith("-") else text
        if field not in ep.sorts:
            valid = ", ".join(ep.sorts) if ep.sorts else "none"
            raise errors.invalid(
                f"'{field}' is not a valid sort field for '{ep.type}'. Valid sort fields: {valid}.", parameter="sort"
            )
        return field, text.startswith("-")

    def _page_size(self) -> int:
        ep = self.ep
        text = self.query.get("page[size]")
        if ep.page_default is None or ep.page_max is None:
            if text is not None:
                raise errors.invalid("'page[size]' is not a valid parameter for this endpoint.", parameter="page[size]")
            return ep.fixed_page
        if text is None:
            return ep.page_default
        try:
            size = int(text)
        except ValueError:
            size = 0
        if not 1 <= size <= ep.page_max:
            raise errors.invalid(f"Page size must be an integer between 1 and {ep.page_max}.", parameter="page[size]")
        return size

    def _url(self, changes: dict[str, str]) -> str:
        query = {k: v for k, v in self.query.items() if k != "page[cursor]"}
        query.update(changes)
        return f"{self.base}{self.path}" + (f"?{urlencode(query)}" if query else "")

    def _resource(self, record: Record) -> dict[str, Any] | orjson.Fragment:
        if self.ep.ids_only:
            return {"type": record["type"], "id": record["id"]}
        record = self._with_profile_relationships(record)
        if record["type"] == "event" and "attributions" in self.includes:
            record = {**record, "rel": {**record["rel"], "attributions": self._related_ids(record, "attributions")}}
        extra = None
        if self.additional and record["type"] == "profile":
            extra = {name: self.data.profile_additional(record, name) for name in self.additional}
            if "subscriptions" in extra:
                extra["subscriptions"] = with_written_consent(self.state, record["id"], extra["subscriptions"])
            return resource(record, self.base, self.fields, extra)
        return self._plain(record)

    def _with_profile_relationships(self, record: Record) -> Record:
        """Profiles from /profiles name their lists, segments, push tokens and conversations: links only,
        with data for what `include` side-loads (JSON:API full linkage)."""
        if record["type"] != "profile" or "lists" not in self.ep.includes:
            return record
        rel: dict[str, Any] = dict.fromkeys(PROFILE_RELATIONSHIPS, ...)
        for name in self.includes:
            rel[name] = self._related_ids(record, name)
        return {**record, "rel": rel}

    def _plain(self, record: Record) -> dict[str, Any] | orjson.Fragment:
        """A resource without additional fields; pre-serialized unless a sparse fieldset applies to it."""
        if record["type"] in self.fields:
            return resource(record, self.base, self.fields)
        return resource_json(record, self.base)

    def _included(self, records: list[Record]) -> list[dict[str, Any] | orjson.Fragment]:
        seen: set[tuple[str, str]] = set()
        out: list[dict[str, Any] | orjson.Fragment] = []
        for name in self.includes:
            rel_type = REL_TYPES[name]
            if rel_type == "attribution":  # no table: an event's attribution is made from the event
                out.extend(resource(a, self.base, self.fields) for a in map(self._attribution, records) if a)
                continue
            target = self.state.table(rel_type)
            for record in records:
                for rid in self._related_ids(record, name):
                    if (rel_type, rid) in seen:
                        continue
                    seen.add((rel_type, rid))
                    related = target.get(rid) if target is not None else None
                    if related is not None:
                        out.append(self._plain(related))
        return out

    def _attribution(self, event: Record) -> Record | None:
        messages = self.state.table("campaign-message")

        def campaign_of(message_id: str) -> str | None:
            message = messages.get(message_id) if messages is not None else None
            return message["rel"]["campaign"] if message is not None else None

        return attribution_record(event, campaign_of)

    def _related_ids(self, record: Record, name: str) -> list[str]:
        if record["type"] == "event" and name == "attributions":
            return (
                [attribution_id(record["id"])]
                if attributed_message(record["attributes"]["event_properties"] or {})
                else []
            )
        if record["type"] == "profile" and name in ("lists", "segments"):
            group_type = name[:-1]
            return [
                gid
                for (gt, gid) in self.state.members
                if gt == group_type and self.state.is_member(gt, gid, record["id"])
            ]
        value = record["rel"].get(name)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]


__all__ = ["ReadRequest", "field_value"]
