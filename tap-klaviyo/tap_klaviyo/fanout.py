"""Accounts in parallel: one tap process per account, their Singer output merged into one stream.

Klaviyo's limits are per account, and one account's cursors are latency-bound, so accounts must be read at
the same time. singer-sdk syncs partitions one after another in one thread; rather than reach into its
internals, the parent runs the same tap once per account (`accounts=<name>`, so each child is the plain,
tested single-account sync) and multiplexes what they print:

- RECORD lines pass through as they come; each SCHEMA is passed once per stream;
- STATE: each child's latest state says how far *its* account got (its partitions carry its account_id);
  the parent emits the input state with every child's own partitions laid over it, so a bookmark is never
  ahead of the records already passed on, and a crash of the whole run resumes every account where it was;
- a child that fails does not stop the others; the run ends non-zero naming its account.
"""

from __future__ import annotations

import copy
import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass
class Child:
    account: str
    process: subprocess.Popen[bytes]
    account_id: str  # told to the child when it starts: its state's partitions carry it, whatever stream maps do
    state: dict[str, t.Any] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


def merge_states(base: dict[str, t.Any], children: Iterable[Child]) -> dict[str, t.Any]:
    """The input state with each child's partitions for its own account laid over it."""
    merged = copy.deepcopy(base) if base else {}
    bookmarks = merged.setdefault("bookmarks", {})
    for child in children:
        if child.state is None:
            continue
        for stream, stream_state in child.state.get("bookmarks", {}).items():
            own = [
                p
                for p in stream_state.get("partitions", [])
                if p.get("context", {}).get("account_id") == child.account_id
            ]
            if not own:
                continue
            target = bookmarks.setdefault(stream, {})
            others = [
                p for p in target.get("partitions", []) if p.get("context", {}).get("account_id") != child.account_id
            ]
            target["partitions"] = others + own
    return merged


def run_accounts_in_parallel(
    config: dict[str, t.Any],
    catalog: dict[str, t.Any],
    state: dict[str, t.Any],
    accounts: dict[str, str],
    parallel: int,
    out: t.BinaryIO | None = None,
) -> list[str]:
    """Sync `accounts` (name -> Klaviyo id), at most `parallel` at a time; returns the names of those that failed.

    Each child is told its account's name and id when it starts, so the parent knows whose partitions a child's
    state holds without reading its records (a stream map may drop `account_id` from them)."""
    out = out or sys.stdout.buffer
    lines: queue.Queue[tuple[Child, bytes | None]] = queue.Queue(maxsize=10_000)  # bounded: memory stays flat
    folder = Path(tempfile.mkdtemp(prefix="tap-klaviyo-"))
    os.chmod(folder, 0o700)  # the child config holds the same secrets as the parent's
    (folder / "catalog.json").write_text(json.dumps(catalog))
    (folder / "state.json").write_text(json.dumps(state or {}))
    pending = list(accounts.items())
    running: list[Child] = []
    finished: list[Child] = []
    failed: list[str] = []
    schemas_sent: set[bytes] = set()

    def start(account: str, account_id: str) -> Child:
        child_config = folder / f"config-{len(finished) + len(running)}.json"
        child = {**config, "accounts": account, "account_ids": {account: account_id}, "parallel_accounts": 1}
        child_config.write_text(json.dumps(child))
        os.chmod(child_config, 0o600)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tap_klaviyo.tap",
                "--config",
                str(child_config),
                "--catalog",
                str(folder / "catalog.json"),
                "--state",
                str(folder / "state.json"),
            ],
            stdout=subprocess.PIPE,
            preexec_fn=_die_with_parent,  # noqa: PLW1509  (no threads have started in the child yet)
        )
        started = Child(account, process, account_id)
        started.reader = threading.Thread(target=_pump, args=(started, lines), daemon=True)
        started.reader.start()
        return started

    try:
        while pending or running:
            while pending and len(running) < parallel:
                running.append(start(*pending.pop(0)))
            child, line = lines.get()
            if line is None:  # the child closed its output
                child.process.wait()
                running.remove(child)
                finished.append(child)
                if child.process.returncode != 0:
                    failed.append(child.account)
                continue
            kind = _message_type(line)
            if kind == "RECORD":
                out.write(line)
            elif kind == "SCHEMA":
                if line not in schemas_sent:
                    schemas_sent.add(line)
                    out.write(line)
            elif kind == "STATE":
                child.state = json.loads(line)["value"]
                merged = merge_states(state, [*finished, *running])
                out.write(json.dumps({"type": "STATE", "value": merged}).encode() + b"\n")
                out.flush()
            else:
                out.write(line)
    finally:
        for child in running:
            child.process.kill()
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    out.flush()
    return failed


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM when the parent dies (even by SIGKILL), so no orphan keeps reading."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _pump(child: Child, lines: queue.Queue[tuple[Child, bytes | None]]) -> None:
    assert child.process.stdout is not None
    with child.process.stdout:
        for line in child.process.stdout:
            lines.put((child, line))
    lines.put((child, None))


def _message_type(line: bytes) -> str:
    # Lines start with {"type": "...": read the type without parsing every record.
    start = line.find(b'"type"')
    if start < 0:
        return ""
    rest = line[start + 6 :].lstrip(b" :").lstrip(b'"')
    return rest[: rest.find(b'"')].decode()
