"""CSVStream: one stream per entity, one partition per file, state by file.

State, per file (a partition keyed on `_sdc_source_file`):
    {"context": {"_sdc_source_file": url}, "replication_key": "_sdc_row_number", "replication_key_value": 1234,
     "file": {"size": ..., "modified": ..., "etag": ...}, "complete": true}
- unchanged file (same fingerprint) read to the end: skipped without being opened;
- unchanged file not read to the end (the run was stopped): read again from the row after the bookmark;
- new or changed file (another size, time or ETag): read from row 1.
`--full-refresh` (no state) reads every file from row 1.
"""

from __future__ import annotations

import logging
import typing as t
from dataclasses import dataclass
from functools import cached_property

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from .reader import CsvFileError, CsvReader
from .sdk_seams import PopsDeselectedColumns

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from .definitions import CsvFormat
    from .reader import Row
    from .storage import FileStore, SourceFile

SOURCE_FILE = "_sdc_source_file"
ROW_NUMBER = "_sdc_row_number"
ROW_ERROR = "_sdc_row_error"
METADATA_SCHEMA = {
    SOURCE_FILE: {"type": "string", "description": "The file the row was read from, as matched by `path`."},
    ROW_NUMBER: {"type": "integer", "description": "1-based number of the data row in its file (header not counted)."},
    ROW_ERROR: {
        "type": ["string", "null"],
        "description": "What is wrong with the row (ragged, undecodable bytes, bad quoting); null for a good row.",
    },
}
BAD_ROWS_LOGGED_PER_FILE = 20


@dataclass(frozen=True)
class EntityFile:
    """A file of an entity, with how to parse it and the header it had at discovery."""

    source: SourceFile
    csv_format: CsvFormat
    header: tuple[str, ...]


def stream_schema(headers: Iterable[Sequence[str]]) -> dict[str, t.Any]:
    """Every column of every file (first seen first), all nullable strings, then the metadata columns."""
    columns = dict.fromkeys(name for header in headers for name in header)
    properties: dict[str, t.Any] = {name: {"type": ["string", "null"]} for name in columns}
    properties.update(METADATA_SCHEMA)
    return {"type": "object", "properties": properties}


class CSVStream(PopsDeselectedColumns):
    replication_key = ROW_NUMBER
    is_sorted = True  # row numbers only grow within a file: a stopped run resumes at its last bookmark
    # Values are strings or None already: the SDK's per-record type conformance would only cost time.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(
        self,
        tap: Tap,
        *,
        name: str,
        files: list[EntityFile],
        keys: Sequence[str] | None,
        file_store: FileStore,
        bad_rows: str,
    ) -> None:
        self._files = {entity_file.source.url: entity_file for entity_file in files}
        self._file_store = file_store
        self._bad_rows = bad_rows
        super().__init__(tap, schema=stream_schema(entity_file.header for entity_file in files), name=name)
        self.primary_keys = list(keys) if keys else [SOURCE_FILE, ROW_NUMBER]

    @cached_property
    @override
    def deselected_columns(self) -> tuple[str, ...]:
        return tuple(name for name in self.schema["properties"] if not self.mask[("properties", name)])

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]]:
        return [{SOURCE_FILE: url} for url in self._files]

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        if not context:
            return  # an entity whose globs matched no file
        entity_file = self._files[context[SOURCE_FILE]]
        url = entity_file.source.url
        state = self.get_context_state(context)
        after = self._rows_already_read(entity_file.source, state, context)
        if after is None:
            return
        with self._file_store.open(url) as binary, CsvReader(binary, entity_file.csv_format, url) as reader:
            self._check_columns(reader.header, url)
            bad: list[int] = []
            for row in reader.rows():
                if row.number <= after:
                    continue
                if row.error is not None and not self._accept_bad_row(row, url, bad):
                    continue
                record: dict[str, t.Any] = row.values  # the tap's own columns join the strings
                record[SOURCE_FILE] = url
                record[ROW_NUMBER] = row.number
                record[ROW_ERROR] = row.error
                yield record
        state["complete"] = True
        self._log_file_summary(url, after, reader, bad)

    def _rows_already_read(self, source: SourceFile, state: dict[str, t.Any], context: Context) -> int | None:
        """The row to resume after (0: the whole file), or None when the file was read to the end already."""
        same_file = state.get("file") == source.fingerprint
        bookmark = self.get_starting_replication_key_value(context)
        if same_file and state.get("complete"):
            self.logger.info("%s: unchanged since it was read to the end (row %s): skipped", source.url, bookmark)
            return None
        if same_file and bookmark:
            self.logger.info("%s: resuming after row %s", source.url, bookmark)
            return int(bookmark)
        if bookmark:
            self.logger.warning(
                "%s: changed since it was read up to row %s: reading it again from row 1", source.url, bookmark
            )
        # This file starts over: a bookmark from its former content would make row 1 look out of order.
        state.pop("replication_key_value", None)
        state.pop("complete", None)
        state["file"] = source.fingerprint
        return 0

    def _check_columns(self, header: Sequence[str], url: str) -> None:
        unknown = [name for name in header if name not in self.effective_schema["properties"]]
        if unknown:
            raise CsvFileError(
                f"{url}: columns {unknown} are not in stream {self.name!r}'s schema (the file changed "
                "after discovery, or the catalog is stale): run discovery again"
            )

    def _accept_bad_row(self, row: Row, url: str, bad: list[int]) -> bool:
        """Report a bad row; True when it is to be emitted (with `_sdc_row_error` saying what is wrong)."""
        where = f"{url} row {row.number} (line {row.line})"
        if self._bad_rows == "fail":
            raise CsvFileError(f"{where}: {row.error} (bad_rows=fail)")
        bad.append(row.number)
        if len(bad) <= BAD_ROWS_LOGGED_PER_FILE:
            action = "emitted with _sdc_row_error" if self._bad_rows == "emit" else "skipped"
            self.logger.warning("%s: %s; %s", where, row.error, action)
        return self._bad_rows == "emit"

    def _log_file_summary(self, url: str, after: int, reader: CsvReader, bad: list[int]) -> None:
        listed = bad[:BAD_ROWS_LOGGED_PER_FILE]
        shown = ", ".join(map(str, listed)) + (", ..." if len(bad) > len(listed) else "")
        self.logger.log(
            logging.WARNING if bad else logging.INFO,
            "%s: read to the end%s; %d bad rows%s; %d blank rows skipped",
            url,
            f" (from row {after + 1})" if after else "",
            len(bad),
            f" (rows {shown})" if bad else "",
            reader.blank_rows,
        )
