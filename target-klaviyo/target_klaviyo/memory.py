"""The change memories of one Klaviyo account: a file per (stream, kind) in a folder or under an S3 prefix.

    <change_memory>/<account id>/<stream>-<8 hex digits>/<kind>.tkm      (memory_file.py's format)

Keyed by the account's id (looked up once per run, GET /api/accounts), never by its key: two accounts never share
a memory, and rotating a key keeps it. The stream's name is made safe for a path and followed by a hash of the
name itself, so two names that differ only in characters a path cannot hold stay apart.

A memory is read when its stream's first row arrives, and written (whole, atomically: storage.py) when the run
ends, and at a state message once `CHECKPOINT_SECONDS` have passed since the last write, so that a run killed
after hours does not send everything again. A file that cannot be read as a memory is logged and ignored: the
rows it held are sent again, which is what no memory means.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass

from .changes import Changes
from .memory_file import MemoryFileError, Snapshot, decode, encode
from .storage import Storage, StorageError

CHECKPOINT_SECONDS = 300.0
SUFFIX = ".tkm"
UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def memory_name(account_id: str, stream: str, kind: str) -> str:
    digest = hashlib.blake2b(stream.encode(), digest_size=4).hexdigest()
    return f"{UNSAFE.sub('_', account_id)}/{UNSAFE.sub('_', stream)[:80]}-{digest}/{UNSAFE.sub('_', kind)}{SUFFIX}"


@dataclass
class _Open:
    name: str
    changes: Changes
    written: int  # the changes' version last written


class ChangeMemory:
    """Every memory a run reads, and writes back at the end (unless it is only a preview)."""

    def __init__(
        self,
        storage: Storage | None,
        account_id: str | None,
        *,
        full_refresh: bool = False,
        read_only: bool = False,
        logger: logging.Logger | None = None,
    ) -> None:
        self.storage = storage
        self.account_id = account_id
        self.full_refresh = full_refresh
        self.read_only = read_only
        self.logger = logger or logging.getLogger("target-klaviyo")
        self._open: dict[tuple[str, str], _Open] = {}
        self._lock = threading.Lock()
        self._last_save = time.monotonic()

    def open(self, stream: str, kind: str, *, mirror: bool = False) -> Changes:
        """The memory of (stream, kind), read once per run."""
        with self._lock:
            found = self._open.get((stream, kind))
            if found is not None:
                return found.changes
            name = memory_name(self.account_id or "-", stream, kind)
            snapshot = self._read(name, mirror)
            changes = Changes(snapshot, full_refresh=self.full_refresh, mirror=mirror)
            self._open[(stream, kind)] = _Open(name, changes, changes.version)
            return changes

    def _read(self, name: str, mirror: bool) -> Snapshot:
        if self.storage is None or self.account_id is None:
            return Snapshot.empty(mirror)
        data = self.storage.read(name)
        if data is None:
            self.logger.info("change memory: none yet at %s (every row is new)", self.storage.where(name))
            return Snapshot.empty(mirror)
        try:
            snapshot = decode(data, with_ids=mirror)
        except MemoryFileError as exc:
            self.logger.warning(
                "change memory: %s is ignored (%s): its rows are sent again", self.storage.where(name), exc
            )
            return Snapshot.empty(mirror)
        self.logger.info("change memory: %s keys from %s", f"{len(snapshot):,}", self.storage.where(name))
        return snapshot

    def save(self) -> None:
        """Write every memory that changed since it was read or last written."""
        if self.read_only or self.storage is None or self.account_id is None:
            return
        with self._lock:
            entries = list(self._open.items())
        for (stream, kind), entry in entries:
            version = entry.changes.version
            if version == entry.written:
                continue
            after = entry.changes.after()
            self.storage.write(entry.name, encode(after, f"{stream}/{kind}"))
            entry.written = version
            self.logger.info("change memory: %s keys written to %s", f"{len(after):,}", self.storage.where(entry.name))
        self._last_save = time.monotonic()

    def checkpoint(self) -> None:
        """Save, if the last save is older than CHECKPOINT_SECONDS (called as state leaves the target)."""
        if time.monotonic() - self._last_save >= CHECKPOINT_SECONDS:
            try:
                self.save()
            except StorageError as exc:
                # The run goes on: the memory is written again at the end, and a lost checkpoint only resends.
                self.logger.warning("change memory: checkpoint not written (%s)", exc)
