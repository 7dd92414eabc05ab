"""suite_rules.py's rule holds however the suite runs: a skipped test fails the run, serially and on pytest-xdist's
workers (where skips are reported by the workers and the exit status is the controller's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-p", "suite_rules", "-p", "no:cacheprovider", "-q", *args],
        cwd=folder,
        # Only xdist and the rules: no other installed plugin needs loading here.
        env={**os.environ, "PYTHONPATH": str(TESTS), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_skipped_test_fails_the_run(tmp_path, workers):
    (tmp_path / "test_some.py").write_text(
        "import pytest\n\ndef test_runs():\n    pass\n\ndef test_skipped():\n    pytest.skip('not here')\n"
    )
    result = run_pytest(tmp_path, *workers)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "1 test(s) skipped or xfailed; every test must run and pass" in result.stdout


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_run_where_every_test_passed_passes(tmp_path, workers):
    (tmp_path / "test_some.py").write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    result = run_pytest(tmp_path, *workers)
    assert result.returncode == pytest.ExitCode.OK, result.stdout
