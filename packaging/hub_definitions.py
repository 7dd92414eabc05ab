"""Write Meltano Hub-style plugin definitions for the plugins this repository builds, so another Meltano project adds
them with `meltano add <type> <name> --from-ref packaging/hub/<type>s/<name>.yml` (see packaging/README.md).

Each definition is made from two sources and nothing else: the plugin's entry in meltano.yml (every setting with its
kind, label, description, default and sensitivity; tests/csv and tests/shared check those against the plugins'
schemas) and what the installed plugin says of itself in `--about --format json` (description and capabilities).
`pip_url` names the packages' PyPI names from their pyproject.toml, never the editable folders meltano.yml installs.

    .venv/bin/python packaging/hub_definitions.py          # write packaging/hub/
    .venv/bin/python packaging/hub_definitions.py --check  # exit 1 naming each definition that is out of date
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
HUB = Path(__file__).resolve().parent / "hub"
VARIANT = "klaviyo-warehouse"  # Meltano Hub tells variants of one plugin name apart by their maintainer's name
# The plugins this repository builds: meltano.yml type and name -> the folder whose package Meltano installs.
BUILT = {("extractors", "tap-klaviyo"): "tap-klaviyo", ("extractors", "tap-csv"): "tap-csv"}
BUILT[("loaders", "target-klaviyo")] = "target-klaviyo"
# Keys of a meltano.yml entry that describe the plugin, not this project's use of it (select, config, ...).
DEFINITION_KEYS = ("namespace", "executable", "settings_group_validation", "settings")
LABELS = {"tap-klaviyo": "Klaviyo (every account)", "tap-csv": "CSV (streaming)", "target-klaviyo": "Klaviyo (bulk)"}


def package_name(folder: str) -> str:
    return str(tomllib.loads((ROOT / folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"])


def about(executable: str) -> dict[str, Any]:
    """What the installed plugin says of itself (the development venv holds every plugin of this repository)."""
    command = [str(Path(sys.executable).parent / executable), "--about", "--format", "json"]
    return dict(json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout))


def definition(plugin_type: str, entry: dict[str, Any]) -> dict[str, Any]:
    name = entry["name"]
    said = about(entry["executable"])
    result: dict[str, Any] = {
        "name": name,
        "variant": VARIANT,
        "label": LABELS[name],
        "description": said["description"],
        "pip_url": package_name(BUILT[(plugin_type, name)]),
        "capabilities": sorted(said["capabilities"]),
        "keywords": ["meltano_sdk"],
        "maintenance_status": "active",
    }
    result.update({key: entry[key] for key in DEFINITION_KEYS if key in entry})
    return result


def rendered() -> dict[Path, str]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    files = {}
    for plugin_type, name in BUILT:
        entry = next(e for e in project["plugins"][plugin_type] if e["name"] == name)
        text = yaml.safe_dump(definition(plugin_type, entry), sort_keys=False, allow_unicode=True, width=120)
        header = "# Written by packaging/hub_definitions.py from meltano.yml and --about; do not edit.\n"
        files[HUB / plugin_type / f"{name}.yml"] = header + text
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a definition is out of date")
    args = parser.parse_args()
    stale = []
    for path, text in rendered().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"hub_definitions: {path} is out of date: run .venv/bin/python packaging/hub_definitions.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
