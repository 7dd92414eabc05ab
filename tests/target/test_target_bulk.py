"""The bulk layer against the sandbox: rows Klaviyo itself refuses (import errors, a refused request) end in the
rejects with Klaviyo's code, the others are accepted; oversized requests are split; requests stay in limits."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from klaviyo_http import KlaviyoHttp
from target_klaviyo.bulk import Dispatcher, Item, chunks, row_by_identifier
from target_klaviyo.changes import Accepted, Changes, Decision, key_hash
from target_klaviyo.memory_file import Snapshot
from target_klaviyo.rejects import Outcomes, RowRef
from target_klaviyo.routes import EVENTS, MAX_BODY_BYTES, PROFILES, Route


class Lane:
    """A stream's kind that counts what Klaviyo accepted (what target_klaviyo.kinds.Kind does, without memory)."""

    def __init__(self, outcomes: Outcomes, stream: str, kind: str) -> None:
        self.outcomes, self.stream, self.kind = outcomes, stream, kind
        self.changes = Changes(Snapshot.empty())  # what a change memory would remember

    def accepted(self, items, route, profile_ids) -> None:
        self.outcomes.accepted(self.stream, self.kind, created=len(items), changed=0)
        self.changes.accept(Accepted(i.seq, i.key, i.fp) for i in items)


def send(sandbox, tmp_path: Path, route: Route, stream: str, items: list[Item]) -> tuple[dict, list[dict], Changes]:
    """One batch through a Dispatcher: the stream's counts (sent, accepted, rejected), the rejected rows, and what
    a change memory would remember of it."""
    outcomes = Outcomes(str(tmp_path / "rejects.jsonl"))
    outcomes.start()
    http = KlaviyoHttp(sandbox.url, "2026-10-15", rate_limit_scale=0)
    bulk = Dispatcher(http, sandbox.key(0), outcomes, concurrency=2)
    lane = Lane(outcomes, stream, "event" if route is EVENTS else "profile")
    bulk.submit(route, lane, items)
    bulk.flush()
    bulk.close()
    outcomes.close()
    lines = (tmp_path / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
    counts = outcomes.counts[(stream, lane.kind)]
    return (
        {"sent": counts.sent, "accepted": counts.accepted, "rejected": counts.rejected},
        [json.loads(line) for line in lines],
        lane.changes,
    )


def event(tag: str, i: int, **attributes: object) -> bytes:
    return orjson.dumps(
        {
            "type": "event-bulk-create",
            "attributes": {
                "profile": {"data": {"type": "profile", "attributes": {"email": f"b{i}@{tag}.example"}}},
                "events": {
                    "data": [
                        {
                            "type": "event",
                            "attributes": {
                                "metric": {"data": {"type": "metric", "attributes": {"name": f"Bulk {tag}"}}},
                                "properties": {},
                                "unique_id": f"{tag}-{i}",
                                **attributes,
                            },
                        }
                    ]
                },
            },
        }
    )


def test_profile_import_errors_are_rejected_rows(target_sandbox, klaviyo, tmp_path, tag):
    """Klaviyo's per-row import errors (read from the completed job) name the rows; the rest are accepted."""
    attributes = [
        {"email": f"ok1@{tag}.example"},
        {"email": "bad@@example"},
        {"email": f"ok2@{tag}.example"},
        {"first_name": "Nobody"},
        {"phone_number": "555-0100"},
    ]
    items = [
        Item(RowRef("s", i + 2, a.get("email")), orjson.dumps({"type": "profile", "attributes": a}))
        for i, a in enumerate(attributes)
    ]
    counts, rejected, _ = send(target_sandbox, tmp_path, PROFILES, "s", items)
    assert counts == {"sent": 5, "accepted": 2, "rejected": 3}
    found = {r["row"]: (r["code"], r["reason"]) for r in rejected}
    assert found == {
        3: ("invalid", "Klaviyo: Invalid email address: 'bad@@example'."),
        5: ("invalid", "Klaviyo: A profile needs at least one identifier (id, email, phone_number, external_id)."),
        6: (
            "invalid",
            "Klaviyo: Invalid phone number: '555-0100'. Phone numbers must be in E.164 format, e.g. +15555550123.",
        ),
    }
    assert set(klaviyo.profiles([f"ok1@{tag}.example", f"ok2@{tag}.example"])) == {
        f"ok1@{tag}.example",
        f"ok2@{tag}.example",
    }


def test_rows_klaviyo_refused_in_a_job_are_not_remembered(target_sandbox, tmp_path, tag):
    """The change memory hears only of the rows a completed job did not name in its import errors."""
    emails = [f"ok1@{tag}.example", "bad@@example", f"ok2@{tag}.example"]
    items = [
        Item(
            RowRef("s", i + 1, email),
            orjson.dumps({"type": "profile", "attributes": {"email": email}}),
            seq=i,
            key=key_hash(email),
            fp=100 + i,
        )
        for i, email in enumerate(emails)
    ]
    counts, _, changes = send(target_sandbox, tmp_path, PROFILES, "s", items)
    assert counts == {"sent": 3, "accepted": 2, "rejected": 1}
    remembered = Changes(changes.after())
    assert remembered.decide(key_hash(emails[0]), 100) is Decision.UNCHANGED
    assert remembered.decide(key_hash(emails[2]), 102) is Decision.UNCHANGED
    assert remembered.decide(key_hash(emails[1]), 101) is Decision.CREATED  # refused: sent again next run


def test_a_refused_event_request_loses_only_the_bad_event(target_sandbox, klaviyo, tmp_path, tag):
    """Klaviyo refuses a whole bulk request for one bad event; that event is rejected, the others sent again."""
    bodies = [event(tag, i, time="2024-05-01T00:00:00Z") for i in range(6)]
    bodies[2] = event(tag, 2, time="yesterday")
    bodies[4] = event(tag, 4, value="12 dollars")
    items = [Item(RowRef("e", i + 2, None), body) for i, body in enumerate(bodies)]
    counts, rejected, _ = send(target_sandbox, tmp_path, EVENTS, "e", items)
    assert counts == {"sent": 6, "accepted": 4, "rejected": 2}
    assert {(r["row"], r["code"]) for r in rejected} == {(4, "invalid"), (6, "invalid")}
    assert sorted(e["attributes"]["event_properties"]["$event_id"] for e in klaviyo.events(f"Bulk {tag}")) == [
        f"{tag}-{i}" for i in (0, 1, 3, 5)
    ]


def test_a_request_over_5_mb_is_split(target_sandbox, klaviyo, tmp_path, tag):
    """413 (the body is over 5 MB): the batch is halved until each part fits."""
    big = {f"p{k}": "x" * 90_000 for k in range(30)}  # 2.7 MB per event
    items = [Item(RowRef("big", i + 2, None), event(tag, i, properties=big)) for i in range(3)]
    counts, rejected, _ = send(target_sandbox, tmp_path, EVENTS, "big", items)
    assert (counts, rejected) == ({"sent": 3, "accepted": 3, "rejected": 0}, [])
    assert target_sandbox.stats()[target_sandbox.accounts[0]["id"]]["bulk_create_events"].get("413", 0) >= 2
    assert len(klaviyo.events(f"Bulk {tag}")) == 3


def test_chunks_stay_within_count_and_bytes():
    small = [Item(RowRef("s", i, None), b'{"x":1}') for i in range(2_500)]
    assert [len(c) for c in chunks(small, EVENTS)] == [1_000, 1_000, 500]
    assert [len(c) for c in chunks(small * 5, PROFILES)] == [10_000, 2_500]
    large = [Item(RowRef("s", i, None), b'"' + b"y" * 600_000 + b'"') for i in range(20)]
    parts = chunks(large, PROFILES)
    assert [len(c) for c in parts] == [8, 8, 4]
    assert all(len(PROFILES.body([i.body for i in part])) <= MAX_BODY_BYTES for part in parts)


def test_an_import_error_without_pointer_is_foundrow_by_identifier():
    refs = [RowRef("s", 1, "a@b.co"), RowRef("s", 2, "cust-7"), RowRef("s", 3, None)]
    assert row_by_identifier(refs, {"type": "profile", "attributes": {"email": "x@y.co", "external_id": "cust-7"}}) == 1
    assert row_by_identifier(refs, {"type": "profile", "attributes": {"email": "a@b.co"}}) == 0
    assert row_by_identifier(refs, {"type": "profile", "attributes": {"email": "nobody@b.co"}}) is None
    assert row_by_identifier(refs, None) is None
