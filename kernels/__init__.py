"""Numba kernels, imported as ``floodwarn.kernels``: pure array functions, no pandas, no I/O.

Each kernel is ``@jit`` (see :mod:`._jit`), NaN-aware, writes into arrays it allocates and never
raises; shape and value checks live in the stage wrappers (``floodwarn.qc``,
``floodwarn.features``, ...). Each has a slow reference twin in ``tests/reference.py``.
"""

from .correction import ar1_correct, ar1_phi
from .qc import qc_flags
from .rating import rating_h, rating_q
from .rolling import (
    StreamState,
    rate_of_change,
    rolling_multi,
    stream_init,
    stream_step,
    trend,
)
from .routing import muskingum_coefficients, muskingum_cunge, topological_order
from .runoff import linear_reservoir, storage_function
from .threshold import first_crossing, hysteresis_levels, hysteresis_step

__all__ = [
    "StreamState",
    "ar1_correct",
    "ar1_phi",
    "linear_reservoir",
    "muskingum_coefficients",
    "muskingum_cunge",
    "rating_h",
    "rating_q",
    "storage_function",
    "topological_order",
    "first_crossing",
    "hysteresis_levels",
    "hysteresis_step",
    "qc_flags",
    "rate_of_change",
    "rolling_multi",
    "stream_init",
    "stream_step",
    "trend",
]
