"""What the emulator itself costs the loader's process: the work Snowflake would do remotely, done here in DuckDB.

Every statement target-snowflake runs through the emulator is counted by kind, with the wall seconds spent in it and
the process CPU seconds consumed meanwhile (`time.process_time`: DuckDB's own threads count too). The launcher logs
the totals as one line on stderr when the target exits, failed or not, so that a benchmark can subtract the
emulator's CPU from the process's and keep target-snowflake's own:

    snowflake-emulator: {"statements": 34, "duckdb_seconds": 1.52, "duckdb_cpu_seconds": 1.61, ...,
                         "by_kind": {"merge": {"count": 2, "seconds": 0.41, "cpu_seconds": 0.44}, ...}}

One JSON object after the fixed prefix (`PREFIX`); `parse_line` reads it back from a stderr text. Kinds are a fixed
vocabulary (SQL's first keyword, or the emulator's own steps): no SQL text is ever logged, as statements can hold
literals and secrets. Only the standard library here, so a benchmark in any environment can import `parse_line`.
"""

from __future__ import annotations

import json
import re
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

PREFIX = "snowflake-emulator: "

# The emulator's own DuckDB work besides statements: creating the DuckDB instance, each connection opened (ATTACH of
# the database file, fakesnow's information schema), the DESCRIBE behind a cursor's `description`, and closing DuckDB
# at the end (its checkpoint into the database file).
OPEN, CONNECT, RESULT_DESCRIPTION, CLOSE = "open", "connect", "result_description", "close"
NOT_STATEMENTS = frozenset({OPEN, CONNECT, RESULT_DESCRIPTION, CLOSE})

# A statement's kind is its first keyword, when it is one of these (another word could be anything: "other").
STATEMENT_KINDS = frozenset(
    {
        "alter",
        "begin",
        "call",
        "comment",
        "commit",
        "copy",
        "create",
        "delete",
        "describe",
        "drop",
        "grant",
        "insert",
        "list",
        "merge",
        "put",
        "remove",
        "rollback",
        "select",
        "set",
        "show",
        "truncate",
        "undrop",
        "unset",
        "update",
        "use",
        "values",
        "with",
    }
)
_ALIASES = {"desc": "describe", "rm": "remove", "ls": "list", "start": "begin"}
OTHER = "other"
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z]+)", re.DOTALL)


def statement_kind(statement: str) -> str:
    """The statement's first keyword (comments and opening parentheses skipped), from a fixed vocabulary."""
    match = _FIRST_WORD.match(statement)
    if not match:
        return OTHER
    word = match.group(1).lower()
    word = _ALIASES.get(word, word)
    return word if word in STATEMENT_KINDS else OTHER


@dataclass
class Tally:
    count: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


class Ledger:
    """Counts and times the emulator's work by kind. Thread-safe; a measure inside another (a bridged statement runs
    fakesnow's own) is part of the outer one, so nothing is counted twice."""

    def __init__(self) -> None:
        self._tallies: dict[str, Tally] = {}
        self._lock = threading.Lock()
        self._inside = threading.local()
        self._started = time.perf_counter()

    @contextmanager
    def measure(self, kind: str) -> Iterator[None]:
        if getattr(self._inside, "kind", None) is not None:
            yield
            return
        self._inside.kind = kind
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add(kind, time.perf_counter() - wall, time.process_time() - cpu)
            self._inside.kind = None

    def add(self, kind: str, seconds: float, cpu_seconds: float) -> None:
        with self._lock:
            tally = self._tallies.setdefault(kind, Tally())
            tally.count += 1
            tally.seconds += seconds
            tally.cpu_seconds += cpu_seconds

    def summary(self) -> dict[str, Any]:
        """The totals: `statements` (SQL statements run; the other kinds are the emulator's own steps),
        `duckdb_seconds` and `duckdb_cpu_seconds` (every kind), the process's CPU and wall seconds so far, its peak
        memory, and `by_kind` ({kind: {count, seconds, cpu_seconds}})."""
        with self._lock:
            tallies = {kind: Tally(t.count, t.seconds, t.cpu_seconds) for kind, t in sorted(self._tallies.items())}
        return {
            "statements": sum(t.count for kind, t in tallies.items() if kind not in NOT_STATEMENTS),
            "duckdb_seconds": _seconds(sum(t.seconds for t in tallies.values())),
            "duckdb_cpu_seconds": _seconds(sum(t.cpu_seconds for t in tallies.values())),
            "process_cpu_seconds": _seconds(time.process_time()),
            "run_seconds": _seconds(time.perf_counter() - self._started),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # Linux: KB
            "by_kind": {
                kind: {"count": t.count, "seconds": _seconds(t.seconds), "cpu_seconds": _seconds(t.cpu_seconds)}
                for kind, t in tallies.items()
            },
        }

    def line(self) -> str:
        return PREFIX + json.dumps(self.summary())


def parse_line(text: str) -> dict[str, Any] | None:
    """The summary of the last accounting line in `text` (a run's stderr), or None when it has none."""
    for line in reversed(text.splitlines()):
        if line.startswith(PREFIX + "{"):
            summary: dict[str, Any] = json.loads(line.removeprefix(PREFIX))
            return summary
    return None


def _seconds(value: float) -> float:
    return round(value, 6)
