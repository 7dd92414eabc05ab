"""PagedStream: the large streams (events, profiles, list and segment members), read and written a page at a time.

singer-sdk handles one record at a time: a selection walk, the stream maps, a RecordMessage, the state bookkeeping
and the counters, for every row. On events that was most of the tap's CPU (bench/tap_throughput.py). These streams
are large, flat and sorted by their replication key, so they do that work once per page instead:

- record mode: a page becomes RECORD lines in one write (msgspec), then each partition's bookmark moves to the last
  row of the page, and STATE follows every `STATE_MSG_FREQUENCY` rows;
- batch mode (singer-sdk's `batch_config`): pages go into gzip JSON-lines files (batch_files.py). A file is
  announced (BATCH) when it is full, and only then do the bookmarks move to its last rows, so a STATE never covers
  a row that is not in a file announced before it.

Both modes share the page loop, the rows (flatten.py and the account columns) and the bookmark rule: a bookmark
never moves back (the events lookback reads older rows again) and never passes the partition's sync start (rows
newer than that, future-dated events above all, are emitted but read again next run). A stream map other than the
identity, or a deselected nested property, takes singer-sdk's own per-record messages instead of the fast lines.
"""

from __future__ import annotations

import bisect
import time
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from singer_sdk.mapper import SameRecordTransform
from typing_extensions import override

from .batch_files import BatchConfigError
from .client import KlaviyoStream
from .flatten import decoded, encode_row, text

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
    from singer_sdk.helpers.types import Context

    from .output import BufferedMsgSpecWriter

Row = dict[str, t.Any]


def reread(rows: list[Row], key: str, bookmark: str) -> int:
    """How many rows of a page (sorted by `key`) are older than the partition's bookmark: read again."""
    return bisect.bisect_left(rows, bookmark, key=lambda row: (text(row.get(key)) or "")[:19])


@dataclass
class PartitionRun:
    """What one partition of one run did: its bookmark when it started, rows emitted, rows read again."""

    context: dict[str, t.Any]
    old_bookmark: str | None
    cap: str = "9999"  # the highest bookmark it may reach (`YYYY-MM-DDTHH:MM:SS`, UTC); set by `pages`
    rows: int = 0
    reread: int = 0
    reached: str | None = None
    started: float = field(default_factory=time.monotonic)


class PagedStream(KlaviyoStream):
    """A stream whose rows come as whole pages, in replication-key order within each partition."""

    def pages(self, partition: PartitionRun) -> Iterator[list[Row]]:
        """One partition's rows, page by page, account columns included. Sets `partition.cap` if it bookmarks."""
        raise NotImplementedError

    def partition_pages(self, partitions: list[PartitionRun]) -> Iterator[tuple[PartitionRun, list[Row]]]:
        """Every partition's pages; each partition's own pages in order (subclasses may interleave partitions)."""
        for partition in partitions:
            for rows in self.pages(partition):
                yield partition, rows

    # ---- the page loop, both modes --------------------------------------------------------------------------
    def _page_loop(self, context: Context | None) -> Iterator[tuple[PartitionRun, list[Row]]]:
        contexts = [dict(context)] if context else [dict(p) for p in self.partitions or []]
        partitions = []
        for partition_context in contexts:
            self.state_manager.write_starting_replication_value(
                context=partition_context,
                replication_method=self.replication_method,
                replication_key=self.replication_key,
                config=dict(self.config),
                compare_start_date_fn=self.compare_start_date,
            )
            old = self.get_context_state(partition_context).get("replication_key_value")
            partitions.append(PartitionRun(partition_context, old[:19] if isinstance(old, str) else None))
        limit = self.ABORT_AT_RECORD_COUNT  # singer-sdk's dry runs (its standard tests) cap the rows
        emitted = 0
        key = self.replication_key
        with self.get_record_counter() as counter:
            for partition, page in self.partition_pages(partitions):
                rows = page if limit is None else page[: max(0, limit - emitted)]
                if not rows:
                    continue
                emitted += len(rows)
                counter.increment(len(rows))
                partition.rows += len(rows)
                if key is not None:
                    partition.reached = text(rows[-1].get(key)) or partition.reached
                    if partition.old_bookmark is not None:
                        partition.reread += reread(rows, key, partition.old_bookmark)
                self.tap.progress.update(self, partition)
                yield partition, rows
                if limit is not None and emitted >= limit:
                    break
        self.tap.progress.finish(self, partitions)

    def _advance(self, partition: PartitionRun, row: Row) -> None:
        """Move the partition's bookmark to the row's: forward only, never past the partition's sync start."""
        if self.replication_key is None:
            return
        value = text(row.get(self.replication_key))
        if value is None or value[:19] > partition.cap:
            return
        state = self.get_context_state(partition.context)
        old = state.get("replication_key_value")
        if isinstance(old, str) and value[:19] <= old[:19]:
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = value
        self.state_manager.is_flushed = False

    def _write_state(self) -> None:
        if not self.state_manager.is_flushed:
            self.tap.state_writer.write_state(self.tap_state)
            self.state_manager.is_flushed = True

    # ---- record mode ------------------------------------------------------------------------------------------
    # TODO: drop when singer-sdk can emit a page of records at once (no upstream issue yet).
    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> t.Generator[dict[str, t.Any], t.Any, t.Any]:
        # Private singer-sdk method, overridden because it was measured: its per-record loop was most of the tap's
        # CPU on events. Only singer-sdk's own `get_batches` asks for records without messages; ours does not.
        if not write_messages:
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        lines = RecordLines(self)
        since_state = 0
        for partition, rows in self._page_loop(context):
            lines.write(rows)
            self._advance(partition, rows[-1])
            since_state += len(rows)
            if since_state >= self.STATE_MSG_FREQUENCY:
                self._write_state()
                since_state = 0
        self._write_state()

    # ---- batch mode -------------------------------------------------------------------------------------------
    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """Whole pages into files; a file is announced when it holds `batch_size` rows, and the bookmarks of its
        rows move only then (singer-sdk writes STATE right after each BATCH it announces)."""
        files = self.tap.batch_files(batch_config)
        version = self.table_version
        extra: dict[str, t.Any] = {"_sdc_extracted_at": None}
        if version is not None:
            extra["_sdc_table_version"] = version
        file = files.open(self.name)
        last: dict[int, tuple[PartitionRun, Row]] = {}  # rows in the open file: the last of each partition
        for partition, rows in self._page_loop(context):
            extra["_sdc_extracted_at"] = datetime.now(UTC).isoformat()
            file.write(rows, extra)
            last[id(partition)] = (partition, rows[-1])
            if file.rows >= batch_config.batch_size:
                yield batch_config.encoding, [files.announce(file)]
                for partition_done, row in last.values():
                    self._advance(partition_done, row)
                last.clear()
                file = files.open(self.name)
        if file.rows:
            yield batch_config.encoding, [files.announce(file)]
            for partition_done, row in last.values():
                self._advance(partition_done, row)
        else:
            file.discard()

    writes_batch_files = True

    @override
    def get_batch_config(self, config: t.Mapping[str, t.Any]) -> BatchConfig | None:
        batch_config = super().get_batch_config(config)
        if batch_config is not None and not RecordLines(self).identity:
            # Batch files hold the rows as the tap reads them: a stream map would not apply.
            raise BatchConfigError(
                f"batch_config: stream '{self.name}' has stream maps or deselected nested properties, which batch "
                "files cannot apply; run it in record mode (without batch_config)"
            )
        return batch_config

    # The fast path goes around singer-sdk's per-record mapping: note the breadcrumbs it would have to honour.
    @cached_property
    def deselected_columns(self) -> tuple[str, ...] | None:
        """Top-level columns deselected in the catalog; None when a nested property is deselected."""
        columns = []
        for breadcrumb, selected in self.mask.items():
            if selected or not breadcrumb:
                continue
            if len(breadcrumb) != 2:
                return None
            columns.append(breadcrumb[1])
        return tuple(columns)


class RecordLines:
    """A page's RECORD messages, encoded at once: `{"type":"RECORD","stream":…,"record":…,"time_extracted":…}`."""

    def __init__(self, stream: PagedStream) -> None:
        self.stream = stream
        maps = stream.stream_maps
        dropped = stream.deselected_columns
        self.identity = len(maps) == 1 and isinstance(maps[0], SameRecordTransform) and dropped is not None
        self.dropped = dropped or ()
        self.head = b'{"type":"RECORD","stream":' + encode_row(stream.name) + b',"record":'
        version = stream.table_version
        self.version = b',"version":' + str(version).encode() if version is not None else b""

    def write(self, rows: list[Row]) -> None:
        if not self.identity:
            for row in rows:  # singer-sdk's stream maps and deselection, on decoded values
                for message in self.stream._generate_record_messages(decoded(row)):
                    self.stream.tap.write_message(message)
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
        t.cast("BufferedMsgSpecWriter", self.stream.tap.message_writer).write_lines((tail + self.head).join(lines))
