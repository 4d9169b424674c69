"""Threshold timing and the warning-level hysteresis state machine.

Thresholds are ordered levels 1..K (관심 attwl < 주의보 wrnwl < 경보 almwl < 심각 srswl); a NaN
threshold means "not set" and is skipped (the catalog's 0 must be turned into NaN by the
caller). Level 0 is "no warning".
"""

from __future__ import annotations

import numpy as np

from ._jit import jit


@jit
def first_crossing(traj: np.ndarray, lead_min: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Minutes to the first upward crossing of each threshold by each forecast trajectory.

    ``traj[S, L]`` forecast values at lead times ``lead_min[L]`` (minutes, increasing),
    ``thresholds[S, K]``; returns ``f8[S, K]``:

    - ``0`` if the first valid value is already at or above the threshold and it is the first
      lead; if leading values are NaN, the lead of the first valid value (the data cannot say
      earlier);
    - otherwise the linearly interpolated time at which the trajectory first reaches the
      threshold, between the last valid point below and the first point at or above it (NaN
      points in between are skipped);
    - NaN if the trajectory never reaches it, is all NaN, or the threshold is NaN (not set).
    """
    ns = traj.shape[0]
    nl = traj.shape[1]
    nk = thresholds.shape[1]
    out = np.empty((ns, nk))
    for s in range(ns):
        for k in range(nk):
            thr = thresholds[s, k]
            res = np.nan
            if not np.isnan(thr):
                prev_i = -1
                for i in range(nl):
                    v = traj[s, i]
                    if np.isnan(v):
                        continue
                    if v >= thr:
                        if prev_i < 0:
                            res = 0.0 if i == 0 else lead_min[i]
                        else:
                            pv = traj[s, prev_i]
                            pt = lead_min[prev_i]
                            res = pt + (thr - pv) / (v - pv) * (lead_min[i] - pt)
                        break
                    prev_i = i
            out[s, k] = res
    return out


@jit
def raw_level(value: float, thresholds: np.ndarray, offset: float) -> int:
    """Highest 1-based level whose (set) threshold ``+ offset`` is ``<= value``; 0 if none."""
    lvl = 0
    for k in range(thresholds.shape[0]):
        thr = thresholds[k]
        if not np.isnan(thr) and value >= thr + offset:
            lvl = k + 1
    return lvl


@jit
def hysteresis_step(
    level: int,
    below: int,
    target: int,
    value: float,
    thresholds: np.ndarray,
    margin: float,
    dwell: int,
) -> tuple[int, int, int]:
    """One step of the warning state machine; returns the new ``(level, below, target)``.

    ``below`` counts consecutive steps spent below ``threshold(level) - margin`` and ``target``
    is the highest level seen during that run (see :func:`hysteresis_levels` for the rules).
    Start from ``(0, 0, 0)``.
    """
    if np.isnan(value):
        return level, below, target
    up = raw_level(value, thresholds, 0.0)
    if up > level:
        return up, 0, 0
    down = raw_level(value, thresholds, -margin)
    if down >= level:
        return level, 0, 0
    target = down if below == 0 else max(target, down)
    below += 1
    need = dwell if dwell > 1 else 1
    if below >= need:
        return target, 0, 0
    return level, below, target


@jit
def hysteresis_levels(
    series: np.ndarray, thresholds: np.ndarray, margin: float, dwell: int
) -> np.ndarray:
    """Warning level at every step of ``series`` (hindcasts); the live engine uses the same rules.

    Rules, applied step by step from level 0:

    1. A NaN value holds the level and the downgrade count (it neither counts nor resets).
    2. Upgrade at once: if the value is at or above a set threshold higher than the current
       level, the level jumps straight to the highest such threshold (any number of levels).
    3. Downgrade only after ``dwell`` consecutive steps with the value below the current
       level's threshold minus ``margin``; it then drops to the highest level the values
       supported (value ``>= threshold - margin``) during those steps, not lower.
    4. A value back at or above ``threshold(level) - margin`` resets the downgrade count, so a
       series oscillating around a threshold does not flap.
    ``dwell <= 1`` downgrades on the first step below. Thresholds are in increasing order;
    NaN thresholds are "not set" and never entered.
    """
    n = series.shape[0]
    out = np.empty(n, dtype=np.int64)
    level = 0
    below = 0
    target = 0
    for i in range(n):
        level, below, target = hysteresis_step(
            level, below, target, series[i], thresholds, margin, dwell
        )
        out[i] = level
    return out
