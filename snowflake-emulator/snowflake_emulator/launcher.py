"""Launchers: a Snowflake client's own CLI (MeltanoLabs target-snowflake's, `target-snowflake-launcher`, and
tap-snowflake's, `tap-snowflake-launcher`), against the emulator when asked.

With SNOWFLAKE_EMULATOR_PATH set (Meltano's `local` environment), Snowflake is fakesnow persisted in that folder;
without it, this is the plain client talking to Snowflake (production). Either way the client's code is the same.
An emulated run ends, whether the client succeeded or failed, with one line on stderr telling the emulator's share of
the work (`accounting`): `snowflake-emulator: {"statements": ..., "duckdb_cpu_seconds": ..., ...}`.

A launcher for another client is one more function calling `launch` with that client's console script, and one more
`[project.scripts]` entry.
"""

from __future__ import annotations

import atexit
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from snowflake_emulator.accounting import Ledger

EMULATOR_PATH_VARIABLE = "SNOWFLAKE_EMULATOR_PATH"


def main() -> None:
    """`target-snowflake-launcher`: MeltanoLabs target-snowflake."""
    launch("target-snowflake")


def warehouse_sql() -> None:
    """`warehouse-sql-launcher`: this project's warehouse SQL (warehouse-sql/): views, deleted people, the page."""
    launch("warehouse-sql")


def tap_snowflake() -> None:
    """`tap-snowflake-launcher`: MeltanoLabs tap-snowflake, reading what target-snowflake loaded."""
    launch("tap-snowflake")


def launch(console_script: str) -> None:
    """Run `console_script` (as its package declares it) in this process, on the emulator when
    SNOWFLAKE_EMULATOR_PATH is set."""
    (script,) = entry_points(group="console_scripts", name=console_script)
    cli = script.load()
    folder = os.environ.get(EMULATOR_PATH_VARIABLE)
    if not folder:
        cli()
        return

    from snowflake_emulator.bridge import USER_STAGE_FOLDER, emulated_snowflake  # noqa: PLC0415 -- emulation only
    from snowflake_emulator.file_lock import DatabaseFileBusy  # noqa: PLC0415

    path = Path(folder).resolve()
    print(
        f"{console_script}-launcher: Snowflake emulated by fakesnow; databases are DuckDB files in {path} "
        f"(<DATABASE>.db), the user stage @~ is {path / USER_STAGE_FOLDER}",
        file=sys.stderr,
    )
    ledger = Ledger()
    # At exit rather than in a `finally`: the line then comes after the traceback of a failed load too, last on stderr
    # whether the loader succeeded, failed or exited (it leaves through SystemExit either way).
    atexit.register(_tell, ledger)
    try:
        with emulated_snowflake(path, ledger):
            cli()
    except DatabaseFileBusy as busy:  # one line, not a traceback: another run has the file, nothing is wrong here
        print(f"{console_script}-launcher: {busy}", file=sys.stderr)
        sys.exit(1)


def _tell(ledger: Ledger) -> None:
    print(ledger.line(), file=sys.stderr, flush=True)
