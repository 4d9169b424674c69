"""Quality-control flags for one time-sorted series (one station, one variable).

Every test is causal — a value's flags depend only on itself and earlier values — so a value
gets the same flags in a live cycle, a replay and a hindcast. Bits are those of
``floodwarn.records.QC`` (MISSING=1, RANGE=2, SPIKE=4, FLATLINE=8, GAP=16); they are repeated
here as literals because a kernel may not import the package.

Rules for value ``i`` (``t`` = ``times_s``, seconds, strictly increasing):

- MISSING: NaN; no other test applies to it and it is skipped by the others.
- GAP: more than ``max_gap_s`` since the previous present value (``max_gap_s <= 0`` disables).
  A gap resets the spike reference, the z-score history and the flatline run.
- RANGE: ``value < lo`` or ``value > hi`` (a NaN limit is no limit).
- SPIKE: *both* the rate test and the z-score test fail. Rate: ``|v - ref| > max_rate_per_step
  * n_steps`` where ``ref`` is the previous present value not flagged RANGE/SPIKE and
  ``n_steps = max(1, (t - t_ref) / step_s)``; because ``n_steps`` grows, a genuine level shift
  stops being flagged once it is explained by the allowed rate. Robust z: ``|v - median| >
  z_thresh * 1.4826 * MAD`` over the last ``window`` present in-range values; if fewer than 3
  are available or MAD is 0 the z test cannot clear the value, so the rate test alone decides.
  Requiring both keeps the fast, consistent rise of a real flood (large recent spread) from
  being rejected. A NaN or non-positive ``max_rate_per_step`` disables SPIKE.
- FLATLINE: the value equals the previous present values so that the run of identical values
  ending here is ``>= flat_n`` long (``flat_n <= 1`` disables); the first ``flat_n - 1`` values of
  a run are not flagged.
- FLATLINE also for a *near-flat* run (a stuck sensor whose last digit dithers, so the values are
  never identical for long): the last ``stuck_n`` present values of the segment, this one
  included, span at most ``stuck_band`` (``max - min <= stuck_band + STUCK_TOL``; the tolerance
  absorbs binary rounding of e.g. ``5.72 - 5.71``). ``stuck_n <= 1`` or a NaN / negative
  ``stuck_band`` disables it. If ``stuck_min`` is not NaN the whole window must also be at or
  above it: a river does not hold a *high* stage to the centimetre for days, while low-flow
  stages legitimately do (measured in docs/qc-stuck-gauges.md). Like the flatline run it skips
  NaN and restarts after a gap; the first ``stuck_n - 1`` values of a stretch are not flagged.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit

NAN = np.nan

MISSING = 1
RANGE = 2
SPIKE = 4
FLATLINE = 8
GAP = 16

#: absolute slack on the near-flat band (units of the variable): rounding, not resolution
STUCK_TOL = 1e-9


@jit
def _median_mad(buf: np.ndarray, n: int, work: np.ndarray) -> tuple[float, float]:
    for i in range(n):
        work[i] = buf[i]
    srt = np.sort(work[:n])
    if n % 2 == 1:
        med = srt[n // 2]
    else:
        med = 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    for i in range(n):
        work[i] = abs(buf[i] - med)
    srt = np.sort(work[:n])
    if n % 2 == 1:
        mad = srt[n // 2]
    else:
        mad = 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    return med, mad


@jit
def qc_flags(
    values: np.ndarray,
    times_s: np.ndarray,
    lo: float,
    hi: float,
    max_rate_per_step: float,
    z_thresh: float,
    window: int,
    flat_n: int,
    max_gap_s: int,
    step_s: int = 600,
    stuck_n: int = 0,
    stuck_band: float = NAN,
    stuck_min: float = NAN,
) -> np.ndarray:
    """QC bit flags (int64) for ``values`` at ``times_s``; see the module docstring for rules."""
    n = values.shape[0]
    out = np.zeros(n, dtype=np.int64)
    wn = window if window > 0 else 0
    hist = np.empty(wn if wn > 0 else 1)  # ring of recent present, in-range values
    work = np.empty(wn if wn > 0 else 1)
    hn = 0  # values in hist
    hpos = 0  # next write position
    have_prev = False
    prev_t = 0
    have_ref = False
    ref_v = 0.0
    ref_t = 0
    run_v = 0.0
    run_n = 0
    rate_on = not np.isnan(max_rate_per_step) and max_rate_per_step > 0.0
    # near-flat: monotonic deques (ordinal, value) of the last stuck_n present values give the
    # window max and min in O(1) amortised; each present value is pushed once, so size n is enough
    stuck_on = stuck_n > 1 and not np.isnan(stuck_band) and stuck_band >= 0.0
    qn = n if stuck_on else 1
    mx_k = np.empty(qn, dtype=np.int64)
    mx_v = np.empty(qn)
    mn_k = np.empty(qn, dtype=np.int64)
    mn_v = np.empty(qn)
    mx_h = 0  # head (oldest) and tail (one past newest) of each deque
    mx_t = 0
    mn_h = 0
    mn_t = 0
    seg_k = 0  # present values since the last gap
    for i in range(n):
        v = values[i]
        t = times_s[i]
        if np.isnan(v):
            out[i] = MISSING
            continue
        f = 0
        if have_prev and max_gap_s > 0 and t - prev_t > max_gap_s:
            f |= GAP
            have_ref = False
            hn = 0
            hpos = 0
            run_n = 0
            mx_h = mx_t
            mn_h = mn_t
            seg_k = 0
        have_prev = True
        prev_t = t
        in_range = True
        if (not np.isnan(lo) and v < lo) or (not np.isnan(hi) and v > hi):
            f |= RANGE
            in_range = False
        if rate_on and in_range and have_ref:
            steps = (t - ref_t) / step_s
            if steps < 1.0:
                steps = 1.0
            if abs(v - ref_v) > max_rate_per_step * steps:
                cleared = False
                if wn > 0 and hn >= 3 and not np.isnan(z_thresh):
                    med, mad = _median_mad(hist, hn, work)
                    if mad > 0.0 and abs(v - med) <= z_thresh * 1.4826 * mad:
                        cleared = True
                if not cleared:
                    f |= SPIKE
        if flat_n > 1:
            if run_n > 0 and v == run_v:
                run_n += 1
            else:
                run_v = v
                run_n = 1
            if run_n >= flat_n:
                f |= FLATLINE
        if stuck_on:
            while mx_t > mx_h and mx_v[mx_t - 1] <= v:
                mx_t -= 1
            mx_k[mx_t] = seg_k
            mx_v[mx_t] = v
            mx_t += 1
            while mn_t > mn_h and mn_v[mn_t - 1] >= v:
                mn_t -= 1
            mn_k[mn_t] = seg_k
            mn_v[mn_t] = v
            mn_t += 1
            seg_k += 1
            while mx_k[mx_h] < seg_k - stuck_n:
                mx_h += 1
            while mn_k[mn_h] < seg_k - stuck_n:
                mn_h += 1
            if (
                seg_k >= stuck_n
                and mx_v[mx_h] - mn_v[mn_h] <= stuck_band + STUCK_TOL
                and (np.isnan(stuck_min) or mn_v[mn_h] >= stuck_min)
            ):
                f |= FLATLINE
        if in_range:
            if wn > 0:
                hist[hpos] = v
                hpos = (hpos + 1) % wn
                if hn < wn:
                    hn += 1
            if not (f & SPIKE):
                have_ref = True
                ref_v = v
                ref_t = t
        out[i] = f
    return out
