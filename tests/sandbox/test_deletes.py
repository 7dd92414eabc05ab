"""DELETE /api/{campaigns|flows|lists|segments|tags|templates}/{id} through the official SDK, then read back: the
resource answers 404, its collection no longer lists it, and nothing else names it in relationships or `include`.

The deletes run against a sandbox of this module's own (they would change what other test files read).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sdk_support import api_error, only_error, raw_get, raw_request, raw_walk, sdk_call, sdk_client

from klaviyo_sandbox.account import Account, AccountState
from klaviyo_sandbox.deletes import delete_resource
from klaviyo_sandbox.endpoints import REL_TYPES
from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox
from klaviyo_sandbox.settings import DataSettings


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    sb = start_sandbox("--accounts", "1", "--events", "300", "--profiles", "300", "--rate-limit-scale", "0")
    yield sb
    sb.stop()


def all_campaigns(sb) -> list[dict]:
    return [
        c
        for channel in ("email", "sms", "mobile_push")
        for archived in ("true", "false")
        for c in raw_walk(
            sb, "/api/campaigns", filter=f"equals(messages.channel,'{channel}'),equals(archived,{archived})"
        )
    ]


def all_flows(sb) -> list[dict]:
    return [f for a in ("true", "false") for f in raw_walk(sb, "/api/flows", filter=f"equals(archived,{a})")]


def ids_of(records: list[dict]) -> set[str]:
    return {r["id"] for r in records}


def rel_ids(resource: dict, name: str) -> set[str]:
    data = resource["relationships"][name]["data"]
    return {d["id"] for d in (data if isinstance(data, list) else [data] if data else [])}


def assert_404(sb, path: str) -> None:
    response = raw_request(sb, "GET", path)
    assert response.status_code == 404, (path, response.text)
    assert only_error(response)["code"] == "not_found"


def sdk_delete(sb, group: str, method: str, resource_id: str) -> None:
    status, body, raw = sdk_call(getattr(sdk_client(sb), group), method, id=resource_id)
    assert (status, body, raw) == (204, None, None)


# ---- each resource type ------------------------------------------------------------------------------------------
def test_delete_campaign_takes_its_messages_and_its_tags(sandbox):
    sb = sandbox
    campaign = next(c for c in all_campaigns(sb) if c["relationships"]["tags"]["data"])
    cid, messages, tags = campaign["id"], rel_ids(campaign, "campaign-messages"), rel_ids(campaign, "tags")
    client = sdk_client(sb)

    sdk_delete(sb, "Campaigns", "delete_campaign", cid)

    status, error = api_error(lambda: client.Campaigns.get_campaign(id=cid))
    assert status == 404 and error.errors[0].code == "not_found"
    assert cid not in ids_of(all_campaigns(sb))
    for mid in messages:
        assert_404(sb, f"/api/campaign-messages/{mid}")
        assert_404(sb, f"/api/campaign-messages/{mid}/relationships/campaign")
    assert not messages & ids_of(raw_walk(sb, "/api/campaign-messages"))
    for tag in tags:
        assert cid not in {c.id for c in client.Tags.get_campaign_ids_for_tag(id=tag).data}
        assert raw_get(sb, f"/api/tags/{tag}")["data"]["id"] == tag  # the tag itself stays
    assert_404(sb, f"/api/campaigns/{cid}/relationships/tags")
    assert_404(sb, f"/api/campaigns/{cid}/campaign-messages")


def test_delete_flow_takes_its_actions_and_messages(sandbox):
    sb = sandbox
    flow = next(f for f in all_flows(sb) if f["relationships"]["tags"]["data"])
    actions = raw_walk(sb, f"/api/flows/{flow['id']}/flow-actions")
    messages = set().union(*(rel_ids(a, "flow-messages") for a in actions))
    assert actions and messages

    sdk_delete(sb, "Flows", "delete_flow", flow["id"])

    assert_404(sb, f"/api/flows/{flow['id']}")
    assert flow["id"] not in ids_of(all_flows(sb))
    for action in actions:
        assert_404(sb, f"/api/flow-actions/{action['id']}")
    for mid in messages:
        assert_404(sb, f"/api/flow-messages/{mid}")
    for tag in rel_ids(flow, "tags"):
        assert flow["id"] not in ids_of(raw_get(sb, f"/api/tags/{tag}/relationships/flows")["data"])


@pytest.mark.parametrize(
    ("group", "sdk_group", "method"), [("list", "Lists", "delete_list"), ("segment", "Segments", "delete_segment")]
)
def test_delete_list_or_segment_takes_its_membership(sandbox, group, sdk_group, method):
    sb = sandbox
    groups = raw_walk(sb, f"/api/{group}s")
    target = next(g for g in groups if g["relationships"]["tags"]["data"])
    gid = target["id"]
    member = raw_get(sb, f"/api/{group}s/{gid}/profiles")["data"][0]["id"]
    assert gid in ids_of(raw_get(sb, f"/api/profiles/{member}/relationships/{group}s")["data"])

    sdk_delete(sb, sdk_group, method, gid)

    assert_404(sb, f"/api/{group}s/{gid}")
    assert_404(sb, f"/api/{group}s/{gid}/profiles")
    assert_404(sb, f"/api/{group}s/{gid}/profiles/")
    assert_404(sb, f"/api/{group}s/{gid}/relationships/profiles/")
    assert gid not in ids_of(raw_walk(sb, f"/api/{group}s"))
    assert gid not in ids_of(raw_get(sb, f"/api/profiles/{member}/relationships/{group}s")["data"])
    profile = raw_get(sb, f"/api/profiles/{member}", include=f"{group}s")
    assert gid not in rel_ids(profile["data"], f"{group}s")
    assert gid not in ids_of(profile.get("included", []))
    for tag in rel_ids(target, "tags"):
        assert gid not in ids_of(raw_get(sb, f"/api/tags/{tag}/relationships/{group}s")["data"])


def test_delete_tag_removes_it_from_everything_tagged(sandbox):
    sb = sandbox
    campaigns, flows = all_campaigns(sb), all_flows(sb)
    lists, segments = raw_walk(sb, "/api/lists"), raw_walk(sb, "/api/segments")
    everything = campaigns + flows + lists + segments
    tag = max(ids_of(raw_walk(sb, "/api/tags")), key=lambda t: sum(t in rel_ids(r, "tags") for r in everything))
    tagged = [r for r in everything if tag in rel_ids(r, "tags")]
    assert {r["type"] for r in tagged} >= {"campaign", "list"}, "a tag used by several kinds of resource"
    client = sdk_client(sb)

    sdk_delete(sb, "Tags", "delete_tag", tag)

    assert_404(sb, f"/api/tags/{tag}")
    assert_404(sb, f"/api/tags/{tag}/relationships/campaigns")
    assert tag not in ids_of(raw_walk(sb, "/api/tags"))
    for resource in tagged:
        path = f"/api/{resource['type']}s/{resource['id']}"
        after = raw_get(sb, path, include="tags")
        assert rel_ids(after["data"], "tags") == rel_ids(resource, "tags") - {tag}
        assert tag not in ids_of(after.get("included", []))
        assert tag not in ids_of(raw_get(sb, f"{path}/relationships/tags")["data"])
        # Removing a tag is not an edit of the tagged resource.
        assert after["data"]["attributes"] == resource["attributes"]
    campaign = next(r for r in tagged if r["type"] == "campaign")
    assert tag not in {t.id for t in client.Campaigns.get_tag_ids_for_campaign(id=campaign["id"]).data}


def test_delete_template_empties_the_relationships_to_it(sandbox):
    sb = sandbox
    flow = all_flows(sb)[0]
    actions = raw_walk(sb, f"/api/flows/{flow['id']}/flow-actions")
    message_id = next(m for a in actions for m in rel_ids(a, "flow-messages"))
    message = raw_get(sb, f"/api/flow-messages/{message_id}")["data"]
    (template,) = rel_ids(message, "template")
    client = sdk_client(sb)

    sdk_delete(sb, "Templates", "delete_template", template)

    assert_404(sb, f"/api/templates/{template}")
    assert template not in ids_of(raw_walk(sb, "/api/templates"))
    after = raw_get(sb, f"/api/flow-messages/{message_id}", include="template")
    assert after["data"]["relationships"]["template"]["data"] is None
    assert "included" not in after or not after["included"]
    assert client.Flows.get_template_id_for_flow_message(id=message_id).data is None


# ---- errors and buckets ------------------------------------------------------------------------------------------
DELETE_PATHS = {
    "delete_campaign": "/api/campaigns/{id}",
    "delete_flow": "/api/flows/{id}",
    "delete_list": "/api/lists/{id}",
    "delete_segment": "/api/segments/{id}",
    "delete_tag": "/api/tags/{id}",
    "delete_template": "/api/templates/{id}",
}


@pytest.mark.parametrize("name", list(DELETE_PATHS))
@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
def test_deleting_an_unknown_id_is_404_in_its_own_bucket(sandbox, name, slash):
    account = sandbox.accounts[0]["id"]
    before = sandbox.stats().get(account, {}).get(name, {})
    response = raw_request(sandbox, "DELETE", DELETE_PATHS[name].format(id="nope") + slash)
    assert response.status_code == 404
    error = only_error(response)
    assert error["code"] == "not_found" and "nope" in error["detail"]
    after = sandbox.stats()[account][name]
    assert after["requests"] == before.get("requests", 0) + 1
    assert after["404"] == before.get("404", 0) + 1


def test_sdk_delete_of_an_unknown_id_raises_a_404(sandbox):
    status, body = api_error(lambda: sdk_client(sandbox).Segments.delete_segment(id="nope"))
    assert status == 404 and body.errors[0].code == "not_found"


def test_a_deleted_resource_cannot_be_deleted_twice(sandbox):
    template = raw_walk(sandbox, "/api/templates")[-1]["id"]
    first = raw_request(sandbox, "DELETE", f"/api/templates/{template}/")
    assert first.status_code == 204 and first.content == b""
    assert raw_request(sandbox, "DELETE", f"/api/templates/{template}").status_code == 404


def test_delete_tiers_are_enforced_per_bucket(klaviyo_sandbox_factory):
    """delete_flow allows 3 a second (SDK docstring): the 4th within the second is a 429; other buckets are free."""
    sb = klaviyo_sandbox_factory("--accounts", "1", "--events", "20", "--profiles", "20")
    statuses = [raw_request(sb, "DELETE", "/api/flows/nope").status_code for _ in range(4)]
    if statuses[3] != 429:  # the four did not fit in one window of 1 s: try once more from a fresh window
        time.sleep(1.05)
        statuses = [raw_request(sb, "DELETE", "/api/flows/nope").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    limited = raw_request(sb, "DELETE", "/api/templates/nope")
    assert limited.status_code == 404 and limited.headers["RateLimit-Limit"] == "750"


# ---- in-process: what a delete leaves behind -----------------------------------------------------------------------
def mentions(acc: AccountState, type_: str, resource_id: str) -> list[tuple[str, str]]:
    """Every (type, id) of a record whose relationships name the resource (ids are unique per type only)."""
    found = []
    tables = (acc.campaigns, acc.campaign_messages, acc.flows, acc.flow_actions, acc.flow_messages, acc.lists, acc.tags)
    for table in (*tables, acc.segments):
        for record in table.records.values():
            values: list[Any] = []
            for name, value in record["rel"].items():
                if REL_TYPES[name] == type_:
                    values += value if isinstance(value, list) else [value]
            if type_ == "template" and record["type"] == "campaign-message":
                values.append(record["template"])
            if resource_id in values:
                found.append((record["type"], record["id"]))
    return found


@pytest.mark.parametrize("type_", ["campaign", "flow", "list", "segment", "tag", "template"])
def test_delete_leaves_no_mention_of_the_resource(type_):
    acc = Account.generate(DataSettings(accounts=1, events=10, profiles=50), 0).state
    table = {"campaign": acc.campaigns, "flow": acc.flows, "list": acc.lists, "segment": acc.segments}.get(type_)
    table = table or {"tag": acc.tags, "template": acc.templates}[type_]
    rid = max(table.records, key=lambda r: len(mentions(acc, type_, r)))
    assert type_ in ("list", "segment") or mentions(acc, type_, rid), "nothing to clean up: a test that cannot fail"
    if type_ in ("list", "segment"):
        assert (type_, rid) in acc.members
    assert delete_resource(acc, type_, rid)
    assert table.get(rid) is None
    assert mentions(acc, type_, rid) == []
    assert (type_, rid) not in acc.members
    assert not delete_resource(acc, type_, rid)
