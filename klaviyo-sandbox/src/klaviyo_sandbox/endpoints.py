"""Every read endpoint the sandbox serves, declared once: path, tier, page sizes, filters, sorts, includes.

The facts come from the official SDK's docstrings for revision 2026-10-15 (the `klaviyo-api` package, and
https://developers.klaviyo.com/en/reference/api_overview); the rate-limit bucket of an endpoint is its SDK method name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .account import AccountState
from .filters import FilterSpec, parse_spec
from .tables import MemoryTable, Table
from .tiers import Tier, parse_tier

# relationship name -> resource type of what it points at
REL_TYPES = {
    "metric": "metric",
    "profile": "profile",
    "attributions": "attribution",
    "event": "event",
    "attributed-event": "event",
    "campaign-message": "campaign-message",
    "flow-message": "flow-message",
    "campaign-messages": "campaign-message",
    "campaign-audiences": "campaign-audience",
    "campaign": "campaign",
    "campaign-variations": "campaign-variation",
    "tags": "tag",
    "tag-group": "tag-group",
    "flow-actions": "flow-action",
    "flow": "flow",
    "flow-messages": "flow-message",
    "flow-action": "flow-action",
    "template": "template",
    "flow-triggers": "flow",
    "lists": "list",
    "segments": "segment",
    "push-tokens": "push-token",
    "conversations": "conversation",
}

# What an endpoint reads: the account's table for the request's path parameters ({"id": ...}), None for a 404.
TableFn = Callable[[AccountState, dict[str, str]], Table | None]


def of_type(type_: str) -> TableFn:
    return lambda state, params: state.table(type_)


def children_of(parent_type: str, child_type: str, rel: str) -> TableFn:
    """A sub-collection such as /flows/{id}/flow-actions: the parent's related records, as a table."""

    def build(state: AccountState, params: dict[str, str]) -> Table | None:
        parents = state.table(parent_type)
        children = state.table(child_type)
        parent = parents.get(params["id"]) if parents else None
        if parent is None or children is None:
            return None
        rows = [children.get(cid) for cid in parent["rel"].get(rel, [])]
        return MemoryTable(child_type, [r for r in rows if r is not None], rank=0)

    return build


def members_of(group_type: str) -> TableFn:
    return lambda state, params: state.members.get((group_type, params["id"]))


def profiles_of_job(state: AccountState, params: dict[str, str]) -> Table | None:
    """The profiles a bulk import job imported (those it has imported so far, while it runs)."""
    job = state.profile_jobs.get(params["id"])
    if job is None:
        return None
    found = (state.profiles.get(pid) for pid in dict.fromkeys(job.profile_ids))
    return MemoryTable("profile", [p for p in found if p is not None], rank=0)


def lists_of_job(state: AccountState, params: dict[str, str]) -> Table | None:
    """The lists a bulk import job adds its profiles to."""
    job = state.profile_jobs.get(params["id"])
    if job is None:
        return None
    found = (state.lists.get(lid) for lid in job.list_ids)
    return MemoryTable("list", [r for r in found if r is not None], rank=0)


@dataclass(frozen=True)
class Endpoint:
    name: str  # the SDK method name; also the rate-limit bucket
    path: str  # aiohttp route, under /api
    type: str  # resource type served
    tier: Tier
    table: TableFn
    single: bool = False  # GET of one resource by {id}
    page_default: int | None = None  # None: the endpoint takes no page[size]
    page_max: int | None = None
    fixed_page: int = 100  # page length when the endpoint takes no page[size]
    filters: FilterSpec = field(default_factory=dict)
    sorts: tuple[str, ...] = ()
    default_sort: str = "id"
    includes: tuple[str, ...] = ()
    additional_fields: tuple[str, ...] = ()
    paginated: bool = True
    ids_only: bool = False  # a `relationships` route: resource identifiers ({"type", "id"}) only


def ep(
    name: str,
    path: str,
    type_: str,
    tier: str,
    table: TableFn | None = None,
    *,
    filters: str = "",
    page: str = "",
    sorts: str = "",
    default_sort: str = "",
    includes: str = "",
    additional: str = "",
    fixed_page: int = 100,
    single: bool = False,
    paginated: bool = True,
    ids_only: bool = False,
) -> Endpoint:
    page_default = page_max = None
    if page:
        page_default, page_max = (int(x) for x in page.split("/"))
    sort_fields = tuple(s for s in sorts.split(",") if s)
    return Endpoint(
        name=name,
        path=path,
        type=type_,
        tier=parse_tier(tier),
        table=table or of_type(type_),
        single=single,
        page_default=page_default,
        page_max=page_max,
        fixed_page=fixed_page,
        filters=parse_spec(filters) if filters else {},
        sorts=sort_fields,
        default_sort=default_sort or (sort_fields[0] if sort_fields else "id"),
        includes=tuple(i for i in includes.split(",") if i),
        additional_fields=tuple(a for a in additional.split(",") if a),
        paginated=paginated and not single,
        ids_only=ids_only,
    )


ENDPOINTS: list[Endpoint] = [
    ep("get_accounts", "/api/accounts", "account", "1/s 15/m", paginated=False),
    ep("get_account", "/api/accounts/{id}", "account", "1/s 15/m", single=True),
    ep(
        "get_events",
        "/api/events",
        "event",
        "350/s 3500/m",
        page="200/1000",
        sorts="datetime,timestamp",
        filters="metric_id: equals (string); profile_id: equals (string); profile: has; metric: has; "
        "datetime: greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
        "timestamp: greater-or-equal, greater-than, less-or-equal, less-than (number)",
        includes="attributions,metric,profile",
    ),
    ep("get_event", "/api/events/{id}", "event", "10/s 150/m", single=True, includes="attributions,metric,profile"),
    ep(
        "get_profiles",
        "/api/profiles",
        "profile",
        "75/s 750/m",
        page="20/100",
        sorts="id,created,updated,email",
        filters="id: any, equals (string); email: any, equals (string); phone_number: any, equals (string); "
        "external_id: any, equals (string); _kx: equals (string); created: greater-than, less-than (date-time); "
        "updated: greater-than, less-than (date-time)",
        includes="lists,segments,push-tokens,conversations",
        additional="subscriptions,predictive_analytics",
    ),
    ep(
        "get_profile",
        "/api/profiles/{id}",
        "profile",
        "75/s 750/m",
        single=True,
        includes="lists,segments,push-tokens,conversations",
        additional="subscriptions,predictive_analytics",
    ),
    ep(
        "get_profiles_for_bulk_import_profiles_job",
        "/api/profile-bulk-import-jobs/{id}/profiles",
        "profile",
        "10/s 150/m",
        profiles_of_job,
        page="20/100",
        additional="subscriptions,predictive_analytics",
    ),
    ep(
        "get_list_for_bulk_import_profiles_job",
        "/api/profile-bulk-import-jobs/{id}/lists",
        "list",
        "10/s 150/m",
        lists_of_job,
        paginated=False,
    ),
    ep(
        "get_campaigns",
        "/api/campaigns",
        "campaign",
        "10/s 150/m",
        page="100/100",
        sorts="created_at,id,name,updated_at",
        default_sort="id",
        filters="id: any (string); name: contains (string); archived: equals (boolean); builder: equals (string); "
        "created_at: greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
        "updated_at: greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
        "messages.channel: equals (allowed values: 'email', 'sms', 'mobile_push')",
        includes="campaign-messages,tags,campaign-audiences",
    ),
    ep(
        "get_campaign",
        "/api/campaigns/{id}",
        "campaign",
        "10/s 150/m",
        single=True,
        includes="campaign-messages,tags,campaign-audiences",
    ),
    ep(
        "get_campaign_messages",
        "/api/campaign-messages",
        "campaign-message",
        "10/s 150/m",
        page="20/100",
        sorts="created,id,updated",
        default_sort="id",
        filters="id: any, equals (string); campaign_id: equals (string); name: contains (string); "
        "status: equals (string); "
        "created: greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
        "updated: greater-or-equal, greater-than, less-or-equal, less-than (date-time)",
        includes="campaign",
    ),
    ep(
        "get_campaign_message",
        "/api/campaign-messages/{id}",
        "campaign-message",
        "10/s 150/m",
        single=True,
        includes="campaign",
    ),
    ep(
        "get_messages_for_campaign",
        "/api/campaigns/{id}/campaign-messages",
        "campaign-message",
        "10/s 150/m",
        children_of("campaign", "campaign-message", "campaign-messages"),
        includes="campaign",
    ),
    ep(
        "get_flows",
        "/api/flows",
        "flow",
        "3/s 60/m",
        page="50/50",
        sorts="created,id,name,status,trigger_type,updated",
        default_sort="id",
        filters="id: any (string); name: contains, ends-with, equals, starts-with (string); status: equals (string); "
        "archived: equals (boolean); created: equals, greater-or-equal, greater-than, less-or-equal, less-than "
        "(date-time); updated: equals, greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
        "trigger_type: equals (allowed values: 'Metric', 'Added to List', 'Unconfigured', 'Date Based', "
        "'Price Drop', 'Low Inventory')",
        includes="flow-actions,tags",
    ),
    ep("get_flow", "/api/flows/{id}", "flow", "3/s 60/m", single=True, includes="flow-actions,tags"),
    ep(
        "get_actions_for_flow",
        "/api/flows/{id}/flow-actions",
        "flow-action",
        "3/s 60/m",
        children_of("flow", "flow-action", "flow-actions"),
        page="50/50",
        sorts="created,id,status,updated",
        filters="id: any (string); action_type: any, equals (string); status: equals (string); "
        "created: equals, greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
        "updated: equals, greater-or-equal, greater-than, less-or-equal, less-than (date-time)",
        default_sort="id",
    ),
    ep(
        "get_flow_action",
        "/api/flow-actions/{id}",
        "flow-action",
        "3/s 60/m",
        single=True,
        includes="flow,flow-messages",
    ),
    ep(
        "get_flow_action_messages",
        "/api/flow-actions/{id}/flow-messages",
        "flow-message",
        "3/s 60/m",
        children_of("flow-action", "flow-message", "flow-messages"),
        page="50/50",
        sorts="created,id,name,updated",
        filters="id: any (string); name: contains, ends-with, equals, starts-with (string); "
        "created: equals, greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
        "updated: equals, greater-or-equal, greater-than, less-or-equal, less-than (date-time)",
        default_sort="id",
    ),
    ep(
        "get_flow_message",
        "/api/flow-messages/{id}",
        "flow-message",
        "3/s 60/m",
        single=True,
        includes="flow-action,template",
    ),
    ep(
        "get_lists",
        "/api/lists",
        "list",
        "75/s 750/m",
        page="10/10",
        sorts="created,id,name,updated",
        default_sort="id",
        filters="name: any, equals (string); id: any, equals (string); created: greater-than (date-time); "
        "updated: greater-than (date-time)",
        includes="tags,flow-triggers",
    ),
    ep("get_list", "/api/lists/{id}", "list", "75/s 750/m", single=True, includes="tags,flow-triggers"),
    ep(
        "get_profiles_for_list",
        "/api/lists/{id}/profiles",
        "profile",
        "75/s 750/m",
        members_of("list"),
        page="20/100",
        sorts="joined_group_at",
        filters="email: any, equals (string); phone_number: any, equals (string); push_token: any, equals (string); "
        "_kx: equals (string); joined_group_at: greater-or-equal, greater-than, less-or-equal, less-than "
        "(date-time)",
        additional="subscriptions,predictive_analytics",
    ),
    ep(
        "get_segments",
        "/api/segments",
        "segment",
        "75/s 750/m",
        page="10/10",
        sorts="created,id,name,updated",
        default_sort="id",
        filters="name: any, equals (string); id: any, equals (string); created: greater-than (date-time); "
        "updated: greater-than (date-time); is_active: any, equals (boolean); is_starred: equals (boolean)",
        includes="tags,flow-triggers",
    ),
    ep("get_segment", "/api/segments/{id}", "segment", "75/s 750/m", single=True, includes="tags,flow-triggers"),
    ep(
        "get_profiles_for_segment",
        "/api/segments/{id}/profiles",
        "profile",
        "75/s 750/m",
        members_of("segment"),
        page="20/100",
        sorts="joined_group_at",
        filters="profile_id: any, equals (string); email: any, equals (string); phone_number: any, equals (string); "
        "push_token: any, equals (string); _kx: equals (string); joined_group_at: greater-or-equal, "
        "greater-than, less-or-equal, less-than (date-time)",
        additional="subscriptions,predictive_analytics",
    ),
    ep(
        "get_metrics",
        "/api/metrics",
        "metric",
        "10/s 150/m",
        fixed_page=200,
        filters="integration.name: equals (string); integration.category: equals (string)",
        includes="flow-triggers",
    ),
    ep("get_metric", "/api/metrics/{id}", "metric", "10/s 150/m", single=True, includes="flow-triggers"),
    ep(
        "get_tags",
        "/api/tags",
        "tag",
        "3/s 60/m",
        page="50/50",
        sorts="id,name",
        filters="name: contains, ends-with, equals, starts-with (string)",
        includes="tag-group",
    ),
    ep("get_tag", "/api/tags/{id}", "tag", "3/s 60/m", single=True, includes="tag-group"),
    ep(
        "get_templates",
        "/api/templates",
        "template",
        "75/s 750/m",
        page="10/10",
        sorts="created,id,name,updated",
        filters="id: any, equals (string); name: any, contains, equals (string); "
        "created: equals, greater-or-equal, greater-than, less-or-equal, less-than (date-time); "
        "updated: equals, greater-or-equal, greater-than, less-or-equal, less-than (date-time)",
    ),
    ep("get_template", "/api/templates/{id}", "template", "75/s 750/m", single=True),
]

# Requests for profiles with predictive analytics have their own, lower limit (SDK docstring of get_profiles).
PREDICTIVE_TIER = parse_tier("10/s 150/m")

# Write endpoints: name -> tier (their handlers live in write_routes.py and change_routes.py).
WRITE_TIERS = {
    "create_event": parse_tier("350/s 3500/m"),
    "bulk_create_events": parse_tier("10/s 150/m"),
    "create_or_update_profile": parse_tier("75/s 750/m"),
    "bulk_import_profiles": parse_tier("10/s 150/m"),
    "get_bulk_import_profiles_job": parse_tier("10/s 150/m"),
    "get_errors_for_bulk_import_profiles_job": parse_tier("10/s 150/m"),
    # DELETE /api/{type}/{id} and list membership writes: the SDK docstrings' tiers.
    "delete_campaign": parse_tier("10/s 150/m"),
    "delete_flow": parse_tier("3/s 60/m"),
    "delete_list": parse_tier("10/s 150/m"),
    "delete_segment": parse_tier("3/s 60/m"),
    "delete_tag": parse_tier("3/s 60/m"),
    "delete_template": parse_tier("75/s 750/m"),
    "add_profiles_to_list": parse_tier("10/s 150/m"),
    "remove_profiles_from_list": parse_tier("10/s 150/m"),
    # Subscription bulk jobs (subscription_routes.py): the SDK docstrings' tiers.
    "bulk_subscribe_profiles": parse_tier("75/s 750/m"),
    "bulk_unsubscribe_profiles": parse_tier("75/s 750/m"),
}
