"""Forecast issuance rules: how much confidence a forecast crossing needs before it warns.

Five rules sit between the forecast quantiles and the hysteresis kernel (see
``docs/warnings.md`` for the reasons and how the defaults were chosen):

A. **Lead-dependent probability.** A crossing ``τ`` minutes ahead needs
   ``P(stage ≥ threshold) ≥ p(τ)``, with ``p(τ) = exceedance_p`` for ``τ ≤ imminent_min`` rising
   linearly to ``exceedance_p_far`` at ``horizon_min``. A far-off crossing will be forecast again
   several times before it happens, so waiting for more confidence costs little lead time; an
   imminent one will not, so it is acted on at the base probability. Because P is monotone in the
   threshold, "P ≥ p(τ) at some lead τ" is the same as "the trajectory of the (1 − p(τ))-quantile
   (a different quantile at every lead) reaches the threshold" — the *decision trajectory*.
B. **Confirmation.** A level reached only by the forecast (not observed, crossing not within
   ``imminent_min``) is issued only when each of the last ``confirm_cycles`` forecasts supported
   it: the *confirmed* forecast value is the minimum of the decision peaks of those forecasts.
C. **Upgrade by confirmed evidence, hold by any evidence.** The level may rise on the observed
   stage, the imminent part of the current decision trajectory or the confirmed value; once
   issued, it is held (the hysteresis dwell counts) on the observed stage or the current
   decision peak. So confirmation delays only first issuance and never shortens a warning.
D. **Minimum warned duration.** A level, once issued, is not lowered before it has been in force
   ``min_warned_min`` minutes (no half-hour warnings from a forecast that came and went): a
   downgrade the hysteresis allows earlier waits, with the dwell count kept, until then.
E. **A downgrade needs the forecast to agree.** The hold value also includes the highest
   (1 − ``p_hold``)-quantile of the current forecast within the horizon (:func:`hold_trajectory`,
   ``p_hold`` = :data:`HOLD_P`, or ``hold_exceedance_p`` in the settings): the dwell below
   threshold − margin only counts while the forecast gives P(stage back at or above
   threshold − margin) < ``p_hold`` at every lead. Issuing needs P ≥ p(τ) ≈ 0.50–0.60, lowering
   P < 0.25: hysteresis in probability as well as in stage, so a dip between two pulses of a
   flood, which the forecast made from the dipping values still sees rising or uncertain, does
   not end in a downgrade-and-reupgrade. It never raises a level (the hold is capped below the
   next threshold, rule C).

:func:`gated_value` turns (current level, rise value, hold value) into the one value fed to the
shared hysteresis kernel, and :func:`warning_levels` applies it over a whole series — the
reference the live engine is tested against and what offline studies use.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np

from floodwarn.kernels.threshold import hysteresis_step, raw_level
from floodwarn.warn.levels import _spreads

__all__ = [
    "confirmed_values",
    "decision_trajectory",
    "gated_value",
    "held_step",
    "hold_probability",
    "hold_trajectory",
    "required_probability",
    "warning_levels",
]

_NORMAL = NormalDist()
#: rule E: a level is lowered only when the forecast gives less than this probability of the
#: stage being back at or above threshold − margin at any lead within the horizon
HOLD_P = 0.25


def _p_far(settings: Any) -> float:
    far = getattr(settings, "exceedance_p_far", None)
    return float(settings.exceedance_p if far is None else far)


def required_probability(lead_min: np.ndarray | float, settings: Any) -> np.ndarray:
    """``p(τ)``: the exceedance probability a crossing ``lead_min`` ahead needs (rule A)."""
    lead = np.atleast_1d(np.asarray(lead_min, dtype=float))
    p0, p1 = float(settings.exceedance_p), _p_far(settings)
    near = float(getattr(settings, "imminent_min", 0))
    far = float(settings.horizon_min)
    if far <= near or p1 == p0:
        return np.full(lead.shape, p0)
    frac = np.clip((lead - near) / (far - near), 0.0, 1.0)
    return p0 + (p1 - p0) * frac


def decision_trajectory(q05: np.ndarray, q50: np.ndarray, q95: np.ndarray, lead_min: np.ndarray,
                        settings: Any) -> np.ndarray:
    """The (1 − p(τ))-quantile of the split normal at every lead τ (rule A).

    It reaches a threshold at lead τ exactly when P(stage ≥ threshold at τ) ≥ p(τ).
    """
    med, s_lo, s_hi = _spreads(q05, q50, q95)
    p = required_probability(lead_min, settings)
    for bad in p[(p <= 0.0) | (p >= 1.0)]:
        raise ValueError(f"required exceedance probability must be in (0, 1), got {bad}")
    z = np.array([_NORMAL.inv_cdf(1.0 - float(x)) for x in p]) if len(p) else np.zeros(0)
    return med + z * np.where(z >= 0, s_hi, s_lo)


def hold_probability(settings: Any) -> float | None:
    """Rule E's ``p_hold`` (:data:`HOLD_P` unless the settings carry ``hold_exceedance_p``;
    None or 0 turns the rule off)."""
    p = getattr(settings, "hold_exceedance_p", HOLD_P)
    if p is None or float(p) <= 0.0:
        return None
    if float(p) >= 1.0:
        raise ValueError(f"hold_exceedance_p must be in (0, 1), got {p}")
    return float(p)


def hold_trajectory(q05: np.ndarray, q50: np.ndarray, q95: np.ndarray, p_hold: float) -> np.ndarray:
    """The (1 − ``p_hold``)-quantile at every lead (rule E): it is at or above a stage exactly
    where the forecast gives P(stage or higher) ≥ ``p_hold``."""
    med, s_lo, s_hi = _spreads(q05, q50, q95)
    z = _z_of(float(p_hold))
    return med + z * (s_hi if z >= 0 else s_lo)


@lru_cache(maxsize=8)
def _z_of(p: float) -> float:
    return _NORMAL.inv_cdf(1.0 - p)


def confirmed_values(peaks: np.ndarray, n: int) -> np.ndarray:
    """Rolling minimum of per-cycle decision peaks over the last ``n`` cycles (rule B).

    NaN (no forecast in one of those cycles) gives NaN: a forecast that is missing cannot
    confirm. ``n <= 1`` returns the peaks unchanged.
    """
    x = np.asarray(peaks, dtype=float)
    if n <= 1:
        return x.copy()
    out = np.full(x.shape, np.nan)
    for i in range(n - 1, len(x)):
        w = x[i - n + 1 : i + 1]
        out[i] = np.nan if np.isnan(w).any() else w.min()
    return out


def _nanmax(*values: float | None) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return max(vals) if vals else math.nan


def gated_value(level: int, rise: float, hold: float, thresholds: np.ndarray) -> float:
    """The value fed to the hysteresis kernel at ``level`` (rule C).

    ``rise`` (observed, imminent or confirmed forecast) may raise the level; ``hold``
    (observed or current forecast, ``≥ rise``) only keeps it: it is capped just below the next
    set threshold above ``level`` so that an unconfirmed forecast never upgrades, while the
    dwell count (below threshold − margin) sees the current forecast.
    """
    if math.isfinite(rise) and int(raw_level(rise, thresholds, 0.0)) > level:
        return rise
    if not math.isfinite(hold):
        return rise
    for k in range(level, len(thresholds)):
        thr = thresholds[k]
        if not np.isnan(thr):
            return min(hold, float(np.nextafter(thr, -np.inf)))
    return hold


def held_step(level: int, new: tuple[int, int, int], in_force: int | None, min_cycles: int,
              dwell: int) -> tuple[int, int, int]:
    """Rule D on one hysteresis step: keep ``level`` if it would drop before ``min_cycles``.

    ``new`` is what :func:`~floodwarn.kernels.threshold.hysteresis_step` returned, ``in_force``
    the number of cycles the current level has been issued (None: unknown, no hold). A blocked
    downgrade keeps the dwell count one short of ``dwell`` so that it happens at the first
    cycle still below once the minimum duration has passed.
    """
    lvl, b, d = new
    if lvl < level and in_force is not None and in_force < min_cycles:
        return level, max(dwell - 1, 0), lvl  # remember the level it falls to
    return lvl, b, d


def warning_levels(rise: np.ndarray, hold: np.ndarray, thresholds: np.ndarray, margin: float,
                   dwell: int, min_cycles: int = 0) -> np.ndarray:
    """Issued level at every cycle of a series: rules C–D around the hysteresis kernel.

    ``hold`` is what holds a level: max(observed, decision peak, hold peak of rule E) per
    cycle. ``min_cycles`` is the minimum warned duration in cycles (rule D; 0 = none). With
    ``rise == hold`` and no minimum this is exactly
    :func:`floodwarn.kernels.threshold.hysteresis_levels`.
    """
    rise = np.asarray(rise, dtype=float)
    hold = np.asarray(hold, dtype=float)
    thr = np.asarray(thresholds, dtype=float)
    out = np.zeros(len(rise), dtype=np.int64)
    level = below = down = 0
    for i in range(len(rise)):
        v = gated_value(level, float(rise[i]), _nanmax(rise[i], hold[i]), thr)
        step = tuple(int(x) for x in hysteresis_step(level, below, down, v, thr, float(margin), int(dwell)))
        since = i
        while since > 0 and out[since - 1] >= level > 0:
            since -= 1
        level, below, down = held_step(level, step, i - since, min_cycles, dwell)  # type: ignore[arg-type]
        out[i] = level
    return out
