"""pytest fixtures that run the sandbox as a real server, in another process, on a free port.

- `klaviyo_sandbox`: one sandbox for the whole session (3 accounts, seed 7, rate limits off so unrelated
  tests never throttle each other).
- `klaviyo_sandbox_factory`: start more with any `serve` options, e.g. `factory("--latency-ms", "250")`, or as
  keywords, `factory(late_share=0.3, late_hours=0.001)`; each is stopped at the end of the test.
- `start_sandbox(...)` does the same for tests, scripts and benchmarks.

Within pytest, the sandboxes a test process starts are served by one host process (host.py), each on its own port
with its own settings and state, as `serve` would make it: a suite starts about a hundred, and a process costs ~0.5
CPU-s to start. Outside pytest, or with KLAVIYO_SANDBOX_HOST=0, each is a `klaviyo-sandbox serve` process;
`start_sandbox_process(...)` always starts one (for a test of the command, or one that measures its process).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

READY_PREFIX = "klaviyo-sandbox listening on "
HOST_READY_PREFIX = "klaviyo-sandbox host listening on "  # host.READY_PREFIX, without importing aiohttp here


@dataclass
class RunningSandbox:
    """A running sandbox: its base URL, its accounts (with keys), and admin helpers. `process` is its own
    `serve` process, or None when a host serves it (`host`, under `host_id`)."""

    url: str
    accounts: list[dict[str, str]]
    log_path: str
    args: tuple[str, ...] = field(default_factory=tuple)
    process: subprocess.Popen[str] | None = None
    host: SandboxHost | None = None
    host_id: str = ""

    def key(self, index: int = 0) -> str:
        return self.accounts[index]["api_key"]

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return call_json(method, f"{self.url}/_sandbox/{path}", body)

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
        """What the server wrote to stderr; a host's log holds what every sandbox it served wrote."""
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop(self.host_id)
        if self.process is not None:
            stop_process(self.process)
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe:
                    pipe.close()


def call_json(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    """A request with a JSON body (or none) whose answer is JSON; urllib.error.HTTPError for a 4xx or 5xx."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


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
    """Start a sandbox as `klaviyo-sandbox serve --port 0 <args>` would and wait until it listens; keyword options
    are flags too (`start_sandbox("--accounts", "1", late_share=0.3, late_hours=0.001)`). Within pytest, the test
    process's host serves it; elsewhere it is a process of its own."""
    host = HOSTING.host()
    if host is None:
        return start_sandbox_process(*args, timeout=timeout, **options)
    return host.start(("--port", "0", *args, *serve_options(**options)))


def start_sandbox_process(*args: str, timeout: float = 60.0, **options: object) -> RunningSandbox:
    """Start `klaviyo-sandbox serve --port 0 <args>` as a process of its own and wait until it listens."""
    args = (*args, *serve_options(**options))
    command = [sys.executable, "-m", "klaviyo_sandbox.cli", "serve", "--port", "0", *args]
    process, log_path, url = _start_listening(command, READY_PREFIX, timeout, "klaviyo-sandbox")
    sandbox = RunningSandbox(url, [], log_path, tuple(args), process=process)
    sandbox.accounts = sandbox.admin("GET", "accounts")
    return sandbox


def _start_listening(
    command: list[str], ready_prefix: str, timeout: float, name: str
) -> tuple[subprocess.Popen[str], str, str]:
    """Start `command`, its stderr to a log file, and wait for the line `<ready_prefix><url>` on its stdout. Its stdin
    is a pipe that stays open while this process lives (the host ends when it closes)."""
    log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    line = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line.startswith(ready_prefix) or not line:
                break
        if process.poll() is not None:
            break
    if not line.startswith(ready_prefix):
        process.kill()
        with open(log.name, encoding="utf-8", errors="replace") as handle:
            raise RuntimeError(f"{name} did not start ({' '.join(command)}):\n{line}{handle.read()}")
    return process, log.name, line[len(ready_prefix) :].strip()


class SandboxHost:
    """A host process (host.py) and the sandboxes it serves for this process."""

    def __init__(self, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "klaviyo_sandbox.host"]
        self.process, self.log_path, self.url = _start_listening(
            command, HOST_READY_PREFIX, timeout, "klaviyo-sandbox-host"
        )

    def start(self, args: tuple[str, ...]) -> RunningSandbox:
        try:
            answer = self._call("POST", "/sandboxes", {"args": list(args)})
        except urllib.error.HTTPError as exc:
            error = json.loads(exc.read()).get("error", "")
            raise RuntimeError(f"klaviyo-sandbox did not start (serve {' '.join(args)}):\n{error}") from None
        sandbox = RunningSandbox(answer["url"], [], self.log_path, args, host=self, host_id=answer["id"])
        sandbox.accounts = sandbox.admin("GET", "accounts")
        return sandbox

    def stop(self, sandbox_id: str) -> None:
        if self.process.poll() is not None:
            return
        try:
            self._call("DELETE", f"/sandboxes/{sandbox_id}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # 404: stopped before, as stopping a process twice is no error either
                raise

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()  # the host's signal to stop, as if this process had ended
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop_process(self.process)
        if self.process.stdout:
            self.process.stdout.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return call_json(method, f"{self.url}{path}", body)


class _Hosting:
    """Whether this process's sandboxes share a host (pytest turns it on), and the host, started when first needed."""

    def __init__(self) -> None:
        self.enabled = False
        self._host: SandboxHost | None = None

    def host(self) -> SandboxHost | None:
        if not self.enabled or os.environ.get("KLAVIYO_SANDBOX_HOST") == "0":
            return None
        if self._host is None or self._host.process.poll() is not None:
            self._host = SandboxHost()
        return self._host

    def close(self) -> None:
        if self._host is not None:
            self._host.close()
            self._host = None


HOSTING = _Hosting()


def pytest_configure(config: pytest.Config) -> None:
    HOSTING.enabled = True


def pytest_unconfigure(config: pytest.Config) -> None:
    HOSTING.close()


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
