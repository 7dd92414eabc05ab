"""`POST /_sandbox/accounts/{id}/activity` with `segment_changes` / `list_changes`: members leave and profiles join
segments and lists, and the answer names exactly which (group, profile) pairs changed, so a warehouse can be checked
against it. Read back through Klaviyo's routes; determinism checked in-process.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sdk_support import raw_get, raw_walk

from klaviyo_sandbox.account import Account
from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox
from klaviyo_sandbox.settings import DataSettings
from klaviyo_sandbox.writes import simulate_activity


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    sb = start_sandbox("--accounts", "1", "--events", "50", "--profiles", "400", "--rate-limit-scale", "0")
    yield sb
    sb.stop()


def memberships(sb, group: str) -> dict[tuple[str, str], str]:
    """(group id, profile id) -> joined_group_at, for every group of the kind, through the members routes."""
    out = {}
    for g in raw_walk(sb, f"/api/{group}s"):
        for m in raw_walk(sb, f"/api/{group}s/{g['id']}/profiles", **{"page[size]": "100"}):
            out[(g["id"], m["id"])] = m["attributes"]["joined_group_at"]
    return out


def test_activity_answer_names_exactly_the_membership_changes(sandbox):
    sb = sandbox
    account = sb.accounts[0]["id"]
    segments_before, lists_before = memberships(sb, "segment"), memberships(sb, "list")
    groups_before = {g["id"]: g for kind in ("segments", "lists") for g in raw_walk(sb, f"/api/{kind}")}

    changed = sb.activity(account, segment_changes=6, list_changes=4, seed=21)

    assert {"segments_left", "segments_joined", "lists_left", "lists_joined"} <= set(changed)
    assert (len(changed["segments_left"]), len(changed["segments_joined"])) == (6, 6)
    assert (len(changed["lists_left"]), len(changed["lists_joined"])) == (4, 4)
    assert changed["profiles"] == [] and changed["events"] == []
    for group, before in (("segment", segments_before), ("list", lists_before)):
        left = {(c[f"{group}_id"], c["profile_id"]) for c in changed[f"{group}s_left"]}
        joined = {(c[f"{group}_id"], c["profile_id"]): c["joined_group_at"] for c in changed[f"{group}s_joined"]}
        assert len(left) == len(changed[f"{group}s_left"]) and len(joined) == len(changed[f"{group}s_joined"])
        after = memberships(sb, group)
        assert set(before) - set(after) == left
        assert set(after) - set(before) == set(joined)
        for pair, when in joined.items():
            assert after[pair] == when
        for pair in set(before) & set(after):  # nobody else moved
            assert after[pair] == before[pair]
        for gid, pid in left:
            ids = {
                r["id"] for r in raw_walk(sb, f"/api/{group}s/{gid}/relationships/profiles", **{"page[size]": "100"})
            }
            assert pid not in ids
            assert gid not in {r["id"] for r in raw_get(sb, f"/api/profiles/{pid}/relationships/{group}s")["data"]}
    # Membership is not an edit of the group or of the profile.
    for gid, group in groups_before.items():
        assert raw_get(sb, f"/api/{group['type']}s/{gid}")["data"]["attributes"] == group["attributes"]
    for change in changed["segments_joined"]:
        profile = raw_get(sb, f"/api/profiles/{change['profile_id']}")["data"]
        assert profile["attributes"]["updated"] < change["joined_group_at"]


def test_activity_without_membership_counts_changes_no_membership(sandbox):
    sb = sandbox
    before = memberships(sb, "segment")
    changed = sb.activity(sb.accounts[0]["id"], others=1, seed=2)
    assert changed["segments_left"] == changed["segments_joined"] == []
    assert memberships(sb, "segment") == before


def test_membership_changes_are_deterministic_from_the_seed():
    def run(seed: int) -> list[dict]:
        acc = Account.generate(DataSettings(seed=4, accounts=1, events=10, profiles=300), 0)
        return [simulate_activity(acc, segment_changes=5, list_changes=2, now=1.9e9 + k, seed=seed) for k in range(2)]

    first, again, other = run(8), run(8), run(9)
    assert first == again
    assert first != other
    assert first[0]["segments_left"] != first[1]["segments_left"]  # a second call changes other members
