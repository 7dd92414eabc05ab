"""How fanout.py starts a tap process per (account, stream group): forked from a server that imported the tap once.

A fresh `python -m tap_klaviyo.tap` spends ~0.5 CPU-seconds importing singer-sdk, boto3 and requests before its
first request (`python -X importtime`), about half of what a child that reads a small group costs; a run of 3
accounts starts 12 of them, a run of 20 accounts 80. multiprocessing's fork server (Linux) imports the tap once
(fork_server_preload.py) and forks each child from that, single-threaded, so a child starts with the modules loaded
and nothing of the parent's threads or state. Each child's stdout is a pipe of its own, passed to it as a file
descriptor; the parent reads the Singer lines from it as from a subprocess.

The children are the server's, not the tap's. `stop_server()` ends the server and waits for it once every child has
been waited for: its CPU and peak memory, with those of the children it reaped, then count in the tap's
RUSAGE_CHILDREN as a subprocess's did (progress.log_usage, bench/process_cost.py's os.wait4).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import typing as t
from multiprocessing import forkserver
from multiprocessing.connection import Connection

if t.TYPE_CHECKING:
    from collections.abc import Iterator

PRELOAD = ["tap_klaviyo.fork_server_preload"]


class ChildProcess:
    """A started child: what fanout.py uses of `subprocess.Popen` (pid, stdout, wait, returncode, kill)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, stdout: t.BinaryIO) -> None:
        self._process = process
        self.stdout = stdout
        self.pid = process.pid

    @property
    def returncode(self) -> int | None:
        """As Popen's: None while it runs, the exit code, or minus the signal that ended it."""
        return self._process.exitcode

    def wait(self) -> int:
        self._process.join()
        return t.cast("int", self._process.exitcode)

    def kill(self) -> None:
        if self._process.exitcode is None:
            self._process.kill()


def start_server() -> None:
    """Start the fork server (and the resource tracker it starts) with /dev/null as stdout: otherwise they hold the
    tap's stdout, the loader's input, open for as long as they live. Call before this process writes anything, and
    before `start_child` (which would start it with this process's stdout and nothing preloaded)."""
    _server().set_forkserver_preload(PRELOAD)
    with _stdout_to_devnull():
        forkserver.ensure_running()


def stop_server() -> None:
    """End the fork server and wait for it, once every child started has been waited for (they are its children)."""
    # multiprocessing has no public way to end its fork server and reap it; ForkServer._stop (CPython's own tests use
    # it) closes the server's liveness pipe and waits for its pid. A no-op when no server runs.
    forkserver._forkserver._stop()  # type: ignore[attr-defined]


def start_child(argv: list[str]) -> ChildProcess:
    """`tap-klaviyo <argv>` in a child forked from the server, its stdout a pipe to this process."""
    read_end, write_end = os.pipe()
    writer = Connection(write_end, readable=False)  # sent to the child as a file descriptor of its own
    try:
        process = _server().Process(target=_child_main, args=(argv, writer), name="tap-klaviyo-child")
        process.start()
    finally:
        writer.close()  # the child holds the only write end: its exit is the pipe's end
    return ChildProcess(process, os.fdopen(read_end, "rb"))


def _server() -> multiprocessing.context.ForkServerContext:
    # Asked for when a run fans out, not at import: a platform without a fork server (Windows) can still run the tap
    # in one process (parallel_accounts=1, parallel_stream_groups=1) and --about.
    return multiprocessing.get_context("forkserver")


def _child_main(argv: list[str], out: Connection) -> None:
    _die_with_parent()
    os.dup2(out.fileno(), sys.stdout.fileno())
    out.close()
    # Only stdin, stdout and stderr stay open. multiprocessing hands each child the server's liveness pipe (and the
    # resource tracker's): held here, it kept the server, and so this child, alive after the tap was killed.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    from .tap import TapKlaviyo  # noqa: PLC0415 -- imported in the server already (PRELOAD)

    try:
        TapKlaviyo.cli.main(args=argv, prog_name="tap-klaviyo")
    finally:
        # multiprocessing ends the child with os._exit, which skips atexit; what the tap registered there (its
        # writer's pending records, logging's flush) runs as at an interpreter's exit.
        atexit._run_exitfuncs()


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the fork server dies, and the server ends when the tap that started it
    does (even by SIGKILL), so no orphan keeps reading."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@contextlib.contextmanager
def _stdout_to_devnull() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
