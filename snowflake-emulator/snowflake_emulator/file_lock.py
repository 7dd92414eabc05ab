"""Two processes on one database file: the second waits for the first, instead of failing.

Snowflake lets a reader (tap-snowflake) and a loader (target-snowflake) work on one database at the same time. The
emulator's database is a DuckDB file, and DuckDB lets one process open a file at a time: a second process, reading or
writing, fails at once with `IO Error: Could not set lock on file ... Conflicting lock is held in ... (PID n)`
(https://duckdb.org/docs/current/connect/concurrency; measured with duckdb 2.0.1). The process holds the file from its
first connection to its exit. Different databases are different files (`RAW.db`, `ANALYTICS.db`) and never collide.

So a connection that finds its file held waits for it, says so once on stderr, and fails with one line naming the
file only after `SNOWFLAKE_EMULATOR_LOCK_WAIT_SECONDS` (default 600). The two runs take turns: only the timing differs
from Snowflake. A pipeline that reads and writes the same emulated database in one `meltano run` would wait for itself
(the reader holds the file until it ends); it ends with that line instead of hanging.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

WAIT_VARIABLE = "SNOWFLAKE_EMULATOR_LOCK_WAIT_SECONDS"
DEFAULT_WAIT_SECONDS = 600.0
POLL_SECONDS = 0.5
_HELD = re.compile(
    r"Could not set lock on file \"(?P<file>[^\"]+)\": Conflicting lock is held in (?P<holder>.+? \(PID \d+\))"
)

T = TypeVar("T")


class DatabaseFileBusy(RuntimeError):
    """The database file stayed held by another process for longer than the wait allows."""


def held_by(error: BaseException) -> tuple[str, str] | None:
    """(file, holder) when `error` is DuckDB refusing a file another process holds, else None."""
    if not isinstance(error, duckdb.IOException):
        return None
    match = _HELD.search(str(error))
    return (match["file"], match["holder"]) if match else None


def wait_seconds() -> float:
    text = os.environ.get(WAIT_VARIABLE, "")
    try:
        return float(text) if text else DEFAULT_WAIT_SECONDS
    except ValueError:
        raise DatabaseFileBusy(f"{WAIT_VARIABLE}={text!r} is not a number of seconds") from None


def waiting_for_file(attempt: Callable[[], T]) -> T:
    """`attempt()` (a connection that ATTACHes a database file), again while another process holds the file. The
    caller holds nothing between attempts: each one takes and releases its own locks."""
    deadline: float | None = None
    while True:
        try:
            return attempt()
        except duckdb.IOException as error:
            busy = held_by(error)
            if busy is None:
                raise
            file, holder = busy
            now = time.monotonic()
            if deadline is None:
                limit = wait_seconds()
                deadline = now + limit
                print(
                    f"snowflake-emulator: {file} is open in another process ({holder}); waiting for it "
                    f"(up to {limit:.0f} s, {WAIT_VARIABLE})",
                    file=sys.stderr,
                    flush=True,
                )
            if now >= deadline:
                raise DatabaseFileBusy(
                    f"{file} stayed open in another process ({holder}) for {WAIT_VARIABLE}="
                    f"{wait_seconds():.0f} s: DuckDB lets one process open a database file at a time"
                ) from None
        time.sleep(POLL_SECONDS)
