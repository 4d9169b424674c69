"""The one place that decides how kernels are compiled.

Every kernel is decorated with :func:`jit`; caching and fastmath come from the environment
(``FLOODWARN_NUMBA_FASTMATH=1``) so no kernel hard-codes JIT flags. ``NUMBA_DISABLE_JIT=1`` runs
the same kernels as plain Python (for coverage runs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

FASTMATH = os.environ.get("FLOODWARN_NUMBA_FASTMATH", "0") == "1"


def jit(func: F) -> F:
    """``@njit(cache=True)`` with the project-wide flags."""
    return numba.njit(cache=True, fastmath=FASTMATH, nogil=True)(func)  # type: ignore[return-value]
