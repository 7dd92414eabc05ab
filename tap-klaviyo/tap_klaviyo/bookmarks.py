"""What one partition of a run did, and the rule by which its bookmark moves.

A bookmark never moves back (the events lookback reads older rows again) and never passes the partition's sync start
(rows newer than that, future-dated events above all, are emitted but read again next run). Values are compared to
the second (`YYYY-MM-DDTHH:MM:SS`): Klaviyo shows whole seconds, with or without an offset.
"""

from __future__ import annotations

import bisect
import time
import typing as t
from dataclasses import dataclass, field

from .flatten import text

Row = dict[str, t.Any]
SECOND = 19  # len("YYYY-MM-DDTHH:MM:SS")


@dataclass
class PartitionRun:
    """What one partition of one run did: its bookmark when it started, rows emitted, rows read again."""

    context: dict[str, t.Any]
    old_bookmark: str | None
    cap: str = "9999"  # the highest bookmark it may reach (`YYYY-MM-DDTHH:MM:SS`, UTC); set by the stream's `pages`
    rows: int = 0
    reread: int = 0
    reached: str | None = None
    started: float = field(default_factory=time.monotonic)


def advance(state: dict[str, t.Any], replication_key: str, partition: PartitionRun, row: Row) -> bool:
    """Move the partition's bookmark (`state`, its part of the tap's state) to the row's value of the replication
    key: forward only, never past the partition's cap. True when it moved."""
    value = text(row.get(replication_key))
    if value is None or value[:SECOND] > partition.cap:
        return False
    old = state.get("replication_key_value")
    if isinstance(old, str) and value[:SECOND] <= old[:SECOND]:
        return False
    state["replication_key"] = replication_key
    state["replication_key_value"] = value
    return True


def reread(rows: list[Row], key: str, bookmark: str) -> int:
    """How many rows of a page (sorted by `key`) are older than the partition's bookmark: read again."""
    return bisect.bisect_left(rows, bookmark, key=lambda row: (text(row.get(key)) or "")[:SECOND])
