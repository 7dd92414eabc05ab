"""What a command costs, run as its own process: wall seconds, CPU seconds and peak RSS, from os.wait4's rusage.

Every bench script that starts a tap, a target or Meltano measures it here, so "CPU seconds" and "peak RSS" mean the
same in every figure they print: CPU of the process and its waited-for children (account processes, plugins) summed,
the peak of the largest of them.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

# Where one of the process's streams goes to (or comes from): a path (opened here, "wb" or for stdin "rb", and closed
# once the process holds it), an open file (the caller's to close), or subprocess.DEVNULL, PIPE or STDOUT.
Stream = Path | IO[Any] | int | None


@dataclass(frozen=True)
class ProcessCost:
    """What one process cost from its start to its exit, as wait4 gives it: user and system seconds of the process and
    the children it waited for, summed; peak RSS of the largest of them."""

    exit_code: int  # as subprocess says it: negative for the signal that ended it
    wall_seconds: float
    user_seconds: float
    system_seconds: float
    peak_rss_mb: float
    parent_peak_rss_mb: float  # this script's own peak when the process ended: see peak_is_own

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.system_seconds

    @property
    def peak_is_own(self) -> bool:
        """Linux carries a parent's peak RSS over into a child's ru_maxrss across fork and exec: peak_rss_mb is the
        process's own only while the script that started it stays smaller."""
        return self.parent_peak_rss_mb < self.peak_rss_mb


class MeasuredProcess:
    """A command started as its own process (`process`, a Popen, for what the caller does meanwhile: read its pipe,
    watch its pid); wait() reaps it and returns what it cost. Its output is thrown away unless `stdout`/`stderr` say
    where it goes: `MeasuredProcess(command, stdout=path).wait()` runs a command to its end."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        stdin: Stream = None,
        stdout: Stream = subprocess.DEVNULL,
        stderr: Stream = subprocess.DEVNULL,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        since: float | None = None,
    ) -> None:
        """`since`: the time.perf_counter() the wall time counts from, for a run that began before this process did
        (a feeding process started first); now if None."""
        self.since = time.perf_counter() if since is None else since
        with contextlib.ExitStack() as opened:

            def stream(value: Stream, mode: str) -> IO[Any] | int | None:
                return opened.enter_context(value.open(mode)) if isinstance(value, Path) else value

            self.process = subprocess.Popen(
                list(command),
                stdin=stream(stdin, "rb"),
                stdout=stream(stdout, "wb"),
                stderr=stream(stderr, "wb"),
                env=env,
                cwd=cwd,
            )

    def wait(self, timeout: float | None = None) -> ProcessCost:
        """Reap the process and say what it cost (its rusage comes only with the wait that reaps it, so Popen's own
        wait is not used). Past `timeout` seconds it is killed and subprocess.TimeoutExpired raised."""
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            # os.kill, not Popen.kill: that one polls, and a poll could reap the process before wait4 does.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill) if timeout is not None else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(self.process.pid, 0)
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - self.since
        self.process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen is not to wait for it again
        if timed_out.is_set():
            raise subprocess.TimeoutExpired(self.process.args, timeout or 0)
        return ProcessCost(
            exit_code=self.process.returncode,
            wall_seconds=wall,
            user_seconds=usage.ru_utime,
            system_seconds=usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,  # Linux: KB
            parent_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )


def rss_by_output(
    command: Sequence[str], stdout: Path, *, timeout: float | None = 600
) -> tuple[ProcessCost, list[tuple[int, float]]]:
    """What a process cost, and [(bytes written to `stdout` so far, its RSS in MB)] sampled every 20 ms: how its
    memory moves through a run (peak_between in tests/tap/tap_runs.py reads a stretch of it)."""
    samples: list[tuple[int, float]] = []
    run = MeasuredProcess(command, stdout=stdout)
    watched = psutil.Process(run.process.pid)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                samples.append((stdout.stat().st_size, watched.memory_info().rss / 2**20))
            done.wait(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        cost = run.wait(timeout)
    finally:
        done.set()
        sampler.join()
    return cost, samples
