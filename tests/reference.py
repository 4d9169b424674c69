"""Slow, obviously-right twins of every kernel in ``floodwarn.kernels``.

Each twin restates the kernel's documented rules directly — whole-window recomputation, plain
Python loops, no running state — so a disagreement points at the fast kernel. ``COMPARISONS``
pairs kernel names with their twin; tests and ``bench/`` read it.
"""

from __future__ import annotations

import math

import numpy as np


def _need(frac: float, w: int, floor: int = 1) -> int:
    return max(floor, math.ceil(frac * w - 1e-9))


# --- rolling -------------------------------------------------------------------------------------


def rolling_multi(
    x: np.ndarray, windows: np.ndarray, min_valid_frac: float = 0.8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    ns, nt = x.shape
    out = np.full((3, len(windows), ns, nt), np.nan)
    for j, w in enumerate(windows):
        need = _need(min_valid_frac, int(w))
        for s in range(ns):
            for t in range(nt):
                seg = x[s, max(0, t - w + 1) : t + 1]
                v = seg[~np.isnan(seg)]
                if len(v) >= need:
                    out[0, j, s, t] = math.fsum(v)
                    out[1, j, s, t] = math.fsum(v) / len(v)
                    out[2, j, s, t] = v.max()
    return out[0], out[1], out[2]


def rate_of_change(x: np.ndarray, lag: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if lag >= 1:
        out[:, lag:] = (x[:, lag:] - x[:, :-lag]) / lag
    return out


def trend(x: np.ndarray, window: int, min_valid_frac: float = 0.8) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    need = _need(min_valid_frac, window, 2)
    for s in range(x.shape[0]):
        for t in range(x.shape[1]):
            idx = np.arange(max(0, t - window + 1), t + 1)
            y = x[s, idx]
            ok = ~np.isnan(y)
            if window < 2 or ok.sum() < need:
                continue
            xi = idx[ok].astype(float)
            if np.ptp(xi) == 0:
                continue
            out[s, t] = np.polyfit(xi, y[ok], 1)[0]
    return out


# --- threshold -----------------------------------------------------------------------------------


def first_crossing(traj: np.ndarray, lead_min: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    traj = np.asarray(traj, dtype=np.float64)
    out = np.full(thresholds.shape, np.nan)
    for s in range(traj.shape[0]):
        pts = [(lead_min[i], traj[s, i], i) for i in range(traj.shape[1]) if not np.isnan(traj[s, i])]
        for k in range(thresholds.shape[1]):
            thr = thresholds[s, k]
            if np.isnan(thr) or not pts:
                continue
            above = [p for p in pts if p[1] >= thr]
            if not above:
                continue
            first = above[0]
            before = [p for p in pts if p[2] < first[2]]
            if not before:
                out[s, k] = 0.0 if first[2] == 0 else first[0]
            else:
                (t0, v0, _), (t1, v1, _) = before[-1], first
                out[s, k] = np.interp(thr, [v0, v1], [t0, t1])
    return out


def hysteresis_levels(
    series: np.ndarray, thresholds: np.ndarray, margin: float, dwell: int
) -> np.ndarray:
    def level_of(v: float, off: float) -> int:
        lv = [k + 1 for k, t in enumerate(thresholds) if not np.isnan(t) and v >= t + off]
        return max(lv, default=0)

    out = []
    level = 0
    run: list[int] = []  # levels supported (with margin) during the current run below
    for v in series:
        if np.isnan(v):
            out.append(level)
            continue
        if level_of(v, 0.0) > level:
            level, run = level_of(v, 0.0), []
        elif level_of(v, -margin) >= level:
            run = []
        else:
            run.append(level_of(v, -margin))
            if len(run) >= max(dwell, 1):
                level, run = max(run), []
        out.append(level)
    return np.array(out, dtype=np.int64)


# --- qc ------------------------------------------------------------------------------------------


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
) -> np.ndarray:
    missing, rng, spike, flat, gap = 1, 2, 4, 8, 16
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros(len(values), dtype=np.int64)
    present = [i for i in range(len(values)) if not np.isnan(values[i])]
    for i in range(len(values)):
        if np.isnan(values[i]):
            out[i] = missing
    # segments split at gaps; every test looks back only within its segment
    seg_start = {}
    start = None
    for n, i in enumerate(present):
        if n > 0 and max_gap_s > 0 and times_s[i] - times_s[present[n - 1]] > max_gap_s:
            out[i] |= gap
            start = n
        if start is None:
            start = 0
        seg_start[i] = start
    for n, i in enumerate(present):
        v = values[i]
        seg = present[seg_start[i] : n]  # earlier present values in the segment
        if (not np.isnan(lo) and v < lo) or (not np.isnan(hi) and v > hi):
            out[i] |= rng
        inr = [j for j in seg if not out[j] & rng]
        if flat_n > 1:
            run = 1
            for j in reversed(seg):
                if values[j] != v:
                    break
                run += 1
            if run >= flat_n:
                out[i] |= flat
        if out[i] & rng or np.isnan(max_rate_per_step) or max_rate_per_step <= 0:
            continue
        refs = [j for j in inr if not out[j] & spike]
        if not refs:
            continue
        ref = refs[-1]
        steps = max(1.0, (times_s[i] - times_s[ref]) / step_s)
        if abs(v - values[ref]) <= max_rate_per_step * steps:
            continue
        hist = values[inr[-window:]] if window > 0 else np.array([])
        cleared = False
        if len(hist) >= 3 and not np.isnan(z_thresh):
            med = np.median(hist)
            mad = np.median(np.abs(hist - med))
            cleared = mad > 0 and abs(v - med) <= z_thresh * 1.4826 * mad
        if not cleared:
            out[i] |= spike
    return out


# --- rating --------------------------------------------------------------------------------------


def _segments(a, h0, b, breaks, s):
    return [(breaks[s, k], a[s, k], h0[s, k], b[s, k]) for k in range(a.shape[1])
            if k == 0 or not np.isnan(breaks[s, k])]


def rating_q(h, a, h0, b, breaks):
    out = np.full(h.shape, np.nan)
    for s in range(h.shape[0]):
        segs = _segments(a, h0, b, breaks, s)
        for t in range(h.shape[1]):
            v = h[s, t]
            if np.isnan(v):
                continue
            _, aa, hh, bb = [sg for i, sg in enumerate(segs) if i == 0 or v >= sg[0]][-1]
            out[s, t] = aa * (v - hh) ** bb if v > hh else 0.0
    return out


def rating_h(q, a, h0, b, breaks):
    out = np.full(q.shape, np.nan)
    for s in range(q.shape[0]):
        segs = _segments(a, h0, b, breaks, s)
        for t in range(q.shape[1]):
            v = q[s, t]
            if np.isnan(v):
                continue
            if v <= 0:
                out[s, t] = h0[s, 0]
                continue
            ok = [sg for i, sg in enumerate(segs)
                  if i == 0 or v >= (sg[1] * (sg[0] - sg[2]) ** sg[3] if sg[0] > sg[2] else 0.0)]
            _, aa, hh, bb = ok[-1]
            out[s, t] = hh + (v / aa) ** (1 / bb)
    return out


# --- correction ----------------------------------------------------------------------------------


def ar1_correct(forecast, last_error, phi, lead_steps):
    phi = np.broadcast_to(np.asarray(phi, dtype=float), last_error.shape)
    out = np.array(forecast, dtype=float, copy=True)
    for s in range(out.shape[0]):
        if not (np.isnan(last_error[s]) or np.isnan(phi[s])):
            out[s] += last_error[s] * phi[s] ** np.asarray(lead_steps, dtype=float)
    return out


def ar1_phi(errors, min_pairs=10):
    out = np.full(errors.shape[0], np.nan)
    for s, e in enumerate(errors):
        ok = ~np.isnan(e)
        if not ok.any():
            continue
        d = e - e[ok].mean()
        pair = ok[1:] & ok[:-1]
        den = np.sum(d[ok] ** 2)
        if pair.sum() < min_pairs or den <= 0:
            continue
        out[s] = min(1.0, max(0.0, np.sum(d[1:][pair] * d[:-1][pair]) / den))
    return out


# --- runoff --------------------------------------------------------------------------------------


def storage_function(rain, area, k, p, f1, rsa, tl, qb, dt_h=1 / 6):
    out = np.empty(rain.shape)
    for c in range(rain.shape[0]):
        r = np.where(np.isnan(rain[c]) | (rain[c] < 0), 0.0, rain[c])
        s, ql = 0.0, []
        for t, cum in enumerate(np.cumsum(r)):
            rhs = s + (f1[c] if cum < rsa[c] else 1.0) * r[t]
            lo, hi = 0.0, rhs / dt_h
            for _ in range(200):  # plain bisection: slow and sure
                mid = 0.5 * (lo + hi)
                if k[c] * mid ** p[c] + dt_h * mid > rhs:
                    hi = mid
                else:
                    lo = mid
            q = 0.5 * (lo + hi) if rhs > 0 else 0.0
            s = rhs - dt_h * q
            ql.append(q)
        ql = np.array(ql)
        lagged = np.concatenate([np.zeros(min(tl[c], len(ql))), ql[: max(len(ql) - tl[c], 0)]])
        out[c] = lagged * area[c] / 3.6 + qb[c]
    return out


def linear_reservoir(rain, area, k_h, f, qb, dt_h=1 / 6):
    out = np.empty(rain.shape)
    for c in range(rain.shape[0]):
        q = 0.0
        for t in range(rain.shape[1]):
            r = 0.0 if np.isnan(rain[c, t]) or rain[c, t] < 0 else rain[c, t]
            inflow = f[c] * r / dt_h
            # S = k q, dS/dt = inflow - q: exact for constant inflow over the step
            q = inflow + (q - inflow) * math.exp(-dt_h / k_h[c]) if k_h[c] > 0 else inflow
            out[c, t] = q * area[c] / 3.6 + qb[c]
    return out


# --- routing -------------------------------------------------------------------------------------


def muskingum_cunge(order, downstream, length, celerity, diffusivity, upstream, lateral,
                    dt_s=600.0):
    """Step through time, all reaches per step (the kernel goes reach by reach)."""
    nr, nt = upstream.shape
    ext = np.nan_to_num(upstream) + np.nan_to_num(lateral)
    coef = []
    for r in range(nr):
        if not (length[r] > 0 and celerity[r] > 0):
            coef.append(None)
            continue
        k = length[r] / celerity[r]
        x = min(0.5, max(0.0, 0.5 - diffusivity[r] / (celerity[r] * length[r])))
        den = k * (1 - x) + dt_s / 2
        coef.append(((dt_s / 2 - k * x) / den, (dt_s / 2 + k * x) / den,
                     (k * (1 - x) - dt_s / 2) / den))
    inflow = np.zeros((nr, nt))
    out = np.zeros((nr, nt))
    for t in range(nt):
        for r in order:
            inflow[r, t] = ext[r, t] + sum(out[u, t] for u in range(nr) if downstream[u] == r)
            if coef[r] is None or t == 0:
                out[r, t] = inflow[r, t]
            else:
                c0, c1, c2 = coef[r]
                out[r, t] = c0 * inflow[r, t] + c1 * inflow[r, t - 1] + c2 * out[r, t - 1]
    return out


#: (kernel name in floodwarn.kernels, reference twin) — read by tests and bench
COMPARISONS: dict[str, object] = {
    "rolling_multi": rolling_multi,
    "rate_of_change": rate_of_change,
    "trend": trend,
    "first_crossing": first_crossing,
    "hysteresis_levels": hysteresis_levels,
    "qc_flags": qc_flags,
    "rating_q": rating_q,
    "rating_h": rating_h,
    "ar1_correct": ar1_correct,
    "ar1_phi": ar1_phi,
    "storage_function": storage_function,
    "linear_reservoir": linear_reservoir,
    "muskingum_cunge": muskingum_cunge,
}
