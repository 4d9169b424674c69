"""Last-known offset: correct a forecast made without the station's gauge by how far off the same
model was while the gauge still reported.

Why: the ``nbr`` and ``sim`` models forecast a station whose own gauge is missing. Their error is
mostly a level offset that changes from year to year — the bridges' gauges moved against each
other by 5-20 cm between seasons (Jamsu − Hangang at low flow: 2.09-2.21 m in 2012-2019, 2.29 in
2020, 2.12 in 2021) — which no input of those models can know. The gauge's own record up to the
failure does: the mean residual of the model's shortest-lead forecast over the last day the
gauge reported is that offset (on 2021, with the gauge gone 6 h: ``nbr`` 10-min RMSE 3.9-9.3 →
1.8-3.2 cm). This is the error-correction step operational systems (FEWS, NWS) run on a
simulation, with the correction frozen at its last value while the gauge is out.

One definition for the live cycle and the batch hindcast: a residual ``r[i] = own[i] −
nowcast[i − k]`` (the nowcast issued ``k`` steps earlier, for ``i``), averaged over the
:data:`WINDOW_STEPS` positions ending at the gauge's last report; none with fewer than
:data:`MIN_PAIRS` residuals or a report older than :data:`MAX_AGE_STEPS`.
"""

from __future__ import annotations

import numpy as np

#: residuals averaged over one day (144 ten-minute steps): tide and diurnal errors average out
WINDOW_STEPS = 144
#: at least 6 h of residuals, else no correction
MIN_PAIRS = 36
#: the last report may be up to 48 h old (the datum offset is slow; on 2021 a 48-h-old offset
#: still takes the ``nbr`` 10-min RMSE from 3.9-9.3 to 1.9-3.4 cm)
MAX_AGE_STEPS = 288


def residuals(own: np.ndarray, nowcast: np.ndarray, k: int) -> np.ndarray:
    """``r[i] = own[i] − nowcast[i − k]``; NaN where either is missing or ``i < k``."""
    own = np.asarray(own, dtype=np.float64)
    nowcast = np.asarray(nowcast, dtype=np.float64)
    if k < 1:
        raise ValueError("k must be at least one step")
    r = np.full(len(own), np.nan)
    if len(own) > k:
        r[k:] = own[k:] - nowcast[: len(own) - k]
    return r


def offset_at(r: np.ndarray, end: int) -> float:
    """Mean of ``r`` over the :data:`WINDOW_STEPS` positions ending at ``end`` (inclusive);
    NaN with fewer than :data:`MIN_PAIRS` finite residuals or ``end < 0``."""
    if end < 0:
        return float("nan")
    part = np.asarray(r[max(0, end - WINDOW_STEPS + 1): end + 1], dtype=np.float64)
    ok = np.isfinite(part)
    if ok.sum() < MIN_PAIRS:
        return float("nan")
    return float(part[ok].mean())


def offset_series(r: np.ndarray, age_steps: int, rows: np.ndarray | None = None) -> np.ndarray:
    """``out[t] = offset_at(r, t − age_steps)`` for every row ``t`` (or the indices ``rows``):
    the correction a forecast at ``t`` gets when the gauge last reported ``age_steps`` earlier
    (batch hindcasts; the same arithmetic as the live cycle's :func:`offset_at`)."""
    at = np.arange(len(r)) if rows is None else np.asarray(rows)
    return np.array([offset_at(r, int(t) - age_steps) for t in at], dtype=np.float64)


def last_report(own: np.ndarray) -> int | None:
    """Index of the last finite value of ``own``, or None."""
    idx = np.flatnonzero(np.isfinite(np.asarray(own, dtype=np.float64)))
    return int(idx[-1]) if len(idx) else None
