"""How the tap writes Singer messages: msgspec, and one flush per batch rather than per record."""

from __future__ import annotations

import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.messages import Message, SingerMessageType


class BufferedMsgSpecWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer flushes stdout after every message: a system call per record. Records are
    left in the buffer; every other message (STATE above all) flushes, so a state never reaches the target
    ahead of the records it covers, and the buffer is flushed at exit."""

    def write_message(self, message: Message) -> None:
        out = sys.stdout.buffer
        out.write(self.format_message(message))
        if message.type != SingerMessageType.RECORD:
            sys.stdout.flush()
