"""`make demo`, the README's first command, runs and shows what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_demo_prints_every_account_and_endpoint():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], check=False, capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Acme Outdoors" in lines[2] and "Copperline Coffee" in lines[2]
    events = next(line for line in lines if line.startswith("events"))
    assert events.count("20,000 rows") == 3
    assert "pk_sandbox_" not in result.stdout  # keys stay out of what the demo prints
