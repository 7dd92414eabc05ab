"""One host process serving many sandboxes (klaviyo_sandbox/host.py), as the pytest plugin starts them."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from klaviyo_sandbox.pytest_plugin import SandboxHost, start_sandbox


@pytest.fixture
def host():
    host = SandboxHost()
    yield host
    host.close()


def accounts_seen(url: str, key: str) -> list[str]:
    response = requests.get(
        f"{url}/api/accounts",
        headers={"Authorization": f"Klaviyo-API-Key {key}", "revision": "2026-10-15"},
        timeout=30,
    )
    response.raise_for_status()
    return [account["id"] for account in response.json()["data"]]


def test_each_sandbox_has_its_own_port_data_and_request_log(host):
    one = host.start(("--port", "0", "--accounts", "1", "--seed", "3"))
    two = host.start(("--port", "0", "--accounts", "2", "--seed", "4", "--rate-limit-scale", "0"))
    assert one.url != two.url and one.process is None
    assert (len(one.accounts), len(two.accounts)) == (1, 2)
    assert {a["id"] for a in one.accounts}.isdisjoint(a["id"] for a in two.accounts)
    assert accounts_seen(one.url, one.key(0)) == [one.accounts[0]["id"]]
    assert accounts_seen(two.url, two.key(0)) == [two.accounts[0]["id"]]
    # one sandbox's key means nothing to the other
    with pytest.raises(requests.HTTPError, match="401"):
        accounts_seen(two.url, one.key(0))
    assert [r["account_id"] for r in one.requests()] == [one.accounts[0]["id"]]
    assert [r["account_id"] for r in two.requests()] == [two.accounts[0]["id"]]

    one.stop()
    with pytest.raises(requests.ConnectionError):
        accounts_seen(one.url, one.key(0))
    assert accounts_seen(two.url, two.key(1)) == [two.accounts[1]["id"]]
    two.stop()
    two.stop()  # a second stop is no error, as for a process


def test_options_serve_refuses_are_refused_with_their_name(host):
    with pytest.raises(RuntimeError, match="--segment-members must be between 0 and --profiles"):
        host.start(("--port", "0", "--profiles", "10", "--segment-members", "11"))
    with pytest.raises(RuntimeError, match="unrecognized arguments: --no-such-option"):
        host.start(("--port", "0", "--no-such-option"))
    assert host.start(("--port", "0", "--accounts", "1")).accounts  # the host goes on serving


def test_within_pytest_start_sandbox_uses_the_host_unless_turned_off(monkeypatch):
    monkeypatch.delenv("KLAVIYO_SANDBOX_HOST", raising=False)
    hosted = start_sandbox("--accounts", "1")
    try:
        assert hosted.process is None and hosted.host is not None
    finally:
        hosted.stop()
    monkeypatch.setenv("KLAVIYO_SANDBOX_HOST", "0")
    own = start_sandbox("--accounts", "1")
    try:
        assert own.process is not None and own.host is None
    finally:
        own.stop()


def test_the_host_ends_when_the_process_that_started_it_ends():
    # The parent is killed, so nothing closes the host's stdin but the kernel.
    parent = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; from klaviyo_sandbox.pytest_plugin import SandboxHost; host = SandboxHost();"
            "host.start(('--port', '0')); print(host.process.pid, flush=True); os.kill(os.getpid(), 9)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    host_pid = int(parent.stdout.strip())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(host_pid):
        time.sleep(0.1)
    assert not _alive(host_pid), "the host outlived the process that started it"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
