"""RecordLines: a page of rows as RECORD messages, encoded and written at once.

`{"type":"RECORD","stream":…,"record":…,"version":…,"time_extracted":…}` per row: each row's JSON (flatten.py keeps
the attributes as Klaviyo sent them) between the message's head and tail, one page-sized join, one write. A stream map
other than the identity, or a deselected nested property, takes singer-sdk's own per-record messages instead.
"""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime

from singer_sdk.mapper import SameRecordTransform

from .flatten import decoded, encode_row
from .sdk_seams import write_records

if t.TYPE_CHECKING:
    from tap_support import BufferedSingerWriter

    from .paged_stream import PagedStream

Row = dict[str, t.Any]


class RecordLines:
    def __init__(self, stream: PagedStream, writer: BufferedSingerWriter) -> None:
        self.stream = stream
        self.writer = writer
        maps = stream.stream_maps
        dropped = stream.deselected_columns
        #: whether the fast lines apply: no stream map but the identity, only top-level columns deselected
        self.identity = len(maps) == 1 and isinstance(maps[0], SameRecordTransform) and dropped is not None
        self.dropped = dropped or ()
        self.head = b'{"type":"RECORD","stream":' + encode_row(stream.name) + b',"record":'
        version = stream.table_version
        self.version = b',"version":' + str(version).encode() if version is not None else b""

    def write(self, rows: list[Row]) -> None:
        if not self.identity:
            for row in rows:  # singer-sdk's stream maps and deselection, on decoded values
                write_records(self.stream, decoded(row))
            return
        for column in self.dropped:
            for row in rows:
                row.pop(column, None)
        tail = self.version + b',"time_extracted":"' + datetime.now(UTC).isoformat().encode() + b'"}\n'
        # One page-sized join (each row's JSON between the message's head and tail), no further copy of it: every
        # page-sized buffer is a fresh mapping (memory.py), so each one costs page faults.
        lines = list(map(encode_row, rows))
        lines[0] = self.head + lines[0]
        lines[-1] += tail
        self.writer.write_lines((tail + self.head).join(lines))
