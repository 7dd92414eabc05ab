"""What a newcomer installing a package trips on: each plugin says its version, and each package's requires-python is
the Python the project is tested on (ruff's and mypy's target in pyproject.toml, the image's)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(path.parent.name for path in ROOT.glob("*/pyproject.toml"))
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", ["tap-klaviyo", "tap-csv", "target-klaviyo"])
def test_every_plugin_says_its_version(command: str):
    out = subprocess.run([str(BIN / command), "--version"], capture_output=True, text=True, check=True).stdout
    assert re.match(rf"{command} v\d+\.\d+\.\d+, Meltano SDK v", out), out


@pytest.mark.parametrize("package", PACKAGES)
def test_requires_python_is_the_python_the_code_is_checked_and_tested_on(package: str):
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    tested = workspace["mypy"]["python_version"]
    assert workspace["ruff"]["target-version"] == "py" + tested.replace(".", "")
    project = tomllib.loads((ROOT / package / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == f">={tested}"
