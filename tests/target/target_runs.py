"""Running target-klaviyo as a real process in tests, and reading what it sent through Klaviyo's read API.

The fixtures that hand these out (a sandbox of the target's own, a Target for each test) are in conftest.py.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from klaviyo_sandbox.pytest_plugin import RunningSandbox

JOB_SECONDS = 0.2  # the sandbox writes a bulk request's events this long after accepting it
# The target's sandbox: account 0 is shared by the tests, kept apart by their own metric names and e-mail
# addresses; the SDK's standard tests (test_target_core.py) all write the ids 1, 2, 3 ..., so each gets an
# account of its own.
STANDARD_ACCOUNTS = range(1, 21)
TARGET = str(Path(sys.executable).with_name("target-klaviyo"))
SAMPLE_CSV = Path(__file__).resolve().parents[2] / "data" / "sample_orders.csv"  # a copy of the shared sample
# The CSV-to-Klaviyo package's own config.py for sample_orders.csv, unchanged.
LEGACY_CONFIG = {
    "event_mapping": {
        "event": "PlacedOrder",
        "customer_properties": {"$email": "EMAIL"},
        "properties": {
            "$event_id": "ORDER_ID",
            "$value": "ORDER_TOTAL",
            "OrderType": "ORDER_TYPE",
            "CouponCode": "COUPON_CODE",
        },
        "time": "DATE_ORDERED",
    },
    "profile_mapping": {
        "properties": {
            "$email": "EMAIL",
            "$first_name": "BILL_FIRST_NAME",
            "$last_name": "BILL_LAST_NAME",
            "$region": "BILL_STATE_CODE",
            "$zip": "BILL_ZIP",
            "$phone_number": "BILL_PHONE",
        },
    },
}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    rejects_path: Path

    @property
    def states(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def rejects(self) -> list[dict[str, Any]]:
        if not self.rejects_path.exists():
            return []
        return [json.loads(line) for line in self.rejects_path.read_text(encoding="utf-8").splitlines() if line]

    @property
    def summary(self) -> dict[str, dict[str, dict[str, int]]]:
        """The run's summary; for a run that ended well, its invariants checked on every stream and kind."""
        marker = "target-klaviyo summary json: "
        line = next(line for line in self.stderr.splitlines() if marker in line)
        found: dict[str, dict[str, dict[str, int]]] = json.loads(line.split(marker, 1)[1])
        if self.returncode == 0:
            preview = "(dry run:" in self.stderr
            for stream, kinds in found.items():
                for kind, c in kinds.items():
                    assert_invariants(f"{stream}/{kind}", c, preview=preview)
        return found


def assert_invariants(where: str, c: dict[str, int], *, preview: bool) -> None:
    """What every summary keeps (target-klaviyo/README.md): every row read ends accepted, rejected or unchanged
    (a preview: would be created or changed, rejected or unchanged), and what is accepted is what was created or
    changed, what joined a list, or what was subscribed or unsubscribed."""
    if preview:
        assert c["read"] == c["created"] + c["changed"] + c["unchanged"] + c["rejected"], (where, c)
        assert c["accepted"] == c["sent"] == 0, (where, c)
        return
    assert c["read"] == c["accepted"] + c["rejected"] + c["unchanged"], (where, c)
    assert c["accepted"] == c["created"] + c["changed"], (where, c)
    assert c["sent"] <= c["read"] - c["unchanged"], (where, c)
    if "added" in c:
        assert c["added"] == c["accepted"], (where, c)
    if "subscribed" in c:
        assert c["subscribed"] + c["unsubscribed"] == c["accepted"], (where, c)


def counts(
    read: int,
    sent: int,
    accepted: int,
    rejected: int,
    *,
    unchanged: int = 0,
    changed: int = 0,
    created: int | None = None,
    **extra: int,
) -> dict[str, int]:
    """One stream's kind in the summary: rows accepted are created, or changed when remembered before (a dry run
    accepts nothing: give what it would create)."""
    return {
        "read": read,
        "unchanged": unchanged,
        "created": accepted - changed if created is None else created,
        "changed": changed,
        "sent": sent,
        "accepted": accepted,
        "rejected": rejected,
        **extra,
    }


def schema_message(stream: str, columns: Iterable[str], row_column: str | None = "_sdc_row_number") -> dict:
    properties = {c: {"type": ["string", "null"]} for c in columns}
    if row_column:
        properties[row_column] = {"type": "integer"}
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": [],
    }


def record_messages(
    stream: str, rows: Iterable[dict[str, Any]], first_row: int = 1, row_column: str | None = "_sdc_row_number"
) -> list[dict]:
    """RECORD messages as tap-csv sends them: every cell a string, the 1-based data row number alongside."""
    out = []
    for i, row in enumerate(rows, start=first_row):
        record = {**row, row_column: i} if row_column else dict(row)
        out.append({"type": "RECORD", "stream": stream, "record": record})
    return out


def csv_messages(path: Path, stream: str) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return [schema_message(stream, reader.fieldnames or []), *record_messages(stream, rows)]


class Target:
    """Runs `target-klaviyo --config ...` as a process, Singer messages on its standard input."""

    def __init__(self, sandbox: RunningSandbox, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        self.runs = 0

    def config(self, **overrides: Any) -> dict[str, Any]:
        return {
            "api_key": self.sandbox.key(0),
            "api_url": self.sandbox.url,
            "rate_limit_scale": 0,
            "max_retries": 8,
            # The test's own change memory: the default folder is the working directory's, shared by every run.
            "change_memory": str(self.tmp_path / "memory"),
            **overrides,
        }

    def run(self, messages: Iterable[dict] | str, *, timeout: float = 300, **config: Any) -> Run:
        self.runs += 1
        rejects = self.tmp_path / f"rejects-{self.runs}.jsonl"
        settings = self.config(**{"rejects_path": str(rejects), **config})
        config_path = self.tmp_path / f"config-{self.runs}.json"
        config_path.write_text(json.dumps(settings), encoding="utf-8")
        text = messages if isinstance(messages, str) else "".join(json.dumps(m) + "\n" for m in messages)
        proc = subprocess.run(
            [TARGET, "--config", str(config_path)],
            input=text,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr, Path(settings["rejects_path"]))


class Klaviyo:
    """What arrived, through the sandbox's read API (the same endpoints and filters as Klaviyo's)."""

    def __init__(self, sandbox: RunningSandbox, account: int = 0) -> None:
        self.url = sandbox.url
        self.headers = {"Authorization": f"Klaviyo-API-Key {sandbox.key(account)}", "revision": "2026-10-15"}

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        url: str | None = f"{self.url}{path}"
        while url:
            body = self._get(url, params)
            yield from body["data"]
            url, params = body["links"].get("next"), {}

    def _get(self, url: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET with retries: the sandbox of a fault test fails reads too."""
        for attempt in range(30):
            try:
                response = requests.get(url, params=params, headers=self.headers, timeout=30)
            except requests.ConnectionError:
                time.sleep(0.1)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                time.sleep(float(response.headers.get("Retry-After", 0.1 * attempt)))
                continue
            response.raise_for_status()
            return response.json()
        raise AssertionError(f"no answer from {url}")

    def metric_id(self, name: str) -> str | None:
        return next((m["id"] for m in self._pages("/api/metrics", {}) if m["attributes"]["name"] == name), None)

    def events(self, metric: str) -> list[dict[str, Any]]:
        """Every event of a metric, with its profile's id. Klaviyo writes a bulk request's events shortly
        after accepting it (the sandbox after --job-seconds 0.2), so this first waits for that."""
        time.sleep(JOB_SECONDS * 3)
        metric_id = self.metric_id(metric)
        if metric_id is None:
            return []
        return list(self._pages("/api/events", {"filter": f'equals(metric_id,"{metric_id}")', "page[size]": 1000}))

    def profile(self, email: str) -> dict[str, Any] | None:
        found = list(self._pages("/api/profiles", {"filter": f'equals(email,"{email}")'}))
        return found[0] if found else None

    def profiles(self, emails: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(emails), 100):
            chunk = ",".join(f'"{e}"' for e in emails[start : start + 100])
            for p in self._pages("/api/profiles", {"filter": f"any(email,[{chunk}])", "page[size]": 100}):
                out[p["attributes"]["email"]] = p
        return out
