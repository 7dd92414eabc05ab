"""Late arrivals: a share of newly written events stays invisible to every read for a while, then appears.

Klaviyo is eventually consistent: Estuary found events in the API days after their `datetime` (their connector moved
its lookback from 4 to 7 days: https://github.com/estuary/connectors/pull/5158), Meltano's team saw some 150 days
late (https://github.com/meltano/squared/pull/677). The sandbox shows this on purpose: with `--late-share s --late-
hours h`, each new event is late with probability s (decided by hashing its id with the fault seed, so a run is
repeatable) and only becomes readable h hours (wall clock; fractions allowed) after it was written, keeping its
original `datetime`. A reader whose bookmark passed that `datetime` meanwhile misses it unless it looks back.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from . import ids
from .tables import LazyTable, Record

_SCALE = float(1 << 48)  # ids.salt gives 48 bits


@dataclass(frozen=True, order=True)
class PendingEvent:
    visible_at: float  # epoch seconds when reads start to see it
    event_id: str
    written_at: float = field(compare=False)
    record: Record = field(compare=False, repr=False)


class LateArrivals:
    """The late events of one account, held back until their time comes."""

    def __init__(self, share: float = 0.0, hours: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= share <= 1.0:  # also rejects NaN
            raise ValueError(f"late share must be within 0..1, got {share!r}")
        if not hours >= 0.0:
            raise ValueError(f"late hours must be >= 0, got {hours!r}")
        self.share = share
        self.hours = hours
        self.seed = seed
        self._pending: list[PendingEvent] = []  # a heap: the next to become visible first
        self.released = 0

    def is_late(self, event_id: str) -> bool:
        return self.share > 0 and ids.salt("late", self.seed, event_id) / _SCALE < self.share

    def hold(self, record: Record, now: float) -> bool:
        """Keep `record` back if it is late (True); the caller stores it as visible otherwise."""
        if not self.is_late(record["id"]):
            return False
        heapq.heappush(self._pending, PendingEvent(now + self.hours * 3600.0, record["id"], now, record))
        return True

    def release_due(self, now: float, events: LazyTable) -> int:
        """Move the events whose time has come into `events` (visible from then on); how many moved."""
        moved = 0
        while self._pending and self._pending[0].visible_at <= now:
            events.put(heapq.heappop(self._pending).record)
            moved += 1
        self.released += moved
        return moved

    def pending(self) -> list[PendingEvent]:
        return sorted(self._pending)
