"""Where every row ends: accepted by Klaviyo, unchanged since it was, or a line in the rejected-rows file; and the
run's summary.

Counts are kept per (input stream, kind), kind being "event", "profile", "list", "email_consent" or
"sms_consent": one row feeding several kinds is counted, and may be rejected, once for each. Every method is safe
to call from the sending threads.

The rejected-rows file has one line per rejected row and kind, the columns of `REJECT_COLUMNS` (README: "The
rejected-rows file"): JSON lines, or CSV when the path ends in .csv. It may be on S3 (`s3://bucket/key`): then it
is written locally as the run goes and uploaded whole (one PUT) as state leaves the target and at the end.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from .changes import Decision
from .storage import Storage, split_object, storage_at

REJECT_COLUMNS = ("stream", "file", "row", "kind", "key", "code", "reason")
CORE = ("read", "unchanged", "created", "changed", "sent", "accepted", "rejected")
EXTRAS = {"list": ("added", "removed"), "email_consent": ("subscribed", "unsubscribed")}
EXTRAS["sms_consent"] = EXTRAS["email_consent"]


@dataclass(frozen=True, slots=True)
class RowRef:
    """Which input row a payload came from, and its key for this kind (a profile's identifier, an event's
    unique_id or, without one, its profile's identifier)."""

    stream: str
    row: int
    key: str | None
    file: str | None = None  # tap-csv's _sdc_source_file, when several files feed one stream


@dataclass
class Counts:
    read: int = 0
    unchanged: int = 0  # not sent: Klaviyo accepted the same before (change memory)
    created: int = 0  # accepted (a dry run: would be sent), the key new to the memory
    changed: int = 0  # accepted (a dry run: would be sent), the key remembered with other content
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    added: int = 0  # list: rows whose profile joined the list
    removed: int = 0  # list: members removed, who left the stream since the last run (not rows of this run)
    subscribed: int = 0  # consent: accepted subscriptions
    unsubscribed: int = 0  # consent: accepted unsubscriptions

    def shown(self, kind: str) -> dict[str, int]:
        return {name: getattr(self, name) for name in (*CORE, *EXTRAS.get(kind, ()))}


class Outcomes:
    """The rejected-rows file and the per-stream counts."""

    def __init__(
        self, path_template: str | None, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
    ) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str], Counts] = defaultdict(Counts)
        self.where = (
            path_template.replace("{timestamp}", datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
            if path_template
            else None
        )
        self._upload: tuple[Storage, str] | None = None
        self.path: Path | None = None
        if self.where is not None and self.where.startswith("s3://"):
            folder, name = split_object(self.where)
            self._upload = (storage_at(folder, s3_endpoint_url=s3_endpoint_url, s3_region=s3_region), name)
            handle, local = tempfile.mkstemp(prefix="target-klaviyo-rejects-", suffix=Path(name).suffix)
            os.close(handle)
            self.path = Path(local)
        elif self.where is not None:
            self.path = Path(self.where)
        self._file: IO[str] | None = None
        self._csv: Any = None
        self._unpublished = True

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
            self.publish()

    # --- counts ----------------------------------------------------------------------------------------------

    def read(self, stream: str, kind: str) -> None:
        self.counts[(stream, kind)].read += 1  # main thread only

    def unchanged(self, stream: str, kind: str, rows: int = 1) -> None:
        """Rows read and found unchanged (`read`, then `decided` UNCHANGED, in one)."""
        counts = self.counts[(stream, kind)]  # main thread only
        counts.read += rows
        counts.unchanged += rows

    def decided(self, stream: str, kind: str, decision: Decision, *, preview: bool) -> None:
        """What the change memory said of a row; a preview counts what it would send as created or changed."""
        counts = self.counts[(stream, kind)]  # main thread only
        if decision is Decision.UNCHANGED:
            counts.unchanged += 1
        elif preview:
            setattr(counts, decision.value, getattr(counts, decision.value) + 1)

    def sent(self, stream: str, kind: str, n: int) -> None:
        with self._lock:
            self.counts[(stream, kind)].sent += n

    def accepted(self, stream: str, kind: str, *, created: int, changed: int, **extra: int) -> None:
        with self._lock:
            counts = self.counts[(stream, kind)]
            counts.accepted += created + changed
            counts.created += created
            counts.changed += changed
            for name, n in extra.items():
                setattr(counts, name, getattr(counts, name) + n)

    def add(self, stream: str, kind: str, name: str, n: int) -> None:
        with self._lock:
            counts = self.counts[(stream, kind)]
            setattr(counts, name, getattr(counts, name) + n)

    def reject(self, ref: RowRef, kind: str, reason: str, code: str) -> None:
        row = (ref.stream, ref.file, ref.row, kind, ref.key, code, reason)
        with self._lock:
            self.counts[(ref.stream, kind)].rejected += 1
            if self.path is None:
                return
            handle = self._open()
            if self._csv is not None:
                self._csv.writerow(row)
            else:
                handle.write(orjson.dumps(dict(zip(REJECT_COLUMNS, row, strict=True))).decode() + "\n")
            self._unpublished = True

    # --- the file --------------------------------------------------------------------------------------------

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
        self.publish()

    def publish(self) -> None:
        """An S3 rejects file: upload what is written so far, if anything was since the last upload."""
        if self._upload is None or self.path is None:
            return
        with self._lock:
            if not self._unpublished:
                return
            if self._file is not None:
                self._file.flush()
            data = self.path.read_bytes()
            self._unpublished = False
        storage, name = self._upload
        storage.write(name, data)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
        if self._upload is not None and self.path is not None:
            self._unpublished = True  # the last upload, whatever happened since the one before
            self.publish()
            self.path.unlink(missing_ok=True)

    # --- the summary -----------------------------------------------------------------------------------------

    @property
    def total_rejected(self) -> int:
        return sum(c.rejected for c in self.counts.values())

    def summary(self, *, dry_run: bool) -> str:
        """A table of what happened to the rows, per stream and kind (- where a count does not apply)."""
        out = io.StringIO()
        names = [f.name for f in fields(Counts)]
        used = [n for n in names if n in CORE or any(n in EXTRAS.get(kind, ()) for _, kind in self.counts)]
        rows = [
            [stream, kind, *(str(getattr(c, n)) if n in c.shown(kind) else "-" for n in used)]
            for (stream, kind), c in sorted(self.counts.items())
        ]
        header = ["stream", "kind", *used]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        title = "target-klaviyo summary"
        if dry_run:
            title += " (dry run: what a run would send; nothing sent, no change memory written)"
        out.write(title + "\n")
        for r in [header, *rows]:
            pairs = enumerate(zip(r, widths, strict=True))
            cells = (cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in pairs)
            out.write("  " + "  ".join(cells).rstrip() + "\n")
        where = self.where or "(no rejects_path: not written)"
        out.write(f"  rejected rows: {self.total_rejected} in {where}")
        return out.getvalue()

    def as_dict(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (stream, kind), c in sorted(self.counts.items()):
            out.setdefault(stream, {})[kind] = c.shown(kind)
        return out
