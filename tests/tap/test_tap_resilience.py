"""Faults and crashes lose nothing: the same rows as a clean run, in record mode and in batch mode (files)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from counted_days import on_days_all_counted
from tap_runs import records

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox
from tap_klaviyo.streams import STREAM_TYPES

EVENTS, PROFILES = 6000, 300
PRIMARY_KEYS = {stream.name: tuple(stream.primary_keys) for stream in STREAM_TYPES}


def keys_by_stream(lines: list[str]) -> dict[str, set[tuple]]:
    """Each stream's rows by their primary key (the report streams' rows have no id), from RECORD messages and from
    the files of BATCH messages."""
    out: dict[str, set[tuple]] = defaultdict(set)
    for stream, rows in records([json.loads(line) for line in lines]).items():
        out[stream] = {tuple(r[key] for key in PRIMARY_KEYS[stream]) for r in rows}
    return out


def on_shared_days(*runs: dict[str, set[tuple]]) -> list[dict[str, set[tuple]]]:
    """The runs' rows with event_counts (account, metric, day) cut to the days every run counted, per account
    (counted_days.py: runs either side of an account's midnight); every other stream is compared whole."""
    counts = on_days_all_counted([run.get("event_counts", set()) for run in runs], lambda key: (key[0], key[2]))
    return [{**run, "event_counts": set(rows)} for run, rows in zip(runs, counts, strict=True)]


def tap_command(config: dict, folder: Path, state: dict | None = None) -> list[str]:
    (folder / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_klaviyo.tap", "--config", str(folder / "config.json")]
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state))
        command += ["--state", str(folder / "state.json")]
    return command


MODES = ("records", "batch")


def config_for(sandbox, accounts_file: Path, mode: str = "records") -> dict:
    config = {
        "accounts_file": str(accounts_file),
        "api_url": sandbox.url,
        "start_date": "2020-01-01T00:00:00Z",
        "rate_limit_scale": 0,
        "max_retries": 12,
    }
    if mode == "batch":
        # No loader here deletes the files: the tap must not wait for it (batch_max_pending_files 0).
        root = accounts_file.parent / "batches"
        config["batch_config"] = {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": root.as_uri()},
            "batch_size": 1000,
        }
        config["batch_max_pending_files"] = 0
    return config


def data_sandbox(folder: Path, *options: str) -> RunningSandbox:
    """The same two accounts and data every time (the clean run's and the faulty runs'), their file in `folder`."""
    data = ("--accounts", "2", "--events", str(EVENTS), "--profiles", str(PROFILES), "--rate-limit-scale", "0")
    return start_sandbox(*data, "--accounts-file", str(folder / "accounts.json"), *options)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A clean run's rows, against a sandbox without faults (same seed and sizes as the faulty ones)."""
    folder = tmp_path_factory.mktemp("clean")
    sandbox = data_sandbox(folder)
    try:
        result = subprocess.run(
            tap_command(config_for(sandbox, folder / "accounts.json"), folder),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        sandbox.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    return keys_by_stream(result.stdout.splitlines())


@pytest.mark.parametrize("mode", MODES)
def test_fault_storms_give_the_same_rows(clean, tmp_path, mode):
    sandbox = data_sandbox(
        tmp_path,
        "--error-share",
        "0.08",
        "--reset-share",
        "0.04",
        "--storm-share",
        "0.01",
        "--storm-seconds",
        "1",
        "--fault-seed",
        "5",
    )
    try:
        result = subprocess.run(
            tap_command(config_for(sandbox, tmp_path / "accounts.json", mode), tmp_path),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        stats = sandbox.stats()
    finally:
        sandbox.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    faults = sum(
        count
        for buckets in stats.values()
        for counts in buckets.values()
        for name, count in counts.items()
        if name.startswith("fault:")
    )
    assert faults >= 10  # the run really went through storms
    got, expected = on_shared_days(keys_by_stream(result.stdout.splitlines()), clean)
    assert got == expected


@pytest.mark.parametrize("mode", MODES)
def test_killed_mid_stream_then_resumed_ends_with_every_row(clean, tmp_path, mode):
    sandbox = data_sandbox(tmp_path, "--latency-ms", "20")
    try:
        config = config_for(sandbox, tmp_path / "accounts.json", mode)
        first = subprocess.Popen(
            tap_command(config, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert first.stdout is not None
        lines: list[str] = []
        events_seen = 0
        deadline = time.monotonic() + 300
        for line in first.stdout:
            lines.append(line)
            if '"stream": "events"' in line or '"stream":"events"' in line:
                events_seen += 1000 if '"BATCH"' in line else 1  # batch_size
            if events_seen >= EVENTS + 1500 or time.monotonic() > deadline:  # into the second account's events
                break
        first.send_signal(signal.SIGKILL)
        first.wait()
        first.stdout.close()
        states = [json.loads(line)["value"] for line in lines if json.loads(line)["type"] == "STATE"]
        assert states, "the first run emitted no state before it was killed"
        # What the killed run delivered, read now: the next run removes the folder of a run that died.
        delivered = keys_by_stream(lines)
        resumed = subprocess.run(
            tap_command(config, tmp_path, states[-1]), capture_output=True, text=True, timeout=600, check=False
        )
    finally:
        sandbox.stop()
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = keys_by_stream(resumed.stdout.splitlines())
    combined = {stream: delivered.get(stream, set()) | after.get(stream, set()) for stream in {*delivered, *after}}
    got, expected = on_shared_days(combined, clean)
    assert got == expected
    # and the resumed run did not start over: it re-reads at most what followed each account's last state
    # (state comes after the page that passes 1,000 records: a time window of ~1,900 events), the boundary second
    # and the events lookback (7 days: ~40 of this data set's events)
    reread = len(keys_by_stream(resumed.stdout.splitlines())["events"])
    assert reread <= 2 * EVENTS - events_seen + 2 * 2000 + 2 * 60, (reread, events_seen)


def test_runs_a_midnight_apart_are_compared_on_the_days_both_cover_and_nothing_else_is_cut():
    day = {4: ("a", "m", "2026-09-04"), 5: ("a", "m", "2026-09-05"), 6: ("a", "m", "2026-09-06")}
    before = {"event_counts": {day[4], day[5]}, "events": {("e1",)}}
    after = {"event_counts": {day[5], day[6]}, "events": {("e1",)}}
    assert on_shared_days(before, after) == [{"event_counts": {day[5]}, "events": {("e1",)}}] * 2
    gap, whole = on_shared_days({"event_counts": {day[4], day[6]}}, {"event_counts": set(day.values())})
    assert gap != whole  # a day lost between the ends still differs
    one, other = on_shared_days({"events": {("e1",)}}, {"events": {("e2",)}})
    assert one != other  # other streams are compared whole
