"""Hydrological fallbacks for forecast points without a trained model (most of the 223).

``persistence-trend``: the latest stage plus its recent trend (least-squares slope over the last
hour, from :func:`floodwarn.kernels.rolling.trend`), extrapolated for at most one hour and then
held — rivers do not rise linearly for six hours. The band grows with the square root of the lead
from the station's own recent 10-minute variability, so a quiet gauge gets a narrow band and a
rising one a wide band.

Stations on the catalog's river network use ``routing+ar1`` (:mod:`floodwarn.forecast.hydro`)
first; ``persistence-trend`` is what is left where no network is known or its inputs are missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from floodwarn.forecast.calibrate import noncrossing

TREND_STEPS = 6  # slope over the last hour
TREND_HOLD_STEPS = 6  # extrapolate the slope for at most one hour
MIN_SIGMA_M = 0.02
Z90 = 1.645


def _slopes(levels: np.ndarray) -> np.ndarray:
    """Per-step slope over the trailing TREND_STEPS values of each row (NaN-aware)."""
    tail = np.ascontiguousarray(levels[:, -TREND_STEPS:], dtype=np.float64)
    try:
        from floodwarn.kernels.rolling import trend
    except ImportError:  # pragma: no cover - the kernels ship with the package
        trend = None
    if trend is not None:
        return trend(tail, TREND_STEPS, 0.5)[:, -1]
    x = np.arange(tail.shape[1], dtype=np.float64)
    out = np.full(tail.shape[0], np.nan)
    for i, row in enumerate(tail):
        ok = np.isfinite(row)
        if ok.sum() >= 3:
            out[i] = np.polyfit(x[ok], row[ok], 1)[0]
    return out


def persistence_trend(
    levels: np.ndarray, horizons_min: Sequence[int], step_min: int = 10, max_age_steps: int = 36
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecast ``q[station, lead, (q05, q50, q95)]`` from ``levels[station, time]`` (last = now).

    Returns ``(q, last_age_steps, ok)``: ``ok`` is False for a station without a value in the last
    ``max_age_steps`` (it gets no forecast); ``last_age_steps`` is 0 when the newest value is now.
    """
    levels = np.asarray(levels, dtype=np.float64)
    ns, nt = levels.shape
    valid = np.isfinite(levels)
    rev_first = np.where(valid.any(axis=1), np.argmax(valid[:, ::-1], axis=1), nt)
    age = rev_first.astype(np.int64)
    ok = age <= max_age_steps
    last = np.full(ns, np.nan)
    has = age < nt
    last[has] = levels[np.flatnonzero(has), nt - 1 - age[has]]
    slope = _slopes(levels)
    slope = np.where(np.isfinite(slope) & (age <= 1), slope, 0.0)
    d = np.diff(levels[:, -19:], axis=1)  # last 3 hours of 10-minute changes
    nd = np.isfinite(d).sum(axis=1)
    mean_d = np.where(nd > 0, np.nansum(np.where(np.isfinite(d), d, 0), axis=1) / np.maximum(nd, 1), 0)
    var_d = np.where(nd > 1, np.nansum(np.where(np.isfinite(d), (d - mean_d[:, None]) ** 2, 0), axis=1)
                     / np.maximum(nd - 1, 1), 0.0)
    sd_step = np.sqrt(var_d) + np.abs(slope) * 0.5
    h_steps = np.asarray(horizons_min, dtype=np.float64) / step_min
    steps = h_steps[None, :] + age[:, None]
    mid = last[:, None] + slope[:, None] * np.minimum(steps, TREND_HOLD_STEPS)
    sigma = np.maximum(MIN_SIGMA_M * np.sqrt(np.maximum(steps, 1) / 6), sd_step[:, None] * np.sqrt(steps))
    q = np.stack([mid - Z90 * sigma, mid, mid + Z90 * sigma], axis=-1)
    q = noncrossing(q.reshape(-1, 3)).reshape(ns, len(h_steps), 3)
    return q, age, ok
