"""How the tap writes Singer messages: msgspec, and one write per ~256 KB rather than per record."""

from __future__ import annotations

import atexit
import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.messages import Message, SingerMessageType
from typing_extensions import override

CHUNK_BYTES = 256 * 1024


class BufferedMsgSpecWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer flushes stdout after every message, and Python's 8 KB stdout buffer still
    makes a system call every few records. Records collect here instead; every other message (STATE above
    all) writes them out first and flushes, so a state never reaches the target ahead of the records it covers."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()
        atexit.register(self._drain)

    @override
    def write_message(self, message: Message) -> None:
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= CHUNK_BYTES:
            self._drain()

    def write_lines(self, lines: bytes) -> None:
        """RECORD lines encoded already, a page at a time (pages.py). A page is usually over a chunk: written as it
        is, after what is pending, not copied into the buffer first."""
        if len(self._pending) + len(lines) < CHUNK_BYTES:
            self._pending += lines
        else:
            self._drain(lines)

    def _drain(self, lines: bytes = b"") -> None:
        """What is pending, then `lines`, to stdout, flushed."""
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        if lines:
            sys.stdout.buffer.write(lines)
        sys.stdout.flush()
