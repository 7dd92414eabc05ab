"""Klaviyo's `relationships` GET routes: which resources one resource points at, as identifiers only.

Every `GET /api/{type}/{id}/relationships/{name}` of the official SDK (klaviyo-api 25.0.0, revision 2026-10-15,
openapi_client/api/*_api.py) whose resource the sandbox serves. The SDK method name is the rate-limit bucket; the
docstring gives the tier, the page size and the filters. To-many routes answer
`{"data": [{"type", "id"}], "links": {"self", "next", "prev"}}` and page, filter and sort like their
related-resource route; to-one routes answer `{"data": {"type", "id"} | null, "links": {"self"}}`. A parent that
does not exist (or was deleted) is a 404.

Left out: relationships to resources the sandbox has no data model for (campaign-message images, metric
properties).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import errors
from .account import AccountState
from .endpoints import Endpoint, TableFn, children_of, ep, lists_of_job, members_of, profiles_of_job
from .tables import MemoryTable, Record
from .tiers import Tier, parse_tier

MEMBER_FILTERS = (
    "email: any, equals (string); phone_number: any, equals (string); push_token: any, equals (string); "
    "_kx: equals (string); joined_group_at: greater-or-equal, greater-than, less-or-equal, less-than (date-time)"
)
TIME_OPS = "equals, greater-or-equal, greater-than, less-or-equal, less-than (date-time)"


def _none_of(parent_type: str, child_type: str) -> TableFn:
    """A relationship the sandbox never fills (push tokens, audiences ...): empty, but 404 for an unknown parent."""

    def build(state: AccountState, params: dict[str, str]) -> MemoryTable | None:
        parents = state.table(parent_type)
        if parents is None or parents.get(params["id"]) is None:
            return None
        return MemoryTable(child_type, rank=0)

    return build


def _tagged(type_: str) -> TableFn:
    """The resources of `type_` carrying the tag: a tag's campaigns, flows, lists or segments."""

    def build(state: AccountState, params: dict[str, str]) -> MemoryTable | None:
        tag_id = params["id"]
        if state.tags.get(tag_id) is None:
            return None
        tagged = [r for r in state.memory_table(type_).records.values() if tag_id in r["rel"].get("tags", ())]
        return MemoryTable(type_, tagged, rank=0)

    return build


def _tags_of_group(state: AccountState, params: dict[str, str]) -> MemoryTable | None:
    group_id = params["id"]
    if state.tag_groups.get(group_id) is None:
        return None
    tags = [t for t in state.tags.records.values() if t["rel"].get("tag-group") == group_id]
    return MemoryTable("tag", tags, rank=0)


def _groups_of_profile(group_type: str) -> TableFn:
    """The lists (or segments) a profile is a member of now."""

    def build(state: AccountState, params: dict[str, str]) -> MemoryTable | None:
        profile_id = params["id"]
        if state.profiles.get(profile_id) is None:
            return None
        groups = state.memory_table(group_type)
        found = [
            groups.records[gid]
            for (gt, gid), members in state.members.items()
            if gt == group_type and gid in groups.records and members.get(profile_id) is not None
        ]
        return MemoryTable(group_type, found, rank=0)

    return build


def rel(
    name: str,
    path: str,
    type_: str,
    tier: str,
    table: TableFn,
    *,
    page: str = "",
    sorts: str = "",
    default_sort: str = "",
    filters: str = "",
    paginated: bool = True,
) -> Endpoint:
    return ep(
        name,
        path,
        type_,
        tier,
        table,
        page=page,
        sorts=sorts,
        default_sort=default_sort,
        filters=filters,
        paginated=paginated,
        ids_only=True,
    )


# To-many: served by the general read path (query.ReadRequest) with ids-only rendering.
RELATIONSHIP_ENDPOINTS: list[Endpoint] = [
    # campaigns_api.py
    rel(
        "get_message_ids_for_campaign",
        "/api/campaigns/{id}/relationships/campaign-messages",
        "campaign-message",
        "10/s 150/m",
        children_of("campaign", "campaign-message", "campaign-messages"),
    ),
    rel(
        "get_tag_ids_for_campaign",
        "/api/campaigns/{id}/relationships/tags",
        "tag",
        "3/s 60/m",
        children_of("campaign", "tag", "tags"),
        paginated=False,
    ),
    rel(
        "get_audience_ids_for_campaign",
        "/api/campaigns/{id}/relationships/campaign-audiences",
        "campaign-audience",
        "10/s 150/m",
        _none_of("campaign", "campaign-audience"),
        paginated=False,
    ),
    rel(
        "get_tag_ids_for_campaign_message",
        "/api/campaign-messages/{id}/relationships/tags",
        "tag",
        "3/s 60/m",
        _none_of("campaign-message", "tag"),
        paginated=False,
    ),
    rel(
        "get_variation_ids_for_campaign_message",
        "/api/campaign-messages/{id}/relationships/campaign-variations",
        "campaign-variation",
        "10/s 150/m",
        _none_of("campaign-message", "campaign-variation"),
        paginated=False,
    ),
    # flows_api.py
    rel(
        "get_action_ids_for_flow",
        "/api/flows/{id}/relationships/flow-actions",
        "flow-action",
        "3/s 60/m",
        children_of("flow", "flow-action", "flow-actions"),
        page="50/50",
        sorts="created,id,status,updated",
        default_sort="id",
        filters="id: any (string); action_type: any, equals (string); status: equals (string); "
        f"created: {TIME_OPS}; updated: {TIME_OPS}",
    ),
    rel(
        "get_tag_ids_for_flow",
        "/api/flows/{id}/relationships/tags",
        "tag",
        "3/s 60/m",
        children_of("flow", "tag", "tags"),
        paginated=False,
    ),
    rel(
        "get_message_ids_for_flow_action",
        "/api/flow-actions/{id}/relationships/flow-messages",
        "flow-message",
        "3/s 60/m",
        children_of("flow-action", "flow-message", "flow-messages"),
        page="50/50",
        sorts="created,id,name,updated",
        default_sort="id",
        filters=f"name: contains, ends-with, equals, starts-with (string); created: {TIME_OPS}; updated: {TIME_OPS}",
    ),
    # lists_api.py
    rel(
        "get_profile_ids_for_list",
        "/api/lists/{id}/relationships/profiles",
        "profile",
        "75/s 750/m",
        members_of("list"),
        page="20/100",
        sorts="joined_group_at",
        filters=MEMBER_FILTERS,
    ),
    rel(
        "get_tag_ids_for_list",
        "/api/lists/{id}/relationships/tags",
        "tag",
        "3/s 60/m",
        children_of("list", "tag", "tags"),
        paginated=False,
    ),
    rel(
        "get_ids_for_flows_triggered_by_list",
        "/api/lists/{id}/relationships/flow-triggers",
        "flow",
        "3/s 60/m",
        children_of("list", "flow", "flow-triggers"),
        paginated=False,
    ),
    # profiles_api.py: the profiles a bulk import job imported
    rel(
        "get_profile_ids_for_bulk_import_profiles_job",
        "/api/profile-bulk-import-jobs/{id}/relationships/profiles",
        "profile",
        "10/s 150/m",
        profiles_of_job,
        page="20/100",
    ),
    rel(
        "get_list_ids_for_bulk_import_profiles_job",
        "/api/profile-bulk-import-jobs/{id}/relationships/lists",
        "list",
        "10/s 150/m",
        lists_of_job,
        paginated=False,
    ),
    # segments_api.py
    rel(
        "get_profile_ids_for_segment",
        "/api/segments/{id}/relationships/profiles",
        "profile",
        "75/s 750/m",
        members_of("segment"),
        page="20/100",
        sorts="joined_group_at",
        filters="profile_id: any, equals (string); " + MEMBER_FILTERS,
    ),
    rel(
        "get_tag_ids_for_segment",
        "/api/segments/{id}/relationships/tags",
        "tag",
        "3/s 60/m",
        children_of("segment", "tag", "tags"),
        paginated=False,
    ),
    rel(
        "get_ids_for_flows_triggered_by_segment",
        "/api/segments/{id}/relationships/flow-triggers",
        "flow",
        "3/s 60/m",
        children_of("segment", "flow", "flow-triggers"),
        paginated=False,
    ),
    # metrics_api.py
    rel(
        "get_ids_for_flows_triggered_by_metric",
        "/api/metrics/{id}/relationships/flow-triggers",
        "flow",
        "10/s 150/m",
        children_of("metric", "flow", "flow-triggers"),
        paginated=False,
    ),
    # profiles_api.py
    rel(
        "get_list_ids_for_profile",
        "/api/profiles/{id}/relationships/lists",
        "list",
        "3/s 60/m",
        _groups_of_profile("list"),
        paginated=False,
    ),
    rel(
        "get_segment_ids_for_profile",
        "/api/profiles/{id}/relationships/segments",
        "segment",
        "3/s 60/m",
        _groups_of_profile("segment"),
        paginated=False,
    ),
    rel(
        "get_push_token_ids_for_profile",
        "/api/profiles/{id}/relationships/push-tokens",
        "push-token",
        "10/s 150/m",
        _none_of("profile", "push-token"),
        paginated=False,
    ),
    rel(
        "get_conversation_ids_for_profile",
        "/api/profiles/{id}/relationships/conversations",
        "conversation",
        "3/s 60/m",
        _none_of("profile", "conversation"),
        paginated=False,
    ),
    # tags_api.py
    rel(
        "get_campaign_ids_for_tag",
        "/api/tags/{id}/relationships/campaigns",
        "campaign",
        "3/s 60/m",
        _tagged("campaign"),
        paginated=False,
    ),
    rel(
        "get_flow_ids_for_tag",
        "/api/tags/{id}/relationships/flows",
        "flow",
        "3/s 60/m",
        _tagged("flow"),
        paginated=False,
    ),
    rel(
        "get_list_ids_for_tag",
        "/api/tags/{id}/relationships/lists",
        "list",
        "3/s 60/m",
        _tagged("list"),
        paginated=False,
    ),
    rel(
        "get_segment_ids_for_tag",
        "/api/tags/{id}/relationships/segments",
        "segment",
        "3/s 60/m",
        _tagged("segment"),
        paginated=False,
    ),
    rel(
        "get_tag_ids_for_tag_group",
        "/api/tag-groups/{id}/relationships/tags",
        "tag",
        "3/s 60/m",
        _tags_of_group,
        paginated=False,
    ),
]


@dataclass(frozen=True)
class ToOne:
    """A to-one relationship route: the parent's related id, if that resource still exists."""

    name: str  # the SDK method name; also the rate-limit bucket
    path: str
    parent: str  # resource type of {id}
    target: str  # resource type pointed at
    tier: Tier
    related: Callable[[Record], str | None]


def _rel_value(name: str) -> Callable[[Record], str | None]:
    def related(record: Record) -> str | None:
        value = record["rel"].get(name)
        return value if isinstance(value, str) else None

    return related


def _nothing(record: Record) -> str | None:
    return None


def _to_one(
    name: str, path: str, parent: str, target: str, tier: str, related: Callable[[Record], str | None]
) -> ToOne:
    return ToOne(name, path, parent, target, parse_tier(tier), related)


TO_ONE: list[ToOne] = [
    # events_api.py
    _to_one(
        "get_metric_id_for_event",
        "/api/events/{id}/relationships/metric",
        "event",
        "metric",
        "350/s 3500/m",
        _rel_value("metric"),
    ),
    _to_one(
        "get_profile_id_for_event",
        "/api/events/{id}/relationships/profile",
        "event",
        "profile",
        "350/s 3500/m",
        _rel_value("profile"),
    ),
    # campaigns_api.py (a campaign message's template is kept beside its relationships: the SDK's model of a
    # campaign message has no `template` relationship, only this route)
    _to_one(
        "get_campaign_id_for_campaign_message",
        "/api/campaign-messages/{id}/relationships/campaign",
        "campaign-message",
        "campaign",
        "10/s 150/m",
        _rel_value("campaign"),
    ),
    _to_one(
        "get_template_id_for_campaign_message",
        "/api/campaign-messages/{id}/relationships/template",
        "campaign-message",
        "template",
        "10/s 150/m",
        lambda record: record.get("template"),
    ),
    _to_one(
        "get_audience_id_for_campaign_message",
        "/api/campaign-messages/{id}/relationships/campaign-audience",
        "campaign-message",
        "campaign-audience",
        "10/s 150/m",
        _nothing,
    ),
    # flows_api.py
    _to_one(
        "get_flow_id_for_flow_action",
        "/api/flow-actions/{id}/relationships/flow",
        "flow-action",
        "flow",
        "3/s 60/m",
        _rel_value("flow"),
    ),
    _to_one(
        "get_action_id_for_flow_message",
        "/api/flow-messages/{id}/relationships/flow-action",
        "flow-message",
        "flow-action",
        "3/s 60/m",
        _rel_value("flow-action"),
    ),
    _to_one(
        "get_template_id_for_flow_message",
        "/api/flow-messages/{id}/relationships/template",
        "flow-message",
        "template",
        "3/s 60/m",
        _rel_value("template"),
    ),
    # tags_api.py
    _to_one(
        "get_tag_group_id_for_tag",
        "/api/tags/{id}/relationships/tag-group",
        "tag",
        "tag-group",
        "3/s 60/m",
        _rel_value("tag-group"),
    ),
    # profiles_api.py
    _to_one(
        "get_conversation_id_for_profile",
        "/api/profiles/{id}/relationships/conversation",
        "profile",
        "conversation",
        "3/s 60/m",
        _nothing,
    ),
]

RELATIONSHIP_TIERS: dict[str, Tier] = {e.name: e.tier for e in RELATIONSHIP_ENDPOINTS} | {
    r.name: r.tier for r in TO_ONE
}


def to_one_body(state: AccountState, route: ToOne, parent_id: str, self_link: str) -> dict[str, object]:
    parents = state.table(route.parent)
    record = parents.get(parent_id) if parents is not None else None
    if record is None:
        raise errors.not_found(f"A {route.parent} with id {parent_id} does not exist.")
    related_id = route.related(record)
    targets = state.table(route.target)
    exists = related_id is not None and targets is not None and targets.get(related_id) is not None
    data = {"type": route.target, "id": related_id} if exists else None
    return {"data": data, "links": {"self": self_link}}
