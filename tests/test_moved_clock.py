"""scripts/moved_clock.py (`make test-moved-clock`): its hook moves a new process's clock when asked, and only then."""

from __future__ import annotations

import importlib.util
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
