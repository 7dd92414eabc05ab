"""One CSV file as rows, streamed with the standard csv module: the header, then each data row with its number, the
line it starts on, and what is wrong with it, if anything.

- Row numbers count the data rows after the header from 1, one per record however many lines its quoted values
  span, blank rows included (so a spreadsheet shows row N on its line N + 1).
- Blank rows (nothing, or only delimiters) are not records: skipped, but counted.
- Empty cells become None. Other values are kept exactly as written, spaces included.
- A row is never fatal: a row with more or fewer fields than the header, undecodable bytes, or a quoting error
  that the csv module refuses (a quote never closed before the end of the file, above all) comes with `error` set,
  so the caller decides (emit, skip or fail).
- A field may be of any length: only the target judges a value's size.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
import typing as t
from collections import Counter
from dataclasses import dataclass

from .errors import UserError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from .definitions import CsvFormat

# Undecodable bytes travel as lone surrogates U+DC00-U+DCFF (as with Python's "surrogateescape"); none can come
# from decoding valid text.
SURROGATES = re.compile("[\udc00-\udcff]+")


class CsvFileError(UserError):
    """The file cannot be read as CSV (its header, mostly, or a bad row with bad_rows=fail); the message names the
    file."""


class _UndecodableBytes:
    """Codec error handler: passes each undecodable byte through as a surrogate and counts it, so that rows are
    searched for such bytes only after a decoded chunk had some; clean files pay nothing."""

    name = "tap_csv.undecodable"

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, exc: UnicodeError) -> tuple[str, int]:
        if not isinstance(exc, UnicodeDecodeError):
            raise exc
        self.seen += exc.end - exc.start
        return "".join(chr(0xDC00 + byte) for byte in exc.object[exc.start : exc.end]), exc.end


UNDECODABLE = _UndecodableBytes()
codecs.register_error(UNDECODABLE.name, UNDECODABLE)


def _lift_field_size_limit() -> int:
    """Let the csv module read fields of any length, process-wide; returns the limit set.

    Its default of 128 KiB refused a whole row for one long value (a 150 KB note), where only the target knows
    what size it accepts (Klaviyo caps a string at 100 KB: target-klaviyo rejects that event, the profile still
    loads). The limit is a C long: sys.maxsize overflows it where a long is 32 bits (Windows), so halve until it
    fits ((2**63 - 1) // 2**32 is exactly 2**31 - 1).
    """
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
        except OverflowError:
            limit //= 2
        else:
            return limit


FIELD_SIZE_LIMIT = _lift_field_size_limit()
UNCLOSED_QUOTE = "cannot parse: a quoted value runs to the end of the file (its closing quote is missing)"


@dataclass(slots=True)
class Row:
    number: int
    line: int
    values: dict[str, str | None]
    error: str | None = None


class _EndOfLines:
    reached = False


def _lines(text: t.TextIO, end: _EndOfLines) -> Iterator[str]:
    """The file's lines, noting when they run out. A row that the csv module completes only because the lines ran
    out is one whose quote was never closed: without `strict` (which would also refuse quoting spreadsheets write,
    such as `"a"b`) it saves what it has. With no field size limit, that row holds the rest of the file."""
    # not `yield from`: closing this generator would then close `text`, and the caller's file with it
    for line in text:  # noqa: UP028
        yield line
    end.reached = True


class CsvReader:
    """Rows of one CSV file read from `binary`, which stays the caller's to close. Use as a context manager: the
    text layer over `binary` is let go on exit (a text layer left to the garbage collector closes the caller's file
    itself, with a ResourceWarning)."""

    def __init__(self, binary: t.BinaryIO, csv_format: CsvFormat, name: str) -> None:
        self.name = name
        self._encoding = csv_format.encoding
        # newline="": the csv module sees line ends untranslated, so quoted values keep their own newlines.
        self._text = io.TextIOWrapper(binary, encoding=csv_format.encoding, errors=UNDECODABLE.name, newline="")
        self._end = _EndOfLines()
        self._rows = csv.reader(
            _lines(self._text, self._end), delimiter=csv_format.delimiter, quotechar=csv_format.quotechar
        )
        self._accounted = UNDECODABLE.seen
        self.blank_rows = 0
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> CsvReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Let go of the text layer, leaving `binary` open for its owner (a closed one has nothing to let go)."""
        if not self._text.buffer.closed:
            self._text.detach()

    def _read_header(self) -> list[str]:
        try:
            header = next(self._rows, None)
        except csv.Error as exc:
            raise CsvFileError(f"{self.name}: cannot read the header: {exc}") from exc
        if header is None:
            return []  # an empty file: no columns, no rows
        if self._end.reached:
            raise CsvFileError(f"{self.name}: cannot read the header: a quote in it is never closed")
        if UNDECODABLE.seen != self._accounted and (problem := self._undecodable(header, [])[1]):
            raise CsvFileError(f"{self.name}: header has {problem}; set this file's `encoding`")
        problems = [f"column {index} has no name" for index, name in enumerate(header, 1) if not name]
        problems += [
            f"column {name!r} appears {count} times" for name, count in Counter(header).items() if name and count > 1
        ]
        if problems:
            raise CsvFileError(f"{self.name}: bad header ({'; '.join(problems)}): every column needs its own name")
        return header

    def rows(self) -> Iterator[Row]:
        header, width, reader = self.header, len(self.header), self._rows
        number = 0
        while True:
            first_line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                yield Row(number, first_line, {}, f"cannot parse: {exc}")
                continue
            number += 1
            if self._end.reached:
                yield Row(number, first_line, {}, UNCLOSED_QUOTE)
                continue
            if not any(fields):
                self.blank_rows += 1
                continue
            error = None
            if UNDECODABLE.seen != self._accounted:
                fields, error = self._undecodable(fields, header)
            if len(fields) == width:
                values = {name: value or None for name, value in zip(header, fields, strict=True)}
            else:
                values = {name: value or None for name, value in zip(header, fields, strict=False)}
                ragged = f"{len(fields)} fields where the header has {width}"
                error = f"{error}; {ragged}" if error else ragged
            yield Row(number, first_line, values, error)

    def _undecodable(self, fields: list[str], header: list[str]) -> tuple[list[str], str | None]:
        """Fields with undecodable bytes shown as U+FFFD, and which columns had them and what bytes."""
        found = []
        for index, field in enumerate(fields):
            runs = SURROGATES.findall(field)
            if runs:
                raw = bytes(ord(char) - 0xDC00 for run in runs for char in run)
                self._accounted += len(raw)
                column = repr(header[index]) if index < len(header) else f"field {index + 1}"
                found.append(f"{column} ({raw[:8]!r})")
        if not found:
            return fields, None
        cleaned = [SURROGATES.sub("\ufffd", field) for field in fields]
        return cleaned, f"bytes that are not {self._encoding} in {', '.join(found)}"
