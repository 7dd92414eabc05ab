"""How the per-account processes' output is merged."""

from __future__ import annotations

import json

from tap_runs import last_state, records, run_tap

from tap_klaviyo.fanout import Child, _message_type, merge_states


def child(account_id: str | None, state: dict | None, streams: tuple[str, ...] = ("events", "list_members")) -> Child:
    return Child(
        account=f"name-{account_id}",
        process=None,  # type: ignore[arg-type]
        account_id=account_id,  # type: ignore[arg-type]
        streams=frozenset(streams),
        state=state,
    )


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


def test_each_child_contributes_only_its_own_streams():
    """Children of one account read different groups of its streams, and each starts from the whole input state: a
    child that does not read events (it only carries their old bookmark) must not move them back."""
    base = {"bookmarks": {"events": {"partitions": [part("A", "2024-01-01")]}}}
    events = child("A", {"bookmarks": {"events": {"partitions": [part("A", "2025-05-05")]}}}, ("events",))
    profiles = child(
        "A",
        {
            "bookmarks": {
                "events": {"partitions": [part("A", "2024-01-01")]},
                "profiles": {"partitions": [part("A", "2025-06-06")]},
            }
        },
        ("profiles",),
    )
    for order in ([events, profiles], [profiles, events]):
        merged = merge_states(base, order)
        assert merged["bookmarks"]["events"]["partitions"] == [part("A", "2025-05-05")]
        assert merged["bookmarks"]["profiles"]["partitions"] == [part("A", "2025-06-06")]


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


def test_a_stream_map_that_drops_account_id_keeps_every_accounts_bookmarks(klaviyo_sandbox, tmp_path):
    """Each child is told its account id when it starts: the parent never reads it from the records, which a
    stream map may have changed."""
    accounts = [{"account": a["account"], "api_key": a["api_key"]} for a in klaviyo_sandbox.accounts[:2]]
    config = {
        "accounts_json": json.dumps(accounts),
        "api_url": klaviyo_sandbox.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        "parallel_accounts": 2,
        "stream_maps": {"events": {"account_id": None, "__key_properties__": ["id"]}},
    }
    code, messages, stderr = run_tap(config, tmp_path, streams=["events"])
    assert code == 0, stderr[-3000:]
    rows = records(messages)["events"]
    assert rows and all("account_id" not in row for row in rows)
    partitions = last_state(messages)["bookmarks"]["events"]["partitions"]
    ids = {a["id"] for a in klaviyo_sandbox.accounts[:2]}
    assert {p["context"]["account_id"] for p in partitions} == ids
    by_account = {name: [r for r in rows if r["account_name"] == name] for name in (a["account"] for a in accounts)}
    for partition in partitions:
        name = next(a["account"] for a in klaviyo_sandbox.accounts if a["id"] == partition["context"]["account_id"])
        assert partition["replication_key_value"] == max(r["datetime"] for r in by_account[name])


def test_with_streams_and_accounts_at_the_same_time_no_state_runs_ahead_of_the_rows(klaviyo_sandbox, tmp_path):
    """The STATE rule with concurrent streams: at every STATE the parent emits, each bookmark is one of the rows
    already passed on (the largest replication key of its stream and partition so far), whichever process read it."""
    accounts = [{"account": a["account"], "api_key": a["api_key"]} for a in klaviyo_sandbox.accounts[:2]]
    config = {
        "accounts_json": json.dumps(accounts),
        "api_url": klaviyo_sandbox.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        "parallel_accounts": 2,
        "progress_interval_seconds": 0,
    }
    streams = ["events", "profiles", "campaigns", "segments", "segment_members"]
    code, messages, stderr = run_tap(config, tmp_path, streams=streams)
    assert code == 0, stderr[-3000:]
    (groups,) = [line.split("per account: ")[1] for line in stderr.splitlines() if "Stream groups read" in line]
    assert {"events", "profiles", "segment_members, segments"} <= set(groups.split(" | ")), groups
    # Each group's process reads its streams and says nothing of the others (sdk_seams.OtherGroupsNotLogged): the
    # line above names the groups once.
    assert "Skipping deselected stream" not in stderr
    seen: dict[tuple[str, str], list[dict]] = {}
    checked = 0
    for message in messages:
        if message["type"] == "RECORD":
            seen.setdefault((message["stream"], message["record"]["account_id"]), []).append(message["record"])
        elif message["type"] == "STATE":
            for stream, stream_state in message["value"]["bookmarks"].items():
                for partition in stream_state.get("partitions", []):
                    value, key = partition.get("replication_key_value"), partition.get("replication_key")
                    if value is None:
                        continue
                    context = partition["context"]
                    rows = [
                        row
                        for row in seen.get((stream, context["account_id"]), [])
                        if all(row.get(k) == v for k, v in context.items())
                    ]
                    assert rows and value <= max(row[key] for row in rows), (stream, partition)
                    checked += 1
    assert checked > 0
    assert {stream for stream, _ in seen} == set(streams)
