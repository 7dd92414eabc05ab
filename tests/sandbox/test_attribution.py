"""The attribution the generator writes into event properties (klaviyo_sandbox.attribution), checked in-process
against the account's own campaigns and flows, and the promise that it changed nothing else of the data set."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from klaviyo_sandbox.attribution import ATTRIBUTION_WINDOW, CAMPAIGN_WINDOW, MESSAGE_METRICS
from klaviyo_sandbox.generator import AccountDataSet
from klaviyo_sandbox.settings import DataSettings

# sha256 over (id, datetime, uuid, metric, profile) of every generated event of accounts 0-2 with the default
# settings, computed before attribution existed: adding it must not move any event.
EVENT_DIGEST = "bd0b7761efb2c013d6dc421c191cea6e5d50e6a7788b8a483f84979486a0ef86"


@pytest.fixture(scope="module")
def accounts() -> list[AccountDataSet]:
    return [AccountDataSet(DataSettings(), index) for index in range(3)]


def metric_name(acc: AccountDataSet, metric_id: str) -> str:
    return acc.metrics[metric_id]["attributes"]["name"]


def send_time(message: dict) -> float:
    return datetime.fromisoformat(message["attributes"]["definition"]["send_options"]["send_time"]).timestamp()


def flow_of(acc: AccountDataSet, flow_message_id: str) -> dict:
    action = acc.flow_actions[acc.flow_messages[flow_message_id]["rel"]["flow-action"]]
    return acc.flows[action["rel"]["flow"]]


def test_events_keep_their_ids_times_metrics_and_profiles(accounts: list[AccountDataSet]) -> None:
    digest = hashlib.sha256()
    for acc in accounts:
        for i in range(acc.n_events):
            e = acc.event(i)
            line = f"{e['id']}|{e['attributes']['datetime']}|{e['attributes']['uuid']}|{e['rel']['metric']}|"
            digest.update(f"{line}{e['rel']['profile']}\n".encode())
    assert digest.hexdigest() == EVENT_DIGEST


def check_send(acc: AccountDataSet, message_id: str, flow_id: str, channel: str, t: float, window: float | None) -> str:
    """The message is a sent campaign message (within `window` of t) or a flow message of a running flow, of
    `channel`, that existed at t; returns "campaign" or "flow"."""
    if message_id in acc.campaign_messages:
        message = acc.campaign_messages[message_id]
        assert flow_id == ""
        assert message["f"]["status"] == "sent" and message["f"]["channel"] == channel
        assert send_time(message) <= t
        if window is not None:
            assert t - send_time(message) <= window
        return "campaign"
    message = acc.flow_messages[message_id]
    flow = flow_of(acc, message_id)
    assert flow_id == flow["id"]
    assert flow["attributes"]["status"] in ("live", "manual")
    assert message["attributes"]["channel"] == channel
    assert message["k"]["created"] <= t
    return "flow"


def test_message_events_name_a_message_of_their_channel_sent_before_them(accounts: list[AccountDataSet]) -> None:
    kinds: dict[str, int] = {"campaign": 0, "flow": 0, "none": 0}
    for acc in accounts:
        for i in range(acc.n_events):
            e = acc.event(i)
            name = metric_name(acc, e["rel"]["metric"])
            if name not in MESSAGE_METRICS:
                continue
            props = e["attributes"]["event_properties"]
            t = e["k"]["datetime"]
            if props["$message"] == "":
                kinds["none"] += 1
                # Only before the account's first send of that channel.
                channel = MESSAGE_METRICS[name][0]
                assert all(s.start > t for s in acc.attribution.campaigns[channel] + acc.attribution.flows[channel])
                continue
            kind = check_send(acc, props["$message"], props["$flow"], MESSAGE_METRICS[name][0], t, None)
            kinds[kind] += 1
            if kind == "flow":
                assert props["Campaign Name"].startswith(flow_of(acc, props["$message"])["attributes"]["name"])
            else:
                campaign = acc.campaigns[acc.campaign_messages[props["$message"]]["rel"]["campaign"]]
                assert props["Campaign Name"] == campaign["attributes"]["definition"]["name"]
    total = sum(kinds.values())
    assert kinds["campaign"] > 0.1 * total and kinds["flow"] > 0.1 * total and kinds["none"] < 0.05 * total


def test_campaign_message_events_follow_their_send(accounts: list[AccountDataSet]) -> None:
    # Where a flow could have taken the event, a campaign only keeps events up to CAMPAIGN_WINDOW after its send.
    for acc in accounts:
        for i in range(acc.n_events):
            e = acc.event(i)
            name = metric_name(acc, e["rel"]["metric"])
            props = e["attributes"]["event_properties"]
            if name not in MESSAGE_METRICS or props["$flow"] or not props["$message"]:
                continue
            t = e["k"]["datetime"]
            channel = MESSAGE_METRICS[name][0]
            if any(s.start <= t for s in acc.attribution.flows[channel]):
                assert t - send_time(acc.campaign_messages[props["$message"]]) <= CAMPAIGN_WINDOW


def test_conversions_are_attributed_within_the_attribution_window(accounts: list[AccountDataSet]) -> None:
    attributed = organic = 0
    for acc in accounts:
        for i in range(acc.n_events):
            e = acc.event(i)
            if metric_name(acc, e["rel"]["metric"]) in MESSAGE_METRICS:
                assert "$attribution" not in e["attributes"]["event_properties"]
                continue
            attribution = e["attributes"]["event_properties"].get("$attribution")
            if attribution is None:
                organic += 1
                continue
            attributed += 1
            assert set(attribution) == {"$message", "$flow", "$attributed_channel"}
            check_send(
                acc,
                attribution["$message"],
                attribution["$flow"],
                attribution["$attributed_channel"],
                e["k"]["datetime"],
                ATTRIBUTION_WINDOW,
            )
    # Two in three are drawn to be attributed; some of those find no send to belong to.
    assert 0.4 < attributed / (attributed + organic) < 0.7


def test_attribution_is_deterministic() -> None:
    a, b = AccountDataSet(DataSettings(), 1), AccountDataSet(DataSettings(), 1)
    for i in range(0, a.n_events, 7):
        assert a.event(i)["attributes"]["event_properties"] == b.event(i)["attributes"]["event_properties"]
