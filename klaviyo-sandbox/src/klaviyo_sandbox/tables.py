"""Tables of one resource type for one account, iterated in keyset order.

A record is a plain dict: {"type", "id", "attributes", "rel": {name: id | [ids]}, "k": {field: sort key}}.
A position is (key, rank, id): generated records rank 0, written ones rank 1, so the order is total
and a cursor made of a position resumes exactly after the last record served, even while writes land.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

Record = dict[str, Any]
Pos = tuple[Any, int, str]

_MISSING_KEY = ""  # a missing string key sorts first; numeric keys are never missing


def pos_of(record: Record, order: str, rank: int) -> Pos:
    key = record["k"].get(order)
    return (_MISSING_KEY if key is None else key, rank, record["id"])


class Table(Protocol):
    type: str

    def get(self, record_id: str) -> Record | None: ...

    def scan(
        self, order: str, descending: bool, after: Pos | None, lo: float | None, hi: float | None
    ) -> Iterator[tuple[Pos, Record]]: ...


class MemoryTable:
    """A small table held whole: campaigns, flows, lists, written events and profiles ..."""

    def __init__(self, type_: str, records: Iterable[Record] = (), rank: int = 1) -> None:
        self.type = type_
        self.rank = rank
        self.records: dict[str, Record] = {r["id"]: r for r in records}
        self._sorted: dict[str, list[tuple[Pos, Record]]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def get(self, record_id: str) -> Record | None:
        return self.records.get(record_id)

    def put(self, record: Record) -> None:
        self.records[record["id"]] = record
        self._sorted.clear()

    def delete(self, record_id: str) -> Record | None:
        """Remove a record; the removed record, or None if there was none."""
        record = self.records.pop(record_id, None)
        if record is not None:
            self._sorted.clear()
        return record

    def sorted_by(self, order: str) -> list[tuple[Pos, Record]]:
        # Cached until the next write: reads far outnumber writes.
        rows = self._sorted.get(order)
        if rows is None:
            rows = sorted(((pos_of(r, order, self.rank), r) for r in self.records.values()), key=lambda row: row[0])
            self._sorted[order] = rows
        return rows

    def scan(
        self, order: str, descending: bool, after: Pos | None, lo: float | None, hi: float | None
    ) -> Iterator[tuple[Pos, Record]]:
        rows = self.sorted_by(order)
        if not descending:
            start = 0 if after is None else bisect.bisect_right(rows, after, key=lambda row: row[0])
            yield from rows[start:]
        else:
            end = len(rows) if after is None else bisect.bisect_left(rows, after, key=lambda row: row[0])
            for i in range(end - 1, -1, -1):
                yield rows[i]


class LazyTable:
    """A large generated table: record i is made on demand by `make(i)`; nothing is stored for it.

    `keys` gives, for each field the generated records are ordered by, a function of the index that
    is strictly increasing, so seeking to a time or a cursor is a binary search, not a scan. Records
    written later (new or changed) live in `overlay` and hide their generated original.
    """

    def __init__(
        self,
        type_: str,
        n: int,
        make: Callable[[int], Record],
        index_of: Callable[[str], int | None],
        keys: dict[str, Callable[[int], Any]],
    ) -> None:
        self.type = type_
        self.n = n
        self.make = make
        self.index_of = index_of
        self.keys = keys
        self.overlay = MemoryTable(type_, rank=1)
        self.hidden: set[int] = set()
        self.version = 0  # bumped by every write; invalidates `_order_cache`
        self._order_cache: dict[str, tuple[int, list[tuple[Pos, int | None]]]] = {}

    def get(self, record_id: str) -> Record | None:
        found = self.overlay.get(record_id)
        if found is not None:
            return found
        i = self.index_of(record_id)
        if i is None or not 0 <= i < self.n or i in self.hidden:
            return None
        return self.make(i)

    def put(self, record: Record) -> None:
        i = self.index_of(record["id"])
        if i is not None and 0 <= i < self.n:
            self.hidden.add(i)
        self.overlay.put(record)
        self.version += 1

    def delete(self, record_id: str) -> Record | None:
        """Remove a record (generated or written) from every read; the record removed, or None if there was none."""
        record = self.get(record_id)
        if record is None:
            return None
        i = self.index_of(record_id)
        if i is not None and 0 <= i < self.n:
            self.hidden.add(i)
        self.overlay.delete(record_id)
        self.version += 1
        return record

    def start_index(self, order: str, descending: bool, after: Pos | None, lo: float | None, hi: float | None) -> int:
        """The first generated index a scan visits: ascending from it, or descending from it."""
        keyf = self.keys[order]
        indexes = range(self.n)
        if not descending:
            start = 0 if lo is None else bisect.bisect_left(indexes, lo, key=keyf)
            if after is not None:
                start = max(start, bisect.bisect_right(indexes, after[0], key=keyf))
                # The record exactly at the cursor's key may still be ahead of it (rank/id tie-break).
                j = bisect.bisect_left(indexes, after[0], key=keyf)
                if j < self.n and keyf(j) == after[0] and j not in self.hidden:
                    rec = self.make(j)
                    if (keyf(j), 0, rec["id"]) > after:
                        start = min(start, j)
            return start
        end = self.n if hi is None else bisect.bisect_right(indexes, hi, key=keyf)
        if after is not None:
            end = min(end, bisect.bisect_left(indexes, after[0], key=keyf))
            j = end
            if j < self.n and keyf(j) == after[0] and j not in self.hidden:
                rec = self.make(j)
                if (keyf(j), 0, rec["id"]) < after:
                    end = j + 1
        return end - 1

    def _base(
        self, order: str, descending: bool, after: Pos | None, lo: float | None, hi: float | None
    ) -> Iterator[tuple[Pos, Record]]:
        keyf = self.keys[order]
        i = self.start_index(order, descending, after, lo, hi)
        if not descending:
            while i < self.n:
                key = keyf(i)
                if hi is not None and key > hi:
                    return
                if i not in self.hidden:
                    rec = self.make(i)
                    yield (key, 0, rec["id"]), rec
                i += 1
        else:
            while i >= 0:
                key = keyf(i)
                if lo is not None and key < lo:
                    return
                if i not in self.hidden:
                    rec = self.make(i)
                    yield (key, 0, rec["id"]), rec
                i -= 1

    def scan(
        self, order: str, descending: bool, after: Pos | None, lo: float | None, hi: float | None
    ) -> Iterator[tuple[Pos, Record]]:
        if order not in self.keys:
            yield from self._scan_sorted_copy(order, descending, after)
            return
        base = self._base(order, descending, after, lo, hi)
        written = self.overlay.scan(order, descending, after, lo, hi)
        if not self.overlay:
            yield from base
            return
        yield from heapq.merge(base, written, key=lambda row: row[0], reverse=descending)

    def _scan_sorted_copy(self, order: str, descending: bool, after: Pos | None) -> Iterator[tuple[Pos, Record]]:
        # Orders the generator cannot seek (e.g. profiles by email): sort every key once, cached
        # until the next write. Fine for profiles (~1e5); events only sort by time, which seeks.
        cached = self._order_cache.get(order)
        if cached is None or cached[0] != self.version:
            rows: list[tuple[Pos, int | None]] = [
                (pos_of(self.make(i), order, 0), i) for i in range(self.n) if i not in self.hidden
            ]
            rows.extend((pos, None) for pos, _ in self.overlay.sorted_by(order))
            rows.sort(key=lambda row: row[0])
            cached = (self.version, rows)
            self._order_cache[order] = cached
        rows = cached[1]
        if not descending:
            start = 0 if after is None else bisect.bisect_right(rows, after, key=lambda row: row[0])
            seq: Iterable[tuple[Pos, int | None]] = rows[start:]
        else:
            end = len(rows) if after is None else bisect.bisect_left(rows, after, key=lambda row: row[0])
            seq = (rows[i] for i in range(end - 1, -1, -1))
        for pos, i in seq:
            rec = self.make(i) if i is not None else self.overlay.records.get(pos[2])
            if rec is not None:
                yield pos, rec
