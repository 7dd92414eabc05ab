"""tap_support/output.py, the writer of tap-klaviyo and tap-csv: pages of RECORD lines and other messages reach
stdout in the order they were written, a STATE never waits in the buffer behind nothing, and a raw stdout
(PYTHONUNBUFFERED) that takes part of a write gets the rest."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers._batch import BaseBatchFileEncoding, SDKBatchMessage
from singer_sdk.singerlib.messages import ActivateVersionMessage, Message, RecordMessage, SchemaMessage, StateMessage

from tap_support.output import CHUNK_BYTES, BufferedSingerWriter, write_all


def page(name: str, size: int) -> bytes:
    """RECORD-like lines of about `size` bytes, named so the order can be read back."""
    line = json.dumps({"type": "RECORD", "stream": "events", "record": {"page": name}}).encode() + b"\n"
    return line * (size // len(line) + 1)


def test_pages_and_states_arrive_in_order(capsysbinary):
    writer = BufferedSingerWriter()
    small, big, after = page("small", 1000), page("big", CHUNK_BYTES + 1), page("after", 1000)
    writer.write_lines(small)
    assert capsysbinary.readouterr().out == b""  # a small page waits for more
    writer.write_lines(big)  # over a chunk: what waited, then the page
    assert capsysbinary.readouterr().out == small + big
    writer.write_lines(after)
    writer.write_message(StateMessage(value={"bookmarks": {}}))  # a state writes what waited first
    out = capsysbinary.readouterr().out
    assert out.startswith(after) and json.loads(out[len(after) :]) == {"type": "STATE", "value": {"bookmarks": {}}}


@pytest.mark.parametrize(
    "message",
    [
        StateMessage(value={"bookmarks": {"events": {"partitions": [{"context": {"account_id": "A"}, "v": None}]}}}),
        SchemaMessage(
            stream="lists", schema={"properties": {"id": {"type": ["null", "string"]}}}, key_properties=["id"]
        ),
        SchemaMessage(stream="lists", schema={"properties": {}}, key_properties=[]),
        ActivateVersionMessage(stream="lists", version=3),
        RecordMessage(
            stream="lists", record={"id": "L"}, time_extracted=datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)
        ),
        SDKBatchMessage(stream="events", encoding=BaseBatchFileEncoding("jsonl", "gzip"), manifest=["file:///b.gz"]),
    ],
    ids=lambda message: message.type,
)
def test_every_message_is_the_line_singer_sdk_writes(message: Message):
    """The writer encodes STATE and SCHEMA from their fields, not from singer-sdk's deep copy: the same bytes."""
    ours = bytes(BufferedSingerWriter().serialize_message(message))  # a copy: both return msgspec's shared buffer
    assert ours == bytes(MsgSpecWriter().serialize_message(message))


def test_small_pages_go_out_once_they_fill_a_chunk(capsysbinary):
    writer = BufferedSingerWriter()
    pages = [page(str(k), CHUNK_BYTES // 3) for k in range(3)]
    for written in pages:
        writer.write_lines(written)
    assert capsysbinary.readouterr().out == b"".join(pages)


class TakesPart:
    """A raw stdout (what `sys.stdout.buffer` is with PYTHONUNBUFFERED) on a pipe that signals keep interrupting:
    each write takes at most `most` bytes and says how many."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.received = bytearray()
        self.calls = 0

    def write(self, data: memoryview) -> int:
        self.calls += 1
        taken = bytes(data[: self.most])
        self.received += taken
        return len(taken)

    def flush(self) -> None:
        pass


class RawStdout:
    def __init__(self, raw: TakesPart) -> None:
        self.buffer = raw


def test_a_raw_stdout_that_takes_part_of_each_write_still_gets_every_byte(monkeypatch):
    raw = TakesPart(most=4096)
    monkeypatch.setattr(sys, "stdout", RawStdout(raw))
    writer = BufferedSingerWriter()
    big, after = page("big", CHUNK_BYTES + 1), page("after", 1000)
    writer.write_lines(big)
    writer.write_lines(after)
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    assert bytes(raw.received).startswith(big + after)
    assert json.loads(raw.received[len(big + after) :]) == {"type": "STATE", "value": {"bookmarks": {}}}
    assert raw.calls > (len(big) + len(after)) // 4096  # it was asked again for what it did not take


class FullThenPart(TakesPart):
    """A non-blocking raw stdout: every other write finds it full (None, nothing taken), the others take part."""

    def __init__(self, most: int, fileno: int) -> None:
        super().__init__(most)
        self._fileno = fileno

    def write(self, data: memoryview) -> int | None:
        if self.calls % 2 == 0:
            self.calls += 1
            return None
        return super().write(data)

    def fileno(self) -> int:
        return self._fileno  # a pipe with room: select finds it writable at once


def test_a_full_non_blocking_stdout_is_waited_for_and_gets_every_byte():
    read_end, write_end = os.pipe()
    try:
        raw = FullThenPart(most=1000, fileno=write_end)
        data = page("waited", 10_000)
        write_all(raw, data)
        assert bytes(raw.received) == data
    finally:
        os.close(read_end)
        os.close(write_end)


# A process writing pages through the writer to a pipe, with PYTHONUNBUFFERED as in the image: stdout is the raw
# FileIO. SIGUSR1 has a handler, so each signal that comes while the pipe is full cuts a write short.
WRITER = """
import os, signal, sys
from tap_support.output import BufferedSingerWriter
from singer_sdk.singerlib.messages import StateMessage
signal.signal(signal.SIGUSR1, lambda *_: None)
os.write(2, b"ready\\n")
writer = BufferedSingerWriter()
for n in range(PAGES):
    writer.write_lines(b"".join(b'{"type":"RECORD","stream":"s","record":{"page":%d,"row":%d,"pad":"%s"}}\\n'
                                % (n, row, b"x" * 200) for row in range(ROWS)))
writer.write_message(StateMessage(value={"done": True}))
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the pipe's end: the reader sees it while signals can still come
sys.stdin.read()  # until the test has stopped signalling (at exit Python drops the handler: a signal would kill)
"""


def test_signals_while_stdout_is_a_full_pipe_cut_no_line_and_lose_none():
    pages, rows = 40, 2000  # ~0.5 MB a page: every write outgrows the pipe's 64 KB
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER.replace("PAGES", str(pages)).replace("ROWS", str(rows))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    assert child.stderr.readline() == b"ready\n"
    done = threading.Event()

    def interrupt() -> None:
        while not done.is_set() and child.poll() is None:
            child.send_signal(signal.SIGUSR1)
            time.sleep(0.0005)

    signaller = threading.Thread(target=interrupt, daemon=True)
    signaller.start()
    received = bytearray()
    while chunk := child.stdout.read1(16384):  # a slow reader: the pipe stays full
        received += chunk
        time.sleep(0.0002)
    done.set()
    signaller.join()
    child.stdin.close()
    assert child.wait(timeout=60) == 0, child.stderr.read()
    lines = bytes(received).splitlines()
    records = [json.loads(line)["record"] for line in lines[:-1]]  # a cut line fails here
    assert [(r["page"], r["row"]) for r in records] == [(n, row) for n in range(pages) for row in range(rows)]
    assert json.loads(lines[-1]) == {"type": "STATE", "value": {"done": True}}
