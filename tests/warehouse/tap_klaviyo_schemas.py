"""tap-klaviyo's JSON schemas of its streams, as the tap sends them in SCHEMA messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = (ROOT / "tap-klaviyo" / "tap_klaviyo" / "schemas", Path(__file__).parent / "data" / "schemas")


def schema_of(stream: str) -> dict[str, Any]:
    for folder in FOLDERS:
        path = folder / f"{stream}.json"
        if path.is_file():
            return json.loads(path.read_text())
    raise FileNotFoundError(f"no schema for stream {stream}")
