"""Warning levels, thresholds and the exceedance probability of a quantile forecast.

The level rules themselves (upgrade at once, downgrade after a dwell below threshold − margin)
live in :mod:`floodwarn.kernels.threshold` so that hindcasts and the live engine share one
implementation; this module only adapts catalog thresholds and forecast quantiles to them.

Exceedance probability from three quantiles
-------------------------------------------
A forecast gives q05, q50 and q95 of the stage. We read them as a *split-normal*
(two-piece normal) distribution: the median is q50, the spread below it is
``σ₋ = (q50 − q05) / z₀.₉₅`` and above it ``σ₊ = (q95 − q50) / z₀.₉₅`` with
``z₀.₉₅ = 1.6449``. This is the simplest smooth distribution that reproduces all three quantiles
exactly and keeps an asymmetric spread (stage forecasts are right-skewed in a flood). Then

``P(stage ≥ t) = 1 − Φ((t − q50) / σ₊)`` for ``t ≥ q50`` and ``1 − Φ((t − q50) / σ₋)`` below,

a step function where a spread is zero. Crossed quantiles (q05 > q50, a miscalibrated model)
are sorted first. Because P is monotone in t, "P(stage ≥ threshold) ≥ p" is the same as
"the (1 − p)-quantile trajectory reaches the threshold", so the engine finds the time to each
threshold with the shared ``first_crossing`` kernel on that trajectory (q50 when p = 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from floodwarn.kernels.threshold import first_crossing, hysteresis_step, raw_level

__all__ = [
    "LEVELS",
    "Level",
    "classify",
    "decision_quantile",
    "exceedance_probability",
    "first_crossing",
    "hysteresis_step",
    "level_index",
    "quantile_trajectory",
    "threshold_vector",
]


class Level(NamedTuple):
    """One warning level: catalog key, Korean and English names, CAP severity."""

    key: str
    ko: str
    en: str
    severity: str


#: the four levels, lowest first; level numbers are 1-based positions here (0 = no warning)
LEVELS: tuple[Level, ...] = (
    Level("attwl", "관심", "Watch", "Minor"),
    Level("wrnwl", "주의보", "Advisory", "Moderate"),
    Level("almwl", "경보", "Warning", "Severe"),
    Level("srswl", "심각", "Serious", "Extreme"),
)
LEVEL_KEYS: tuple[str, ...] = tuple(lv.key for lv in LEVELS)
_Z95 = NormalDist().inv_cdf(0.95)
_erfc = np.vectorize(math.erfc, otypes=[float])


def level_index(level: int | str) -> int:
    """1..4 from a level number, catalog key (``wrnwl``) or name (``주의보``, ``Advisory``)."""
    if isinstance(level, bool):
        raise ValueError(f"not a warning level: {level!r}")
    if isinstance(level, int | np.integer):
        if 1 <= int(level) <= len(LEVELS):
            return int(level)
        raise ValueError(f"warning level must be 1..{len(LEVELS)}, got {level}")
    text = str(level).strip()
    if text.isdigit():
        return level_index(int(text))
    for i, lv in enumerate(LEVELS, start=1):
        if text.lower() in (lv.key, lv.ko, lv.en.lower(), lv.severity.lower()):
            return i
    raise ValueError(f"not a warning level: {level!r} (known: {', '.join(LEVEL_KEYS)})")


def level_info(level: int) -> Level | None:
    """The :class:`Level` of a 1-based level number, None for 0 (no warning)."""
    return LEVELS[level - 1] if level > 0 else None


def threshold_vector(thresholds: Mapping[str, float]) -> np.ndarray:
    """Catalog thresholds → ``f8[4]`` in level order, NaN where unset (0 means unset too)."""
    out = np.full(len(LEVELS), np.nan)
    for i, key in enumerate(LEVEL_KEYS):
        v = thresholds.get(key)
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and float(v) != 0.0:
            out[i] = float(v)
    return out


def classify(value: float, thresholds: np.ndarray) -> int:
    """Raw level of one stage value (no hysteresis): highest set threshold ≤ value."""
    if value is None or not np.isfinite(value):
        return 0
    return int(raw_level(float(value), np.asarray(thresholds, dtype=float), 0.0))


def _spreads(q05: np.ndarray, q50: np.ndarray, q95: np.ndarray) -> tuple[np.ndarray, ...]:
    qs = np.sort(np.stack([np.asarray(q05, float), np.asarray(q50, float), np.asarray(q95, float)]), axis=0)
    lo, med, hi = qs[0], qs[1], qs[2]
    return med, (med - lo) / _Z95, (hi - med) / _Z95


def exceedance_probability(
    q05: np.ndarray | float, q50: np.ndarray | float, q95: np.ndarray | float, threshold: float
) -> np.ndarray:
    """P(stage ≥ threshold) under the split-normal through q05/q50/q95 (see module docs)."""
    med, s_lo, s_hi = _spreads(np.atleast_1d(q05), np.atleast_1d(q50), np.atleast_1d(q95))
    d = float(threshold) - med
    sigma = np.where(d >= 0, s_hi, s_lo)
    # a subnormal spread overflows to ±inf, which is the right limit (a certain outcome)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = np.where(sigma > 0, d / np.where(sigma > 0, sigma, 1.0), np.where(d > 0, np.inf, -np.inf))
    z = np.where(d == 0, 0.0, z)
    p = 0.5 * _erfc(np.nan_to_num(z, nan=0.0, posinf=40.0, neginf=-40.0) / math.sqrt(2.0))
    return np.where(np.isnan(med), np.nan, p)


def decision_quantile(p: float) -> float:
    """The quantile whose trajectory decides "P(exceed) ≥ p": 1 − p (0.5 → the median)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"exceedance_p must be in (0, 1), got {p}")
    return 1.0 - p


def quantile_trajectory(
    q05: np.ndarray, q50: np.ndarray, q95: np.ndarray, quantile: float
) -> np.ndarray:
    """The ``quantile`` of the split-normal at every lead (0.05/0.5/0.95 give q05/q50/q95)."""
    med, s_lo, s_hi = _spreads(q05, q50, q95)
    z = NormalDist().inv_cdf(quantile)
    return med + z * (s_hi if z >= 0 else s_lo)
