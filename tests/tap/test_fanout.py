"""How the per-account processes' output is merged."""

from __future__ import annotations

from tap_klaviyo.fanout import Child, _message_type, merge_states


def child(account_id: str | None, state: dict | None) -> Child:
    return Child(account=f"name-{account_id}", process=None, account_id=account_id, state=state)  # type: ignore[arg-type]


def part(account_id: str, value: str, **context: str) -> dict:
    return {
        "context": {"account_id": account_id, **context},
        "replication_key": "datetime",
        "replication_key_value": value,
    }


def test_each_child_contributes_only_its_own_partitions():
    base = {
        "bookmarks": {
            "events": {"partitions": [part("A", "2024-01-01"), part("B", "2024-01-01"), part("C", "2024-01-01")]}
        }
    }
    # Each child starts from the whole input state, so it also reports the others' (old) partitions.
    a = child("A", {"bookmarks": {"events": {"partitions": [part("A", "2025-05-05"), part("B", "2024-01-01")]}}})
    b = child("B", {"bookmarks": {"events": {"partitions": [part("A", "2024-01-01"), part("B", "2025-06-06")]}}})
    merged = merge_states(base, [a, b])
    partitions = merged["bookmarks"]["events"]["partitions"]
    values = {p["context"]["account_id"]: p["replication_key_value"] for p in partitions}
    assert values == {"A": "2025-05-05", "B": "2025-06-06", "C": "2024-01-01"}
    assert base["bookmarks"]["events"]["partitions"][0]["replication_key_value"] == "2024-01-01"  # input untouched


def test_a_child_not_yet_identified_contributes_nothing():
    merged = merge_states({}, [child(None, {"bookmarks": {"events": {"partitions": [part("X", "2030-01-01")]}}})])
    assert merged == {"bookmarks": {}}


def test_partitions_with_more_context_are_kept_per_partition():
    a = child(
        "A",
        {"bookmarks": {"list_members": {"partitions": [part("A", "t1", list_id="L1"), part("A", "t2", list_id="L2")]}}},
    )
    merged = merge_states({}, [a])
    assert [p["context"]["list_id"] for p in merged["bookmarks"]["list_members"]["partitions"]] == ["L1", "L2"]


def test_message_type_is_read_without_parsing():
    assert _message_type(b'{"type": "RECORD", "stream": "events", "record": {"type": "x"}}\n') == "RECORD"
    assert _message_type(b'{"type":"STATE","value":{}}\n') == "STATE"
    assert _message_type(b"not singer\n") == ""
