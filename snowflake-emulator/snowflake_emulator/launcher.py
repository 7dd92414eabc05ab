"""`target-snowflake-launcher`: MeltanoLabs target-snowflake's own CLI, against the emulator when asked.

With SNOWFLAKE_EMULATOR_PATH set (Meltano's `local` environment), Snowflake is fakesnow persisted in that folder;
without it, this is the plain loader talking to Snowflake (production). Either way the loader's code is the same.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

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
    with emulated_snowflake(path):
        cli()
