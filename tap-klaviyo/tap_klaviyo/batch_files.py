"""Where a tap process writes its Singer BATCH files, and how much disk they may take.

- Each process writes into a folder of its own under `batch_config.storage.root` (`run-<pid>-<start>`), holding an
  exclusive lock on it while it lives. A new run removes the folders whose lock is free: what a killed run left
  behind (announced files the loader never loaded are read again from the state, so none is loaded twice). The
  processes a run starts for its accounts and stream groups (fanout.py) do not: their finished siblings' folders
  are free too, and hold files the loader may not have loaded yet.
- Files are JSON lines, gzip-compressed or not (`batch_config.encoding`), named `<prefix><stream>-<n>.jsonl.gz`.
- Only local folders: target-snowflake PUTs the files from the machine it runs on, the same as the tap's.

Disk, and the wait for the loader (a run never hangs). The loader deletes a file once it has loaded it
(target-snowflake's `clean_up_batch_files`, on by default), so disk stays bounded: before a new file is announced
the process waits while `max_pending` (`batch_max_pending_files`) of its files are still on disk. That wait is
bounded:
- when stdout is not a pipe or a socket (`tap-klaviyo --config ... > out.singer`, a terminal), nothing reads the
  BATCH messages as they come, so no loader can delete the files: the tap never waits (`loader_reads_stdout`);
- otherwise the loader is waited for while it deletes files. If it deleted none for `loader_wait` seconds
  (`batch_loader_wait_seconds`), it is taken to keep its files (target-snowflake with `clean_up_batch_files: false`,
  or any loader that keeps them): one warning says so, with the disk the files take and the space left, and the
  process writes on without waiting again. Its disk use then grows with the run; at the end, a line says what the
  run left on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import io
import logging
import os
import shutil
import stat
import sys
import threading
import time
import typing as t
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import SettingError
from .flatten import encode_row

if t.TYPE_CHECKING:
    from .sdk_seams import BatchConfig

LOCK = ".lock"
RUN_PREFIX = "run-"
COMPRESSION_LEVEL = 1  # measured: level 1 keeps gzip well under the tap's own cost per row, at ~8x smaller files
WAIT_LOG_SECONDS = 60.0
POLL_SECONDS = 0.05


class BatchConfigError(SettingError):
    """batch_config cannot be used; the message names the setting."""


class BatchFile:
    """One batch file being written."""

    def __init__(self, path: Path, compress: bool) -> None:
        self.path = path
        self.rows = 0
        raw = path.open("wb")
        self._file: gzip.GzipFile | io.BufferedWriter = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESSION_LEVEL) if compress else raw
        )
        self._raw = raw

    def write(self, rows: list[dict[str, t.Any]], extra: dict[str, t.Any]) -> None:
        """The rows as JSON lines, each with the `extra` columns (the RECORD envelope: extraction time, version)."""
        for row in rows:
            row.update(extra)
        lines = [*map(encode_row, rows), b""]  # the empty last one ends the last line: one page-sized join, no copy
        self._file.write(b"\n".join(lines))
        self.rows += len(rows)

    def close(self) -> None:
        self._file.close()
        self._raw.close()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


class BatchFiles:
    """The batch files of one tap process, shared by its streams (which may write at the same time: one lock keeps the
    numbering, the list of announced files and the wait for the loader)."""

    def __init__(
        self,
        config: BatchConfig,
        *,
        max_pending: int,
        loader_wait: float,
        logger: logging.Logger,
        remove_dead_runs: bool = True,
    ) -> None:
        """`max_pending`: announced files on disk before a new one waits (0: never waits); `loader_wait`: seconds
        without a file deleted after which the loader is taken to keep its files (see the module's doc);
        `remove_dead_runs`: False in a process started by another tap process (fanout.py), which removed them before
        starting it: a folder whose lock is free may then be a finished sibling's, with files still to load."""
        encoding = config.encoding
        if encoding.format != "jsonl":
            raise BatchConfigError(
                f"batch_config.encoding.format: '{encoding.format}' is not supported; use 'jsonl' "
                "(target-snowflake loads JSON lines)"
            )
        if encoding.compression not in (None, "gzip", "none"):
            raise BatchConfigError(
                f"batch_config.encoding.compression: '{encoding.compression}' is not supported; use 'gzip' or 'none'"
            )
        self.compress = encoding.compression == "gzip"
        self.root = _local_folder(config.storage.root)
        self.prefix = config.storage.prefix or ""
        self.max_pending = max_pending
        self.loader_wait = loader_wait
        self.loader_keeps_files = False
        self.logger = logger
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise BatchConfigError(
                f"batch_config.storage.root: cannot write to {self.root} ({error.strerror or error})"
            ) from None
        self._folder: Path | None = None
        self._lock: t.BinaryIO | None = None
        self._mutex = threading.RLock()
        self._count = 0
        self._announced: list[Path] = []
        if remove_dead_runs:
            self._remove_dead_runs()

    @property
    def folder(self) -> Path:
        """This process's folder, made and locked on first use."""
        with self._mutex:
            return self._folder or self._make_folder()

    def _make_folder(self) -> Path:
        # Made and locked under a name other runs do not look at, then renamed: never seen unlocked.
        name = f"{RUN_PREFIX}{os.getpid()}-{int(time.time() * 1000)}"
        making = self.root / f".{name}"
        making.mkdir(mode=0o700)
        lock = (making / LOCK).open("wb")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        folder = making.rename(self.root / name)
        self._folder, self._lock = folder, lock
        return folder

    def open(self, stream: str) -> BatchFile:
        suffix = ".jsonl.gz" if self.compress else ".jsonl"
        with self._mutex:
            self._count += 1
            path = self.folder / f"{self.prefix}{stream}-{self._count:06d}{suffix}"
        return BatchFile(path, self.compress)

    def announce(self, file: BatchFile) -> str:
        """Close the file and return its URL for a BATCH message, once the loader has room for it."""
        file.close()
        with self._mutex:
            self._wait_for_room()
            self._announced.append(file.path)
        return file.path.as_uri()

    def pending(self) -> int:
        """Announced files the loader has not deleted yet."""
        with self._mutex:
            self._announced = [path for path in self._announced if path.exists()]
            return len(self._announced)

    def _wait_for_room(self) -> None:
        """Wait until the loader deletes one of the files on disk (each wait ends at the first it deletes), for at
        most `loader_wait` seconds: a loader that deleted none in that time keeps its files."""
        if self.max_pending <= 0 or self.loader_keeps_files:
            return
        start = time.monotonic()
        next_log = WAIT_LOG_SECONDS
        while (pending := self.pending()) >= self.max_pending:
            waited = time.monotonic() - start
            if waited >= self.loader_wait:
                self.loader_keeps_files = True
                self.logger.warning(
                    "The loader deleted none of this run's %d batch files in %.0f s: it is taken to keep its files "
                    "(e.g. target-snowflake with clean_up_batch_files: false), and the tap writes on without "
                    "waiting for it again (batch_loader_wait_seconds). %s",
                    pending,
                    waited,
                    self.disk_use(),
                )
                return
            if waited >= next_log:
                self.logger.info(
                    "Waiting for the loader: %d batch files announced and not loaded yet in %s (%.0f s)",
                    pending,
                    self.folder,
                    waited,
                )
                next_log += WAIT_LOG_SECONDS
            time.sleep(POLL_SECONDS)

    def disk_use(self) -> str:
        """What this run's announced files on disk take, and the space left there, as a sentence for the log."""
        sizes = []
        for path in self._announced:
            with contextlib.suppress(OSError):
                sizes.append(path.stat().st_size)
        free = shutil.disk_usage(self.root).free
        return (
            f"{len(sizes)} announced file(s), {sum(sizes) / 2**20:,.1f} MB, are in {self.folder}; "
            f"{free / 2**30:,.1f} GB free there"
        )

    def _remove_dead_runs(self) -> None:
        """Remove the folders of processes that are gone (their lock is free)."""
        removed = 0
        for folder in self.root.glob(f"{RUN_PREFIX}*"):
            lock_path = folder / LOCK
            if not folder.is_dir():
                continue
            try:
                with lock_path.open("ab") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process holds it
            except OSError:
                pass  # no lock file: a folder left half-made
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        if removed:
            self.logger.info("Removed %d batch folder(s) left by runs that stopped early under %s", removed, self.root)

    def close(self) -> None:
        """Release this process's folder: its files stay for the loader; the next run removes what is left."""
        if self.pending():
            self.logger.info("Batch files left for the loader: %s", self.disk_use())
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()
            self._lock = None


def _local_folder(root: str) -> Path:
    parts = urlsplit(root)
    if parts.scheme in ("", "file"):
        path = unquote(parts.path) if parts.scheme == "file" else root
        if not path:
            raise BatchConfigError("batch_config.storage.root: empty; give a local folder (file:///path)")
        return Path(path).expanduser().resolve()
    raise BatchConfigError(
        f"batch_config.storage.root: '{parts.scheme}://' is not supported; give a local folder (file:///path): "
        "target-snowflake PUTs batch files from the machine it runs on"
    )


def loader_reads_stdout() -> bool:
    """Whether stdout is a pipe or a socket, which a loader (or Meltano) reads as it comes; not a file or a
    terminal, where nothing loads, and deletes, the batch files as they are announced."""
    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (OSError, ValueError, AttributeError):  # no real stdout (a test runner's capture): assume a reader
        return True
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
