"""How a tap writes Singer messages: msgspec, and one write per chunk of records rather than one per record."""

from __future__ import annotations

import atexit
import dataclasses
import select
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.singerlib.messages import Message, SingerMessageType
from typing_extensions import override

CHUNK_BYTES = 256 * 1024


class BufferedSingerWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer flushes stdout after every message, and with Python's 8 KB stdout buffer (or
    PYTHONUNBUFFERED, set in many containers) that is a system call every record or few. Records collect here
    instead; every other message (STATE above all) writes them out first and flushes, so a state never reaches the
    target ahead of the records it covers. What is pending is written out at exit too (a run stopped by an error)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()
        atexit.register(self.flush)

    @override
    def serialize_message(self, message: Message) -> bytearray:
        # Message.to_dict is dataclasses.asdict, a deep copy of the whole message: of every STATE (each account's
        # bookmarks and listings, written after every few pages) and SCHEMA. A state of 20 accounts x 15 streams:
        # 2.3 ms a message copied, 0.03 ms not (timeit, 2026-12-05). singer-sdk dropped it for RECORD messages only:
        # https://github.com/meltano/sdk/issues/1194. The same fields, not copied: null fields left out, as
        # to_dict does. RECORD (its own to_dict, and singer-sdk's record path: tap-csv's every row) and a message
        # holding another dataclass (BATCH's encoding) go through to_dict still.
        if message.type == SingerMessageType.RECORD:
            return super().serialize_message(message)
        fields = {field.name: getattr(message, field.name) for field in dataclasses.fields(message)}
        if any(map(dataclasses.is_dataclass, fields.values())):
            return super().serialize_message(message)
        return serialize_jsonl({name: value for name, value in fields.items() if value is not None})

    @override
    def write_message(self, message: Message) -> None:
        # format_message gives msgspec's shared buffer: appended (a copy) before the next message reuses it.
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= CHUNK_BYTES:
            self.flush()

    def write_lines(self, lines: bytes) -> None:
        """RECORD lines encoded already, a page at a time (tap-klaviyo's pages). A page is usually over a chunk:
        written as it is, after what is pending, not copied into the buffer first."""
        if len(self._pending) + len(lines) < CHUNK_BYTES:
            self._pending += lines
        else:
            self.flush(lines)

    def flush(self, lines: bytes = b"") -> None:
        """What is pending, then `lines`, to stdout, flushed."""
        out = sys.stdout.buffer  # looked up each time: test runners swap sys.stdout
        if self._pending:
            write_all(out, self._pending)
            self._pending.clear()
        if lines:
            write_all(out, lines)
        out.flush()


class RawOrBufferedOutput(t.Protocol):
    """A binary stdout: a buffered one's `write` takes everything, a raw one's says how much (None: none, it would
    block)."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...

    def fileno(self) -> int: ...


def write_all(out: RawOrBufferedOutput, data: bytes | bytearray) -> None:
    """Write every byte of `data` to `out`.

    With PYTHONUNBUFFERED set (orchestrate/Dockerfile, many containers, this machine) `sys.stdout.buffer` is the raw
    FileIO, whose `write` makes one system call and returns how much it wrote: a write to a full pipe that a signal
    interrupts writes part, and the rest was lost. py-spy sampling tap-klaviyo (its ptrace stops are such interrupts)
    lost 94 to 442 of 2,160 event_counts rows a run, lines cut in the middle (2026-12-04). A buffered stdout writes
    all or raises: one call, no view made (the fan-out writes every line through here). None is a non-blocking
    stdout that is full: wait until it takes more.
    CPython's issue for unbuffered mode: https://github.com/python/cpython/issues/86210 (open).
    """
    written = out.write(data)
    if written == len(data):
        return
    view = memoryview(data)[written or 0 :]
    while view:
        if written is None:
            select.select([], [out.fileno()], [])
        written = out.write(view)
        view = view[written or 0 :]
