"""Run target-snowflake through the launcher (in the loader's own Meltano venv) and read what it loaded.

The launcher and `snowflake-emulator sql` run as real processes from `.meltano/loaders/target-snowflake/venv`
(made by `meltano install loader target-snowflake`); the loaded DuckDB file is read here with duckdb, independently
of the emulator's code. Expected rows come from the `.singer` input itself, never written out by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
from filelock import FileLock
from raw_warehouse import open_raw

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
MELTANO = Path(sys.executable).parent / "meltano"

# A password no log line could contain by chance: the tests look for it in everything the loader leaves.
PASSWORD = "pw-9Qz!local-never-print-me"
SECRETS = (PASSWORD, quote(PASSWORD))  # as given, and as it goes into the connection URL
CONFIG = {
    "account": "local",
    "user": "loader",
    "password": PASSWORD,
    "database": "RAW",
    "warehouse": "LOCAL",
    "default_target_schema": "KLAVIYO",
}


def install_loader() -> Path:
    """The loader's venv as Meltano makes it (once; later runs reuse `.meltano/`, which git ignores)."""
    return install_plugin("loader", "target-snowflake")


def install_plugin(kind: str, name: str) -> Path:
    """A plugin's venv as Meltano makes it, once (a file lock: tests in parallel processes); its bin folder."""
    folder = PROJECT_ROOT / ".meltano" / f"{kind}s" / name / "venv" / "bin"
    (PROJECT_ROOT / ".meltano").mkdir(exist_ok=True)
    with FileLock(PROJECT_ROOT / ".meltano" / f"{name}-install.lock"):
        if not (folder / f"{name}-launcher").exists():
            subprocess.run(
                [str(MELTANO), "install", kind, name],
                cwd=PROJECT_ROOT,
                check=True,
                capture_output=True,
                timeout=900,
            )
    return folder


@dataclass
class Warehouse:
    """One emulated warehouse folder (SNOWFLAKE_EMULATOR_PATH) and the loader's bin folder."""

    folder: Path
    bin: Path

    def load(self, *inputs: Path, expect_failure: bool = False, **config: Any) -> subprocess.CompletedProcess[str]:
        """Pipe the `.singer` inputs (in order, as one stream) into target-snowflake-launcher."""
        config_file = self.folder.parent / "target-config.json"
        config_file.write_text(json.dumps({**CONFIG, **config}))
        stdin = self.folder.parent / "input.singer"
        stdin.write_text("".join(path.read_text() for path in inputs))
        with stdin.open() as messages:
            run = subprocess.run(
                [str(self.bin / "target-snowflake-launcher"), "--config", str(config_file)],
                stdin=messages,
                check=False,
                capture_output=True,
                text=True,
                env={**os.environ, "SNOWFLAKE_EMULATOR_PATH": str(self.folder)},
                timeout=600,
            )
        if expect_failure:
            assert run.returncode != 0, run.stderr[-4000:]
        else:
            assert run.returncode == 0, run.stderr[-4000:]
        assert_no_secret(run.stdout, run.stderr)  # every load, failed ones too
        return run

    def sql(self, *statements: str, schema: str = "PUBLIC", env: dict[str, str] | None = None) -> list[dict]:
        """Run Snowflake SQL through the emulator (one session) with `snowflake-emulator sql`."""
        run = self.sql_run(*statements, schema=schema, env=env)
        assert run.returncode == 0, run.stderr[-4000:]
        return [json.loads(line) for line in run.stdout.splitlines()]

    def sql_error(self, *statements: str) -> str:
        """The error a session ends with (stderr), asserting that it fails."""
        run = self.sql_run(*statements)
        assert run.returncode != 0, run.stdout
        return run.stderr

    def sql_run(
        self, *statements: str, schema: str = "PUBLIC", database: str = "RAW", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = ["sql", "--database", database, "--schema", schema, *statements]
        return subprocess.run(
            [str(self.bin / "snowflake-emulator"), "--path", str(self.folder), *command],
            check=False,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=300,
        )

    def connect(self) -> duckdb.DuckDBPyConnection:
        return open_raw(self.folder)

    def tables(self) -> set[str]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_schema NOT LIKE '\\_fs%' ESCAPE '\\'"
            ).fetchall()
        return {name for (name,) in rows}

    def column_types(self, table: str) -> dict[str, str]:
        with self.connect() as conn:
            return {name.lower(): kind for name, kind, *_ in conn.execute(f"DESCRIBE RAW.KLAVIYO.{table}").fetchall()}

    def rows(self, table: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            cursor = conn.execute(f"SELECT * FROM RAW.KLAVIYO.{table}")
            names = [column[0].lower() for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def staged_files(self) -> list[Path]:
        stage = self.folder / "user-stage"
        return [path for path in stage.rglob("*") if path.is_file()] if stage.exists() else []


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def read_singer(*paths: Path) -> tuple[dict[str, dict], dict[str, list[str]], dict[str, list[dict]]]:
    """Schemas (the last per stream), key properties and records (message dicts, in order) of `.singer` inputs."""
    schemas: dict[str, dict] = {}
    keys: dict[str, list[str]] = {}
    records: dict[str, list[dict]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            message = json.loads(line)
            if message["type"] == "SCHEMA":
                schemas[message["stream"]] = message["schema"]
                keys[message["stream"]] = message.get("key_properties", [])
            elif message["type"] == "RECORD":
                records.setdefault(message["stream"], []).append(message)
    return schemas, keys, records


def expected_rows(*paths: Path, stream: str, upsert: bool = True) -> list[dict[str, Any]]:
    """The rows the stream's table should hold after loading `paths` in order: the last record per key wins."""
    schemas, keys, records = read_singer(*paths)
    schema = schemas[stream]["properties"]
    rows = [
        {name: as_loaded(schema[name], message["record"].get(name)) for name in schema} for message in records[stream]
    ]
    if not upsert:
        return rows
    latest = {tuple(row[key] for key in keys[stream]): row for row in rows}
    return list(latest.values())


def as_loaded(prop: dict, value: Any) -> Any:
    """The value a JSON-schema property's value has once loaded (and read back with `loaded`)."""
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    if value is None:
        return None
    if "object" in types or "array" in types:
        return value
    if prop.get("format") == "date-time":  # TIMESTAMP_NTZ: the wall time as written, an offset dropped (as Snowflake)
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    if prop.get("format") == "date":
        return date.fromisoformat(value)
    if "integer" in types:
        return int(value)
    if "number" in types:
        return float(value)
    return value


def loaded(rows: list[dict[str, Any]], schema: dict, keys: list[str]) -> list[dict[str, Any]]:
    """Table rows as input-shaped dicts: the schema's columns only, VARIANT (DuckDB JSON text) parsed, by key."""
    variants = {name for name, prop in schema.items() if {"object", "array"} & set(_types(prop))}
    shaped = [
        {name: json.loads(row[name]) if name in variants and row[name] is not None else row[name] for name in schema}
        for row in rows
    ]
    return sorted(shaped, key=lambda row: tuple(str(row[key]) for key in keys))


def by_key(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: tuple(str(row[key]) for key in keys))


def _types(prop: dict) -> list[str]:
    return prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
