"""The launcher as Meltano runs it: the plain loader without SNOWFLAKE_EMULATOR_PATH, the emulator with it; the
prod environment's settings loading into the emulator; and a password that never shows up anywhere. (The `local`
environment is run end to end by tests/e2e.)"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from warehouse_runs import (
    DATA,
    MELTANO,
    PASSWORD,
    PROJECT_ROOT,
    Warehouse,
    assert_no_secret,
    by_key,
    expected_rows,
    loaded,
    read_singer,
)


def test_the_password_appears_nowhere(warehouse: Warehouse, tmp_path: Path) -> None:
    """Every load checks its own output (`Warehouse.load`); here the failures, and the files a load leaves."""
    # a loader-side SQL error: DuckDB enforces the PRIMARY KEY that Snowflake only records (p2 twice, no MERGE)
    failed = warehouse.load(DATA / "upsert_second.singer", load_method="append-only", expect_failure=True)
    orphan = tmp_path / "orphan.singer"
    orphan.write_text('{"type": "RECORD", "stream": "ghost", "record": {"id": "x"}}\n')
    bad_input = warehouse.load(orphan, expect_failure=True)

    assert 'duplicate key "L1, p2"' in failed.stderr
    assert "'ghost'" in bad_input.stderr
    files = [path for path in warehouse.folder.rglob("*") if path.is_file()]
    assert files  # the database file, with the table the failed load created
    for path in files:
        assert_no_secret(path.read_bytes().decode("latin-1"))


def test_without_the_emulator_path_it_is_the_plain_loader(loader_bin: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name != "SNOWFLAKE_EMULATOR_PATH"}

    def about(executable: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(loader_bin / executable), "--about", "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=300,
        )

    plain = about("target-snowflake")
    production = about("target-snowflake-launcher")

    assert json.loads(production.stdout) == json.loads(plain.stdout)
    assert json.loads(plain.stdout)["version"] == "0.20.4"
    assert "emulated" not in production.stderr
    assert "snowflake-emulator:" not in production.stderr  # no accounting line: nothing is emulated


def test_meltano_loads_with_the_prod_settings_into_the_emulator(warehouse: Warehouse) -> None:
    """The prod environment's config (values from the pod's environment), the same loader, only the emulator added."""
    source = DATA / "two_streams.singer"
    env = {
        **os.environ,
        "SNOWFLAKE_ACCOUNT": "local",
        "SNOWFLAKE_USER": "loader",
        "SNOWFLAKE_PASSWORD": PASSWORD,
        "SNOWFLAKE_WAREHOUSE": "LOAD_WH",
        "SNOWFLAKE_ROLE": "LOADER",
        "SNOWFLAKE_EMULATOR_PATH": str(warehouse.folder),
    }
    with source.open() as messages:
        run = subprocess.run(
            [str(MELTANO), "--environment", "prod", "invoke", "target-snowflake"],
            stdin=messages,
            check=False,
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env=env,
            timeout=600,
        )

    assert run.returncode == 0, run.stderr[-4000:]
    assert warehouse.tables() == {"KLAVIYO.EVENTS", "KLAVIYO.PROFILES"}
    schemas, keys, _ = read_singer(source)
    for stream in ("events", "profiles"):
        actual = loaded(warehouse.rows(stream.upper()), schemas[stream]["properties"], keys[stream])
        assert actual == by_key(expected_rows(source, stream=stream), keys[stream])
    assert_no_secret(run.stdout, run.stderr)
