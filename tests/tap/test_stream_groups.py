"""Which streams of an account are read at the same time (stream_groups.py), which members go through which route
(members.assign_routes), and what a run of scope `light` reads: logic, in-process."""

from __future__ import annotations

import json

import pytest

from tap_klaviyo.members import IDS_ROUTE, MEMBERS_ROUTE, assign_routes
from tap_klaviyo.stream_groups import StreamNeeds, stream_groups
from tap_klaviyo.tap import TapKlaviyo

M, IDS = MEMBERS_ROUTE, IDS_ROUTE


def needs(name: str, *buckets: str, parent: str | None = None, alone: bool = False) -> StreamNeeds:
    return StreamNeeds(name, frozenset(buckets), parent, alone)


def test_streams_sharing_a_bucket_are_one_group_and_the_large_ones_run_alone():
    groups = stream_groups(
        [
            needs("events", "get_events", alone=True),
            needs("lists", "get_lists"),
            needs("list_members", "get_lists", "get_profiles_for_list", alone=True),
            needs("metrics", "get_metrics"),
            needs("profiles", "get_profiles", alone=True),
            needs("report", "query_x", "get_metrics"),
            needs("tags", "get_tags"),
        ]
    )
    assert groups == [["events"], ["lists", "list_members"], ["profiles"], ["metrics", "report", "tags"]]


def test_a_child_stays_with_its_parent_even_without_a_bucket_of_its_own():
    groups = stream_groups(
        [
            needs("campaigns", "get_campaigns"),
            needs("campaign_messages", parent="campaigns"),
            needs("events", "get_events", alone=True),
            needs("flow_export", "get_flows", parent="events"),
        ]
    )
    assert groups == [["events", "flow_export"], ["campaigns", "campaign_messages"]]


def test_a_new_large_stream_on_an_existing_bucket_joins_that_group():
    # e.g. a listing of every profile id (deleted people) shares the profiles stream's limit: one process paces both.
    groups = stream_groups(
        [needs("profile_ids", "get_profiles", alone=True), needs("profiles", "get_profiles", alone=True)]
    )
    assert groups == [["profile_ids", "profiles"]]


def tap(**config: object) -> TapKlaviyo:
    return TapKlaviyo(config={"accounts_json": "[]", **config}, validate_config=False)


def test_the_tap_puts_every_stream_in_exactly_one_group():
    groups = tap().stream_groups()
    names = [name for group in groups for name in group]
    assert sorted(names) == sorted(tap().streams) and len(names) == len(set(names))
    by_stream = {name: n for n, group in enumerate(groups) for name in group}
    # a child with its parent; lists with the members that list them through the same endpoint; the report streams
    # with the accounts and metrics streams, whose endpoints they also call
    assert by_stream["campaign_messages"] == by_stream["campaigns"]
    assert by_stream["flow_messages"] == by_stream["flow_actions"] == by_stream["flows"]
    assert by_stream["list_members"] == by_stream["lists"]
    assert by_stream["segment_members"] == by_stream["segments"]
    assert by_stream["flow_series_reports"] == by_stream["metrics"] == by_stream["accounts"]
    # profile_listings reports the listings profile_ids finished, which only profile_ids' process knows
    assert by_stream["profile_listings"] == by_stream["profile_ids"]
    # event_counts and events share one asking of Klaviyo's counts per run (event_counts.py)
    assert by_stream["event_counts"] == by_stream["events"]
    # and the large streams apart from each other
    alone = {by_stream[name] for name in ("events", "profiles", "list_members", "segment_members")}
    assert len(alone) == 4 and by_stream["campaigns"] not in alone


def test_one_group_of_every_stream_when_groups_are_read_one_after_another():
    assert tap(parallel_stream_groups=1).stream_groups() == [sorted(tap().streams, key=list(tap().streams).index)]


def test_a_light_run_reads_events_and_profiles_only_whatever_is_selected():
    light = tap(scope="light")
    light.keep_streams_of_this_run()
    assert [name for name, stream in light.streams.items() if stream.selected] == ["events", "profiles"]
    assert light.stream_groups() == [["events"], ["profiles"]]


def test_a_light_run_starts_events_and_profiles_light_lookback_minutes_before_their_bookmarks():
    light, full = tap(scope="light", light_lookback_minutes=45), tap()
    assert light.streams["events"].lookback_seconds() == 45 * 60
    assert light.streams["profiles"].lookback_seconds() == 45 * 60
    assert full.streams["events"].lookback_seconds() == 7 * 86400
    assert full.streams["profiles"].lookback_seconds() == 0


def test_a_process_of_one_group_reads_only_that_group():
    child = tap(stream_group=["campaigns", "campaign_messages"])
    child.keep_streams_of_this_run()
    assert [name for name, stream in child.streams.items() if stream.selected] == ["campaign_messages", "campaigns"]


@pytest.mark.parametrize(
    ("known", "routes"),
    [
        # first run, nothing known: alternately, the members route first
        ([(None, None)] * 4, [M, IDS, M, IDS]),
        # one group only: the members route (nothing to share)
        ([(None, None)], [M]),
        # sizes known from the last run (the route not yet chosen): the largest first, to the lighter route
        ([(None, 10), (None, 300), (None, 200), (None, 90)], [IDS, M, IDS, IDS]),
        # routes kept whatever the balance; new groups go to the lighter side, at the mean size of the known ones
        ([(IDS, 500), (M, 100), (None, None), (None, 100)], [IDS, M, M, M]),
        # a route the state does not know (an older format) is chosen again
        ([("other", 5), (None, 5)], [M, IDS]),
    ],
)
def test_routes_are_kept_and_new_groups_balance_the_two(known, routes):
    assert assign_routes(known, both=True) == routes


def test_every_group_through_the_members_route_without_both_routes():
    assert assign_routes([(IDS, 5), (None, None), (M, 1)], both=False) == [M, M, M]


def test_routes_are_kept_in_each_groups_partition_state():
    """The route chosen for a group is written to its partition's state before its pages are read (a run killed
    part-way keeps it), and its size once it was read in full."""
    account = json.dumps([{"account": "a", "api_key": "k"}])
    stream = tap(accounts_json=account, account_ids={"a": "A"}, progress_interval_seconds=0).streams["segment_members"]
    stream._groups = [{"account_id": "A", "segment_id": f"S{n}"} for n in range(3)]
    sizes = {"S0": 3, "S1": 1, "S2": 2}
    routes_seen = {}

    def pages(partition):
        group = partition.context["segment_id"]
        routes_seen[group] = stream.get_context_state(partition.context)["route"]
        yield [{"id": f"{group}-{n}"} for n in range(sizes[group])]

    stream.pages = pages  # type: ignore[method-assign]
    rows = [row for _, page in stream._page_loop(None) for row in page]
    assert len(rows) == 6
    assert routes_seen == {"S0": M, "S1": IDS, "S2": M}
    states = {context["segment_id"]: stream.get_context_state(context) for context in stream._groups}
    assert {group: (state["route"], state["members"]) for group, state in states.items()} == {
        "S0": (M, 3),
        "S1": (IDS, 1),
        "S2": (M, 2),
    }


@pytest.mark.parametrize(("scope", "activated"), [("full", True), ("light", False)])
def test_the_mark_deletions_step_of_a_light_run_activates_nothing(capsys, scope, activated):
    """A light run reads none of the full listings: activating its table version would mark every row of theirs
    deleted."""
    tap(scope=scope, activate_version=5).run()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(message["type"] == "ACTIVATE_VERSION" for message in messages) is activated
