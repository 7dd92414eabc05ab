"""Accounts, and groups of one account's streams, in parallel: one tap process per (account, stream group), their
Singer output merged into one stream and one state.

Klaviyo's limits are per account and endpoint, and one account's cursors are latency-bound, so accounts must be read
at the same time; within an account, streams that use different rate-limit buckets (events, profiles, members, the
small streams: stream_groups.py) must too, or a run takes the sum of its streams instead of the slowest. singer-sdk
syncs streams and partitions one after another in one thread; rather than reach into its internals, the parent runs
the same tap once per (account, group) (`accounts=<name>`, `stream_group=[...]`, so each child is the plain, tested
sync of one account's streams of one group) and multiplexes what they print:

- RECORD and BATCH lines pass through as they come; each SCHEMA is passed once per stream;
- STATE: each child's latest state says how far *its* streams of *its* account got (their partitions carry its
  account_id); the parent emits the input state with every child's own partitions laid over it, so a bookmark is
  never ahead of the rows already passed on (a child's STATE follows its rows, and is passed after them), never
  moved back by a child that only carries it unread, and a crash of the whole run resumes every account and stream
  where it was;
- at most `parallel_accounts` accounts at a time, each with at most `parallel_groups` of its groups at a time: the
  processes, and their memory, are bounded by the product;
- a child that fails does not stop the others; its account is named as failed at the end;
- children are forked from a server that imported the tap once (child_processes.py), not started afresh.
"""

from __future__ import annotations

import copy
import json
import os
import queue
import sys
import tempfile
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from tap_support import write_all

from .child_processes import start_child, start_server, stop_server

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from .child_processes import ChildProcess


@dataclass
class Child:
    account: str
    process: ChildProcess
    account_id: str  # told to the child when it starts: its state's partitions carry it, whatever stream maps do
    streams: frozenset[str]  # the child's stream group: the only streams whose state it may move
    state: dict[str, t.Any] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


def merge_states(base: dict[str, t.Any], children: Iterable[Child]) -> dict[str, t.Any]:
    """The input state with each child's partitions for its own account and streams laid over it."""
    merged = copy.deepcopy(base) if base else {}
    bookmarks = merged.setdefault("bookmarks", {})
    for child in children:
        if child.state is None:
            continue
        for stream, stream_state in child.state.get("bookmarks", {}).items():
            if stream not in child.streams:
                continue  # another group's stream: this child only carries the state it started with
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


@dataclass
class _Account:
    """An account being read: its groups not started yet, and its children running."""

    name: str
    account_id: str
    waiting: list[list[str]]
    running: list[Child] = field(default_factory=list)
    failed: bool = False


def run_in_parallel(
    config: dict[str, t.Any],
    catalog: dict[str, t.Any],
    state: dict[str, t.Any],
    accounts: dict[str, str],
    groups: list[list[str]],
    *,
    parallel_accounts: int,
    parallel_groups: int,
    out: t.BinaryIO | None = None,
) -> list[str]:
    """Sync `accounts` (name -> Klaviyo id), each as the stream `groups`, at most `parallel_accounts` accounts and
    `parallel_groups` groups of each at a time; returns the names of the accounts of which a group failed.

    Each child is told its account's name and id when it starts, so the parent knows whose partitions a child's
    state holds without reading its records (a stream map may drop `account_id` from them)."""
    out = out or sys.stdout.buffer
    start_server()  # before anything is written (child_processes.py)
    lines: queue.Queue[tuple[Child, bytes | None]] = queue.Queue(maxsize=10_000)  # bounded: memory stays flat
    folder = Path(tempfile.mkdtemp(prefix="tap-klaviyo-"))
    os.chmod(folder, 0o700)  # the child config holds the same secrets as the parent's
    (folder / "catalog.json").write_text(json.dumps(catalog))
    (folder / "state.json").write_text(json.dumps(state or {}))
    pending = [_Account(name, account_id, [list(group) for group in groups]) for name, account_id in accounts.items()]
    active: list[_Account] = []
    children: list[Child] = []  # every child started, in order: their states are laid over the input in this order
    failed: list[str] = []
    schemas_sent: set[bytes] = set()

    def start(account: _Account, group: list[str]) -> Child:
        child_config = folder / f"config-{len(children)}.json"
        child = {
            **config,
            "accounts": account.name,
            "account_ids": {account.name: account.account_id},
            "parallel_accounts": 1,
            "parallel_stream_groups": 1,
            "stream_group": group,
        }
        child_config.write_text(json.dumps(child))
        os.chmod(child_config, 0o600)
        process = start_child(
            [
                "--config",
                str(child_config),
                "--catalog",
                str(folder / "catalog.json"),
                "--state",
                str(folder / "state.json"),
            ]
        )
        started = Child(account.name, process, account.account_id, frozenset(group))
        started.reader = threading.Thread(target=_pump, args=(started, lines), daemon=True)
        started.reader.start()
        children.append(started)
        return started

    def top_up() -> None:
        while pending and len(active) < parallel_accounts:
            active.append(pending.pop(0))
        for account in active:
            while account.waiting and len(account.running) < parallel_groups:
                account.running.append(start(account, account.waiting.pop(0)))

    try:
        top_up()
        while active:
            child, line = lines.get()
            if line is None:  # the child closed its output
                child.process.wait()
                account = next(a for a in active if child in a.running)
                account.running.remove(child)
                account.failed |= child.process.returncode != 0
                if not account.running and not account.waiting:
                    active.remove(account)
                    if account.failed:
                        failed.append(account.name)
                top_up()
                continue
            kind = _message_type(line)
            if kind == "RECORD":
                write_all(out, line)
            elif kind == "SCHEMA":
                if line not in schemas_sent:
                    schemas_sent.add(line)
                    write_all(out, line)
            elif kind == "STATE":
                child.state = json.loads(line)["value"]
                merged = merge_states(state, children)
                write_all(out, json.dumps({"type": "STATE", "value": merged}).encode() + b"\n")
                out.flush()
            else:
                write_all(out, line)
    finally:
        for account in active:
            for child in account.running:
                child.process.kill()
                child.process.wait()
        stop_server()  # every child waited for: the server's usage, with theirs, is this process's (progress.py)
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    out.flush()
    return failed


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
