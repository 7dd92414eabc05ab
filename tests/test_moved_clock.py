"""scripts/moved_clock.py (`make test-moved-clock`): its hook moves a new process's clock when asked, and only then."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "moved_clock.py"


@pytest.fixture(scope="module")
def moved_clock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("moved_clock", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install_hook(module.VENV, module.time_machine_pin())  # the development venv: no install needed there
    return module


def test_the_hook_moves_a_new_process_clock_by_the_days_asked(moved_clock):
    moved_clock.check_moved(moved_clock.VENV, 30.25)
    moved_by = moved_clock.clock_of(moved_clock.VENV, -9.5) - moved_clock.clock_of(moved_clock.VENV, None)
    assert abs(moved_by - timedelta(days=-9.5)) < timedelta(minutes=1)


def test_a_clock_that_did_not_move_stops_the_run(moved_clock, tmp_path):
    bare = tmp_path / "venv"  # a Python without the hook
    (bare / "bin").mkdir(parents=True)
    (bare / "bin" / "python").symlink_to(sys.base_prefix + "/bin/python3")
    with pytest.raises(SystemExit, match=r"the clock moved -?0.00 days, not 30.0: is the hook installed\?"):
        moved_clock.check_moved(bare, 30.0)


def test_a_process_that_first_reads_the_clock_late_is_not_behind_the_others(moved_clock):
    """time-machine's clock ticks from its first reading: the hook reads it at start-up, so a process that first asks
    the time seconds later (a sandbox, a worker still importing) agrees with one started after it."""
    late_reader = "import time; time.sleep(2); print(time.time())"
    env = {**os.environ, moved_clock.ENV_VAR: "10"}
    late = subprocess.run([sys.executable, "-c", late_reader], env=env, capture_output=True, text=True, check=True)
    now = moved_clock.clock_of(moved_clock.VENV, 10)
    assert abs(now.timestamp() - float(late.stdout)) < 1.0  # 2 s behind without the first reading
