"""pytest fixtures that run the sandbox as a real process on a free port.

- `klaviyo_sandbox`: one sandbox for the whole session (3 accounts, seed 7, rate limits off so unrelated
  tests never throttle each other).
- `klaviyo_sandbox_factory`: start more with any `serve` options, e.g. `factory("--latency-ms", "250")`, or as
  keywords, `factory(late_share=0.3, late_hours=0.001)`; each is stopped at the end of the test.
Outside pytest, `start_sandbox(...)` does the same for scripts and benchmarks.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

READY_PREFIX = "klaviyo-sandbox listening on "


@dataclass
class RunningSandbox:
    """A sandbox process: its base URL, its accounts (with keys), and admin helpers."""

    url: str
    accounts: list[dict[str, str]]
    process: subprocess.Popen[str]
    log_path: str
    args: tuple[str, ...] = field(default_factory=tuple)

    def key(self, index: int = 0) -> str:
        return self.accounts[index]["api_key"]

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/_sandbox/{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, dict[str, dict[str, int]]]:
        return cast("dict[str, dict[str, dict[str, int]]]", self.admin("GET", "stats"))

    def requests(self, path: str = "", **filters: str) -> list[dict[str, Any]]:
        """The API requests served, oldest first (admin.requests_log): `path` a prefix, `method`, `account_id`."""
        query = urllib.parse.urlencode({"path": path, **filters})
        return cast("list[dict[str, Any]]", self.admin("GET", f"requests?{query}"))

    def reset(self) -> None:
        self.admin("POST", "reset")

    def activity(self, account_id: str, **counts: int) -> dict[str, Any]:
        """profiles, events, others, segment_changes, list_changes (counts) and seed: see admin.activity."""
        return cast("dict[str, Any]", self.admin("POST", f"accounts/{account_id}/activity", counts))

    def late(self, account_id: str) -> dict[str, Any]:
        """The account's late events not readable yet and when each becomes readable: see admin.late."""
        return cast("dict[str, Any]", self.admin("GET", f"accounts/{account_id}/late"))

    def release_late(self, account_id: str) -> int:
        """Make the account's late events readable now (admin.release_late); how many were released."""
        return int(self.admin("POST", f"accounts/{account_id}/late/release", {})["released"])

    def delete_profile(self, account_id: str, profile_id: str) -> None:
        """Delete a profile at once, as Klaviyo's UI does (completeness_routes.delete_profile_now)."""
        self.admin("POST", f"accounts/{account_id}/profiles/{profile_id}/delete", {})

    def run_deletions(self, account_id: str) -> list[str]:
        """Carry out the account's requested data-privacy deletions now; the ids of the profiles deleted."""
        return cast("list[str]", self.admin("POST", f"accounts/{account_id}/deletions/run", {})["deleted"])

    def attribute(self, account_id: str, message_id: str, when: str, **fields: Any) -> dict[str, Any]:
        """A conversion attributed to a message at `when` (ISO, in the past): the event the route answers."""
        event: dict[str, Any] = self.admin(
            "POST", f"accounts/{account_id}/attribute", {"message_id": message_id, "datetime": when, **fields}
        )["event"]
        return event

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self) -> None:
        stop_process(self.process)
        if self.process.stdout:
            self.process.stdout.close()


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a stand-in's process, killing it if it has not ended within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy (returned) or `timeout` seconds pass (its last result): for
    what the sandbox does a moment after answering (bulk jobs run --job-seconds later)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def serve_options(**options: object) -> list[str]:
    """Keyword options as `serve` flags: late_share=0.3 -> ["--late-share", "0.3"]."""
    return [part for name, value in options.items() for part in (f"--{name.replace('_', '-')}", str(value))]


def start_sandbox(*args: str, timeout: float = 60.0, **options: object) -> RunningSandbox:
    """Start `klaviyo-sandbox serve --port 0 <args>` and wait until it listens; keyword options are flags too
    (`start_sandbox("--accounts", "1", late_share=0.3, late_hours=0.001)`)."""
    args = (*args, *serve_options(**options))
    log = tempfile.NamedTemporaryFile(prefix="klaviyo-sandbox-", suffix=".log", delete=False)  # noqa: SIM115
    command = [sys.executable, "-m", "klaviyo_sandbox.cli", "serve", "--port", "0", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    log.close()
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    line = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line.startswith(READY_PREFIX) or not line:
                break
        if process.poll() is not None:
            break
    if not line.startswith(READY_PREFIX):
        process.kill()
        with open(log.name, encoding="utf-8", errors="replace") as handle:
            raise RuntimeError(f"klaviyo-sandbox did not start ({' '.join(command)}):\n{line}{handle.read()}")
    sandbox = RunningSandbox(line[len(READY_PREFIX) :].strip(), [], process, log.name, tuple(args))
    sandbox.accounts = sandbox.admin("GET", "accounts")
    return sandbox


@pytest.fixture(scope="session")
def klaviyo_sandbox() -> Iterator[RunningSandbox]:
    sandbox = start_sandbox("--accounts", "3", "--seed", "7", "--rate-limit-scale", "0", "--job-seconds", "0.2")
    yield sandbox
    sandbox.stop()


@pytest.fixture
def klaviyo_sandbox_factory() -> Iterator[Callable[..., RunningSandbox]]:
    started: list[RunningSandbox] = []

    def factory(*args: str, **options: object) -> RunningSandbox:
        sandbox = start_sandbox(*args, *serve_options(**options))
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()
