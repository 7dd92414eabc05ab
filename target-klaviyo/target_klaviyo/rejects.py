"""Where every row ends: accepted by Klaviyo, or a line in the rejected-rows file; and the run's summary.

Counts are kept per (input stream, kind) with kind "event" or "profile": one row feeding both is counted,
and may be rejected, once for each. Every method is safe to call from the sending threads.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

REJECT_COLUMNS = ("stream", "file", "row", "kind", "identifier", "reason", "code")


@dataclass(frozen=True, slots=True)
class RowRef:
    """Which input row a payload came from."""

    stream: str
    row: int
    identifier: str | None
    file: str | None = None  # tap-csv's _sdc_source_file, when several files feed one stream


@dataclass
class Counts:
    read: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0


class Outcomes:
    """The rejected-rows file (JSON lines, or CSV when the path ends in .csv) and the per-stream counts."""

    def __init__(self, path_template: str | None) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str], Counts] = defaultdict(Counts)
        self.path = (
            Path(path_template.replace("{timestamp}", datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")))
            if path_template
            else None
        )
        self._file: IO[str] | None = None
        self._csv: Any = None

    def _open(self) -> IO[str]:
        if self._file is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8", newline="")
            if self.path.suffix.lower() == ".csv":
                self._csv = csv.writer(self._file)
                self._csv.writerow(REJECT_COLUMNS)
        return self._file

    def start(self) -> None:
        """Create the file at the start, so an empty file says "nothing rejected" rather than "not run"."""
        if self.path is not None:
            with self._lock:
                self._open()

    def read(self, stream: str, kind: str) -> None:
        self.counts[(stream, kind)].read += 1  # main thread only

    def sent(self, stream: str, kind: str, n: int) -> None:
        with self._lock:
            self.counts[(stream, kind)].sent += n

    def accepted(self, stream: str, kind: str, n: int) -> None:
        with self._lock:
            self.counts[(stream, kind)].accepted += n

    def reject(self, ref: RowRef, kind: str, reason: str, code: str) -> None:
        row = (ref.stream, ref.file, ref.row, kind, ref.identifier, reason, code)
        with self._lock:
            self.counts[(ref.stream, kind)].rejected += 1
            if self.path is None:
                return
            handle = self._open()
            if self._csv is not None:
                self._csv.writerow(row)
            else:
                handle.write(orjson.dumps(dict(zip(REJECT_COLUMNS, row, strict=True))).decode() + "\n")

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    @property
    def total_rejected(self) -> int:
        return sum(c.rejected for c in self.counts.values())

    def summary(self, *, dry_run: bool) -> str:
        """A table of read, sent, accepted and rejected rows per stream and kind."""
        out = io.StringIO()
        names = [f.name for f in fields(Counts)]
        rows = [
            [stream, kind, *(str(getattr(c, n)) for n in names)] for (stream, kind), c in sorted(self.counts.items())
        ]
        header = ["stream", "kind", *names]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        out.write(
            "target-klaviyo summary" + (" (dry run: validated and mapped, nothing sent)" if dry_run else "") + "\n"
        )
        for r in [header, *rows]:
            out.write(
                "  "
                + "  ".join(
                    cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True))
                ).rstrip()
                + "\n"
            )
        where = str(self.path) if self.path else "(no rejects_path: not written)"
        out.write(f"  rejected rows: {self.total_rejected} in {where}")
        return out.getvalue()

    def as_dict(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (stream, kind), c in sorted(self.counts.items()):
            out.setdefault(stream, {})[kind] = {f.name: getattr(c, f.name) for f in fields(Counts)}
        return out
