"""How the tap writes Singer messages: msgspec, in blocks of records rather than a system call per record."""

from __future__ import annotations

import atexit
import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.messages import Message, SingerMessageType


class BlockWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer flushes stdout after every message, and with PYTHONUNBUFFERED (set in many
    containers) every write is a system call of its own. Records are gathered here and written 64 KiB at a
    time; any other message (STATE above all) writes out what is gathered, so a state never reaches the target
    ahead of the rows it covers."""

    BLOCK_BYTES = 1 << 16

    def __init__(self) -> None:
        self._pending = bytearray()
        atexit.register(self.flush)  # records after the last state, when a run stops on an error

    def write_message(self, message: Message) -> None:
        # format_message gives msgspec's shared buffer: append (a copy) before the next message reuses it.
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= self.BLOCK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            out = sys.stdout.buffer  # looked up each time: test runners swap sys.stdout
            out.write(self._pending)
            out.flush()
            self._pending.clear()
