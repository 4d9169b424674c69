"""The installed package exposes every sub-package, kernels included (as floodwarn.kernels)."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "floodwarn").rglob("__init__.py")
        if "static" not in p.parts
    } | {"floodwarn.kernels"}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_kernels_import_as_floodwarn_kernels() -> None:
    mod = importlib.import_module("floodwarn.kernels")
    assert Path(mod.__file__).resolve().parent == ROOT / "kernels"
