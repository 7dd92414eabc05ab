"""klaviyo_sandbox.reports in-process: the events and members a report counts are exactly those the read endpoints
serve (also after writes), and the statistics' arithmetic at its edges."""

from __future__ import annotations

import copy

import pytest

from klaviyo_sandbox.account import Account
from klaviyo_sandbox.reports import Counts, event_facts, members_joined_before, statistic
from klaviyo_sandbox.settings import DataSettings
from klaviyo_sandbox.writes import simulate_activity


@pytest.fixture
def acc() -> Account:
    return Account.generate(DataSettings(events=3_000, profiles=400), 1)


def scanned(acc: Account, lo: float, hi: float, metric_ids: set[str]) -> list[tuple]:
    """What GET /api/events serves in [lo, hi) of those metrics, through the table's own scan."""
    out = []
    for _, record in acc.state.events.scan("datetime", False, None, lo, hi):
        if record["k"]["datetime"] < hi and record["rel"]["metric"] in metric_ids:
            props = record["attributes"]["event_properties"]
            out.append((record["k"]["datetime"], record["rel"]["metric"], record["rel"]["profile"], props))
    return sorted(out, key=lambda fact: (fact[0], fact[1], fact[2], str(fact[3])))


def facts(acc: Account, lo: float, hi: float, metric_ids: set[str]) -> list[tuple]:
    return sorted(event_facts(acc, lo, hi, metric_ids), key=lambda fact: (fact[0], fact[1], fact[2], str(fact[3])))


def test_event_facts_are_the_events_served(acc: Account) -> None:
    lo, hi = acc.data.start + acc.data.span * 0.3, acc.data.start + acc.data.span * 0.8
    wanted = set(acc.data.metric_ids[:3]) | {acc.data.metric_ids[7]}
    expected = scanned(acc, lo, hi, wanted)
    assert len(expected) > 500
    assert facts(acc, lo, hi, wanted) == expected


def test_event_facts_follow_writes_and_replacements(acc: Account) -> None:
    simulate_activity(acc, events=40, now=acc.data.end - 10, seed=3)
    # A generated event replaced by a written version of itself (hidden original, overlay copy).
    original = acc.data.event(1_000)
    replaced = copy.deepcopy(original)
    replaced["attributes"]["event_properties"] = {"$message": "rewritten"}
    acc.state.events.put(replaced)
    everything, start, end = set(acc.data.metric_ids), acc.data.start, acc.data.end + 1
    assert facts(acc, start, end, everything) == scanned(acc, start, end, everything)
    found = [f for f in facts(acc, start, end, everything) if f[3] == {"$message": "rewritten"}]
    assert len(found) == 1


def test_members_joined_before_counts_the_members_served(acc: Account) -> None:
    table = next(t for (kind, _), t in acc.state.members.items() if kind == "segment")
    joined = sorted(r["k"]["joined_group_at"] for _, r in table.scan("joined_group_at", False, None, None, None))
    moments = [acc.data.start, joined[3], joined[3] + 1e-3, acc.data.start + acc.data.span / 2, acc.data.end + 1]
    assert members_joined_before(table, moments) == [sum(1 for j in joined if j < m) for m in moments]


def test_rates_are_zero_without_a_denominator() -> None:
    empty = Counts()
    for name in ("open_rate", "click_rate", "click_to_open_rate", "conversion_rate", "delivery_rate"):
        assert statistic(name, empty, "email") == 0.0
    assert statistic("average_order_value", empty, "email") == 0.0
    assert statistic("revenue_per_recipient", empty, "sms") == 0.0


def test_statistics_of_one_bucket() -> None:
    c = Counts(delivered=8, opens=5, clicks=3, conversions=2, value=30.25)
    c.openers.update({"a", "b", "c", "d"})
    c.clickers.update({"a", "b"})
    c.converters.update({"a"})
    assert statistic("open_rate", c, "email") == 0.5
    assert statistic("click_to_open_rate", c, "email") == 0.5
    assert statistic("conversion_value", c, "email") == 30.25
    assert statistic("average_order_value", c, "email") == 15.125
    assert statistic("revenue_per_recipient", c, "email") == 30.25 / 8
    assert statistic("message_segment_count_sum", c, "email") == 0
    assert statistic("message_segment_count_sum", c, "sms") == 8
    assert statistic("unsubscribes", c, "email") == 0 and statistic("bounce_rate", c, "email") == 0.0
    with pytest.raises(KeyError):
        statistic("members_added", c, "email")
