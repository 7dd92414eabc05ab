"""List membership written through the official SDK (ListsApi.add_profiles_to_list / remove_profiles_from_list) and
read back through the members route, the relationships routes and the profile's lists; plus the exactness of
cursors, filters and order while members come and go (in-process, on MemberTable).

The writes run against a sandbox of this module's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from openapi_client.models import ListMembersAddQuery, ListMembersDeleteQuery
from sdk_support import cursor_of, only_error, raw_get, raw_request, raw_walk, sdk_call, sdk_client, sdk_walk

from klaviyo_sandbox.account import Account
from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox
from klaviyo_sandbox.settings import DataSettings
from klaviyo_sandbox.validation import ProfileInput
from klaviyo_sandbox.writes import upsert_profile


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    sb = start_sandbox("--accounts", "1", "--events", "100", "--profiles", "400", "--rate-limit-scale", "0")
    yield sb
    sb.stop()


def refs(profile_ids: list[str]) -> dict:
    return {"data": [{"type": "profile", "id": pid} for pid in profile_ids]}


def member_ids(sb, list_id: str, **params: str) -> list[str]:
    return [m["id"] for m in raw_walk(sb, f"/api/lists/{list_id}/profiles", **{"page[size]": "100", **params})]


def non_members(sb, list_id: str, count: int) -> list[str]:
    members = set(member_ids(sb, list_id))
    return [p["id"] for p in raw_walk(sb, "/api/profiles", **{"page[size]": "100"}) if p["id"] not in members][:count]


def lists_of(sb, profile_id: str) -> set[str]:
    return {r["id"] for r in raw_get(sb, f"/api/profiles/{profile_id}/relationships/lists")["data"]}


def test_sdk_add_profiles_joins_them_now(sandbox):
    sb = sandbox
    lists = raw_walk(sb, "/api/lists")
    list_id = lists[0]["id"]
    before_members = member_ids(sb, list_id)
    joining = non_members(sb, list_id, 3)
    client = sdk_client(sb)

    start = datetime.now(UTC).replace(microsecond=0)
    query = ListMembersAddQuery.from_dict(refs(joining))
    status, body, raw = sdk_call(client.Lists, "add_profiles_to_list", id=list_id, list_members_add_query=query)
    end = datetime.now(UTC)
    assert (status, body, raw) == (204, None, None)

    members = sdk_walk(client.Lists.get_profiles_for_list, id=list_id, page_size=100)
    assert [m.id for m in members] == before_members + sorted(joining)  # joined now: after every earlier member
    for member in members[-3:]:
        assert start <= member.attributes.joined_group_at <= end
    ids_page = sdk_walk(client.Lists.get_profile_ids_for_list, id=list_id, page_size=100)
    assert [r.id for r in ids_page] == [m.id for m in members]
    for pid in joining:
        assert list_id in lists_of(sb, pid)

    # Only the new members are at or after the time they joined.
    since = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sorted(member_ids(sb, list_id, filter=f"greater-or-equal(joined_group_at,{since})")) == sorted(joining)
    # The list itself is not edited by a membership change.
    assert raw_get(sb, f"/api/lists/{list_id}")["data"]["attributes"] == lists[0]["attributes"]


def test_adding_a_member_again_keeps_its_join_time(sandbox):
    sb = sandbox
    list_id = raw_walk(sb, "/api/lists")[1]["id"]
    first = raw_get(sb, f"/api/lists/{list_id}/profiles")["data"][0]
    response = raw_request(sb, "POST", f"/api/lists/{list_id}/relationships/profiles", body=refs([first["id"]]))
    assert response.status_code == 204 and response.content == b""
    again = raw_get(sb, f"/api/lists/{list_id}/profiles")["data"][0]
    assert again["id"] == first["id"]
    assert again["attributes"]["joined_group_at"] == first["attributes"]["joined_group_at"]


def test_sdk_remove_profiles_takes_them_out_everywhere(sandbox):
    sb = sandbox
    list_id = raw_walk(sb, "/api/lists")[2]["id"]
    added = non_members(sb, list_id, 1)
    assert raw_request(sb, "POST", f"/api/lists/{list_id}/relationships/profiles", body=refs(added)).status_code == 204
    before = member_ids(sb, list_id)
    leaving = [before[0], before[len(before) // 2], *added]  # generated members and one added by a write
    outsider = non_members(sb, list_id, 1)  # not a member: removing it changes nothing
    client = sdk_client(sb)

    query = ListMembersDeleteQuery.from_dict(refs([*leaving, *outsider]))
    status, body, _ = sdk_call(client.Lists, "remove_profiles_from_list", id=list_id, list_members_delete_query=query)
    assert (status, body) == (204, None)

    expected = [m for m in before if m not in leaving]
    assert member_ids(sb, list_id) == expected
    assert [r["id"] for r in raw_walk(sb, f"/api/lists/{list_id}/relationships/profiles")] == expected
    for pid in leaving:
        assert list_id not in lists_of(sb, pid)
        assert raw_get(sb, f"/api/profiles/{pid}")["data"]["id"] == pid  # the profile itself stays
        assert not raw_get(sb, f"/api/lists/{list_id}/profiles", filter=f'equals(email,"{email_of(sb, pid)}")')["data"]


def email_of(sb, profile_id: str) -> str:
    return raw_get(sb, f"/api/profiles/{profile_id}")["data"]["attributes"]["email"]


def test_a_cursor_walk_sees_changes_ahead_of_it_and_none_behind(sandbox):
    """Members removed ahead of a reader's cursor are not served; one that joins (now, so at the end) is; a change
    behind the cursor neither repeats nor skips anything."""
    sb = sandbox
    list_id = raw_walk(sb, "/api/lists")[3]["id"]
    before = member_ids(sb, list_id)
    assert len(before) > 12
    path = f"/api/lists/{list_id}/profiles"
    page = raw_get(sb, path, **{"page[size]": "5"})
    walked = [m["id"] for m in page["data"]]

    joiner = non_members(sb, list_id, 1)
    members_path = f"/api/lists/{list_id}/relationships/profiles"
    assert raw_request(sb, "DELETE", members_path, body=refs([before[8], before[2]])).status_code == 204
    assert raw_request(sb, "POST", members_path + "/", body=refs(joiner)).status_code == 204

    while page["links"]["next"]:
        page = raw_get(sb, path, **{"page[size]": "5", "page[cursor]": cursor_of(page["links"]["next"])})
        walked += [m["id"] for m in page["data"]]
    assert walked == before[:5] + [m for m in before[5:] if m != before[8]] + joiner


# ---- errors and buckets ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"data": [{"type": "profile", "id": f"p{k}"} for k in range(1001)]}, "/data"),
        ({"data": [{"type": "list", "id": "x"}]}, "/data/0/type"),
        ({"data": [{"type": "profile"}]}, "/data/0/id"),
        ({"data": {"type": "profile", "id": "x"}}, "/data"),
        ({}, "/data"),
    ],
    ids=["over-1000", "wrong-type", "no-id", "not-an-array", "no-data"],
)
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_bad_bodies_are_400_invalid(sandbox, body, pointer, method):
    list_id = raw_walk(sandbox, "/api/lists")[4]["id"]
    response = raw_request(sandbox, method, f"/api/lists/{list_id}/relationships/profiles", body=body)
    assert response.status_code == 400
    error = only_error(response)
    assert error["code"] == "invalid"
    assert error["source"]["pointer"] == pointer


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_unknown_list_or_profile_is_404_and_changes_nothing(sandbox, method):
    sb = sandbox
    list_id = raw_walk(sb, "/api/lists")[5]["id"]
    missing = raw_request(sb, method, "/api/lists/nope/relationships/profiles", body=refs(["x"]))
    assert missing.status_code == 404 and only_error(missing)["code"] == "not_found"

    before = member_ids(sb, list_id)
    known = before[0] if method == "DELETE" else non_members(sb, list_id, 1)[0]
    response = raw_request(sb, method, f"/api/lists/{list_id}/relationships/profiles", body=refs([known, "nope"]))
    assert response.status_code == 404
    error = only_error(response)
    assert error["code"] == "not_found" and error["source"] == {"pointer": "/data/1/id"}
    assert member_ids(sb, list_id) == before


def test_membership_writes_count_in_their_own_buckets(sandbox):
    sb = sandbox
    account = sb.accounts[0]["id"]
    list_id = raw_walk(sb, "/api/lists")[6]["id"]
    before = sb.stats().get(account, {})
    path = f"/api/lists/{list_id}/relationships/profiles"
    added = raw_request(sb, "POST", path, body=refs(non_members(sb, list_id, 1)))
    removed = raw_request(sb, "DELETE", path, body=refs(member_ids(sb, list_id)[:1]))
    assert added.status_code == removed.status_code == 204
    assert added.headers["RateLimit-Limit"] == removed.headers["RateLimit-Limit"] == "150"  # 10/s 150/m
    after = sb.stats()[account]
    for name in ("add_profiles_to_list", "remove_profiles_from_list"):
        assert after[name]["requests"] == before.get(name, {}).get("requests", 0) + 1
        assert after[name]["204"] == before.get(name, {}).get("204", 0) + 1


def test_membership_tier_is_enforced(klaviyo_sandbox_factory):
    """10/s (SDK docstring): at a rate-limit scale of 0.1, one a second, then 429; reads of the list stay free."""
    sb = klaviyo_sandbox_factory("--accounts", "1", "--events", "20", "--profiles", "50", "--rate-limit-scale", "0.1")
    list_id = raw_get(sb, "/api/lists")["data"][0]["id"]
    path = f"/api/lists/{list_id}/relationships/profiles"
    statuses = [raw_request(sb, "DELETE", path, body=refs([])).status_code for _ in range(2)]
    assert statuses == [204, 429]
    assert raw_request(sb, "GET", path).status_code == 200


# ---- in-process: MemberTable keeps one exact order while members come and go -------------------------------------
@pytest.fixture
def account() -> Account:
    return Account.generate(DataSettings(seed=5, accounts=1, events=10, profiles=600), 0)


def scan_ids(table, descending: bool = False, after=None) -> list[str]:
    return [r["id"] for _, r in table.scan("joined_group_at", descending, after, None, None)]


def test_member_table_order_and_cursors_stay_exact(account):
    gid = sorted(g for t, g in account.state.members if t == "list")[0]
    table = account.state.members[("list", gid)]
    generated = list(table.scan("joined_group_at", False, None, None, None))
    assert len(generated) > 20
    data = account.data
    outsiders = [data.profile(j) for j in range(data.n_profiles) if table.get(data.profile_id(j)) is None]
    # Remove generated members, add outsiders at times that fall between generated ones (and one exactly on one).
    removed = {generated[3][1]["id"], generated[10][1]["id"]}
    for pid in removed:
        assert table.remove(pid)
    times = [generated[5][0][0] + 0.5, generated[12][0][0], generated[0][0][0] - 1, generated[-1][0][0] + 1]
    for profile, t in zip(outsiders, times, strict=False):
        assert table.add(profile, t)
    assert not table.add(outsiders[0], 0.0)  # already a member
    assert not table.remove("not-a-member")

    expected = sorted(
        [(pos, r["id"]) for pos, r in generated if r["id"] not in removed]
        + [((t, 1, p["id"]), p["id"]) for p, t in zip(outsiders, times, strict=False)]
    )
    rows = list(table.scan("joined_group_at", False, None, None, None))
    assert [(pos, rid) for pos, rid in ((p, r["id"]) for p, r in rows)] == expected
    assert scan_ids(table, descending=True) == [rid for _, rid in reversed(expected)]
    for k, (pos, _) in enumerate(expected):  # every cursor resumes exactly after its record
        assert scan_ids(table, after=pos) == [rid for _, rid in expected[k + 1 :]]
        assert scan_ids(table, descending=True, after=pos) == [rid for _, rid in reversed(expected[:k])]
    for pid in removed:
        assert table.get(pid) is None
    assert table.get(outsiders[1]["id"])["attributes"]["joined_group_at"] == datetime.fromtimestamp(
        times[1], UTC
    ).isoformat(timespec="seconds")


def test_an_added_member_shows_its_profile_as_it_is_now(account):
    gid = sorted(g for t, g in account.state.members if t == "list")[0]
    table = account.state.members[("list", gid)]
    outsider = next(account.data.profile(j) for j in range(50) if table.get(account.data.profile_id(j)) is None)
    table.add(outsider, time.time())
    upsert_profile(account, ProfileInput(id=outsider["id"], attributes={"first_name": "Renamed"}), time.time())
    assert table.get(outsider["id"])["attributes"]["first_name"] == "Renamed"
    (row,) = [r for _, r in table.scan("joined_group_at", False, None, None, None) if r["id"] == outsider["id"]]
    assert row["attributes"]["first_name"] == "Renamed"
