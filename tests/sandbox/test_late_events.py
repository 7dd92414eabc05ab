"""Events that arrive late: (a) an event written with a past `time` is readable at once, in its place of the datetime
order and datetime filters; (b) with `--late-share`, a share of new events stays invisible to every read for
`--late-hours`, then appears with its own datetime, and `GET /_sandbox/accounts/{id}/late` says when.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from openapi_client.models import EventCreateQueryV2, EventsBulkCreateJob
from sdk_support import raw_get, raw_request, raw_walk, sdk_call, sdk_client, sdk_walk, wait_for

from klaviyo_sandbox.account import Account
from klaviyo_sandbox.late import LateArrivals
from klaviyo_sandbox.settings import DataSettings
from klaviyo_sandbox.tables import LazyTable
from klaviyo_sandbox.validation import parse_event_create
from klaviyo_sandbox.writes import create_event, run_event_job, simulate_activity

WRITE_ACCOUNT = 1  # the session sandbox's account the SDK write tests use (each test its own metric names)


def event_body(metric: str, email: str, when: datetime, unique_id: str) -> dict:
    return {
        "data": {
            "type": "event",
            "attributes": {
                "properties": {"source": "late-test"},
                "time": when.isoformat(),
                "unique_id": unique_id,
                "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
            },
        }
    }


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- (a) past times are readable at once, in their place ------------------------------------------------------------
def test_sdk_event_with_a_past_time_is_readable_at_once_in_its_place(klaviyo_sandbox):
    sb = klaviyo_sandbox
    client = sdk_client(sb, WRITE_ACCOUNT)
    # A time inside the generated history: generated events surround it.
    when = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    lo, hi = stamp(when - timedelta(days=3)), stamp(when + timedelta(days=3))
    window = {"filter": f"greater-or-equal(datetime,{lo}),less-than(datetime,{hi})"}
    before = raw_walk(sb, "/api/events", WRITE_ACCOUNT, sort="datetime", **window)
    assert (
        len(before) > 2
        and before[0]["attributes"]["datetime"] < when.isoformat() < before[-1]["attributes"]["datetime"]
    )

    metric = f"Late Order {uuid.uuid4().hex[:8]}"
    query = EventCreateQueryV2.from_dict(event_body(metric, f"late-{uuid.uuid4().hex[:8]}@example.com", when, "late-1"))
    assert sdk_call(client.Events, "create_event", event_create_query_v2=query)[0] == 202

    # At once (no wait), through the SDK: in the window, between the events before and after its time.
    after = sdk_walk(client.Events.get_events, sort="datetime", page_size=7, **window)
    new = [e for e in after if e.attributes.event_properties.get("$event_id") == "late-1"]
    assert len(new) == 1 and new[0].attributes.datetime_ == when
    assert [e.id for e in after if e.id != new[0].id] == [e["id"] for e in before]
    times = [e.attributes.datetime_ for e in after]
    assert times == sorted(times)
    position = [e.id for e in after].index(new[0].id)
    assert 0 < position < len(after) - 1
    # Descending, and with a window that only just holds it.
    descending = sdk_walk(client.Events.get_events, sort="-datetime", page_size=7, **window)
    assert [e.id for e in descending] == [e.id for e in after][::-1]
    at = stamp(when)
    tight = client.Events.get_events(filter=f"greater-or-equal(datetime,{at}),less-or-equal(datetime,{at})").data
    assert [e.id for e in tight] == [new[0].id]


def test_bulk_job_events_with_past_times_are_readable_when_the_job_ran(klaviyo_sandbox):
    sb = klaviyo_sandbox
    client = sdk_client(sb, WRITE_ACCOUNT)
    metric = f"Late Bulk {uuid.uuid4().hex[:8]}"
    start = datetime(2024, 2, 1, tzinfo=UTC)
    events = [
        {
            "type": "event",
            "attributes": event_body(metric, "x@example.com", start + timedelta(days=30 * k), f"b{k}")["data"][
                "attributes"
            ],
        }
        for k in range(5)
    ]
    for e in events:
        del e["attributes"]["profile"]
    job = EventsBulkCreateJob.from_dict(
        {
            "data": {
                "type": "event-bulk-create-job",
                "attributes": {
                    "events-bulk-create": {
                        "data": [
                            {
                                "type": "event-bulk-create",
                                "attributes": {
                                    "profile": {
                                        "data": {
                                            "type": "profile",
                                            "attributes": {"email": f"bulk-{uuid.uuid4().hex[:6]}@example.com"},
                                        }
                                    },
                                    "events": {"data": events},
                                },
                            }
                        ]
                    }
                },
            }
        }
    )
    assert sdk_call(client.Events, "bulk_create_events", events_bulk_create_job=job)[0] == 202
    lo, hi = stamp(start - timedelta(days=1)), stamp(start + timedelta(days=200))

    def ours() -> list:
        found = raw_walk(
            sb,
            "/api/events",
            WRITE_ACCOUNT,
            sort="datetime",
            filter=f"greater-or-equal(datetime,{lo}),less-than(datetime,{hi})",
        )
        return [
            e
            for e in found
            if e["attributes"]["event_properties"].get("$event_id", "").startswith("b")
            and e["attributes"]["event_properties"].get("source") == "late-test"
        ]

    found = wait_for(lambda: len(ours()) == 5 and ours())
    assert [e["attributes"]["datetime"] for e in found] == [
        (start + timedelta(days=30 * k)).isoformat() for k in range(5)
    ]


# ---- (b) the late knob ----------------------------------------------------------------------------------------------
def test_late_share_hides_events_until_released_then_shows_them_in_place(klaviyo_sandbox_factory):
    # A day: far longer than this test takes however loaded the machine; the admin route releases them. When each
    # would become visible on its own is checked in-process (test_late_events_are_released_in_time_order).
    hours = 24.0
    sb = klaviyo_sandbox_factory(
        "--accounts", "1", "--events", "50", "--profiles", "50", "--rate-limit-scale", "0",
        late_share=0.5, late_hours=hours, fault_seed=3,
    )  # fmt: skip
    account = sb.accounts[0]["id"]
    metric = "Late Knob"
    base = datetime(2026, 1, 10, tzinfo=UTC)
    written = time.time()
    for k in range(20):
        body = event_body(metric, f"knob-{k}@example.com", base + timedelta(minutes=k), f"k{k}")
        assert raw_request(sb, "POST", "/api/events", body=body).status_code == 202

    def ours() -> list[dict]:
        return [
            e
            for e in raw_walk(sb, "/api/events", sort="datetime")
            if e["attributes"]["event_properties"].get("source") == "late-test"
        ]

    late = sb.late(account)
    visible = ours()
    pending = {e["id"]: e for e in late["events"]}
    assert 0 < late["pending"] == len(pending) < 20
    assert len(visible) + len(pending) == 20
    assert not set(pending) & {e["id"] for e in visible}
    assert (late["late_share"], late["late_hours"]) == (0.5, hours)
    for event_id, p in pending.items():
        assert raw_request(sb, "GET", f"/api/events/{event_id}").status_code == 404
        assert raw_request(sb, "GET", f"/api/events/{event_id}/relationships/metric/").status_code == 404
        visible_at = datetime.fromisoformat(p["visible_at"]).timestamp()
        assert visible_at - datetime.fromisoformat(p["written_at"]).timestamp() == pytest.approx(hours * 3600)
        assert written <= datetime.fromisoformat(p["written_at"]).timestamp() <= time.time()
    assert late["next_visible_at"] == min(p["visible_at"] for p in pending.values())

    assert sb.release_late(account) == len(pending)

    shown = ours()
    assert len(shown) == 20
    assert [e["attributes"]["datetime"] for e in shown] == [
        (base + timedelta(minutes=k)).isoformat() for k in range(20)
    ]
    for event_id, p in pending.items():
        assert raw_get(sb, f"/api/events/{event_id}")["data"]["attributes"]["datetime"] == p["datetime"]
    after = sb.late(account)
    assert (after["pending"], after["released"], after["events"]) == (0, len(pending), [])


def test_without_late_share_nothing_is_pending(klaviyo_sandbox):
    late = klaviyo_sandbox.late(klaviyo_sandbox.accounts[WRITE_ACCOUNT]["id"])
    assert (late["late_share"], late["pending"], late["events"]) == (0.0, 0, [])


def test_late_admin_route_404_for_an_unknown_account(klaviyo_sandbox):
    response = raw_request(klaviyo_sandbox, "GET", "/_sandbox/accounts/nope/late")
    assert response.status_code == 404


@pytest.mark.parametrize(("option", "value"), [("--late-share", "1.5"), ("--late-hours", "-1")])
def test_bad_late_options_fail_with_a_clear_message(option, value):
    result = subprocess.run(
        [sys.executable, "-m", "klaviyo_sandbox.cli", "serve", "--port", "0", option, value],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "late" in result.stderr


def test_help_documents_the_knob_and_the_admin_route():
    result = subprocess.run(
        [sys.executable, "-m", "klaviyo_sandbox.cli", "serve", "--help"], check=True, capture_output=True, text=True
    )
    for text in ("--late-share", "--late-hours", "GET  /_sandbox/accounts/{id}/late", '"segment_changes": n'):
        assert text in result.stdout


# ---- in-process: which events are late, and when they appear --------------------------------------------------------
def test_late_choice_is_a_share_decided_by_id_and_seed():
    ids = [f"ev{k:05d}" for k in range(20_000)]
    chosen = {i for i in ids if LateArrivals(0.3, 1, seed=3).is_late(i)}
    assert 0.28 < len(chosen) / len(ids) < 0.32
    assert chosen == {i for i in ids if LateArrivals(0.3, 5, seed=3).is_late(i)}  # the same, run after run
    assert chosen != {i for i in ids if LateArrivals(0.3, 1, seed=4).is_late(i)}
    assert not any(LateArrivals(0.0, 1, seed=3).is_late(i) for i in ids)
    assert all(LateArrivals(1.0, 1, seed=3).is_late(i) for i in ids)


def test_late_events_are_released_in_time_order():
    late = LateArrivals(1.0, hours=1.0)
    table = LazyTable("event", 0, lambda i: {}, lambda eid: None, {"datetime": lambda i: 0.0})
    for k, written in enumerate([100.0, 50.0, 75.0]):
        record = {"type": "event", "id": f"e{k}", "rel": {}, "k": {"datetime": 1.0 + k}, "attributes": {}}
        assert late.hold(record, written)
    assert [p.event_id for p in late.pending()] == ["e1", "e2", "e0"]
    assert late.release_due(50.0 + 3599, table) == 0
    assert late.release_due(75.0 + 3600, table) == 2
    assert sorted(table.overlay.records) == ["e1", "e2"]
    assert [p.event_id for p in late.pending()] == ["e0"] and late.released == 2


@pytest.mark.parametrize(("share", "hours"), [(-0.1, 1.0), (1.1, 1.0), (float("nan"), 1.0), (0.5, -1.0)])
def test_late_settings_are_checked(share, hours):
    with pytest.raises(ValueError, match="late"):
        LateArrivals(share, hours)


def test_every_way_of_writing_events_goes_through_the_late_share():
    # Every new event is late.
    acc = Account.generate(DataSettings(accounts=1, events=10, profiles=20), 0, LateArrivals(1.0, hours=1.0))
    late, events = acc.state.late, acc.state.events
    when = datetime(2025, 1, 1, tzinfo=UTC)
    one = parse_event_create(event_body("Late API", "api@example.com", when, "a1"), datetime.now(UTC))
    assert create_event(acc, one, 1000.0) is not None
    assert run_event_job(acc, [replace(one, unique_id="a2"), replace(one, unique_id="a3")], 1000.0) == 2
    changed = simulate_activity(acc, events=4, now=1000.0, seed=1)
    assert len(late.pending()) == 7 and not events.overlay
    assert set(changed["events"]) <= {p.event_id for p in late.pending()}
    assert late.release_due(1000.0 + 3600, events) == 7
    assert len(events.overlay) == 7
