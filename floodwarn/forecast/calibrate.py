"""Conformalised quantile regression (CQR, Romano et al. 2019) and non-crossing quantiles.

The raw LightGBM 5 % / 95 % models are widened (or narrowed) by one offset per (station, horizon)
chosen on a calibration split that the models never saw, so the 90 % band has its nominal
coverage on exchangeable data. Crossing is removed by sorting — the band can only get wider.
"""

from __future__ import annotations

import numpy as np


def cqr_offset(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, alpha: float = 0.1) -> float:
    """The CQR offset: the ⌈(n+1)(1-α)⌉/n empirical quantile of max(lo - y, y - hi)."""
    lo, hi, y = (np.asarray(a, dtype=np.float64) for a in (lo, hi, y))
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y)
    scores = np.maximum(lo[ok] - y[ok], y[ok] - hi[ok])
    n = scores.size
    if n == 0:
        raise ValueError("no finite calibration rows for the conformal offset")
    level = min(1.0, np.ceil((n + 1) * (1 - alpha)) / n)
    return float(np.quantile(scores, level, method="higher"))


def noncrossing(q: np.ndarray) -> np.ndarray:
    """Sort quantile columns row-wise so that q05 <= q50 <= q95 always holds."""
    return np.sort(np.asarray(q, dtype=np.float64), axis=-1)


def apply_offset(q: np.ndarray, offset: float) -> np.ndarray:
    """Widen the outer quantiles of ``q[:, (lo, mid, hi)]`` by ``offset`` and uncross."""
    out = np.array(q, dtype=np.float64, copy=True)
    out[:, 0] -= offset
    out[:, 2] += offset
    return noncrossing(out)
