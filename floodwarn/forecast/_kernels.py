"""The one place the forecast package reaches into :mod:`floodwarn.kernels`.

The kernels are written by another work stream; until a kernel lands, a plain NumPy twin with the
same contract stands in so the forecast package keeps working. Which one ran is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)


def _numpy_rolling_sums(x: np.ndarray, windows: Sequence[int], min_valid_frac: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    valid = np.isfinite(x)
    xz = np.where(valid, x, 0.0)
    n = x.shape[-1]
    cs = np.concatenate([np.zeros(x.shape[:-1] + (1,)), np.cumsum(xz, axis=-1)], axis=-1)
    cv = np.concatenate([np.zeros(x.shape[:-1] + (1,)), np.cumsum(valid, axis=-1)], axis=-1)
    out = np.full((len(windows),) + x.shape, np.nan)
    idx = np.arange(1, n + 1)
    for j, w in enumerate(windows):
        lo = np.maximum(idx - w, 0)
        s = cs[..., idx] - cs[..., lo]
        c = cv[..., idx] - cv[..., lo]
        need = max(1, int(np.ceil(min_valid_frac * w)))
        out[j] = np.where(c >= need, s, np.nan)
    return out


def rolling_sums(x: np.ndarray, windows: Sequence[int], min_valid_frac: float = 0.5) -> np.ndarray:
    """Trailing (causal) NaN-aware sums: ``out[window, series, time]``."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    try:
        from floodwarn.kernels.rolling import rolling_multi  # type: ignore[import-not-found]
    except ImportError:
        return _numpy_rolling_sums(x, windows, min_valid_frac)
    sums, _means, _maxs = rolling_multi(
        np.ascontiguousarray(x), np.asarray(windows, dtype=np.int64), float(min_valid_frac)
    )
    return sums
