"""How fanout.py starts a tap process per (account, stream group): forked from a server that imported the tap once.

A fresh `python -m tap_klaviyo.tap` spends ~0.5 CPU-seconds importing singer-sdk, boto3 and requests before its
first request (`python -X importtime`), about half of what a child that reads a small group costs; a run of 3
accounts starts 12 of them, a run of 20 accounts 80. multiprocessing's fork server (Linux) imports the tap once and
forks each child from that, single-threaded, so a child starts with the modules loaded and nothing of the parent's
threads or state. Each child's stdout is a pipe of its own, passed to it as a file descriptor; the parent reads the
Singer lines from it as from a subprocess.

The children are the server's, not the tap's: their CPU and memory are not in the tap's RUSAGE_CHILDREN. Each child
sends its own usage at its end, and `finished_usage()` sums what the children waited for sent (progress.log_usage).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import multiprocessing
import os
import resource
import signal
import sys
import typing as t
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from threading import Lock

if t.TYPE_CHECKING:
    from collections.abc import Iterator

PRELOAD = ["tap_klaviyo.tap"]
_finished = {"cpu_seconds": 0.0, "peak_rss_mb": 0.0}  # of the children waited for (finished_usage)
_finished_lock = Lock()


def finished_usage() -> dict[str, float]:
    """CPU seconds (summed) and peak memory (the largest) of the children waited for that ended on their own."""
    with _finished_lock:
        return dict(_finished)


class ChildProcess:
    """A started child: what fanout.py uses of `subprocess.Popen` (pid, stdout, wait, returncode, kill)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, stdout: t.BinaryIO, usage: Connection) -> None:
        self._process = process
        self.stdout = stdout
        self.pid = process.pid
        self._usage = usage

    @property
    def returncode(self) -> int | None:
        """As Popen's: None while it runs, the exit code, or minus the signal that ended it."""
        return self._process.exitcode

    def wait(self) -> int:
        self._process.join()
        if not self._usage.closed:
            if self._usage.poll():  # nothing when it was killed
                cpu_seconds, peak_rss_mb = self._usage.recv()
                with _finished_lock:
                    _finished["cpu_seconds"] += cpu_seconds
                    _finished["peak_rss_mb"] = max(_finished["peak_rss_mb"], peak_rss_mb)
            self._usage.close()
        return t.cast("int", self._process.exitcode)

    def kill(self) -> None:
        if self._process.exitcode is None:
            self._process.kill()


def start_server() -> None:
    """Start the fork server (and the resource tracker it starts) with /dev/null as stdout: otherwise they hold the
    tap's stdout, the loader's input, open for as long as they live. Call before this process writes anything."""
    _server().set_forkserver_preload(PRELOAD)
    with _stdout_to_devnull():
        forkserver.ensure_running()


def start_child(argv: list[str]) -> ChildProcess:
    """`tap-klaviyo <argv>` in a child forked from the server, its stdout a pipe to this process."""
    start_server()  # a no-op once it runs
    read_end, write_end = os.pipe()
    writer = Connection(write_end, readable=False)  # sent to the child as a file descriptor of its own
    usage, usage_writer = _server().Pipe(duplex=False)
    try:
        process = _server().Process(target=_child_main, args=(argv, writer, usage_writer), name="tap-klaviyo-child")
        process.start()
    finally:
        writer.close()  # the child holds the only write ends: its exit is the pipes' end
        usage_writer.close()
    return ChildProcess(process, os.fdopen(read_end, "rb"), usage)


def _server() -> multiprocessing.context.ForkServerContext:
    # Asked for when a run fans out, not at import: a platform without a fork server (Windows) can still run the tap
    # in one process (parallel_accounts=1, parallel_stream_groups=1) and --about.
    return multiprocessing.get_context("forkserver")


def _child_main(argv: list[str], out: Connection, usage: Connection) -> None:
    _die_with_parent()
    os.dup2(out.fileno(), sys.stdout.fileno())
    out.close()
    # Only stdin, stdout, stderr and the usage pipe stay open. multiprocessing hands each child the server's liveness
    # pipe (and the resource tracker's): held here, it kept the server, and so this child, alive after the tap was
    # killed.
    os.closerange(3, usage.fileno())
    os.closerange(usage.fileno() + 1, os.sysconf("SC_OPEN_MAX"))
    from .tap import TapKlaviyo  # noqa: PLC0415 -- imported in the server already (PRELOAD)

    try:
        TapKlaviyo.cli.main(args=argv, prog_name="tap-klaviyo")
    finally:
        # multiprocessing ends the child with os._exit, which skips atexit; what the tap registered there (its
        # writer's pending records, logging's flush) runs as at an interpreter's exit.
        atexit._run_exitfuncs()
        own = resource.getrusage(resource.RUSAGE_SELF)
        usage.send((own.ru_utime + own.ru_stime, own.ru_maxrss / 1024))  # Linux: KB


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
