"""The one place that decides how kernels are compiled.

Every kernel is decorated with :func:`jit` (or :func:`jit_parallel` for the few whose outer loop
is over independent stations or reaches); caching and fastmath come from the environment
(``FLOODWARN_NUMBA_FASTMATH=1``) so no kernel hard-codes JIT flags. ``FLOODWARN_NUMBA_PARALLEL=0``
turns the ``prange`` loops into plain loops (one thread); Numba's own ``NUMBA_NUM_THREADS`` caps
the thread count. ``NUMBA_DISABLE_JIT=1`` runs the same kernels as plain Python (for coverage
runs). Kernels never raise, so arithmetic follows NumPy (``error_model="numpy"``: ``x / 0`` is
inf or NaN, not ``ZeroDivisionError``), which also lets loops with divisions vectorise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

FASTMATH = os.environ.get("FLOODWARN_NUMBA_FASTMATH", "0") == "1"
PARALLEL = os.environ.get("FLOODWARN_NUMBA_PARALLEL", "1") == "1"

prange = numba.prange


def jit(func: F) -> F:
    """``@njit(cache=True)`` with the project-wide flags."""
    return numba.njit(
        cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy"
    )(func)  # type: ignore[return-value]


def jit_parallel(func: F) -> F:
    """:func:`jit` plus ``parallel`` (from ``FLOODWARN_NUMBA_PARALLEL``) for ``prange`` loops."""
    return numba.njit(  # type: ignore[return-value]
        cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy", parallel=PARALLEL
    )(func)


def n_threads() -> int:
    """Threads a :func:`jit_parallel` kernel will use (1 when parallel is off)."""
    return numba.get_num_threads() if PARALLEL else 1
