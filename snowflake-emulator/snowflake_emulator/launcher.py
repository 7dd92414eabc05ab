"""`target-snowflake-launcher`: MeltanoLabs target-snowflake's own CLI, against the emulator when asked.

With SNOWFLAKE_EMULATOR_PATH set (Meltano's `local` environment), Snowflake is fakesnow persisted in that folder;
without it, this is the plain loader talking to Snowflake (production). Either way the loader's code is the same.
An emulated run ends, whether the loader succeeded or failed, with one line on stderr telling the emulator's share of
the work (`accounting`): `snowflake-emulator: {"statements": ..., "duckdb_cpu_seconds": ..., ...}`.
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
    # target-snowflake's console script, as its package declares it
    (target_cli,) = entry_points(group="console_scripts", name="target-snowflake")
    cli = target_cli.load()
    folder = os.environ.get(EMULATOR_PATH_VARIABLE)
    if not folder:
        cli()
        return

    from snowflake_emulator.bridge import USER_STAGE_FOLDER, emulated_snowflake  # noqa: PLC0415 -- emulation only

    path = Path(folder).resolve()
    print(
        f"target-snowflake-launcher: Snowflake emulated by fakesnow; databases are DuckDB files in {path} "
        f"(<DATABASE>.db), the user stage @~ is {path / USER_STAGE_FOLDER}",
        file=sys.stderr,
    )
    ledger = Ledger()
    # At exit rather than in a `finally`: the line then comes after the traceback of a failed load too, last on stderr
    # whether the loader succeeded, failed or exited (it leaves through SystemExit either way).
    atexit.register(_tell, ledger)
    with emulated_snowflake(path, ledger):
        cli()


def _tell(ledger: Ledger) -> None:
    print(ledger.line(), file=sys.stderr, flush=True)
