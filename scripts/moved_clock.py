"""The whole suite with every Python process's clock moved (what `make test-moved-clock` runs).

    .venv/bin/python scripts/moved_clock.py [--days 23.4] [pytest options...]

A test that passes today may fail on another date or at another hour (issue 17: a report test failed on 2026-12-02
because a day without activity has no row). This runs the suite again as if it were --days later (a fraction moves
the hour too), in every process the suite starts: pytest and its workers, the sandboxes, moto, the Snowflake
emulator, Meltano and every plugin it runs. What the tests read as "today" (the sandbox's `--end today`, the tap's
lookbacks and windows, the reports' timeframes) moves with it.

How: `time-machine` (https://github.com/adamchainz/time-machine) moves `time.time()`, `datetime.now()` and their
kin, not the monotonic clocks that sleeps and timeouts use. libfaketime cannot be used here (Debian's 0.9 makes
Python 3.11's `time.sleep` fail with EINVAL, or its timed waits never end, tried 2026-12-02). A `.pth` hook in each
venv (the development venv and every plugin venv under .meltano/) starts it at interpreter start-up when
MOVED_CLOCK_DAYS is set; without it, the hook does nothing. Each venv is checked before the suite starts: a clock
that did not move fails the run, so a pass always means the moved clock was in use.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
VENV = PROJECT / ".venv"
ENV_VAR = "MOVED_CLOCK_DAYS"
HOOK_MODULE = "_moved_clock_hook"
HOOK = f'''"""Written by scripts/moved_clock.py: with {ENV_VAR} set, this process's clock reads that many days later."""

import os

if os.environ.get("{ENV_VAR}"):
    from datetime import UTC, datetime, timedelta

    import time

    import time_machine

    time_machine.travel(datetime.now(UTC) + timedelta(days=float(os.environ["{ENV_VAR}"])), tick=True).start()
    # The moved clock starts ticking when first read (time-machine's Traveller.time_ns): read it now, or a process
    # that first asks the time seconds after start-up runs that many seconds behind the others.
    time.time_ns()
'''


def venvs() -> list[Path]:
    """The development venv and every plugin venv Meltano installed."""
    return [VENV, *sorted(PROJECT.glob(".meltano/*/*/venv"))]


def time_machine_pin() -> str:
    """time-machine's pinned version, from the development venv's lock: one version everywhere."""
    match = re.search(r"^time-machine==(\S+)$", (PROJECT / "requirements/dev.txt").read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit("requirements/dev.txt: time-machine is not pinned")
    return f"time-machine=={match[1]}"


def install_hook(venv: Path, requirement: str) -> None:
    """time-machine and the start-up hook into one venv (idempotent: `meltano install` may have made it anew)."""
    python = venv / "bin" / "python"
    if venv != VENV:
        subprocess.run([VENV / "bin" / "uv", "pip", "install", "--quiet", "--python", python, requirement], check=True)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / f"{HOOK_MODULE}.py").write_text(HOOK)
    (Path(site) / "moved_clock.pth").write_text(f"import {HOOK_MODULE}\n")


def clock_of(venv: Path, days: float | None) -> datetime:
    """What a new process of the venv's Python reads as now, with MOVED_CLOCK_DAYS set to days, or unset."""
    env = {name: value for name, value in os.environ.items() if name != ENV_VAR}
    if days is not None:
        env[ENV_VAR] = str(days)
    now = "from datetime import UTC, datetime; print(datetime.now(UTC).isoformat())"
    out = subprocess.run([venv / "bin" / "python", "-c", now], check=True, capture_output=True, text=True, env=env)
    return datetime.fromisoformat(out.stdout.strip())


def check_moved(venv: Path, days: float) -> None:
    """Each venv's Python, started as the suite starts it, reads the clock moved by days: or the run stops here."""
    moved_by = clock_of(venv, days) - clock_of(venv, None)
    if abs(moved_by - timedelta(days=days)) > timedelta(minutes=5):
        moved_days = moved_by / timedelta(days=1)
        raise SystemExit(f"{venv}: the clock moved {moved_days:.2f} days, not {days}: is the hook installed?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=23.4, help="how far the clock moves (negative: back)")
    args, pytest_options = parser.parse_known_args()
    requirement = time_machine_pin()
    every_venv = venvs()
    for venv in every_venv:
        install_hook(venv, requirement)
        check_moved(venv, args.days)
    moved = datetime.now(UTC) + timedelta(days=args.days)
    print(
        f"The clock moved {args.days} days in {len(every_venv)} venvs: as if at {moved:%Y-%m-%d %H:%M} UTC", flush=True
    )
    env = {**os.environ, ENV_VAR: str(args.days)}
    # time-machine's pytest plugin was imported by the hook before pytest could rewrite its asserts: say nothing of it.
    quiet = "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning"
    pytest = [str(VENV / "bin" / "pytest"), "-W", quiet, *pytest_options]
    return subprocess.run(pytest, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
