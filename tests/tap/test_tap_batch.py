"""Batch mode (singer-sdk's `batch_config`): the large streams as gzip JSON-lines files announced by BATCH messages.

What the files hold (the rows record mode would emit, valid against the stream's schema, no key), when STATE comes
(only for rows in files announced before it), the folders of runs that died, a batch_config that cannot work, and a
run with no loader deleting its files, which ends (batch_files.py: the wait for the loader is bounded).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from counted_days import on_days_all_counted
from jsonschema import Draft7Validator, FormatChecker
from sandbox_truth import expected_counts
from tap_runs import TAP, batch_rows, catalog_selecting, records, run_tap

import tap_klaviyo
from klaviyo_sandbox.pytest_plugin import start_sandbox
from tap_klaviyo.reports import REPORT_STREAM_TYPES

SCHEMAS = Path(tap_klaviyo.__file__).parent / "schemas"
REPORTS = {stream.name for stream in REPORT_STREAM_TYPES}
ENVELOPE = {"_sdc_extracted_at", "_sdc_table_version"}  # the RECORD message's envelope, as columns of each row
# When each run listed the profile ids and asked Klaviyo's counts: the two runs' own times.
RUN_TIMES = {"listed_at", "started_at", "completed_at", "checked_at", "counted_until"}


def config_for(sandbox, root: Path, **extra) -> dict:
    return {
        "accounts_json": json.dumps([{"account": a["account"], "api_key": a["api_key"]} for a in sandbox.accounts]),
        "api_url": sandbox.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        "batch_config": {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": root.as_uri()},
            "batch_size": 700,
        },
        "batch_max_pending_files": 0,  # no loader deletes the files here
        **extra,
    }


@pytest.fixture(scope="module")
def runs(klaviyo_sandbox, tmp_path_factory):
    """One batch-mode run and one record-mode run of every stream, against the session's sandbox."""
    batch = tmp_path_factory.mktemp("batch")
    code, batch_messages, stderr = run_tap(config_for(klaviyo_sandbox, batch / "files"), batch)
    assert code == 0, stderr[-3000:]
    plain = tmp_path_factory.mktemp("records")
    code, record_messages, stderr = run_tap(config_for(klaviyo_sandbox, plain / "files", batch_files=False), plain)
    assert code == 0, stderr[-3000:]
    return batch_messages, record_messages


def test_large_streams_go_as_files_and_small_ones_as_records(runs):
    batch_messages, record_messages = runs
    batched = {m["stream"] for m in batch_messages if m["type"] == "BATCH"}
    recorded = {m["stream"] for m in batch_messages if m["type"] == "RECORD"}
    assert batched == {"events", "profiles", "profile_ids", "list_members", "segment_members"}
    assert not batched & recorded
    assert all(m["type"] != "BATCH" for m in record_messages)  # batch_files: false is record mode


def test_files_hold_exactly_the_rows_record_mode_emits(runs):
    batch_messages, record_messages = runs
    in_files, as_records = records(batch_messages), records(record_messages)
    assert set(in_files) == set(as_records)
    for stream, rows in in_files.items():
        if stream in REPORTS:
            continue  # records in both modes, and their timeframes end at each run's minute
        without_envelope = [{k: v for k, v in row.items() if k not in ENVELOPE | RUN_TIMES} for row in rows]
        emitted = [{k: v for k, v in row.items() if k not in RUN_TIMES} for row in as_records[stream]]
        if stream == "event_counts":
            without_envelope, emitted = event_counts_on_shared_days(without_envelope, emitted)
        assert sorted(without_envelope, key=row_key) == sorted(emitted, key=row_key), stream


def event_counts_on_shared_days(first: list[dict], second: list[dict]) -> list[list[dict]]:
    """The two runs' event_counts on the days both counted (counted_days.py: runs either side of an account's
    midnight, 05:00 UTC for America/New_York, each count a day the other does not; a clean-clone suite failed so at
    04:59-05:00 UTC on 2026-12-04), each run losing at most one day an account to the cut."""

    def day(row: dict) -> tuple[str, str]:
        return row["account_id"], row["local_date"]

    cut = on_days_all_counted([first, second], day)
    for rows, kept in zip((first, second), cut, strict=True):
        lost = {day(row) for row in rows} - {day(row) for row in kept}
        assert len({account for account, _ in lost}) == len(lost), lost
    return cut


def row_key(row: dict) -> tuple[str, ...]:
    return tuple(str(row.get(k)) for k in ("account_id", "list_id", "segment_id", "id"))


def test_file_rows_validate_against_the_schema_and_carry_the_envelope(runs):
    batch_messages, _ = runs
    for message in batch_messages:
        if message["type"] != "BATCH":
            continue
        schema = json.loads((SCHEMAS / f"{message['stream']}.json").read_text())
        validator = Draft7Validator(schema, format_checker=FormatChecker())
        for row in batch_rows(message):
            assert row["_sdc_extracted_at"]
            if message["stream"] in ("list_members", "segment_members"):  # membership 'current': versioned
                assert isinstance(row["_sdc_table_version"], int)
            validator.validate({k: v for k, v in row.items() if k not in ENVELOPE})


def test_state_covers_only_rows_in_files_announced_before_it(runs):
    batch_messages, _ = runs
    announced: dict[str, str] = {}  # account id -> latest event time in an announced file
    checked = 0
    for message in batch_messages:
        if message["type"] == "BATCH" and message["stream"] == "events":
            for row in batch_rows(message):
                announced[row["account_id"]] = max(announced.get(row["account_id"], ""), row["datetime"])
        elif message["type"] == "STATE":
            for partition in message["value"].get("bookmarks", {}).get("events", {}).get("partitions", []):
                bookmark = partition.get("replication_key_value")
                if bookmark:
                    assert bookmark <= announced[partition["context"]["account_id"]]
                    checked += 1
    assert checked >= 4  # several states, every one checked


def test_no_file_holds_a_key(runs, klaviyo_sandbox):
    batch_messages, _ = runs
    keys = [a["api_key"] for a in klaviyo_sandbox.accounts]
    for message in batch_messages:
        if message["type"] != "BATCH":
            continue
        for url in message["manifest"]:
            text = gzip.decompress(Path(urlsplit(url).path).read_bytes()).decode()
            assert not any(key in text for key in keys)


def test_a_dead_runs_folder_is_removed_and_a_live_ones_kept(klaviyo_sandbox, tmp_path):
    root = tmp_path / "files"
    dead = root / "run-999999-1"
    dead.mkdir(parents=True)
    (dead / ".lock").write_bytes(b"")
    (dead / "events-000001.jsonl.gz").write_bytes(gzip.compress(b'{"id": "x"}\n'))
    code, _, stderr = run_tap(config_for(klaviyo_sandbox, root), tmp_path, streams=["profiles"])
    assert code == 0, stderr[-3000:]
    assert not dead.exists()
    assert "left by runs that stopped early" in stderr


@pytest.mark.parametrize(
    ("batch_config", "says"),
    [
        ({"encoding": {"format": "csv"}, "storage": {"root": "file:///tmp"}}, "batch_config"),
        ({"encoding": {"format": "parquet"}, "storage": {"root": "file:///tmp"}}, "batch_config.encoding.format"),
        ({"encoding": {"format": "jsonl"}, "storage": {"root": "s3://bucket/prefix"}}, "batch_config.storage.root"),
        ({"encoding": {"format": "jsonl"}, "storage": {"root": "file:///proc/no-such/dir"}}, "batch_config.storage"),
    ],
)
def test_a_batch_config_that_cannot_work_is_one_line_and_nothing_is_written(
    klaviyo_sandbox, tmp_path, batch_config, says
):
    config = {**config_for(klaviyo_sandbox, tmp_path), "batch_config": batch_config}
    code, messages, stderr = run_tap(config, tmp_path)
    assert code != 0
    assert messages == []
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("tap-klaviyo: ") and says in last, last


def test_files_of_a_run_stay_private_to_its_user(runs):
    batch_messages, _ = runs
    url = next(m["manifest"][0] for m in batch_messages if m["type"] == "BATCH")
    assert os.stat(Path(urlsplit(url).path).parent).st_mode & 0o077 == 0


# ---- no loader deletes the files: the run still ends ---------------------------------------------------------------
LARGE = ["events", "profiles", "list_members", "segment_members"]
ALONE_EVENTS, ALONE_PROFILES = 3000, 200


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """A sandbox of 2 accounts whose large streams make more files each (batch_size 500) than the 4 that may wait."""
    folder = tmp_path_factory.mktemp("alone")
    running = start_sandbox(
        "--accounts", "2", "--events", str(ALONE_EVENTS), "--profiles", str(ALONE_PROFILES), "--rate-limit-scale", "0",
        "--accounts-file", str(folder / "accounts.json"),
    )  # fmt: skip
    config = {
        "accounts_file": str(folder / "accounts.json"),
        "api_url": running.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        "batch_config": {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": (folder / "files").as_uri()},
            "batch_size": 500,
        },  # batch_max_pending_files: its default, 4
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "catalog.json").write_text(json.dumps(catalog_selecting(folder / "config.json", LARGE)))
    yield running, config, folder
    running.stop()


def assert_every_row_in_the_files(sandbox, messages: list[dict]) -> None:
    """The files announced hold every row of the large streams the sandbox serves, for each account."""
    assert {m["stream"] for m in messages if m["type"] == "BATCH"} == set(LARGE)
    rows = records(messages)
    for index, account in enumerate(sandbox.accounts):
        expected = expected_counts(sandbox, index, events=ALONE_EVENTS, profiles=ALONE_PROFILES)
        got = Counter(stream for stream, rs in rows.items() for r in rs if r["account_id"] == account["id"])
        assert {stream: got[stream] for stream in LARGE} == {stream: expected[stream] for stream in LARGE}


@pytest.mark.parametrize("parallel_accounts", [1, 4])
def test_the_tap_alone_writing_to_a_file_ends_with_every_row_in_its_files(alone, tmp_path, parallel_accounts):
    """`tap-klaviyo --config ... > out.singer`: stdout is a file, nothing loads as the run goes, the tap never waits.
    (It waited for ever before: 4 files announced, "Waiting for the loader" every minute.)"""
    sandbox, config, folder = alone
    (tmp_path / "config.json").write_text(json.dumps({**config, "parallel_accounts": parallel_accounts}))
    command = [*TAP, "--config", str(tmp_path / "config.json"), "--catalog", str(folder / "catalog.json")]
    with open(tmp_path / "out.singer", "w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    messages = [json.loads(line) for line in (tmp_path / "out.singer").read_text().splitlines() if line.strip()]
    assert sum(m["type"] == "BATCH" for m in messages) > 2 * 4  # more than may wait, in each account's process
    assert_every_row_in_the_files(sandbox, messages)
    assert "Waiting for the loader" not in result.stderr and "taken to keep its files" not in result.stderr


def test_a_loader_that_keeps_its_files_is_waited_for_a_while_then_the_run_writes_on(alone, tmp_path):
    """stdout is a pipe, but what reads it deletes no file (target-snowflake with clean_up_batch_files: false): the
    tap waits batch_loader_wait_seconds once, says so, and ends with every row in its files."""
    sandbox, config, folder = alone
    (tmp_path / "config.json").write_text(
        # one process (each process that writes files waits once)
        json.dumps({**config, "parallel_accounts": 1, "parallel_stream_groups": 1, "batch_loader_wait_seconds": 2})
    )
    command = [*TAP, "--config", str(tmp_path / "config.json"), "--catalog", str(folder / "catalog.json")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("taken to keep its files") == 1
    assert "GB free there" in result.stderr and "Batch files left for the loader" in result.stderr
    assert_every_row_in_the_files(sandbox, [json.loads(line) for line in result.stdout.splitlines() if line.strip()])
