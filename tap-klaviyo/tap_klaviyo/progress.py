"""Where a long run is: every `interval` seconds one line per active account and stream, and a summary at the end.

    events for 'Acme Outdoors': 4,210,000 rows, 11,532/s, reached 2025-03-14T09:12:44+00:00
    events for 'Acme Outdoors': done, 20,000,000 rows in 1,734 s (11,534/s); 8,214 read again (bookmark - lookback)

A 10-hour backfill shows where it is; a daemon thread writes the lines, so a stalled stream (throttled, waiting on
the loader) still reports.
"""

from __future__ import annotations

import json
import logging
import resource
import threading
import time
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from .bookmarks import PartitionRun


@dataclass
class _Active:
    partitions: dict[int, PartitionRun] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def rows(self) -> int:
        return sum(p.rows for p in self.partitions.values())

    def reread(self) -> int:
        return sum(p.reread for p in self.partitions.values())

    def reached(self) -> str | None:
        values = [p.reached for p in self.partitions.values() if p.reached]
        return max(values) if values else None


class Progress:
    def __init__(self, logger: logging.Logger, interval: float) -> None:
        self.logger = logger
        self.interval = interval
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str], _Active] = {}
        self._thread: threading.Thread | None = None

    def update(self, stream: str, account: str, partition: PartitionRun) -> None:
        key = (account, stream)
        with self._lock:
            self._active.setdefault(key, _Active()).partitions[id(partition)] = partition
            if self._thread is None and self.interval > 0:
                self._thread = threading.Thread(target=self._report, name="progress", daemon=True)
                self._thread.start()

    def finish(self, stream: str, partitions: list[tuple[str, PartitionRun]]) -> None:
        """The stream is done: one summary line per account it read (partitions as (account name, partition))."""
        accounts: dict[str, _Active] = {}
        for account, partition in partitions:
            accounts.setdefault(account, _Active(started=partition.started)).partitions[id(partition)] = partition
        for account, done in accounts.items():
            with self._lock:
                self._active.pop((account, stream), None)
            seconds = max(1e-9, time.monotonic() - done.started)
            reread = f"; {done.reread():,} read again (at or before the bookmark)" if done.reread() else ""
            self.logger.info(
                "%s for '%s': done, %s rows in %.0f s (%s/s)%s",
                stream,
                account,
                f"{done.rows():,}",
                seconds,
                f"{done.rows() / seconds:,.0f}",
                reread,
            )

    def _report(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                active = list(self._active.items())
            for (account, stream), entry in active:
                seconds = max(1e-9, time.monotonic() - entry.started)
                self.logger.info(
                    "%s for '%s': %s rows, %s/s, reached %s",
                    stream,
                    account,
                    f"{entry.rows():,}",
                    f"{entry.rows() / seconds:,.0f}",
                    entry.reached() or "-",
                )


USAGE_PREFIX = "tap-klaviyo usage: "


def log_usage(logger: logging.Logger) -> None:
    """What the run cost this machine, as one line a benchmark can read: CPU seconds and peak memory of this
    process and of the per-account processes it started (fanout.py), which it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    usage = {
        "cpu_seconds": round(own.ru_utime + own.ru_stime, 3),
        "peak_rss_mb": round(own.ru_maxrss / 1024, 1),  # Linux: KB
        "account_processes_cpu_seconds": round(children.ru_utime + children.ru_stime, 3),
        "account_processes_peak_rss_mb": round(children.ru_maxrss / 1024, 1),
    }
    logger.info("%s%s", USAGE_PREFIX, json.dumps(usage))
