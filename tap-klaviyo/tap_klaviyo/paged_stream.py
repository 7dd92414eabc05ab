"""PagedStream: the large streams (events, profiles, list and segment members), read and written a page at a time.

singer-sdk handles one record at a time: a selection walk, the stream maps, a RecordMessage, the state bookkeeping
and the counters, for every row. On events that was most of the tap's CPU (bench/tap_throughput.py). These streams
are large, flat and sorted by their replication key, so they do that work once per page instead:

- record mode: a page becomes RECORD lines in one write (record_lines.py), then each partition's bookmark moves to
  the last row of the page, and STATE follows every `STATE_MSG_FREQUENCY` rows;
- batch mode (singer-sdk's `batch_config`): pages go into gzip JSON-lines files (batch_files.py). A file is
  announced (BATCH) when it is full, and only then do the bookmarks move to its last rows, so a STATE never covers
  a row that is not in a file announced before it.

Both modes share the page loop, the rows (flatten.py and the account columns) and the bookmark rule (bookmarks.py).
"""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime
from functools import cached_property

from typing_extensions import override

from .batch_files import BatchConfigError
from .bookmarks import PartitionRun, advance, reread
from .flatten import text
from .klaviyo_stream import KlaviyoStream
from .record_lines import RecordLines
from .sdk_seams import SyncsPages, mark_state_changed, start_partition_state, write_state

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from .sdk_seams import BaseBatchFileEncoding, BatchConfig

Row = dict[str, t.Any]


class PagedStream(SyncsPages, KlaviyoStream):
    """A stream whose rows come as whole pages, in replication-key order within each partition."""

    runs_alone = True  # large: a process of its own beside the account's other streams (stream_groups.py)

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
            start_partition_state(self, partition_context)
            old = self.get_context_state(partition_context).get("replication_key_value")
            partitions.append(PartitionRun(partition_context, old[:19] if isinstance(old, str) else None))
        limit = self.ABORT_AT_RECORD_COUNT  # singer-sdk's dry runs (its standard tests) cap the rows
        emitted = 0
        key = self.replication_key
        progress = self.run.progress
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
                progress.update(self.name, self.account(partition.context).name, partition)
                yield partition, rows
                if limit is not None and emitted >= limit:
                    break
        progress.finish(self.name, [(self.account(p.context).name, p) for p in partitions])

    def _advance(self, partition: PartitionRun, row: Row) -> None:
        """Move the partition's bookmark to the row's (bookmarks.advance: forward only, never past its cap)."""
        if self.replication_key is None:
            return
        if advance(self.get_context_state(partition.context), self.replication_key, partition, row):
            mark_state_changed(self)

    # ---- record mode ------------------------------------------------------------------------------------------
    @override
    def sync_pages(self, context: Context | None) -> None:
        lines = RecordLines(self, self.run.writer)
        since_state = 0
        for partition, rows in self._page_loop(context):
            lines.write(rows)
            self._advance(partition, rows[-1])
            since_state += len(rows)
            if since_state >= self.STATE_MSG_FREQUENCY:
                write_state(self)
                since_state = 0
        write_state(self)

    # ---- batch mode -------------------------------------------------------------------------------------------
    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """Whole pages into files; a file is announced when it holds `batch_size` rows, and the bookmarks of its
        rows move only then (singer-sdk writes STATE right after each BATCH it announces)."""
        files = self.run.batch_files(batch_config)
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
        if batch_config is not None and not RecordLines(self, self.run.writer).identity:
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
