"""tap-csv as Meltano sees it: every setting of the tap declared in meltano.yml (kind, label, description; secrets
sensitive), and the `local` environment reading the sample orders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tap_csv.tap import TapCSV

REPO = Path(__file__).resolve().parents[2]
MELTANO = [str(Path(sys.executable).parent / "meltano"), "--environment", "local"]


def tap_csv_entry() -> dict:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    return next(plugin for plugin in project["plugins"]["extractors"] if plugin["name"] == "tap-csv")


def test_every_setting_of_the_tap_is_declared_in_meltano_yml():
    entry = tap_csv_entry()
    assert (entry["namespace"], entry["executable"], entry["pip_url"]) == (
        "tap_csv",
        "tap-csv",
        "-e ./tap-support -e ./tap-csv",
    )
    assert {"catalog", "discover", "state"} <= set(entry["capabilities"])
    declared = {setting["name"]: setting for setting in entry["settings"]}
    properties = TapCSV.config_jsonschema["properties"]
    # singer-sdk adds its built-in settings (stream_maps, flattening...) to the class's schema once instantiated.
    builtins: dict = {"properties": {}}
    TapCSV.append_builtin_config(builtins)
    assert set(declared) == set(properties) - set(builtins["properties"])
    for name, setting in declared.items():
        assert setting.get("kind") and setting.get("label") and setting.get("description"), name
        assert bool(setting.get("sensitive")) == bool(properties[name].get("secret")), name
    assert declared["storage_options"]["sensitive"] is True
    assert [option["value"] for option in declared["bad_rows"]["options"]] == properties["bad_rows"]["enum"]


def test_meltano_lists_the_settings_and_the_local_sample(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TAP_CSV_", "MELTANO_"))}
    result = subprocess.run(
        [*MELTANO, "config", "list", "tap-csv"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "data/sample_orders.csv" in result.stdout
    for name in ("files", "csv_files_definition", "s3_endpoint_url"):
        assert f"{name} " in result.stdout
    assert (REPO / "data" / "sample_orders.csv").read_bytes().startswith(b"ORDER_ID,")
