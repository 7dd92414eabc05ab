"""Fixtures for the Snowflake emulator: the loader's Meltano venv (installed once) and a fresh warehouse folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from warehouse_runs import Warehouse, install_loader


@pytest.fixture(scope="session")
def loader_bin() -> Path:
    return install_loader()


@pytest.fixture
def warehouse(tmp_path: Path, loader_bin: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse", loader_bin)
