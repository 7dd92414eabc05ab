"""The page loop in-process (tap_klaviyo/paged_stream.py, bookmarks.py, record_lines.py), against a fake events
endpoint (pytest-httpserver): how the bookmark moves, and what RECORD lines a page becomes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import pytest
from klaviyo_fake import ACCOUNT_ID, ACCOUNT_NAME, FakeKlaviyo, event, events_between, seconds_ago, tap_config
from pytest_httpserver import HTTPServer

from tap_klaviyo.bookmarks import PartitionRun, advance
from tap_klaviyo.record_lines import RecordLines
from tap_klaviyo.tap import TapKlaviyo
from tap_support import BufferedSingerWriter

DAY = 86_400


def events_tap(server: HTTPServer, state: dict | None = None, **settings: object) -> TapKlaviyo:
    tap = TapKlaviyo(config=tap_config(server, **settings), state=state, validate_config=True)
    for stream in tap.streams.values():
        stream.selected = stream.name == "events"
    return tap


def messages(out: bytes) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def bookmarks(sent: list[dict]) -> list[str]:
    """The events bookmark of each STATE message, in order."""
    values = []
    for message in sent:
        if message["type"] == "STATE":
            for partition in message["value"]["bookmarks"].get("events", {}).get("partitions", []):
                if partition.get("replication_key_value"):
                    values.append(partition["replication_key_value"])
    return values


def state_at(bookmark: str) -> dict:
    partition = {"context": {"account_id": ACCOUNT_ID}, "replication_key": "datetime"}
    partition["replication_key_value"] = bookmark
    return {"bookmarks": {"events": {"partitions": [partition]}}}


# ---- the bookmark rule -----------------------------------------------------------------------------------------
def test_a_bookmark_moves_forward_only_and_never_past_the_partitions_cap():
    partition = PartitionRun({"account_id": "A1"}, None, cap="2026-12-02T08:00:00")
    state: dict = {}
    row = {"datetime": msgspec.Raw(b'"2026-12-01T10:00:00+00:00"')}  # as windows keep it: Klaviyo's JSON text
    assert advance(state, "datetime", partition, row) and state["replication_key_value"] == "2026-12-01T10:00:00+00:00"
    assert not advance(state, "datetime", partition, {"datetime": "2026-11-30T10:00:00+00:00"})  # older: stays
    assert not advance(state, "datetime", partition, {"datetime": "2026-12-01T10:00:00Z"})  # the same second
    assert not advance(state, "datetime", partition, {"datetime": "2026-12-03T00:00:00+00:00"})  # after the cap
    assert not advance(state, "datetime", partition, {"datetime": None})
    assert state["replication_key_value"] == "2026-12-01T10:00:00+00:00"
    assert advance(state, "datetime", partition, {"datetime": "2026-12-02T08:00:00+00:00"})  # the cap's own second


def test_with_the_lookback_a_run_reads_older_rows_again_and_its_bookmark_never_moves_back(
    httpserver: HTTPServer, capsysbinary
):
    events = events_between(seconds_ago(20 * DAY), seconds_ago(60), 1200)
    tomorrow = event(999_999, seconds_ago(-DAY))  # future-dated: emitted, but the bookmark stops at the run's start
    fake = FakeKlaviyo(httpserver, [*events, tomorrow])
    old = seconds_ago(5 * DAY).isoformat()
    tap = events_tap(httpserver, state_at(old), events_lookback_days=7)
    tap.streams["events"].STATE_MSG_FREQUENCY = 100  # a STATE after most pages, the re-read ones too
    tap.sync_all()
    sent = messages(capsysbinary.readouterr().out)
    ids = [m["record"]["id"] for m in sent if m["type"] == "RECORD"]
    reread = [e for e in fake.events if seconds_ago(12 * DAY).isoformat() <= e["attributes"]["datetime"] < old]
    assert reread and {e["id"] for e in reread} <= set(ids)  # the 7 days before the bookmark, read again
    assert tomorrow["id"] in ids
    moved = bookmarks(sent)
    assert moved and all(value >= old for value in moved) and moved == sorted(moved)
    assert moved[-1] == events[-1]["attributes"]["datetime"]  # the last row before the run's start


def test_in_batch_mode_the_bookmark_moves_only_with_the_files_announced(
    httpserver: HTTPServer, capsysbinary, tmp_path: Path
):
    # A window aims at 1,900 events (WINDOW_PAGES pages of 1,000): 6,000 events make several windows, each a file.
    FakeKlaviyo(httpserver, events_between(seconds_ago(10 * DAY), seconds_ago(60), 6000))
    batch = {"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": {"root": tmp_path.as_uri()}}
    events_tap(httpserver, batch_config={**batch, "batch_size": 200}, batch_max_pending_files=0).sync_all()
    announced = ""
    checked = 0
    for message in messages(capsysbinary.readouterr().out):
        if message["type"] == "BATCH":
            for url in message["manifest"]:
                for line in gzip.decompress(Path(urlsplit(url).path).read_bytes()).splitlines():
                    announced = max(announced, json.loads(line)["datetime"])
        elif message["type"] == "STATE":
            for value in bookmarks([message]):
                assert value <= announced
                checked += 1
    assert checked >= 3


# ---- a page as RECORD lines ---------------------------------------------------------------------------------------
ACCOUNT = {"account_id": ACCOUNT_ID, "account_name": ACCOUNT_NAME}
ROWS = [
    {**ACCOUNT, "id": "E1", "datetime": msgspec.Raw(b'"2026-12-01T00:00:00+00:00"'),
     "event_properties": msgspec.Raw(b'{"value": 9.5, "items": ["a"]}'), "uuid": "u-1"},
    {**ACCOUNT, "id": "E2", "datetime": "2026-12-01T00:00:01+00:00", "event_properties": {"value": 1}, "uuid": "u-2"},
]  # fmt: skip


def write_page(tap: TapKlaviyo, stream_name: str, capsysbinary) -> list[dict]:
    writer = tap.run_context.writer  # the tap's: singer-sdk's own messages go there too
    assert isinstance(writer, BufferedSingerWriter)
    lines = RecordLines(tap.streams[stream_name], writer)  # type: ignore[arg-type]
    lines.write([dict(row) for row in ROWS])
    writer.flush()
    return messages(capsysbinary.readouterr().out)


def test_a_page_becomes_one_record_message_a_row_with_its_values_as_klaviyo_sent_them(
    httpserver: HTTPServer, capsysbinary
):
    sent = write_page(events_tap(httpserver), "events", capsysbinary)
    assert [m["type"] for m in sent] == ["RECORD", "RECORD"] and {m["stream"] for m in sent} == {"events"}
    assert sent[0]["record"]["event_properties"] == {"value": 9.5, "items": ["a"]}
    assert sent[0]["record"]["datetime"] == "2026-12-01T00:00:00+00:00" and sent[1]["record"]["id"] == "E2"
    assert "version" not in sent[0] and sent[0]["time_extracted"].endswith("+00:00")


def test_rows_of_a_stream_that_marks_deletions_carry_the_runs_table_version(httpserver: HTTPServer, capsysbinary):
    tap = events_tap(httpserver, table_version=1234)
    sent = write_page(tap, "list_members", capsysbinary)  # membership current: deletions marked by version
    assert [m["version"] for m in sent] == [1234, 1234]


def test_a_deselected_column_is_left_out(httpserver: HTTPServer, capsysbinary):
    tap = events_tap(httpserver)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == ["properties", "uuid"]:
                metadata["metadata"]["selected"] = False
    tap = TapKlaviyo(config=tap_config(httpserver), catalog=catalog, validate_config=True)
    sent = write_page(tap, "events", capsysbinary)
    assert [set(m["record"]) for m in sent] == [set(ROWS[0]) - {"uuid"}] * 2


@pytest.mark.parametrize("stream_maps", [{"events": {"__alias__": "klaviyo_events", "uuid": None}}])
def test_a_stream_map_takes_singer_sdks_own_record_messages(httpserver: HTTPServer, capsysbinary, stream_maps):
    tap = events_tap(httpserver, stream_maps=stream_maps)
    sent = write_page(tap, "events", capsysbinary)
    assert [m["stream"] for m in sent] == ["klaviyo_events"] * 2
    assert "uuid" not in sent[0]["record"] and sent[0]["record"]["event_properties"]["items"] == ["a"]
