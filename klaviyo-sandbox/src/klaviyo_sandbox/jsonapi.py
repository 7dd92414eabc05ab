"""Records -> JSON:API resource objects: sparse fieldsets, relationships, links, `included`."""

from __future__ import annotations

import re
from typing import Any

import orjson

from . import errors
from .endpoints import REL_TYPES
from .tables import Record

# The attributes each resource type has in revision 2026-10-15 (the SDK's response models): a
# `fields[type]` naming anything else is rejected as Klaviyo rejects it.
ATTRIBUTES: dict[str, frozenset[str]] = {
    "account": frozenset(
        {
            "test_account",
            "contact_information",
            "industry",
            "timezone",
            "preferred_currency",
            "public_api_key",
            "locale",
        }
    ),
    "event": frozenset({"timestamp", "event_properties", "datetime", "uuid"}),
    "profile": frozenset(
        {
            "email",
            "phone_number",
            "external_id",
            "first_name",
            "last_name",
            "organization",
            "locale",
            "title",
            "image",
            "created",
            "updated",
            "last_event_date",
            "location",
            "properties",
            "subscriptions",
            "predictive_analytics",
            "joined_group_at",
        }
    ),
    "campaign": frozenset({"created_at", "updated_at", "definition"}),
    "campaign-message": frozenset({"created", "updated", "definition"}),
    "flow": frozenset({"name", "status", "archived", "created", "updated", "trigger_type"}),
    "flow-action": frozenset({"created", "updated", "definition"}),
    "flow-message": frozenset({"channel", "created", "updated", "definition"}),
    "list": frozenset({"name", "created", "updated", "opt_in_process"}),
    "segment": frozenset({"name", "definition", "created", "updated", "is_active", "is_processing", "is_starred"}),
    "metric": frozenset({"name", "created", "updated", "integration"}),
    "tag": frozenset({"name"}),
    "tag-group": frozenset({"name", "exclusive", "default"}),
    "template": frozenset(
        {"name", "editor_type", "html", "text", "amp", "created", "updated", "screenshot_url", "definition"}
    ),
    "attribution": frozenset(),
}

# Relationships that are links only: their data would be a whole list's membership.
_SAFE_BASE = re.compile(r"[A-Za-z0-9+.:/\[\]-]*")  # a base URL that needs no JSON escaping
# Relationships rendered as links only: a list's members would be the whole membership. A record can
# also ask for it per relationship with the value `...` (profiles do, for what was not included).
LINK_ONLY = {("list", "profiles"), ("segment", "profiles")}


def parse_fields(query: dict[str, str], allowed_types: set[str]) -> dict[str, list[str]]:
    """`fields[type]=a,b.c` -> {type: [path, ...]}, checked against the types this request can return."""
    out: dict[str, list[str]] = {}
    for key, value in query.items():
        if not key.startswith("fields["):
            continue
        type_ = key[7:-1] if key.endswith("]") else ""
        if type_ not in allowed_types:
            raise errors.invalid(
                f"'{type_}' is not a valid resource type for sparse fieldsets on this endpoint.", parameter=key
            )
        paths = [p for p in value.split(",") if p]
        known = ATTRIBUTES.get(type_, frozenset())
        for path in paths:
            # `id` is in every type's sparse-fieldset enum (klaviyo/openapi, e.g. get_events.json's
            # fields[attribution], whose only value it is) and trims nothing: the id is always there.
            if path != "id" and path.split(".", 1)[0] not in known:
                raise errors.invalid(f"'{path}' is not a valid field for the resource '{type_}'.", parameter=key)
        out[type_] = paths
    return out


def _pick(attrs: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in paths:
        parts = path.split(".")
        src: Any = attrs
        for part in parts:
            src = src.get(part) if isinstance(src, dict) else None
            if src is None:
                break
        if src is None and parts[0] not in attrs:
            continue
        dst = out
        for part in parts[:-1]:
            dst = dst.setdefault(part, {})
        dst[parts[-1]] = src
    return out


def resource(
    record: Record, base: str, fields: dict[str, list[str]] | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    type_ = record["type"]
    rid = record["id"]
    attrs = record["attributes"]
    if extra:
        attrs = {**attrs, **extra}
    chosen = fields.get(type_) if fields else None
    if chosen is not None:
        attrs = _pick(attrs, chosen)
    self_link = f"{base}/api/{type_}s/{rid}/"
    obj: dict[str, Any] = {"type": type_, "id": rid, "attributes": attrs}
    rels: dict[str, Any] = {}
    for name, value in record["rel"].items():
        links = {"self": f"{self_link}relationships/{name}/", "related": f"{self_link}{name}/"}
        if value is ... or (type_, name) in LINK_ONLY:
            rels[name] = {"links": links}
            continue
        rel_type = REL_TYPES[name]
        if isinstance(value, list):
            data: Any = [{"type": rel_type, "id": v} for v in value]
        else:
            data = {"type": rel_type, "id": value} if value is not None else None
        rels[name] = {"data": data, "links": links}
    if rels:
        obj["relationships"] = rels
    obj["links"] = {"self": self_link}
    return obj


def resource_json(record: Record, base: str) -> orjson.Fragment:
    """`resource(record, base)` already serialized: the hot path of every full page (no sparse fieldset,
    no additional fields). Building the JSON text directly is about 4x cheaper than building the nested
    dicts and serializing them; test_jsonapi checks that both give the same document for every type."""
    type_ = record["type"]
    rid = record["id"]
    if not rid.isalnum() or not _SAFE_BASE.fullmatch(base):
        return orjson.Fragment(orjson.dumps(resource(record, base)))  # text that would need escaping
    self_link = f"{base}/api/{type_}s/{rid}/"
    parts = []
    for name, value in record["rel"].items():
        links = f'"links":{{"self":"{self_link}relationships/{name}/","related":"{self_link}{name}/"}}'
        if value is ... or (type_, name) in LINK_ONLY:
            parts.append(f'"{name}":{{{links}}}')
            continue
        rel_type = REL_TYPES[name]
        if isinstance(value, list):
            data = orjson.dumps([{"type": rel_type, "id": v} for v in value]).decode()
        elif value is None:
            data = "null"
        else:
            data = orjson.dumps({"type": rel_type, "id": value}).decode()
        parts.append(f'"{name}":{{"data":{data},{links}}}')
    rels = ',"relationships":{' + ",".join(parts) + "}" if parts else ""
    head = f'{{"type":"{type_}","id":"{rid}","attributes":'.encode()
    tail = f'{rels},"links":{{"self":"{self_link}"}}}}'.encode()
    return orjson.Fragment(head + orjson.dumps(record["attributes"]) + tail)
