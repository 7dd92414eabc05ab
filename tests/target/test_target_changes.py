"""The change memory, in process: fingerprints, the file format and its atomic write, what a run decides and
remembers, list mirror planning, and consent cells."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from target_klaviyo.changes import Accepted, Changes, Decision, Fingerprint, key_hash
from target_klaviyo.memory import ChangeMemory, memory_name
from target_klaviyo.memory_file import MemoryFileError, Snapshot, decode, encode
from target_klaviyo.mirror import Completeness, plan_removals
from target_klaviyo.storage import LocalFolder, storage_at
from target_klaviyo.validate import Consent, Invalid, ValueChecks

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def snapshot(pairs: dict[str, int], ids: dict[str, str] | None = None) -> Snapshot:
    """A memory holding `key text -> fingerprint` (and profile ids, for a list)."""
    rows = sorted((key_hash(k), fp, (ids or {}).get(k, "")) for k, fp in pairs.items())
    keys = np.array([r[0] for r in rows], dtype=np.uint64)
    fps = np.array([r[1] for r in rows], dtype=np.uint64)
    id_array = np.array([r[2].encode() for r in rows], dtype=bytes) if ids is not None else None
    return Snapshot(keys, fps, id_array)


def contents(snap: Snapshot) -> dict[int, tuple[int, str]]:
    ids = snap.ids.tolist() if snap.ids is not None else [b""] * len(snap)
    return {int(k): (int(f), i.decode()) for k, f, i in zip(snap.keys, snap.fps, ids, strict=True)}


# --- fingerprints ----------------------------------------------------------------------------------------------


def test_a_fingerprint_is_the_same_in_every_process():
    code = (
        "from target_klaviyo.changes import Fingerprint, key_hash;"
        "print(Fingerprint('profile', {'email': 'E'}, ['E'], ('UTC', 'US')).of(['a@b.co', None, 1.5]),"
        " key_hash('a@b.co'))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(runs) == 1


def test_a_fingerprint_changes_with_any_value_and_with_the_mapping():
    base = Fingerprint("profile", {"email": "EMAIL", "first_name": "FIRST"}, ["EMAIL", "FIRST"], ("UTC", "US"))
    row = ["a@b.co", "Ann"]
    assert base.of(row) == base.of(list(row))
    assert base.of(row) != base.of(["a@b.co", "Anne"])
    assert base.of(row) != base.of(["a@b.co", None])
    assert base.of(["1", "2"]) != base.of([1, 2])  # a number is not its text
    renamed = Fingerprint("profile", {"email": "EMAIL", "last_name": "FIRST"}, ["EMAIL", "FIRST"], ("UTC", "US"))
    assert renamed.of(row) != base.of(row)  # another mapping sends something else
    other_zone = Fingerprint("profile", {"email": "EMAIL", "first_name": "FIRST"}, ["EMAIL", "FIRST"], ("CET", "US"))
    assert other_zone.of(row) != base.of(row)


# --- the file --------------------------------------------------------------------------------------------------


def test_a_memory_file_reads_back_what_was_written():
    plain = snapshot({"a@b.co": 1, "c@d.co": 2**64 - 1, "e@f.co": 0})
    back = decode(encode(plain, "people/profile"))
    assert contents(back) == contents(plain)
    members = snapshot({"a": 5, "b": 6}, ids={"a": "01HZXQ4Y0000000000000000AA", "b": ""})
    back = decode(encode(members, "people/list-Xy"), with_ids=True)
    assert contents(back) == contents(members)
    assert len(decode(encode(Snapshot.empty(), "x/y"))) == 0


def test_a_damaged_memory_file_is_refused():
    data = encode(snapshot({f"k{i}": i for i in range(100)}), "s/profile")
    for damaged in (data[:-1], data[: len(data) // 2], data[:5], b"", b"TKLVMEM3" + data[8:]):
        with pytest.raises(MemoryFileError):
            decode(damaged)
    with pytest.raises(MemoryFileError, match="before 2026-12-03"):  # BLAKE2b keys: its rows are sent once more
        decode(b"TKLVMEM1" + data[8:])
    flipped = bytearray(data)
    flipped[40] ^= 0x01
    with pytest.raises(MemoryFileError, match="checksum"):
        decode(bytes(flipped))


def test_a_damaged_memory_is_ignored_and_every_row_counts_as_new(tmp_path):
    storage = LocalFolder(tmp_path)
    name = memory_name("ACC1", "people", "profile")
    storage.write(name, b"not a memory")
    changes = ChangeMemory(storage, "ACC1").open("people", "profile")
    assert len(changes.before) == 0
    assert changes.decide(key_hash("a@b.co"), 1) is Decision.CREATED


def test_memory_names_keep_accounts_and_odd_stream_names_apart():
    assert memory_name("ACC1", "people", "profile") != memory_name("ACC2", "people", "profile")
    assert memory_name("A", "sales/eu", "event") != memory_name("A", "sales_eu", "event")
    assert memory_name("A", "sales/eu", "event").startswith("A/sales_eu-")
    assert memory_name("A", "../../etc", "event").startswith("A/_etc-")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    storage = LocalFolder(tmp_path)
    storage.write("m.tkm", b"old")

    def no_rename(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(Exception, match="No space left on device"):
        storage.write("m.tkm", b"new")
    assert (tmp_path / "m.tkm").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tkm"]


WRITER = """
import sys
import numpy as np
from target_klaviyo.memory_file import Snapshot, encode
from target_klaviyo.storage import LocalFolder
storage = LocalFolder(__import__("pathlib").Path(sys.argv[1]))
n = 2_000_000
keys = np.arange(n, dtype=np.uint64) * 3
versions = [encode(Snapshot(keys, np.full(n, v, dtype=np.uint64)), "s/k") for v in (1, 2)]
storage.write("m.tkm", versions[0])
print("ready", flush=True)
for round_ in range(1, 100_000):
    storage.write("m.tkm", versions[round_ % 2])
"""


def test_a_kill_while_writing_never_leaves_a_half_written_memory(tmp_path):
    """A process rewriting a 32 MB memory over and over is killed (-9) at moments spread over its writes: the
    file left always reads back whole, as one of the two versions it writes."""
    for delay in (0.03, 0.11, 0.2, 0.29, 0.41, 0.55, 0.7):
        folder = tmp_path / str(delay)
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        left = decode((folder / "m.tkm").read_bytes())
        assert len(left) == 2_000_000
        assert int(left.fps[0]) in (1, 2)
        assert bool(np.all(left.fps == left.fps[0]))


# --- deciding and remembering ------------------------------------------------------------------------------------


def test_new_changed_and_unchanged_rows():
    changes = Changes(snapshot({"a": 1, "b": 2}))
    assert changes.decide(key_hash("a"), 1) is Decision.UNCHANGED
    assert changes.decide(key_hash("b"), 3) is Decision.CHANGED
    assert changes.decide(key_hash("c"), 1) is Decision.CREATED


def test_full_refresh_sends_everything():
    changes = Changes(snapshot({"a": 1}), full_refresh=True)
    assert changes.decide(key_hash("a"), 1) is Decision.CHANGED
    assert changes.decide(key_hash("z"), 1) is Decision.CREATED


def test_once_a_key_is_sent_its_later_rows_are_sent_too():
    """Two rows of one key: the last one sent decides what Klaviyo holds, so once one is sent, so are the rest,
    whatever the memory says of them."""
    changes = Changes(snapshot({"a": 20}))
    assert changes.decide(key_hash("a"), 10) is Decision.CHANGED  # row 1 differs from what was remembered
    assert changes.decide(key_hash("a"), 20) is Decision.CHANGED  # row 2 is what was remembered: still sent


def test_only_accepted_rows_are_remembered_and_the_last_row_of_a_key_wins():
    a, b, c, d = (key_hash(k) for k in "abcd")
    changes = Changes(snapshot({"a": 1, "b": 2, "c": 3}))
    assert not changes.touched
    assert changes.after() is changes.before
    # Accepted out of order (threads): the row later in the input wins.
    changes.accept([Accepted(seq=9, key=b, fp=22), Accepted(seq=4, key=b, fp=21), Accepted(seq=5, key=d, fp=4)])
    # c's new row was rejected: nothing is accepted for it, it keeps what was remembered (and is sent next run).
    after = changes.after()
    assert contents(after) == {a: (1, ""), b: (22, ""), c: (3, ""), d: (4, "")}
    assert list(after.keys) == sorted(after.keys)


def test_leavers_are_remembered_members_not_seen_in_this_run():
    ids = {"a": "P_A", "b": "P_B", "c": "P_C", "d": ""}
    changes = Changes(snapshot({"a": 1, "b": 2, "c": 3, "d": 4}, ids=ids), mirror=True)
    changes.seen(key_hash("a"))
    changes.seen(key_hash("e"))  # joins: created
    # c's profile is still a member under the key e (its email changed): it stays.
    changes.accept([Accepted(1, key_hash("e"), 5, "P_C")])
    leavers = changes.leavers()
    assert leavers.ids == ["P_B"]
    assert [int(k) for k in leavers.keys] == [key_hash("b")]
    assert sorted(int(k) for k in leavers.forget_only) == sorted([key_hash("c"), key_hash("d")])
    changes.forget([key_hash("b"), *(int(k) for k in leavers.forget_only)])
    after = changes.after()
    assert contents(after) == {key_hash("a"): (1, "P_A"), key_hash("e"): (5, "P_C")}


def test_nobody_is_removed_when_the_run_cannot_have_seen_the_whole_audience():
    changes = Changes(snapshot({"a": 1}, ids={"a": "P_A"}), mirror=True)
    empty = Completeness()
    assert plan_removals(changes, empty).leavers is None
    assert plan_removals(changes, empty).skipped == "the stream brought no rows in this run"
    resumed = Completeness()
    resumed.saw("in/audience.csv", 4001)
    resumed.saw("in/audience.csv", 4002)
    plan = plan_removals(changes, resumed)
    assert plan.leavers is None and "in/audience.csv from row 4001" in (plan.skipped or "")
    whole = Completeness()
    whole.saw("in/audience.csv", 1)
    whole.saw(None, None)
    plan = plan_removals(changes, whole)
    assert plan.leavers is not None and plan.leavers.ids == ["P_A"]


def test_a_memory_is_written_only_when_it_changed_and_never_by_a_preview(tmp_path):
    storage = LocalFolder(tmp_path)
    memory = ChangeMemory(storage, "ACC1")
    changes = memory.open("people", "profile")
    memory.save()
    assert not list(tmp_path.rglob("*.tkm"))  # nothing accepted
    changes.accept([Accepted(1, key_hash("a"), 7)])
    memory.save()
    (written,) = tmp_path.rglob("*.tkm")
    stamp = written.stat().st_mtime_ns
    memory.save()
    assert written.stat().st_mtime_ns == stamp
    reopened = ChangeMemory(storage, "ACC1").open("people", "profile")
    assert reopened.decide(key_hash("a"), 7) is Decision.UNCHANGED
    preview = ChangeMemory(storage, "ACC1", read_only=True)
    preview.open("people", "profile").accept([Accepted(1, key_hash("b"), 8)])
    preview.save()
    assert written.stat().st_mtime_ns == stamp


def test_storage_addresses():
    assert storage_at("s3://bucket/a/b").where("x.tkm") == "s3://bucket/a/b/x.tkm"
    assert storage_at("s3://bucket").where("x.tkm") == "s3://bucket/x.tkm"
    assert storage_at("out/memory").where("x.tkm") == str(Path("out/memory/x.tkm"))
    for bad in ("s3://", "gs://bucket/x"):
        with pytest.raises(ValueError):
            storage_at(bad)


# --- consent cells -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("true", Consent(True)),
        ("Yes", Consent(True)),
        (" 1 ", Consent(True)),
        (True, Consent(True)),
        (1, Consent(True)),
        ("SUBSCRIBED", Consent(True)),
        ("false", Consent(False)),
        ("N", Consent(False)),
        (0, Consent(False)),
        (False, Consent(False)),
        ("2024-05-01", Consent(True, "2024-05-01T00:00:00+00:00")),
        ("2024-05-01T10:30:00Z", Consent(True, "2024-05-01T10:30:00+00:00")),
        ("2024-05-01 10:30:00+02:00", Consent(True, "2024-05-01T08:30:00+00:00")),
    ],
)
def test_consent_cells(cell, expected):
    assert ValueChecks(UTC, "US", now=NOW).consent(cell, "OPT_IN") == expected


def test_a_consent_date_without_zone_is_read_in_the_default_zone():
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    checks = ValueChecks(ZoneInfo("America/New_York"), "US", now=NOW)
    assert checks.consent("2024-05-01", "OPT_IN") == Consent(True, "2024-05-01T04:00:00+00:00")


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("maybe", "OPT_IN: consent 'maybe' is neither a boolean (true/false, yes/no, 1/0) nor a date"),
        ("01/05/2024", "OPT_IN: consent '01/05/2024' is neither a boolean"),
        (2, "OPT_IN: consent 2 is neither a boolean"),
        ("2026-06-02", "OPT_IN: consent date '2026-06-02' is in the future"),
    ],
)
def test_consent_cells_that_are_neither_a_boolean_nor_a_past_date_are_refused(cell, reason):
    with pytest.raises(Invalid) as refused:
        ValueChecks(UTC, "US", now=NOW).consent(cell, "OPT_IN")
    assert refused.value.code == "invalid_consent"
    assert refused.value.reason.startswith(reason)
