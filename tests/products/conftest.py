"""Fixtures for product tests: a real store file and the small real catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.warn.warnfix import new_store, write_catalog


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = new_store(tmp_path / "p.sqlite")
    yield s
    s.close()


@pytest.fixture
def catalog(tmp_path: Path) -> Any:
    return write_catalog(tmp_path / "stations")
