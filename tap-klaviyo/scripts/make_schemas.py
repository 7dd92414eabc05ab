"""Write tap_klaviyo/schemas/<stream>.json from the official SDK's pydantic models (klaviyo-api, revision 2026-10-15).

    .venv/bin/python tap-klaviyo/scripts/make_schemas.py          # (re)write every schema
    .venv/bin/python tap-klaviyo/scripts/make_schemas.py --check  # exit 1 if a file differs from what it would write

Each stream names the SDK method whose response it reads. The method's return annotation gives the response
document, whose `data` gives the resource model; the row is that resource as `flatten()` makes it:

- `id`, `account_id`, `account_name` (and `list_id` / `segment_id` for members): required, non-null strings;
- every attribute as a column, typed from its pydantic annotation: date-times as strings with format date-time,
  integers, numbers, booleans, typed arrays; nested models as objects with their own properties (and
  `additionalProperties: true`, so singer-sdk keeps keys a newer API adds); free-form dicts as open objects;
- every relationship that carries `data` in the tap's request as `<name>_id` (to-one) or `<singular>_ids`
  (to-many, array of strings); relationships that Klaviyo renders as links only give no column.

Every column except the required ones is nullable. Attributes the method only returns on request (its
`additional-fields[...]` parameter's "Supported values") are left out unless the stream's request asks for them.
"""

from __future__ import annotations

import argparse
import datetime
import enum
import inspect
import json
import re
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import pydantic
from openapi_client.api.accounts_api import AccountsApi
from openapi_client.api.campaigns_api import CampaignsApi
from openapi_client.api.events_api import EventsApi
from openapi_client.api.flows_api import FlowsApi
from openapi_client.api.lists_api import ListsApi
from openapi_client.api.metrics_api import MetricsApi
from openapi_client.api.profiles_api import ProfilesApi
from openapi_client.api.segments_api import SegmentsApi
from openapi_client.api.tags_api import TagsApi
from openapi_client.api.templates_api import TemplatesApi

from tap_klaviyo.attributions import ATTRIBUTION_COLUMNS
from tap_klaviyo.flatten import column, relationship_column

SCHEMAS = Path(__file__).resolve().parents[1] / "tap_klaviyo" / "schemas"
ACCOUNT_COLUMNS = ("account_id", "account_name")
MEMBER_LINKS = ("lists", "segments", "push-tokens")  # a profile's relationships are links only
PROFILE_LINKS = (*MEMBER_LINKS, "conversations")


@dataclass(frozen=True)
class Stream:
    method: typing.Callable[..., typing.Any]  # the SDK method of the request (or of the included resource)
    parent_key: str | None = None  # the member streams' group column
    links_only: tuple[str, ...] = ()  # relationships rendered without data: no column
    additional_fields: tuple[str, ...] = ()  # what the request asks for with `additional-fields[...]`
    replication_key: str | None = None  # checked to exist and to be a date-time
    # the partition's context, which singer-sdk adds to each row it does not already name
    partition_columns: tuple[tuple[str, str], ...] = ()
    # the attributes the request asks for with `fields[...]` (a sparse fieldset); None: all of them
    fields: tuple[str, ...] | None = None
    # string columns the tap adds from included resources the SDK has no model for (events: attributions.py)
    included_columns: tuple[str, ...] = ()


STREAMS: dict[str, Stream] = {
    "accounts": Stream(AccountsApi.get_accounts),
    "events": Stream(
        EventsApi.get_events, replication_key="datetime", included_columns=tuple(ATTRIBUTION_COLUMNS.values())
    ),
    "profiles": Stream(
        ProfilesApi.get_profiles,
        links_only=PROFILE_LINKS,
        additional_fields=("subscriptions", "predictive_analytics"),
        replication_key="updated",
    ),
    "campaigns": Stream(
        CampaignsApi.get_campaigns,
        replication_key="updated_at",
        partition_columns=(("channel", "string"), ("archived", "boolean")),
    ),
    # included in /campaigns; the single-resource GET documents the same resource
    "campaign_messages": Stream(CampaignsApi.get_campaign_message),
    "flows": Stream(FlowsApi.get_flows, replication_key="updated"),
    "flow_actions": Stream(FlowsApi.get_flow_action),  # included in /flows
    "flow_messages": Stream(FlowsApi.get_flow_action_messages),
    "lists": Stream(ListsApi.get_lists, links_only=("profiles",), replication_key="updated"),
    # Members are links (the profile itself is in `profiles`): only `fields[profile]=joined_group_at` is asked for.
    "list_members": Stream(
        ListsApi.get_profiles_for_list,
        parent_key="list_id",
        links_only=MEMBER_LINKS,
        replication_key="joined_group_at",
        fields=("joined_group_at",),
    ),
    "segments": Stream(SegmentsApi.get_segments, links_only=("profiles",), replication_key="updated"),
    "segment_members": Stream(
        SegmentsApi.get_profiles_for_segment,
        parent_key="segment_id",
        links_only=MEMBER_LINKS,
        replication_key="joined_group_at",
        fields=("joined_group_at",),
    ),
    "metrics": Stream(MetricsApi.get_metrics),
    # the tagged lists, segments, campaigns and flows are links only; tag-group is the include
    "tags": Stream(TagsApi.get_tags, links_only=("lists", "segments", "campaigns", "flows")),
    "templates": Stream(TemplatesApi.get_templates, replication_key="updated"),
}

Schema = dict[str, typing.Any]
NUMBERS = {int: "integer", float: "number"}
SCALARS = {str: "string", bool: "boolean", **NUMBERS}


def _strip(annotation: typing.Any) -> tuple[typing.Any, ...]:
    """The non-None members of an annotation, with Annotated[...] (pydantic's Strict) removed."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(x for arg in typing.get_args(annotation) for x in _strip(arg))
    return () if annotation is type(None) else (annotation,)


def nullable(schema: Schema) -> Schema:
    kind = schema.get("type")
    if kind is None:
        return schema  # typing.Any: already accepts null
    kinds = kind if isinstance(kind, list) else [kind]
    return {**schema, "type": [*kinds, "null"] if "null" not in kinds else kinds}


# An object of any keys. "properties": {} is not decoration: singer-sdk's type conformance reads
# schema["properties"] of every object in an array, and keeps undeclared keys only with additionalProperties.
OPEN_OBJECT: dict[str, typing.Any] = {"type": "object", "properties": {}, "additionalProperties": True}


def field_schema(annotation: typing.Any, seen: tuple[type, ...] = ()) -> Schema:
    """JSON schema (not yet nullable) of one pydantic field annotation."""
    members = _strip(annotation)
    if not members or typing.Any in members:
        return {}
    if len(members) > 1:
        if all(m in NUMBERS for m in members):  # Union[StrictFloat, StrictInt]
            return {"type": "number"}
        raise TypeError(f"unsupported union {annotation!r}")
    kind = members[0]
    origin = typing.get_origin(kind) or kind
    if kind is datetime.datetime:
        return {"type": "string", "format": "date-time"}
    if kind is datetime.date:
        return {"type": "string", "format": "date"}
    if kind in SCALARS:
        return {"type": SCALARS[kind]}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"type": "string"}
    if origin in (list, typing.List):  # noqa: UP006
        (item,) = typing.get_args(kind) or (typing.Any,)
        return {"type": "array", "items": field_schema(item, seen)}
    if origin in (dict, typing.Dict):  # noqa: UP006
        return {**OPEN_OBJECT, "properties": {}}
    if isinstance(kind, type) and issubclass(kind, pydantic.BaseModel):
        if kind in seen or "actual_instance" in kind.model_fields:  # recursive or oneOf wrapper: open object
            return {**OPEN_OBJECT, "properties": {}}
        properties = {
            f.alias or name: nullable(field_schema(f.annotation, (*seen, kind)))
            for name, f in kind.model_fields.items()
        }
        return {"type": "object", "properties": properties, "additionalProperties": True}
    raise TypeError(f"unsupported annotation {annotation!r}")


def submodel(model: type[pydantic.BaseModel], name: str) -> type[pydantic.BaseModel] | None:
    field = model.model_fields.get(name)
    return _strip(field.annotation)[0] if field else None


def resource_model(method: typing.Callable[..., typing.Any]) -> type[pydantic.BaseModel]:
    """get_events -> GetEventResponseCollectionCompoundDocument -> EventResponseObjectResource."""
    returns = _strip(typing.get_type_hints(method)["return"])
    document = next(m for m in returns if isinstance(m, type) and issubclass(m, pydantic.BaseModel))
    data = submodel(document, "data")
    return (typing.get_args(data) or (data,))[0]


def on_request_only(method: typing.Callable[..., typing.Any]) -> set[str]:
    """The attributes named by the "Supported values" of the method's `additional_fields_*` parameters."""
    out: set[str] = set()
    for name, parameter in inspect.signature(method).parameters.items():
        if name.startswith("additional_fields_"):
            for meta in typing.get_args(parameter.annotation)[1:]:
                out.update(re.findall(r"'([\w-]+)'", getattr(meta, "description", None) or ""))
    return out


def stream_schema(stream: Stream) -> Schema:
    model = resource_model(stream.method)
    required = ["id", *ACCOUNT_COLUMNS, *([stream.parent_key] if stream.parent_key else [])]
    properties: Schema = {name: {"type": "string"} for name in required}
    attributes = submodel(model, "attributes")
    relationships = submodel(model, "relationships")
    names = {f.alias or n for n, f in relationships.model_fields.items()} if relationships else set()
    optional = on_request_only(stream.method)
    if not set(stream.links_only) <= names or not set(stream.additional_fields) <= optional:
        raise ValueError(f"{model.__name__}: relationships {sorted(names)}, additional fields {sorted(optional)}")
    left_out = optional - set(stream.additional_fields)
    for name, field in attributes.model_fields.items():
        key = field.alias or name
        if key in left_out or (stream.fields is not None and key not in stream.fields):
            continue
        properties[column(key)] = nullable(field_schema(field.annotation))
    for name, field in relationships.model_fields.items() if relationships else ():
        key = field.alias or name
        if key in stream.links_only:
            continue
        data = submodel(_strip(field.annotation)[0], "data")
        many = typing.get_origin(data) in (list, typing.List)  # noqa: UP006
        item: Schema = {"type": "string"}
        properties[relationship_column(key, many)] = nullable({"type": "array", "items": item} if many else item)
    for name in stream.included_columns:
        properties[name] = nullable({"type": "string"})
    for name, kind in stream.partition_columns:
        properties[name] = {"type": [kind, "null"]}
    if stream.replication_key and properties[stream.replication_key].get("format") != "date-time":
        raise TypeError(f"replication key {stream.replication_key} of {model.__name__} is not a date-time")
    return {"type": "object", "properties": properties, "required": required}


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ; write nothing")
    args = parser.parse_args()
    stale = []
    for name, stream in STREAMS.items():
        path = SCHEMAS / f"{name}.json"
        text = render(stream_schema(stream))
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text)
    verb = "differ" if args.check else "written"
    print(f"{len(stale)} of {len(STREAMS)} schemas {verb}: {', '.join(stale) or '-'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
