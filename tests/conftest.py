"""Shared fixtures: where ../shared/data is, and a fresh store per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# a loaded 2-core CI box must not turn slow examples into failures: no per-example deadline
settings.register_profile("floodwarn", deadline=None)
settings.load_profile("floodwarn")

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(__import__("os").environ.get("FLOODWARN_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real observations in ../shared/data; tests that need them skip with the reason."""
    d = SHARED / "data"
    if not (d / "hanriver").is_dir():
        pytest.skip(f"../shared/data not found at {d} (real-data tests need it; CI has it)")
    return d
