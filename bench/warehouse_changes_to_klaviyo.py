"""A warehouse view of profiles pushed to Klaviyo, then 1% of it changed and pushed again: issue 16's "send only what
changed", end to end at sizes the suite does not run (tests/e2e/test_snowflake_view_changes.py runs 1,000 rows).

    .venv/bin/python bench/warehouse_changes_to_klaviyo.py [--profiles 100000] [--changed-share 0.01]

Exactly what that test does, through the same helpers (tests/e2e/view_changes.py): the scheduled
`snowflake-to-klaviyo` pod run as Argo runs it (LocalArgo, the rendered manifest's command and environment) against
the sandbox (rate limits off, as in the test) and the Snowflake emulator; tap-snowflake reads the whole view on each
run, target-klaviyo keeps its change memory on moto's S3 beside Meltano's state. First run; then `--changed-share`
of the rows of the table behind the view get a new lifetime value; second run. Printed side by side per run: rows
read (target-klaviyo's count of what the tap sent it), the profile import jobs the sandbox's request log shows and the
profiles they held (each job's `total_count`), target-klaviyo's summary, the pod's wall time and CPU (every process of
the pod: Meltano, the tap, the target, the emulator's DuckDB inside the tap) and the CPU and peak RSS of the tap and
the target (sampled every 0.2 s: lower bounds). It stops with a failure message when the second run sent anything
but the changed rows (the e-mails the sandbox imported, read back through Klaviyo's job profiles route).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "e2e"), str(ROOT / "tests")]

from view_changes import (  # noqa: E402
    change,
    changed_rows,
    import_jobs,
    imported_emails,
    job_sizes,
    local_argo,
    make_warehouse,
    run_pod,
    start_stack,
    summary,
)

from local_stand_ins import analytics  # noqa: E402
from local_stand_ins.argo import LocalArgo  # noqa: E402
from local_stand_ins.stack import LocalStack  # noqa: E402

ROLES = ("tap-snowflake", "target-klaviyo")  # a process is the role named in its command line's first two words
SAMPLE_SECONDS = 0.2


@dataclass
class Usage:
    """Per role: peak RSS (MB) and CPU seconds, of the processes seen while sampling."""

    peak_mb: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, dict[int, float]] = field(default_factory=dict)  # role -> pid -> CPU seconds at the last sample

    def cpu_of(self, role: str) -> float:
        return sum(self.cpu.get(role, {}).values())


class Sampler:
    """Samples this process's descendants until stopped: what a pod's tap and target take."""

    def __init__(self) -> None:
        self.usage = Usage()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Usage:
        self._thread.start()
        return self.usage

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            for process in psutil.Process().children(recursive=True):
                try:
                    with process.oneshot():
                        words = " ".join(Path(part).name for part in process.cmdline()[:2])
                        role = next((r for r in ROLES if r in words), None)
                        if role is None:
                            continue
                        rss = process.memory_info().rss / 2**20
                        times = process.cpu_times()
                except psutil.Error:  # ended between listing and reading
                    continue
                self.usage.peak_mb[role] = max(self.usage.peak_mb.get(role, 0.0), rss)
                self.usage.cpu.setdefault(role, {})[process.pid] = times.user + times.system


@dataclass
class Run:
    label: str
    wall: float
    cpu: float
    counts: dict[str, int]
    jobs: list[str]
    sizes: list[int]
    usage: Usage


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(label: str, stack: LocalStack, argo: LocalArgo) -> Run:
    """One pod run, then what the sandbox's request log says it sent. The pod's processes are reaped (by Meltano,
    then by LocalArgo), so RUSAGE_CHILDREN holds all their CPU; the stand-ins, children too, are still running."""
    stack.sandbox.reset()  # the request log from here on: this run's requests only
    before = children_cpu()
    with Sampler() as usage:
        pod = run_pod(argo)
    cpu = children_cpu() - before
    jobs = import_jobs(stack)
    return Run(label, pod.seconds, cpu, summary(pod.output), jobs, job_sizes(stack, jobs), usage)


def table(runs: list[Run]) -> None:
    rows: list[tuple[str, Callable[[Run], str]]] = [
        ("rows read", lambda r: f"{r.counts['read']:,}"),
        ("import jobs (request log)", lambda r: f"{len(r.jobs):,}"),
        ("profiles sent (jobs' total_count)", lambda r: f"{sum(r.sizes):,}"),
        *((f"summary: {key}", lambda r, key=key: f"{r.counts[key]:,}") for key in
          ("created", "changed", "unchanged", "sent", "accepted", "rejected")),
        ("wall s", lambda r: f"{r.wall:.1f}"),
        ("CPU s, the whole pod", lambda r: f"{r.cpu:.1f}"),
        *((f"CPU s, {role} (sampled)", lambda r, role=role: f"{r.usage.cpu_of(role):.1f}") for role in ROLES),
        *((f"peak RSS MB, {role} (sampled)", lambda r, role=role: f"{r.usage.peak_mb.get(role, 0):.0f}")
          for role in ROLES),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print(f"{'':{width}}  " + "  ".join(f"{run.label:>14}" for run in runs))
    for name, cell in rows:
        print(f"{name:{width}}  " + "  ".join(f"{cell(run):>14}" for run in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=100_000, help="rows of the view (customers)")
    parser.add_argument("--changed-share", type=float, default=0.01, help="share of them changed before the 2nd run")
    args = parser.parse_args()
    changed = changed_rows(args.profiles, args.changed_share)
    print(f"{args.profiles:,} profiles, {len(changed):,} changed before the second run; {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="warehouse-changes-") as tmp:
        warehouse, scratch = Path(tmp) / "warehouse", Path(tmp) / "pod"
        scratch.mkdir()
        start = time.perf_counter()
        make_warehouse(warehouse, args.profiles)
        print(f"warehouse table and view made in {time.perf_counter() - start:.1f} s", flush=True)
        stack = start_stack()
        try:
            argo = local_argo(stack, warehouse, scratch)
            first = measured("first run", stack, argo)
            print(f"first run: {first.wall:.1f} s", flush=True)
            start = time.perf_counter()
            change(warehouse, changed)
            print(f"{len(changed):,} rows changed in {time.perf_counter() - start:.1f} s", flush=True)
            second = measured("second run", stack, argo)
            emails = imported_emails(stack, second.jobs)
        finally:
            stack.stop()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    table([first, second])
    print(f"second run's wall time / first's: {second.wall / first.wall:.3f}; CPU: {second.cpu / first.cpu:.3f}")
    expected = sorted(analytics.email(n) for n in changed)
    if sum(first.sizes) != args.profiles:
        raise SystemExit(f"FAILED: the first run sent {sum(first.sizes):,} profiles, not all {args.profiles:,}")
    if emails != expected or sum(second.sizes) != len(changed):
        extra, missing = sorted(set(emails) - set(expected)), sorted(set(expected) - set(emails))
        raise SystemExit(
            f"FAILED: the second run sent {sum(second.sizes):,} profiles ({len(emails):,} imported), not the "
            f"{len(changed):,} changed rows: {len(extra):,} unchanged sent (first: {extra[:3]}), {len(missing):,} "
            f"changed not sent (first: {missing[:3]})"
        )
    print(f"the second run sent exactly the {len(changed):,} changed rows")


if __name__ == "__main__":
    main()
