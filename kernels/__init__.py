"""Numba kernels, imported as ``floodwarn.kernels``: pure array functions, no pandas, no I/O.

Each kernel is ``@jit`` (see :mod:`._jit`), NaN-aware, writes into arrays it allocates and never
raises; shape and value checks live in the stage wrappers (``floodwarn.qc``,
``floodwarn.features``, ...). Each has a slow reference twin in ``tests/reference.py``.

Submodules load on first use (PEP 562 ``__getattr__``): importing this package costs nothing,
and a process that only needs the rolling features never imports Numba for the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ar1_correct": "correction",
    "ar1_phi": "correction",
    "qc_flags": "qc",
    "rating_h": "rating",
    "rating_q": "rating",
    "StreamState": "rolling",
    "rate_of_change": "rolling",
    "rolling_multi": "rolling",
    "stream_init": "rolling",
    "stream_step": "rolling",
    "trend": "rolling",
    "muskingum_coefficients": "routing",
    "muskingum_cunge": "routing",
    "topological_order": "routing",
    "linear_reservoir": "runoff",
    "storage_function": "runoff",
    "first_crossing": "threshold",
    "hysteresis_levels": "threshold",
    "hysteresis_step": "threshold",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
