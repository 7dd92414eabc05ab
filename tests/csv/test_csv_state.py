"""State by file: a re-run skips files read to the end, reads new and changed files from row 1, and a run stopped
mid-file (SIGKILL) resumes after the last row its state covers; no state (`--full-refresh`) reads everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from csv_runs import TAP, file_config, partition_state, run_tap


def write_rows(path, first: int, last: int, header: str = "id,email\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(f"{n},user{n}@example.com\n" for n in range(first, last + 1)), encoding="utf-8")


def ids(run) -> list[tuple[str, str]]:
    return [(record["_sdc_source_file"], record["id"]) for record in run.records()]


def test_rerun_skips_files_read_to_the_end_and_reads_new_and_changed_ones(tmp_path):
    write_rows(tmp_path / "drop" / "a.csv", 1, 3)
    write_rows(tmp_path / "drop" / "b.csv", 4, 5)
    config = file_config("drop/*.csv")
    first = run_tap(config, tmp_path)
    assert first.code == 0, first.stderr
    assert ids(first) == [
        ("drop/a.csv", "1"),
        ("drop/a.csv", "2"),
        ("drop/a.csv", "3"),
        ("drop/b.csv", "4"),
        ("drop/b.csv", "5"),
    ]
    a_state = partition_state(first.state, "orders", "drop/a.csv")
    assert a_state["complete"] is True and a_state["replication_key_value"] == 3
    assert a_state["file"]["size"] == (tmp_path / "drop" / "a.csv").stat().st_size

    again = run_tap(config, tmp_path, state=first.state)
    assert again.code == 0, again.stderr
    assert again.records() == []
    assert "drop/a.csv: unchanged since it was read to the end (row 3): skipped" in again.stderr
    assert again.state == first.state

    # A new file arrives and b.csv is rewritten with more rows: both read from row 1, a.csv still skipped.
    write_rows(tmp_path / "drop" / "b.csv", 4, 6)
    write_rows(tmp_path / "drop" / "c.csv", 7, 7)
    third = run_tap(config, tmp_path, state=again.state)
    assert third.code == 0, third.stderr
    assert ids(third) == [("drop/b.csv", "4"), ("drop/b.csv", "5"), ("drop/b.csv", "6"), ("drop/c.csv", "7")]
    assert "drop/b.csv: changed since it was read up to row 2: reading it again from row 1" in third.stderr
    assert partition_state(third.state, "orders", "drop/b.csv")["replication_key_value"] == 3

    # No state, as with Meltano's --full-refresh: every file from row 1.
    full = run_tap(config, tmp_path)
    assert [n for _, n in ids(full)] == ["1", "2", "3", "4", "5", "6", "7"]


def test_a_run_killed_mid_file_resumes_after_its_last_state(tmp_path):
    rows = 45_000  # the SDK writes state every 10,000 records
    write_rows(tmp_path / "big.csv", 1, rows)
    config = file_config("big.csv")
    (tmp_path / "config.json").write_text(json.dumps(config))
    process = subprocess.Popen(
        [*TAP, "--config", "config.json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    seen: list[int] = []
    state = None
    for line in process.stdout:
        message = json.loads(line)
        if message["type"] == "RECORD":
            seen.append(message["record"]["_sdc_row_number"])
        elif message["type"] == "STATE" and message["value"].get("bookmarks"):
            state = message["value"]
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    assert state is not None
    partition = partition_state(state, "orders", "big.csv")
    bookmark = partition["replication_key_value"]
    assert "complete" not in partition
    assert 0 < bookmark < rows
    assert seen[:bookmark] == list(range(1, bookmark + 1))

    resumed = run_tap(config, tmp_path, state=state)
    assert resumed.code == 0, resumed.stderr
    numbers = [record["_sdc_row_number"] for record in resumed.records()]
    assert numbers == list(range(bookmark + 1, rows + 1))
    assert [record["id"] for record in resumed.records()[:1]] == [str(bookmark + 1)]
    assert f"big.csv: resuming after row {bookmark}" in resumed.stderr
    assert partition_state(resumed.state, "orders", "big.csv")["complete"] is True
