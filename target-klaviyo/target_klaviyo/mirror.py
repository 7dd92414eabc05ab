"""List mirrors: which members to remove once a stream has ended, and when not to remove anyone.

A mirror's stream must carry the whole audience in every run: its members are exactly the rows of that run. The
members remembered (change memory) but not among the rows have left and are removed by profile id. Removing on
a partial read would empty the list, so nobody is removed, with a warning saying why, when:

- the stream brought no rows in this run (a tap that skipped an unchanged file, or a query that failed to match:
  an audience that really became empty is emptied in Klaviyo by hand);
- a file of the stream was read from past its first row (tap-csv resuming a file after a failed run).

What is not visible from here is the user's to keep: a table read incrementally (a replication key) brings only
its changed rows, so a mirror's stream is read whole (a view, or `replication-method: FULL_TABLE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .changes import Changes, Leavers


@dataclass
class Completeness:
    """Whether a stream's rows in this run can be its whole audience."""

    rows: int = 0
    first_rows: dict[str, int] = field(default_factory=dict)  # file -> the row number it was first seen at

    def saw(self, file: str | None, row: int | None) -> None:
        self.rows += 1
        if file is not None and row is not None:
            self.first_rows.setdefault(file, row)

    def why_partial(self) -> str | None:
        if not self.rows:
            return "the stream brought no rows in this run"
        resumed = sorted(f"{name} from row {row}" for name, row in self.first_rows.items() if row > 1)
        if resumed:
            return f"part of a file was read ({', '.join(resumed)}: a resumed read)"
        return None


@dataclass(frozen=True)
class RemovalPlan:
    leavers: Leavers | None  # None: nobody is removed
    skipped: str | None = None  # why not


def plan_removals(changes: Changes, completeness: Completeness) -> RemovalPlan:
    """Who leaves the list: remembered members whose rows are gone, unless this run cannot tell."""
    reason = completeness.why_partial()
    if reason is not None:
        return RemovalPlan(None, reason)
    return RemovalPlan(changes.leavers())
