"""Every plugin this repository builds describes itself: `--about` gives a one-line description, the text `meltano
add`, Meltano Hub definitions and `--about --format markdown` show first.

A plugin this repository builds is one of meltano.yml whose pip_url installs only folders of this repository
(`-e ./tap-klaviyo ...`); each runs from the virtual environment Meltano made for it under `.meltano/`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text())


def built_here() -> list[tuple[str, str, str]]:
    """(kind, name, executable) of every plugin whose pip_url is only `-e ./<folder>` entries of this repository."""
    plugins = []
    for kind, entries in PROJECT["plugins"].items():
        for plugin in entries:
            parts = plugin["pip_url"].split()
            folders = parts[1::2]
            if parts[0::2] == ["-e"] * len(folders) and all((ROOT / folder).is_dir() for folder in folders):
                plugins.append((kind, plugin["name"], plugin["executable"]))
    return plugins


def test_the_plugins_built_here_are_the_three_of_this_repository():
    assert {name for _, name, _ in built_here()} == {"tap-klaviyo", "tap-csv", "target-klaviyo"}


@pytest.mark.parametrize(("kind", "name", "executable"), built_here(), ids=[name for _, name, _ in built_here()])
def test_about_gives_a_one_line_description(kind, name, executable):
    command = ROOT / ".meltano" / kind / name / "venv" / "bin" / executable
    result = subprocess.run(
        [str(command), "--about", "--format", "json"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    about = json.loads(result.stdout)
    assert about["name"] == name
    description = about.get("description")
    assert isinstance(description, str), f"{name} --about: description {description!r}"
    assert description.strip() and "\n" not in description.strip(), description
