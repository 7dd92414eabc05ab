"""Running tap-klaviyo as a real process in tests, and reading what it wrote."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from klaviyo_sandbox.pytest_plugin import RunningSandbox, start_sandbox

TAP = [sys.executable, "-m", "tap_klaviyo.tap"]


def tap_sandbox(folder: Path, *sandbox_args: str, **settings: Any) -> tuple[RunningSandbox, dict[str, Any]]:
    """A sandbox (`klaviyo-sandbox serve` options) writing its accounts file into `folder`, and the tap config that
    reads it: start_date 2020-01-01 and `settings` (which may replace it)."""
    sandbox = start_sandbox(*sandbox_args, "--accounts-file", str(folder / "accounts.json"))
    config = {
        "accounts_file": str(folder / "accounts.json"),
        "api_url": sandbox.url,
        "start_date": "2020-01-01T00:00:00Z",
        **settings,
    }
    return sandbox, config


def events_only(folder: Path, events: int) -> tuple[RunningSandbox, Path, Path]:
    """A sandbox of one account with `events` events and no rate limits, and the tap's config and catalog (events
    only) to read it, in `folder`: what the memory test and bench/tap_memory.py run."""
    sandbox, config = tap_sandbox(
        folder, "--accounts", "1", "--events", str(events), "--profiles", "50", "--rate-limit-scale", "0",
        rate_limit_scale=0,
    )  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "catalog.json").write_text(json.dumps(catalog_selecting(folder / "config.json", ["events"])))
    return sandbox, folder / "config.json", folder / "catalog.json"


def catalog_selecting(config_path: Path, streams: list[str]) -> dict:
    """The tap's discovered catalog with only `streams` selected."""
    catalog = json.loads(
        subprocess.run(
            [*TAP, "--config", str(config_path), "--discover"], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    )
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if not metadata["breadcrumb"]:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def tap_command(folder: Path, config: dict[str, Any], streams: list[str]) -> list[str]:
    """The tap's command reading `config` with only `streams` selected (config.json and catalog.json written into
    `folder`)."""
    config_path, catalog_path = folder / "config.json", folder / "catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog_selecting(config_path, streams)))
    return [*TAP, "--config", str(config_path), "--catalog", str(catalog_path)]


def run_tap(
    config: dict, folder: Path, state: dict | None = None, *args: str, streams: list[str] | None = None
) -> tuple[int, list[dict], str]:
    """(exit code, Singer messages, stderr) of one run; `streams` selects some streams only."""
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config))
    command = [*TAP, "--config", str(config_path), *args]
    if streams is not None:
        (folder / "catalog.json").write_text(json.dumps(catalog_selecting(config_path, streams)))
        command += ["--catalog", str(folder / "catalog.json")]
    if state is not None:
        state_path = folder / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.returncode, messages, result.stderr


def records(messages: list[dict]) -> dict[str, list[dict]]:
    """Every row the messages carry, by stream: RECORD messages and the files BATCH messages announce."""
    out: dict[str, list[dict]] = defaultdict(list)
    for message in messages:
        if message["type"] == "RECORD":
            out[message["stream"]].append(message["record"])
        elif message["type"] == "BATCH":
            out[message["stream"]].extend(batch_rows(message))
    return out


def batch_rows(message: dict) -> list[dict]:
    """The rows of the files one BATCH message announces (gzip or plain JSON lines)."""
    rows = []
    for url in message["manifest"]:
        path = Path(urlsplit(url).path)
        opener = gzip.open if message["encoding"].get("compression") == "gzip" else open
        with opener(path, "rt", encoding="utf-8") as file:
            rows.extend(json.loads(line) for line in file if line.strip())
    return rows


def last_state(messages: list[dict]) -> dict:
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return states[-1] if states else {}


def peak_between(samples: list[tuple[int, float]], start: float, end: float) -> float:
    """The peak of a value (RSS, a heap's size) while the output grew from `start` to `end` (shares of its final
    size), from [(bytes of output so far, the value)]: bench/process_cost.py's rss_by_output, heap_sampled_tap.py."""
    total = samples[-1][0]
    return max(rss for written, rss in samples if start * total <= written <= end * total)
