"""Hydrological fallbacks for forecast points without a trained model (most of the 223).

``persistence-trend``: the latest stage plus half its recent rate of rise (least-squares slope
over the hour ending at the newest value), extrapolated for at most one hour and then held —
rivers do not rise linearly for six hours, and a one-hour slope overshoots as often as not.
Works on any reporting interval: 10-minute gauges and hourly gauges on the 10-minute grid
(the slope needs two values at least 30 minutes apart; the lead counts from the newest value).

The 5–95 % band is **empirical**: the 5 % and 95 % quantiles of the forecast error
(observed − q50) by lead and by the recent rate of rise, measured on real gauges
(:data:`BAND_Q05`, :data:`BAND_Q95`, made by :func:`calibrate_band` through
``tools/calibrate_fallback.py``; numbers and out-of-sample checks in ``docs/unseen-floods.md``).
A quiet gauge gets a narrow band, a rising one a wide band skewed upwards.

Stations on the catalog's river network use ``routing+ar1`` (:mod:`floodwarn.forecast.hydro`)
first; ``persistence-trend`` is what is left where no network is known or its inputs are missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from floodwarn.forecast.calibrate import noncrossing

#: the slope is fitted over the values in this window ending at the newest value (minutes)
TREND_WINDOW_MIN = 60
#: ... and needs at least two values spanning this much
TREND_MIN_SPAN_MIN = 30
#: no slope from a gauge whose newest value is older than this (minutes)
TREND_MAX_AGE_MIN = 90
#: share of the slope extrapolated (chosen on 2015–2019; a full slope hurt on fast rises)
TREND_DAMP = 0.5
#: the slope is extrapolated for at most this long after the newest value, then held
TREND_HOLD_MIN = 60
#: smallest band half-width: the gauges' resolution (1 cm)
MIN_HALF_WIDTH_M = 0.01

#: rate-of-rise classes (m/h): upper edges; a rate ≥ the last edge is the last class
RATE_EDGES_M_PER_H = (-0.05, -0.005, 0.005, 0.05, 0.15)
RATE_CLASS_NAMES = ("falling fast", "falling", "steady", "rising", "rising fast", "rising very fast")
#: activity = range (max − min) of the stage over the last ACTIVITY_WINDOW_MIN before the newest
#: value: a river at its flood peak has no rate but far larger errors than a quiet one
ACTIVITY_WINDOW_MIN = 360
ACTIVITY_EDGES_M = (0.1, 0.5)
ACTIVITY_CLASS_NAMES = ("quiet", "active", "in flood")
#: band classes: rate class × activity class, row = rate * len(ACTIVITY_CLASS_NAMES) + activity
N_CLASSES = len(RATE_CLASS_NAMES) * len(ACTIVITY_CLASS_NAMES)
#: leads (minutes after the newest value) at which the band quantiles are tabulated
BAND_LEADS_MIN = (60, 120, 180, 240, 300, 360)
#: 5 % / 95 % quantiles of observed − q50 (m) [rate class][lead], from tools/calibrate_fallback.py
#: on the hourly Geum gauges below Yongdam dam, 2015–2019 (21 gauges, gap fills masked)
BAND_Q05: tuple[tuple[float, ...], ...] = (
    (-0.035, -0.055, -0.065, -0.065, -0.06, -0.06),
    (-0.055, -0.14, -0.215, -0.29, -0.355, -0.42),
    (-0.11, -0.28, -0.41, -0.52, -0.615, -0.695),
    (-0.01, -0.02, -0.03, -0.035, -0.045, -0.055),
    (-0.035, -0.07, -0.105, -0.135, -0.17, -0.2),
    (-0.12, -0.281, -0.513, -0.551, -0.575, -0.631),
    (-0.01, -0.01, -0.02, -0.02, -0.02, -0.03),
    (-0.04, -0.08, -0.107, -0.12, -0.12, -0.13),
    (-0.07, -0.18, -0.435, -0.5, -0.53, -0.549),
    (-0.02, -0.025, -0.03, -0.035, -0.045, -0.045),
    (-0.04, -0.085, -0.105, -0.12, -0.125, -0.135),
    (-0.158, -0.268, -0.525, -0.57, -0.64, -0.652),
    (-0.05, -0.08, -0.1, -0.11, -0.12, -0.125),
    (-0.065, -0.1, -0.125, -0.145, -0.165, -0.18),
    (-0.13, -0.22, -0.326, -0.411, -0.516, -0.578),
    (-0.33, -0.425, -0.495, -0.485, -0.49, -0.535),
    (-0.33, -0.425, -0.495, -0.485, -0.49, -0.535),
    (-0.78, -0.795, -0.81, -0.855, -0.885, -0.92),
)
BAND_Q95: tuple[tuple[float, ...], ...] = (
    (0.09, 0.104, 0.12, 0.13, 0.135, 0.135),
    (0.13, 0.17, 0.21, 0.215, 0.225, 0.234),
    (0.29, 0.309, 0.329, 0.458, 0.464, 0.43),
    (0.015, 0.025, 0.03, 0.035, 0.045, 0.05),
    (0.03, 0.085, 0.105, 0.115, 0.125, 0.125),
    (0.078, 0.151, 0.226, 0.287, 0.373, 0.37),
    (0.01, 0.01, 0.01, 0.02, 0.02, 0.03),
    (0.06, 0.1, 0.12, 0.13, 0.14, 0.16),
    (0.54, 0.54, 0.547, 0.568, 0.56, 0.58),
    (0.015, 0.035, 0.055, 0.07, 0.085, 0.105),
    (0.05, 0.11, 0.175, 0.245, 0.32, 0.385),
    (0.095, 0.227, 0.374, 0.482, 0.574, 0.662),
    (0.08, 0.16, 0.22, 0.245, 0.255, 0.287),
    (0.15, 0.375, 0.585, 0.735, 0.861, 0.96),
    (0.135, 0.352, 0.481, 0.632, 0.732, 0.88),
    (0.4, 0.735, 0.855, 0.971, 1.007, 1.001),
    (0.4, 0.735, 0.855, 0.971, 1.007, 1.001),
    (0.385, 0.665, 0.865, 1.03, 1.11, 1.131),
)


def recent_state(levels: np.ndarray, step_min: int = 10
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(last, age_steps, rate_m_per_min, activity_m)`` of each row of ``levels[station, time]``.

    The last column is now. ``age_steps`` is ``len(time)`` for a row without any value; ``rate``
    is the least-squares slope of the values within :data:`TREND_WINDOW_MIN` before the newest
    one (NaN when fewer than two values span :data:`TREND_MIN_SPAN_MIN`, or the newest is older
    than :data:`TREND_MAX_AGE_MIN`); ``activity`` the range of the values within
    :data:`ACTIVITY_WINDOW_MIN` before the newest one (0 with one value, NaN with none).
    """
    levels = np.asarray(levels, dtype=np.float64)
    if levels.ndim != 2:
        raise ValueError("levels must be 2-D [station, time]")
    ns, nt = levels.shape
    valid = np.isfinite(levels)
    age = np.where(valid.any(axis=1), np.argmax(valid[:, ::-1], axis=1), nt).astype(np.int64)
    last = np.full(ns, np.nan)
    has = age < nt
    last[has] = levels[np.flatnonzero(has), nt - 1 - age[has]]
    # minutes of each column relative to each row's newest value
    t = (np.arange(nt)[None, :] - (nt - 1 - age)[:, None]).astype(np.float64) * step_min
    w = valid & (t <= 0) & (t >= -TREND_WINDOW_MIN)
    n = w.sum(axis=1)
    tw = np.where(w, t, 0.0)
    yw = np.where(w, levels, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tm = tw.sum(axis=1) / n
        ym = yw.sum(axis=1) / n
        dt = np.where(w, t - tm[:, None], 0.0)
        sxx = (dt**2).sum(axis=1)
        rate = (dt * np.where(w, levels - ym[:, None], 0.0)).sum(axis=1) / sxx
    span = np.where(n > 0, -np.where(w, t, 0.0).min(axis=1), 0.0)
    good = has & (n >= 2) & (span >= TREND_MIN_SPAN_MIN) & (age * step_min <= TREND_MAX_AGE_MIN)
    wa = valid & (t <= 0) & (t >= -ACTIVITY_WINDOW_MIN)
    hi = np.where(wa, levels, -np.inf).max(axis=1)
    lo = np.where(wa, levels, np.inf).min(axis=1)
    activity = np.where(has, hi - lo, np.nan)
    return last, age, np.where(good, rate, np.nan), activity


def reporting_interval_steps(levels: np.ndarray, n_diffs: int = 3) -> np.ndarray:
    """Each row's reporting interval in grid steps: the shortest of its last ``n_diffs`` steps
    between values (1 for a row with fewer than two values). An hourly gauge on the 10-minute
    grid is 6: its value 40 minutes old is on time, not stale."""
    valid = np.isfinite(np.asarray(levels, dtype=np.float64))
    out = np.ones(valid.shape[0], dtype=np.int64)
    for i, row in enumerate(valid):
        idx = np.flatnonzero(row)[-(n_diffs + 1):]
        if len(idx) >= 2:
            out[i] = int(np.diff(idx).min())
    return out


def band_class(rate_m_per_h: np.ndarray, activity_m: np.ndarray) -> np.ndarray:
    """Row of the band table: rate class × activity class (unknown rate = steady, unknown
    activity = quiet)."""
    r = np.asarray(rate_m_per_h, dtype=np.float64)
    a = np.asarray(activity_m, dtype=np.float64)
    rc = np.searchsorted(np.asarray(RATE_EDGES_M_PER_H), np.where(np.isfinite(r), r, 0.0), side="right")
    ac = np.searchsorted(np.asarray(ACTIVITY_EDGES_M), np.where(np.isfinite(a), a, 0.0), side="right")
    return (rc * len(ACTIVITY_CLASS_NAMES) + ac).astype(np.int64)


def class_name(cls: int) -> str:
    r, a = divmod(int(cls), len(ACTIVITY_CLASS_NAMES))
    return f"{RATE_CLASS_NAMES[r]}, {ACTIVITY_CLASS_NAMES[a]}"


def median_forecast(last: np.ndarray, rate_m_per_min: np.ndarray, lead_min: np.ndarray) -> np.ndarray:
    """q50 at ``lead_min[station, lead]`` after each newest value: damped slope, then held."""
    r = np.where(np.isfinite(rate_m_per_min), rate_m_per_min, 0.0)
    return last[:, None] + TREND_DAMP * r[:, None] * np.minimum(lead_min, TREND_HOLD_MIN)


def band_offsets(cls: np.ndarray, lead_min: np.ndarray,
                 q05: Sequence[Sequence[float]] = BAND_Q05,
                 q95: Sequence[Sequence[float]] = BAND_Q95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) offsets from q50 at ``lead_min[station, lead]`` for each station's class.

    Linear in the lead between the tabulated leads; below the first one the first value shrinks
    with the square root of the lead (a random walk's spread), beyond the last one it grows so.
    """
    lo_t, hi_t = np.asarray(q05, dtype=np.float64), np.asarray(q95, dtype=np.float64)
    leads = np.asarray(BAND_LEADS_MIN, dtype=np.float64)
    lead = np.maximum(np.asarray(lead_min, dtype=np.float64), 1.0)
    out = []
    for table in (lo_t, hi_t):
        rows = table[cls]  # [station, tabulated lead]
        v = np.empty(lead.shape)
        for i in range(lead.shape[0]):
            v[i] = np.interp(lead[i], leads, rows[i])
        v = np.where(lead < leads[0], rows[:, :1] * np.sqrt(lead / leads[0]), v)
        v = np.where(lead > leads[-1], rows[:, -1:] * np.sqrt(lead / leads[-1]), v)
        out.append(v)
    lo = np.minimum(out[0], -MIN_HALF_WIDTH_M)
    hi = np.maximum(out[1], MIN_HALF_WIDTH_M)
    return lo, hi


def persistence_trend(
    levels: np.ndarray, horizons_min: Sequence[int], step_min: int = 10, max_age_steps: int = 36
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecast ``q[station, lead, (q05, q50, q95)]`` from ``levels[station, time]`` (last = now).

    Returns ``(q, last_age_steps, ok)``: ``ok`` is False for a station without a value in the last
    ``max_age_steps`` (it gets no forecast); ``last_age_steps`` is 0 when the newest value is now.
    The leads count from the newest value (an hourly value 40 minutes old forecast 20 minutes
    ahead is a 60-minute forecast), so an hourly gauge gets the band of its real lead.
    """
    levels = np.asarray(levels, dtype=np.float64)
    last, age, rate, activity = recent_state(levels, step_min)
    ok = age <= max_age_steps
    h = np.asarray(horizons_min, dtype=np.float64)
    lead = h[None, :] + (np.minimum(age, levels.shape[1]) * step_min)[:, None]
    mid = median_forecast(last, rate, lead)
    lo, hi = band_offsets(band_class(rate * 60.0, activity), lead)
    q = np.stack([mid + lo, mid, mid + hi], axis=-1)
    q = noncrossing(q.reshape(-1, 3)).reshape(len(last), len(h), 3)
    return q, age, ok


# --------------------------------------------------------------------------- calibration


def forecast_errors(series: np.ndarray, step_min: int, leads_min: Sequence[int] = BAND_LEADS_MIN,
                    mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Errors of :func:`persistence_trend`'s q50 on one regular series, for every issue time.

    Returns ``(err[origin, lead], cls[origin], origin_index)`` for the origins with a value now,
    a known rate and ``mask`` True (default: all); ``err`` is NaN where the future value is
    missing. The same :func:`recent_state` and :func:`median_forecast` as the live forecast.
    """
    x = np.asarray(series, dtype=np.float64)
    w = max(TREND_WINDOW_MIN, ACTIVITY_WINDOW_MIN) // step_min + 1
    if len(x) < w:
        empty = np.empty((0, len(leads_min)))
        return empty, np.empty(0, np.int64), np.empty(0, np.int64)
    win = np.lib.stride_tricks.sliding_window_view(x, w)  # row k ends at index k + w - 1
    origin = np.arange(w - 1, len(x))
    keep = np.isfinite(win[:, -1])
    if mask is not None:
        keep &= np.asarray(mask, bool)[origin]
    win, origin = win[keep], origin[keep]
    last, _, rate, activity = recent_state(win, step_min)
    known = np.isfinite(rate)
    last, rate, activity, origin = last[known], rate[known], activity[known], origin[known]
    steps = np.asarray(leads_min, dtype=np.int64) // step_min
    lead = np.broadcast_to(np.asarray(leads_min, dtype=np.float64), (len(origin), len(steps)))
    mid = median_forecast(last, rate, lead)
    fut_i = origin[:, None] + steps[None, :]
    inside = fut_i < len(x)
    fut = np.where(inside, x[np.minimum(fut_i, len(x) - 1)], np.nan)
    return fut - mid, band_class(rate * 60.0, activity), origin


def calibrate_band(errors: np.ndarray, classes: np.ndarray, n_classes: int = N_CLASSES,
                   coverage: float = 0.90, min_n: int = 50
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empirical ``(q_lo, q_hi, n)`` of ``errors[origin, lead]`` per band class and lead.

    A class with fewer than ``min_n`` errors at a lead borrows the nearest activity class of
    the same rate class (the more active one first), else the nearest rate class towards
    steady: a band is never made from a handful of cases.
    """
    a = (1.0 - coverage) / 2.0
    nl = errors.shape[1]
    lo = np.full((n_classes, nl), np.nan)
    hi = np.full((n_classes, nl), np.nan)
    n = np.zeros((n_classes, nl), dtype=np.int64)
    for c in range(n_classes):
        for j in range(nl):
            e = errors[classes == c, j]
            e = e[np.isfinite(e)]
            n[c, j] = len(e)
            if len(e) >= min_n:
                lo[c, j], hi[c, j] = np.quantile(e, [a, 1.0 - a])
    na = len(ACTIVITY_CLASS_NAMES)
    nr = n_classes // na
    steady = RATE_CLASS_NAMES.index("steady")
    for c in range(n_classes):
        r, act = divmod(c, na)
        order = sorted(range(na), key=lambda k: (abs(k - act), -k))
        rates = sorted(range(nr), key=lambda k: (abs(k - r), abs(k - steady)))
        for j in range(nl):
            if not np.isnan(lo[c, j]):
                continue
            for rr in rates:
                k = next((rr * na + aa for aa in order if not np.isnan(lo[rr * na + aa, j])), None)
                if k is not None:
                    lo[c, j], hi[c, j] = lo[k, j], hi[k, j]
                    break
    return lo, hi, n


def band_coverage(errors: np.ndarray, classes: np.ndarray,
                  q05: Sequence[Sequence[float]] = BAND_Q05,
                  q95: Sequence[Sequence[float]] = BAND_Q95) -> np.ndarray:
    """Share of ``errors[origin, lead]`` (leads = :data:`BAND_LEADS_MIN`) inside the band, per lead."""
    lead = np.broadcast_to(np.asarray(BAND_LEADS_MIN, dtype=np.float64), errors.shape)
    lo, hi = band_offsets(np.asarray(classes, np.int64), lead, q05, q95)
    ok = np.isfinite(errors)
    inside = (errors >= lo - 1e-9) & (errors <= hi + 1e-9) & ok
    return inside.sum(axis=0) / np.maximum(ok.sum(axis=0), 1)
