"""The `relationships` GET routes (ids only), and every route added for changes (DELETE, list membership), checked
against the official SDK (klaviyo-api 25.0.0): the path and HTTP method its method requests, the tier its docstring
states, the response its models parse. Reads only: the session sandbox's account RELS_ACCOUNT is not written to.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sdk_support import (
    api_error,
    only_error,
    raw_get,
    raw_request,
    raw_walk,
    sdk_call,
    sdk_client,
    sdk_group,
    sdk_methods,
    sdk_route,
    sdk_tier,
)

from klaviyo_sandbox.change_routes import DELETE_ROUTES, LIST_MEMBERS_PATH
from klaviyo_sandbox.endpoints import WRITE_TIERS
from klaviyo_sandbox.relationships import RELATIONSHIP_ENDPOINTS, RELATIONSHIP_TIERS, TO_ONE

RELS_ACCOUNT = 2
SERVED = {
    "accounts",
    "events",
    "profiles",
    "campaigns",
    "campaign-messages",
    "flows",
    "flow-actions",
    "flow-messages",
    "lists",
    "segments",
    "metrics",
    "tags",
    "tag-groups",
    "templates",
    "profile-bulk-import-jobs",
}
# Relationships to resources the sandbox has no model of (relationships.py says so).
LEFT_OUT = {"get_image_id_for_campaign_message", "get_property_ids_for_metric"}

NEW_ROUTES: list[tuple[str, str, str]] = [
    *(("GET", e.path, e.name) for e in RELATIONSHIP_ENDPOINTS),
    *(("GET", r.path, r.name) for r in TO_ONE),
    *(("DELETE", path, name) for name, (path, _) in DELETE_ROUTES.items()),
    ("POST", LIST_MEMBERS_PATH, "add_profiles_to_list"),
    ("DELETE", LIST_MEMBERS_PATH, "remove_profiles_from_list"),
]
TIERS = RELATIONSHIP_TIERS | WRITE_TIERS


# ---- 1. the routes are the SDK's -------------------------------------------------------------------------------
@pytest.mark.parametrize(("verb", "path", "name"), NEW_ROUTES, ids=[n for _, _, n in NEW_ROUTES])
def test_route_is_the_sdk_methods_path_and_tier(verb, path, name):
    assert sdk_route(name) == (verb, path)
    tier = TIERS[name]
    assert (tier.burst, tier.steady) == sdk_tier(name)


def test_every_sdk_relationships_getter_of_a_served_resource_is_served():
    """Every GET .../relationships/... path of the SDK whose resource the sandbox serves. The SDK also keeps older
    names for some (get_list_relationships_profiles ...): same path, so the same route and bucket."""
    wanted: dict[str, set[str]] = {}
    for name in sdk_methods():
        verb, path = sdk_route(name)
        if verb == "GET" and "/relationships/" in path and path.split("/")[2] in SERVED:
            wanted.setdefault(path, set()).add(name)
    served = {e.path: e.name for e in RELATIONSHIP_ENDPOINTS} | {r.path: r.name for r in TO_ONE}
    left_out = {path for path, names in wanted.items() if names & LEFT_OUT}
    assert set(served) == set(wanted) - left_out
    assert len(left_out) == len(LEFT_OUT)
    for path, name in served.items():
        assert name in wanted[path]


# ---- 2. responses, through the SDK -----------------------------------------------------------------------------
def ref_set(data: Any) -> set[tuple[str, str]]:
    items = data if isinstance(data, list) else [data] if data else []
    return {(d["type"], d["id"]) for d in items}


def rel_of(sb, path: str, name: str) -> Any:
    """A relationship's data as the resource itself renders it."""
    return raw_get(sb, path, RELS_ACCOUNT)["data"]["relationships"][name]["data"]


def all_campaigns(sb) -> list[dict]:
    return [
        c
        for channel in ("email", "sms", "mobile_push")
        for archived in ("true", "false")
        for c in raw_walk(
            sb,
            "/api/campaigns",
            RELS_ACCOUNT,
            filter=f"equals(messages.channel,'{channel}'),equals(archived,{archived})",
        )
    ]


def all_flows(sb) -> list[dict]:
    return [
        f for a in ("true", "false") for f in raw_walk(sb, "/api/flows", RELS_ACCOUNT, filter=f"equals(archived,{a})")
    ]


def tagged(resources: list[dict], tag_id: str) -> set[tuple[str, str]]:
    return {(r["type"], r["id"]) for r in resources if tag_id in {t["id"] for t in r["relationships"]["tags"]["data"]}}


@pytest.fixture(scope="module")
def ids(klaviyo_sandbox) -> dict[str, str]:
    """Parents whose relationships are not empty, where the data allows."""
    sb = klaviyo_sandbox
    campaigns = all_campaigns(sb)
    flows = all_flows(sb)
    lists = raw_walk(sb, "/api/lists", RELS_ACCOUNT)
    segments = raw_walk(sb, "/api/segments", RELS_ACCOUNT)
    tags = raw_walk(sb, "/api/tags", RELS_ACCOUNT)
    tag = max(tags, key=lambda t: len(tagged(campaigns + flows + lists + segments, t["id"])))
    flow = next(f for f in flows if f["relationships"]["tags"]["data"])
    actions = raw_walk(sb, f"/api/flows/{flow['id']}/flow-actions", RELS_ACCOUNT)
    action = next(a for a in actions if a["relationships"]["flow-messages"]["data"])
    campaign = next(c for c in campaigns if c["relationships"]["tags"]["data"])
    members = raw_get(sb, f"/api/lists/{lists[0]['id']}/profiles", RELS_ACCOUNT)["data"]
    return {
        "event": raw_get(sb, "/api/events", RELS_ACCOUNT)["data"][0]["id"],
        "profile": members[0]["id"],
        "campaign": campaign["id"],
        "campaign-message": campaign["relationships"]["campaign-messages"]["data"][0]["id"],
        "flow": flow["id"],
        "flow-action": action["id"],
        "flow-message": action["relationships"]["flow-messages"]["data"][0]["id"],
        "list": next(g for g in lists if g["relationships"]["tags"]["data"])["id"],
        "segment": next(g for g in segments if g["relationships"]["tags"]["data"])["id"],
        "metric": raw_get(sb, "/api/metrics", RELS_ACCOUNT)["data"][0]["id"],
        "tag": tag["id"],
        "tag-group": tag["relationships"]["tag-group"]["data"]["id"],
    }


def groups_with_member(sb, group: str, profile: dict) -> set[tuple[str, str]]:
    email = profile["attributes"]["email"]
    return {
        (group, g["id"])
        for g in raw_walk(sb, f"/api/{group}s", RELS_ACCOUNT)
        if raw_get(sb, f"/api/{group}s/{g['id']}/profiles", RELS_ACCOUNT, filter=f'equals(email,"{email}")')["data"]
    }


def member_refs(sb, group: str, gid: str) -> set[tuple[str, str]]:
    walked = raw_walk(sb, f"/api/{group}s/{gid}/profiles", RELS_ACCOUNT, **{"page[size]": "100"})
    return {("profile", p["id"]) for p in walked}


# What each route must answer, computed from the other read routes: (parent type, expected (type, id) pairs).
EXPECTED: dict[str, tuple[str, Any]] = {
    "get_message_ids_for_campaign": (
        "campaign",
        lambda sb, i: ref_set(rel_of(sb, f"/api/campaigns/{i}", "campaign-messages")),
    ),
    "get_tag_ids_for_campaign": ("campaign", lambda sb, i: ref_set(rel_of(sb, f"/api/campaigns/{i}", "tags"))),
    "get_audience_ids_for_campaign": ("campaign", lambda sb, i: set()),
    "get_tag_ids_for_campaign_message": ("campaign-message", lambda sb, i: set()),
    "get_variation_ids_for_campaign_message": ("campaign-message", lambda sb, i: set()),
    "get_action_ids_for_flow": (
        "flow",
        lambda sb, i: {(a["type"], a["id"]) for a in raw_walk(sb, f"/api/flows/{i}/flow-actions", RELS_ACCOUNT)},
    ),
    "get_tag_ids_for_flow": ("flow", lambda sb, i: ref_set(rel_of(sb, f"/api/flows/{i}", "tags"))),
    "get_message_ids_for_flow_action": (
        "flow-action",
        lambda sb, i: ref_set(rel_of(sb, f"/api/flow-actions/{i}", "flow-messages")),
    ),
    "get_profile_ids_for_list": ("list", lambda sb, i: member_refs(sb, "list", i)),
    "get_tag_ids_for_list": ("list", lambda sb, i: ref_set(rel_of(sb, f"/api/lists/{i}", "tags"))),
    "get_ids_for_flows_triggered_by_list": (
        "list",
        lambda sb, i: ref_set(rel_of(sb, f"/api/lists/{i}", "flow-triggers")),
    ),
    "get_profile_ids_for_segment": ("segment", lambda sb, i: member_refs(sb, "segment", i)),
    "get_tag_ids_for_segment": ("segment", lambda sb, i: ref_set(rel_of(sb, f"/api/segments/{i}", "tags"))),
    "get_ids_for_flows_triggered_by_segment": (
        "segment",
        lambda sb, i: ref_set(rel_of(sb, f"/api/segments/{i}", "flow-triggers")),
    ),
    "get_ids_for_flows_triggered_by_metric": (
        "metric",
        lambda sb, i: ref_set(rel_of(sb, f"/api/metrics/{i}", "flow-triggers")),
    ),
    "get_list_ids_for_profile": (
        "profile",
        lambda sb, i: groups_with_member(sb, "list", raw_get(sb, f"/api/profiles/{i}", RELS_ACCOUNT)["data"]),
    ),
    "get_segment_ids_for_profile": (
        "profile",
        lambda sb, i: groups_with_member(sb, "segment", raw_get(sb, f"/api/profiles/{i}", RELS_ACCOUNT)["data"]),
    ),
    "get_push_token_ids_for_profile": ("profile", lambda sb, i: set()),
    "get_conversation_ids_for_profile": ("profile", lambda sb, i: set()),
    "get_campaign_ids_for_tag": ("tag", lambda sb, i: tagged(all_campaigns(sb), i)),
    "get_flow_ids_for_tag": ("tag", lambda sb, i: tagged(all_flows(sb), i)),
    "get_list_ids_for_tag": ("tag", lambda sb, i: tagged(raw_walk(sb, "/api/lists", RELS_ACCOUNT), i)),
    "get_segment_ids_for_tag": ("tag", lambda sb, i: tagged(raw_walk(sb, "/api/segments", RELS_ACCOUNT), i)),
    "get_tag_ids_for_tag_group": (
        "tag-group",
        lambda sb, i: {
            (t["type"], t["id"])
            for t in raw_walk(sb, "/api/tags", RELS_ACCOUNT)
            if t["relationships"]["tag-group"]["data"]["id"] == i
        },
    ),
    # to-one
    "get_metric_id_for_event": ("event", lambda sb, i: ref_set(rel_of(sb, f"/api/events/{i}", "metric"))),
    "get_profile_id_for_event": ("event", lambda sb, i: ref_set(rel_of(sb, f"/api/events/{i}", "profile"))),
    "get_campaign_id_for_campaign_message": (
        "campaign-message",
        lambda sb, i: ref_set(rel_of(sb, f"/api/campaign-messages/{i}", "campaign")),
    ),
    "get_template_id_for_campaign_message": ("campaign-message", None),  # checked below: an existing template
    "get_audience_id_for_campaign_message": ("campaign-message", lambda sb, i: set()),
    "get_flow_id_for_flow_action": ("flow-action", lambda sb, i: ref_set(rel_of(sb, f"/api/flow-actions/{i}", "flow"))),
    "get_action_id_for_flow_message": (
        "flow-message",
        lambda sb, i: ref_set(rel_of(sb, f"/api/flow-messages/{i}", "flow-action")),
    ),
    "get_template_id_for_flow_message": (
        "flow-message",
        lambda sb, i: ref_set(rel_of(sb, f"/api/flow-messages/{i}", "template")),
    ),
    "get_tag_group_id_for_tag": ("tag", lambda sb, i: ref_set(rel_of(sb, f"/api/tags/{i}", "tag-group"))),
    "get_conversation_id_for_profile": ("profile", lambda sb, i: set()),
}
# A bulk import job's relationships need a job of their own: test_sdk_import_jobs.py checks them.
JOB_GETTERS = {"get_profile_ids_for_bulk_import_profiles_job", "get_list_ids_for_bulk_import_profiles_job"}
GETTERS = [e.name for e in RELATIONSHIP_ENDPOINTS if e.name not in JOB_GETTERS] + [r.name for r in TO_ONE]
TO_ONE_NAMES = {r.name for r in TO_ONE}


def test_every_getter_has_an_expectation():
    assert set(EXPECTED) == set(GETTERS)


@pytest.mark.parametrize("name", GETTERS)
def test_sdk_relationship_getter(klaviyo_sandbox, ids, name):
    parent, expected = EXPECTED[name]
    api = sdk_group(sdk_client(klaviyo_sandbox, RELS_ACCOUNT), name)
    kwargs: dict[str, Any] = {"id": ids[parent]}
    if name in ("get_profile_ids_for_list", "get_profile_ids_for_segment"):
        kwargs["page_size"] = 100
    status, model, raw = sdk_call(api, name, **kwargs)  # parsed by the SDK's model, no key lost
    assert status == 200 and model is not None
    assert set(raw) == {"data", "links"}
    assert raw["links"]["self"].startswith(f"{klaviyo_sandbox.url}/api/")
    if name in TO_ONE_NAMES:
        assert isinstance(raw["data"], dict | None)
        assert set(raw["links"]) == {"self"}
    else:
        assert isinstance(raw["data"], list)
        assert set(raw["links"]) == {"self", "next", "prev"}
        assert all(set(ref) == {"type", "id"} for ref in raw["data"])
    served = ref_set(raw["data"])
    if name in ("get_profile_ids_for_list", "get_profile_ids_for_segment"):
        # Paged: walk it all through the SDK's own cursor parameter.
        page = model
        while page.links.next:
            cursor = re.search(r"page%5Bcursor%5D=([^&]+)", page.links.next) or re.search(
                r"page\[cursor\]=([^&]+)", page.links.next
            )
            assert cursor
            page = getattr(api, name)(**kwargs, page_cursor=cursor.group(1))
            served |= {(d.type.value if hasattr(d.type, "value") else d.type, d.id) for d in page.data}
    if expected is None:  # a campaign message's template: one that exists
        (template,) = served
        assert template[0] == "template"
        assert raw_get(klaviyo_sandbox, f"/api/templates/{template[1]}", RELS_ACCOUNT)["data"]["id"] == template[1]
        return
    assert served == expected(klaviyo_sandbox, ids[parent])


def test_non_empty_relationships_are_really_checked(klaviyo_sandbox, ids):
    """The parents chosen have data in the relationships that matter, so the comparisons above mean something."""
    client = sdk_client(klaviyo_sandbox, RELS_ACCOUNT)
    assert client.Campaigns.get_tag_ids_for_campaign(id=ids["campaign"]).data
    assert client.Tags.get_campaign_ids_for_tag(id=ids["tag"]).data
    assert client.Profiles.get_list_ids_for_profile(id=ids["profile"]).data
    assert len(client.Lists.get_profile_ids_for_list(id=ids["list"], page_size=100).data) > 1


# ---- 3. HTTP details ----------------------------------------------------------------------------------------------
def test_trailing_slash_answers_the_same(klaviyo_sandbox, ids):
    """A public Klaviyo tap requested /api/lists/{id}/relationships/profiles/ and got a 404 from the sandbox."""
    for path in (
        f"/api/lists/{ids['list']}/relationships/profiles",
        f"/api/segments/{ids['segment']}/relationships/profiles",
        f"/api/events/{ids['event']}/relationships/metric",
        f"/api/tags/{ids['tag']}/relationships/campaigns",
    ):
        plain = raw_request(klaviyo_sandbox, "GET", path, RELS_ACCOUNT)
        slash = raw_request(klaviyo_sandbox, "GET", path + "/", RELS_ACCOUNT)
        assert plain.status_code == slash.status_code == 200, (path, slash.text)
        assert plain.json()["data"] == slash.json()["data"]


def test_profile_ids_page_filter_and_sort_like_the_members_route(klaviyo_sandbox, ids):
    sb, gid = klaviyo_sandbox, ids["list"]
    members = raw_walk(sb, f"/api/lists/{gid}/profiles", RELS_ACCOUNT, **{"page[size]": "7"})
    rel_ids = raw_walk(sb, f"/api/lists/{gid}/relationships/profiles", RELS_ACCOUNT, **{"page[size]": "7"})
    assert [m["id"] for m in members] == [r["id"] for r in rel_ids]  # same order, every page
    assert len(raw_get(sb, f"/api/lists/{gid}/relationships/profiles", RELS_ACCOUNT)["data"]) == min(20, len(members))

    middle = members[len(members) // 2]["attributes"]["joined_group_at"]
    newer = raw_walk(
        sb,
        f"/api/lists/{gid}/relationships/profiles",
        RELS_ACCOUNT,
        filter=f"greater-or-equal(joined_group_at,{middle})",
        sort="-joined_group_at",
    )
    assert [r["id"] for r in newer] == [m["id"] for m in members if m["attributes"]["joined_group_at"] >= middle][::-1]


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/lists/{list}/relationships/profiles", {"page[size]": "101"}, "page[size]"),
        ("/api/lists/{list}/relationships/profiles", {"filter": 'equals(profile_id,"x")'}, "filter"),
        ("/api/lists/{list}/relationships/profiles", {"sort": "email"}, "sort"),
        ("/api/lists/{list}/relationships/profiles", {"fields[profile]": "email"}, "fields[profile]"),
        ("/api/lists/{list}/relationships/profiles", {"include": "lists"}, "include"),
        ("/api/segments/{segment}/relationships/profiles", {"page[size]": "0"}, "page[size]"),
        ("/api/campaigns/{campaign}/relationships/tags", {"page[size]": "5"}, "page[size]"),
        ("/api/flows/{flow}/relationships/flow-actions", {"page[size]": "51"}, "page[size]"),
    ],
)
def test_bad_parameters_are_400_invalid(klaviyo_sandbox, ids, path, params, parameter):
    response = raw_request(klaviyo_sandbox, "GET", path.format(**ids), RELS_ACCOUNT, **params)
    assert response.status_code == 400
    error = only_error(response)
    assert error["code"] == "invalid" and error["source"] == {"parameter": parameter}


@pytest.mark.parametrize("name", GETTERS)
def test_unknown_parent_is_404(klaviyo_sandbox, name):
    api = sdk_group(sdk_client(klaviyo_sandbox, RELS_ACCOUNT), name)
    status, body = api_error(lambda: getattr(api, name)(id="doesNotExist"))
    assert status == 404
    assert body.errors[0].code == "not_found"


def test_each_route_counts_in_its_own_bucket_with_the_sdk_tier(klaviyo_sandbox, ids):
    sb = klaviyo_sandbox
    account = sb.accounts[RELS_ACCOUNT]["id"]
    before = sb.stats().get(account, {})
    for name in GETTERS:
        route = next(p for v, p, n in NEW_ROUTES if n == name)
        response = raw_request(sb, "GET", route.format(id=ids[EXPECTED[name][0]]), RELS_ACCOUNT)
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == str(sdk_tier(name)[1]), name
    after = sb.stats()[account]
    for name in GETTERS:
        assert after[name]["requests"] - before.get(name, {}).get("requests", 0) == 1, name
