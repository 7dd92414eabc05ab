"""tap-klaviyo's JSON schemas of its streams, as the tap sends them in SCHEMA messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tap-klaviyo" / "tap_klaviyo" / "schemas"


def schema_of(stream: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{stream}.json").read_text())
