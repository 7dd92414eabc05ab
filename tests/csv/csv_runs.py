"""Running tap-csv as a real process in tests, and reading what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TAP = [sys.executable, "-m", "tap_csv.tap"]


@dataclass
class TapRun:
    code: int
    messages: list[dict[str, Any]]
    stderr: str
    stdout: str

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        return [
            message["record"]
            for message in self.messages
            if message["type"] == "RECORD" and stream in (None, message["stream"])
        ]

    def schema(self, stream: str) -> dict[str, Any]:
        return next(message for message in self.messages if message["type"] == "SCHEMA" and message["stream"] == stream)

    @property
    def state(self) -> dict[str, Any]:
        return [message["value"] for message in self.messages if message["type"] == "STATE"][-1]


def run_tap(
    config: dict[str, Any],
    folder: Path,
    *,
    state: dict | None = None,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    python_options: tuple[str, ...] = (),
) -> TapRun:
    config_path = folder / "tap-config.json"
    config_path.write_text(json.dumps(config))
    command = [TAP[0], *python_options, *TAP[1:], "--config", str(config_path), *args]
    if state is not None:
        (folder / "tap-state.json").write_text(json.dumps(state))
        command += ["--state", str(folder / "tap-state.json")]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, check=False, cwd=folder, env={**os.environ, **(env or {})}
    )
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"type"')]
    return TapRun(result.returncode, messages, result.stderr, result.stdout)


def file_config(path: str, entity: str = "orders", **options: Any) -> dict[str, Any]:
    return {"files": [{"entity": entity, "path": path, **options}]}


def partition_state(state: dict[str, Any], stream: str, source_file: str) -> dict[str, Any]:
    return next(
        partition
        for partition in state["bookmarks"][stream]["partitions"]
        if partition["context"]["_sdc_source_file"] == source_file
    )


def data_columns(record: dict[str, Any]) -> dict[str, Any]:
    """A record without the tap's own _sdc_ columns."""
    return {name: value for name, value in record.items() if not name.startswith("_sdc_")}


def assert_one_line_error(run: TapRun, message: str, *, stdout_empty: bool = True) -> None:
    """The run ended on a user's error: exit code 1, `message` in the last line (an ERROR), no traceback, and (when
    the error comes before any data) nothing on stdout."""
    assert run.code == 1, (run.code, run.stderr[-3000:])
    last = run.stderr.rstrip("\n").splitlines()[-1]
    assert message in last and "| ERROR " in last, (message, run.stderr[-3000:])
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    if stdout_empty:
        assert run.stdout == ""
