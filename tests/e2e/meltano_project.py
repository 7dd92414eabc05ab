"""Running this repository's Meltano project as users do (`meltano run ...` in the project folder), pointed at a
test's own stand-ins: the variables it sets win over `.env`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import requests
import yaml
from raw_warehouse import open_raw

from local_stand_ins.meltano_sys_dir import own_meltano_dir
from local_stand_ins.stack import STATE_BUCKET, LocalStack, meltano_env

PROJECT = Path(__file__).resolve().parents[2]
MELTANO = str(Path(sys.executable).with_name("meltano"))
# For runs whose tests read no report history: a first run's 365 days of daily series reports (report_history_days)
# are its largest table (13,140 rows of segment_series_reports for 3 accounts of the sandbox). 30 days still read
# every report stream, for ~18% less CPU a run (2026-12-04, a 3-account first run: 20.8-22.0 against 17.3-17.7 CPU-s).
# tests/e2e/test_reports_to_snowflake.py, the demo and the README walk run the default.
SHORT_REPORT_HISTORY = {"TAP_KLAVIYO_REPORT_HISTORY_DAYS": "30"}
# The streams the dbt models read: the tables of transform/'s `klaviyo` source. The models' tests run these only
# (TAP_KLAVIYO__SELECT_FILTER): the other eleven streams are read by no model.
MODEL_SOURCES = [
    table["name"]
    for source in yaml.safe_load((PROJECT / "transform" / "models" / "sources.yml").read_text())["sources"]
    if source["name"] == "klaviyo"
    for table in source["tables"]
]


def ensure_installed(*plugins: str) -> None:
    """`meltano install` the plugins whose virtual environment is missing (make setup normally did it)."""
    kinds = {"tap-": "extractors", "target-": "loaders", "dbt-": "utilities", "warehouse-": "utilities"}
    missing = [
        p
        for p in plugins
        if not (PROJECT / ".meltano" / next(v for k, v in kinds.items() if p.startswith(k)) / p).is_dir()
    ]
    if missing:
        subprocess.run([MELTANO, "install", *missing], cwd=PROJECT, check=True, timeout=1200)


@dataclass
class Run:
    code: int
    output: str  # meltano's log: its own lines and every plugin's stderr


@dataclass
class LocalProject:
    """The project in its `local` environment, on one stack, with its own warehouse folder."""

    stack: LocalStack
    warehouse: Path

    @property
    def system(self) -> Path:
        """Meltano's own folder (run files, tap-klaviyo's batch files, its record of runs) for this project, as each
        pod has its own under Argo: projects run side by side (meltano_sys_dir.py)."""
        return own_meltano_dir(self.warehouse.parent / f"{self.warehouse.name}-meltano")

    def env(self, **extra: str) -> dict[str, str]:
        self.warehouse.mkdir(parents=True, exist_ok=True)
        # dbt's compiled SQL, run results and log per project too: tests run side by side
        dbt = self.warehouse.parent / (self.warehouse.name + "-dbt")
        return meltano_env(
            self.stack,
            SNOWFLAKE_EMULATOR_PATH=str(self.warehouse),
            MELTANO_SYS_DIR_ROOT=str(self.system),
            DBT_SNOWFLAKE_TARGET_PATH=str(dbt / "target"),
            DBT_SNOWFLAKE_LOG_PATH=str(dbt / "logs"),
            **extra,
        )

    def meltano(self, *args: str, timeout: float = 900, **env: str) -> Run:
        result = subprocess.run(
            [MELTANO, *args],
            cwd=PROJECT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(result.returncode, result.stdout + result.stderr)

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """`meltano <args>` in its own process group (to be killed whole, as a pod is)."""
        return subprocess.Popen(
            [MELTANO, *args],
            cwd=PROJECT,
            env=self.env(**env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    @staticmethod
    def kill(process: subprocess.Popen[str]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        time.sleep(0.5)  # let the plugins' pipes close

    def s3(self):
        """A client of the stack's S3 (moto takes any credentials)."""
        return boto3.client(
            "s3",
            endpoint_url=self.stack.s3.endpoint_url,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            region_name="us-east-1",
        )

    def state_objects(self) -> list[str]:
        return [o["Key"] for o in self.s3().list_objects_v2(Bucket=STATE_BUCKET).get("Contents", [])]


def warehouse_keys(warehouse: Path, keys: dict[str, tuple[str, ...]]) -> dict[str, list[tuple]]:
    """(account_id, *primary key) of every row of every table in RAW.KLAVIYO, by lower-case table name."""
    out: dict[str, list[tuple]] = {}
    with open_raw(warehouse) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE lower(table_schema) = 'klaviyo' AND table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            columns = [f'"{c}"' for c in ("account_id", *keys[table.lower()])]
            rows = conn.execute(f'SELECT {", ".join(columns)} FROM "{schema}"."{table}"').fetchall()
            out[table.lower()] = rows
    return out


def warehouse_text(warehouse: Path) -> str:
    """Every value of every table, as text: to look for what must never land there."""
    parts = []
    with open_raw(warehouse) as conn:
        for schema, table in conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall():
            parts.append(str(conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()))
    return "\n".join(parts)


def raw_sql(project: LocalProject, query: str, *params: object) -> list[tuple]:
    """A query of the project's RAW database on the emulator (DuckDB), read-only."""
    with open_raw(project.warehouse) as conn:
        return conn.execute(query, params).fetchall()


def klaviyo_api(
    stack: LocalStack, method: str, path: str, account: int = 0, body: dict | None = None
) -> requests.Response:
    """A request to the sandbox's Klaviyo API as account number `account` (as a person or an integration would)."""
    headers = {
        "Authorization": f"Klaviyo-API-Key {stack.sandbox.key(account)}",
        "revision": "2026-10-15",
        "content-type": "application/vnd.api+json",
    }
    return requests.request(method, stack.sandbox.url + path, headers=headers, json=body, timeout=30)


def write_events(stack: LocalStack, when: datetime, count: int, tag: str) -> None:
    """`count` events of the first account through the API (POST /api/events, as a store's integration sends them),
    dated from `when` a second apart, each with `tag` in its properties (`tagged` counts them in the warehouse)."""
    for n in range(count):
        body = {
            "data": {
                "type": "event",
                "attributes": {
                    "properties": {"tag": tag, "n": n},
                    "time": (when + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "unique_id": f"{tag}-{n}",
                    "metric": {"data": {"type": "metric", "attributes": {"name": "Backfilled Order"}}},
                    "profile": {"data": {"type": "profile", "attributes": {"email": f"{tag}{n}@example.com"}}},
                },
            }
        }
        assert klaviyo_api(stack, "POST", "/api/events", 0, body).status_code == 202


def tagged(project: LocalProject, tag: str) -> int:
    """How many events `write_events` wrote with `tag` are in RAW.KLAVIYO.EVENTS."""
    return raw_sql(
        project,
        'SELECT count(DISTINCT "id") FROM "KLAVIYO"."EVENTS" WHERE '
        "json_extract_string(\"event_properties\", '$.tag') = ?",
        tag,
    )[0][0]
