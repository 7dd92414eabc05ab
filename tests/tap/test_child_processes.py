"""The per-account tap processes forked from the fork server (tap_klaviyo/child_processes.py), in-process where they
can be: output through the pipe, exit codes, and no process outliving the tap or holding its stdout."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tap_klaviyo.child_processes import start_child, start_server, stop_server


@pytest.fixture
def server():
    start_server()
    yield
    stop_server()


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_a_childs_output_comes_through_its_pipe_and_it_exits_0(server):
    child = start_child(["--about", "--format", "json"])
    about = json.loads(child.stdout.read())
    assert child.wait() == 0 and child.returncode == 0
    assert about["name"] == "tap-klaviyo"


def test_once_the_server_is_stopped_its_and_its_childrens_cpu_are_this_processs():
    # What progress.log_usage and bench/process_cost.py read: the children are the server's, not this process's.
    before = children_cpu_seconds()
    start_server()
    child = start_child(["--about", "--format", "json"])
    child.stdout.read()
    child.wait()
    assert children_cpu_seconds() == before  # the server has not been waited for yet
    stop_server()
    assert children_cpu_seconds() >= before + 0.2  # its imports (PRELOAD) and its child's run


def test_a_child_that_fails_says_so_in_its_exit_code(server, tmp_path):
    child = start_child(["--config", str(tmp_path / "missing.json")])
    child.stdout.read()
    assert child.wait() != 0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended (nothing in a container may reap it)


TAP = textwrap.dedent(
    """
    import json, os, signal, sys
    from tap_klaviyo import child_processes
    child_processes.start_server()
    config = sys.argv[1]
    child = child_processes.start_child(["--config", config])
    print(json.dumps({"child": child.pid}), flush=True)
    signal.pause()
    """
)


def test_the_server_does_not_hold_the_taps_stdout_and_children_end_when_the_tap_is_killed(tmp_path):
    # A Klaviyo that accepts connections and never answers: the child waits on its first request.
    silent = socket.create_server(("127.0.0.1", 0))
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "accounts_json": json.dumps([{"account": "Acme", "api_key": "pk_test"}]),
                "api_url": f"http://127.0.0.1:{silent.getsockname()[1]}",
                "request_timeout": 300,
            }
        )
    )
    tap = subprocess.Popen([sys.executable, "-c", TAP, str(config)], stdout=subprocess.PIPE, text=True)
    try:
        assert tap.stdout is not None
        child = json.loads(tap.stdout.readline())["child"]
        silent.settimeout(60)
        request, _ = silent.accept()  # the child is waiting for Klaviyo's answer
        assert running(child)
        own_stdout = os.readlink(f"/proc/{tap.pid}/fd/1")
        helpers = children_of(tap.pid)  # the fork server and its resource tracker
        assert helpers
        for helper in helpers:
            assert os.readlink(f"/proc/{helper}/fd/1") != own_stdout, "a helper process holds the tap's stdout"
        tap.kill()
        tap.wait(timeout=30)
        deadline = time.monotonic() + 30
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(child), "the child outlived the tap"
        assert tap.stdout.read() == ""  # the pipe ends: nothing else holds it
    finally:
        tap.kill()
        silent.close()
        if "request" in locals():
            request.close()
