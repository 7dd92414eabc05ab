"""MeltanoLabs tap-snowflake through `tap-snowflake-launcher`, in its own Meltano venv, on what target-snowflake
loaded into the emulator: discovery of tables (VARIANT columns too) and views, records, the bookmark; a venv without
target-snowflake; and two processes on one DuckDB file taking turns instead of failing."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
from warehouse_runs import DATA, Warehouse, install_plugin

from local_stand_ins import analytics

CUSTOMERS = 6
CONFIG = {"account": "local", "user": "reader", "password": "pw-reader", "database": "RAW"}


@pytest.fixture(scope="session")
def tap_bin() -> Path:
    return install_plugin("extractor", "tap-snowflake")


@pytest.fixture
def reverse(warehouse: Warehouse, tap_bin: Path) -> Warehouse:
    """The ANALYTICS table and view the reverse job reads."""
    analytics.run_sql(warehouse.folder, analytics.create_statements(CUSTOMERS), cli=tap_bin / "snowflake-emulator")
    return warehouse


@pytest.fixture
def loaded(reverse: Warehouse) -> Warehouse:
    """... and RAW.KLAVIYO as target-snowflake loads it."""
    reverse.load(DATA / "two_streams.singer")
    return reverse


def tap(
    tap_bin: Path, folder: Path, *args: str, env: dict[str, str] | None = None, **config: object
) -> subprocess.CompletedProcess[str]:
    config_file = folder.parent / "tap-config.json"
    config_file.write_text(json.dumps({**CONFIG, **config}))
    return subprocess.run(
        [str(tap_bin / "tap-snowflake-launcher"), "--config", str(config_file), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "SNOWFLAKE_EMULATOR_PATH": str(folder), **(env or {})},
        timeout=600,
        check=False,
    )


def selected(catalog: dict, replication_keys: dict[str, str]) -> dict:
    """Every stream selected; the given ones incremental on their key."""
    for stream in catalog["streams"]:
        key = replication_keys.get(stream["tap_stream_id"])
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = True
            if entry["breadcrumb"] == [] and key:
                entry["metadata"].update({"replication-method": "INCREMENTAL", "replication-key": key})
    return catalog


def messages(stdout: str, kind: str) -> list[dict]:
    return [m for m in map(json.loads, stdout.splitlines()) if m["type"] == kind]


def test_discovery_names_each_table_and_view_schema_dash_name(loaded: Warehouse, tap_bin: Path) -> None:
    # FAKESNOW_DEBUG=snowflake prints each statement fakesnow is given: the reflection reaches it as sent, unbridged
    run = tap(tap_bin, loaded.folder, "--discover", env={"FAKESNOW_DEBUG": "snowflake"})
    assert run.returncode == 0, run.stderr[-4000:]
    received = run.stderr.splitlines()
    for statement in (
        "SHOW /* sqlalchemy:get_schema_names */ SCHEMAS;",
        'SHOW /* sqlalchemy:get_schema_tables_info */ TABLES IN SCHEMA "RAW"."ANALYTICS";',
        'SHOW /* sqlalchemy:_get_schema_primary_keys */ PRIMARY KEYS IN SCHEMA "RAW"."ANALYTICS";',
    ):
        assert statement in received
    assert any('FROM "RAW".information_schema.columns ic' in line for line in received)
    streams = {s["tap_stream_id"]: s for s in json.loads(run.stdout)["streams"]}
    # target-snowflake's tables, VARIANT columns included, and the ANALYTICS objects: `<schema>-<name>`, lower case
    assert {"klaviyo-events", "klaviyo-profiles", analytics.TRAITS_STREAM, analytics.CHURN_RISK_STREAM} <= set(streams)
    traits = streams[analytics.TRAITS_STREAM]
    assert traits["key_properties"] == ["email"]
    assert set(traits["schema"]["properties"]) == {"email", "first_name", "lifetime_value", "churn_score", "updated_at"}
    assert streams[analytics.CHURN_RISK_STREAM]["is_view"] is True
    assert "pw-reader" not in run.stderr + run.stdout


def test_the_tables_setting_limits_discovery_and_a_bookmark_limits_the_next_read(
    reverse: Warehouse, tap_bin: Path, tmp_path: Path
) -> None:
    tables = ["analytics.customer_traits", "analytics.churn_risk"]
    discovered = tap(tap_bin, reverse.folder, "--discover", tables=tables)
    assert discovered.returncode == 0, discovered.stderr[-4000:]
    catalog = selected(json.loads(discovered.stdout), {analytics.TRAITS_STREAM: "updated_at"})
    assert {s["tap_stream_id"] for s in catalog["streams"]} == {analytics.TRAITS_STREAM, analytics.CHURN_RISK_STREAM}
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))

    first = tap(tap_bin, reverse.folder, "--catalog", str(tmp_path / "catalog.json"), tables=tables)
    assert first.returncode == 0, first.stderr[-4000:]
    records = messages(first.stdout, "RECORD")
    traits = [r["record"] for r in records if r["stream"] == analytics.TRAITS_STREAM]
    assert [t["email"] for t in traits] == [analytics.email(n) for n in range(CUSTOMERS)]  # ordered by updated_at
    assert traits[3]["churn_score"] == analytics.churn_score(3)
    at_risk = [r["record"]["email"] for r in records if r["stream"] == analytics.CHURN_RISK_STREAM]
    assert sorted(at_risk) == sorted(
        analytics.email(n) for n in range(CUSTOMERS) if analytics.churn_score(n) >= analytics.CHURN_RISK_THRESHOLD
    )
    state = messages(first.stdout, "STATE")[-1]["value"]
    (tmp_path / "state.json").write_text(json.dumps(state))

    analytics.run_sql(
        reverse.folder,
        [analytics.update_statement([analytics.email(1)], updated_at="2025-01-01 00:00:00", lifetime_value=1.5)],
        cli=tap_bin / "snowflake-emulator",
    )
    second = tap(
        tap_bin, reverse.folder, "--catalog", str(tmp_path / "catalog.json"), "--state", str(tmp_path / "state.json"),
        tables=tables,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-4000:]
    again = [r["record"]["email"] for r in messages(second.stdout, "RECORD") if r["stream"] == analytics.TRAITS_STREAM]
    # `updated_at >= bookmark`: the row at the old bookmark, then the changed one
    assert again == [analytics.email(CUSTOMERS - 1), analytics.email(1)]


def test_the_tap_venv_has_no_target_snowflake(tap_bin: Path) -> None:
    probe = subprocess.run(
        [str(tap_bin / "python"), "-c", "import importlib.util as u; print(u.find_spec('target_snowflake'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "None"


def test_a_reader_waits_for_the_file_another_process_holds(reverse: Warehouse, tap_bin: Path) -> None:
    config_file = reverse.folder.parent / "tap-config.json"
    config_file.write_text(json.dumps(CONFIG))
    holder = duckdb.connect(str(reverse.folder / "RAW.db"))  # as a loader holds it for its whole run
    try:
        reader = subprocess.Popen(
            [str(tap_bin / "tap-snowflake-launcher"), "--config", str(config_file), "--discover"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "SNOWFLAKE_EMULATOR_PATH": str(reverse.folder)},
        )
        assert reader.stderr is not None
        waiting = ""
        deadline = time.monotonic() + 120
        while "waiting for it" not in waiting and time.monotonic() < deadline:
            waiting = reader.stderr.readline()
        assert f"{reverse.folder / 'RAW.db'} is open in another process" in waiting
        assert reader.poll() is None  # still waiting, not failed
    finally:
        holder.close()
    stdout, _ = reader.communicate(timeout=300)
    assert reader.returncode == 0
    assert analytics.TRAITS_STREAM in {s["tap_stream_id"] for s in json.loads(stdout)["streams"]}


def test_a_file_held_longer_than_the_wait_is_one_line_naming_it(reverse: Warehouse, tap_bin: Path) -> None:
    with duckdb.connect(str(reverse.folder / "RAW.db")):
        run = tap(tap_bin, reverse.folder, "--discover", env={"SNOWFLAKE_EMULATOR_LOCK_WAIT_SECONDS": "1"})
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    (line,) = [line for line in run.stderr.splitlines() if "stayed open" in line]
    assert line.startswith(f"tap-snowflake-launcher: {reverse.folder / 'RAW.db'} stayed open in another process")
    assert "SNOWFLAKE_EMULATOR_LOCK_WAIT_SECONDS=1 s" in line
