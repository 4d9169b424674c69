"""Trailing (causal) rolling window features on the 10-minute grid, batch and streaming.

The window of length ``w`` ending at step ``t`` covers ``x[t-w+1 .. t]``; slots before the start
of the series count as missing. A window with fewer than ``max(1, ceil(min_valid_frac * w))``
valid (non-NaN) values gives NaN for its sum, mean and max — never a number computed from too
little data. The mean is the sum divided by the number of valid values.

The batch form and the streaming form run the *same* per-step update (:func:`_advance`) on the
same state layout, so a stream fed one step per cycle gives bit-for-bit the numbers of the batch
form. Sums are kept with Neumaier compensation and a count of non-zero values, so a window of
zeros sums to exactly 0.0 (no ``-1e-17`` mm of rain after a storm leaves the window).
The maximum uses one monotonic deque shared by all windows (a head pointer per window), so all
windows advance in amortised O(windows) per step.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import jit


class StreamState(NamedTuple):
    """Per-station rolling state; every field is an array so the state is cheap to copy/store."""

    windows: np.ndarray  # i8[W]
    min_counts: np.ndarray  # i8[W]
    t: np.ndarray  # i8[1], steps consumed so far
    ring: np.ndarray  # f8[S, M] last M raw values, M = max(windows)
    sums: np.ndarray  # f8[S, W] running sums
    comps: np.ndarray  # f8[S, W] Neumaier compensation terms
    counts: np.ndarray  # i8[S, W] valid values in the window
    nonzero: np.ndarray  # i8[S, W] valid non-zero values in the window
    dq_val: np.ndarray  # f8[S, M+1] monotonic deque (values), circular
    dq_idx: np.ndarray  # i8[S, M+1] monotonic deque (step index), circular
    dq_ptr: np.ndarray  # i8[S, 2 + W] front, back (absolute counters), head per window


@jit
def min_counts_for(windows: np.ndarray, min_valid_frac: float) -> np.ndarray:
    """``max(1, ceil(min_valid_frac * w))`` valid values needed for each window."""
    out = np.empty(windows.shape[0], dtype=np.int64)
    for j in range(windows.shape[0]):
        need = int(np.ceil(min_valid_frac * windows[j] - 1e-9))
        out[j] = need if need > 1 else 1
    return out


@jit
def _add(s: float, c: float, v: float) -> tuple[float, float]:
    """Neumaier compensated ``s + v``; returns the new (sum, compensation)."""
    t = s + v
    if abs(s) >= abs(v):
        c += (s - t) + v
    else:
        c += (v - t) + s
    return t, c


@jit
def _advance(
    s: int,
    v: float,
    t: int,
    windows: np.ndarray,
    min_counts: np.ndarray,
    ring: np.ndarray,
    sums: np.ndarray,
    comps: np.ndarray,
    counts: np.ndarray,
    nonzero: np.ndarray,
    dq_val: np.ndarray,
    dq_idx: np.ndarray,
    dq_ptr: np.ndarray,
    out_sum: np.ndarray,
    out_mean: np.ndarray,
    out_max: np.ndarray,
) -> None:
    """Consume value ``v`` at step ``t`` for station ``s``; write one value per window to ``out_*[j]``."""
    m = ring.shape[1]
    cap = dq_val.shape[1]
    nw = windows.shape[0]
    slot = t % m
    valid = not np.isnan(v)
    for j in range(nw):
        w = windows[j]
        # value leaving window j: x[t - w], still in the ring because w <= m
        if t - w >= 0:
            old = ring[s, (t - w) % m]
            if not np.isnan(old):
                sums[s, j], comps[s, j] = _add(sums[s, j], comps[s, j], -old)
                counts[s, j] -= 1
                if old != 0.0:
                    nonzero[s, j] -= 1
        if valid:
            sums[s, j], comps[s, j] = _add(sums[s, j], comps[s, j], v)
            counts[s, j] += 1
            if v != 0.0:
                nonzero[s, j] += 1
    ring[s, slot] = v
    # shared monotonic deque: values strictly decreasing from front to back
    front = dq_ptr[s, 0]
    back = dq_ptr[s, 1]
    if valid:
        while back > front and dq_val[s, (back - 1) % cap] <= v:
            back -= 1
        dq_val[s, back % cap] = v
        dq_idx[s, back % cap] = t
        back += 1
    for j in range(nw):
        w = windows[j]
        h = dq_ptr[s, 2 + j]
        if h < front:
            h = front
        if h > back - 1 and valid:
            h = back - 1  # elements past the head were popped; the new value is in every window
        while h < back and dq_idx[s, h % cap] <= t - w:
            h += 1
        dq_ptr[s, 2 + j] = h
        c = counts[s, j]
        if c >= min_counts[j]:
            total = sums[s, j] + comps[s, j] if nonzero[s, j] > 0 else 0.0
            out_sum[j] = total
            out_mean[j] = total / c
            out_max[j] = dq_val[s, h % cap]
        else:
            out_sum[j] = np.nan
            out_mean[j] = np.nan
            out_max[j] = np.nan
    # the largest window's head is the front of the deque
    newfront = back
    for j in range(nw):
        if dq_ptr[s, 2 + j] < newfront:
            newfront = dq_ptr[s, 2 + j]
    dq_ptr[s, 0] = newfront
    dq_ptr[s, 1] = back


def stream_init(
    n_stations: int, windows: np.ndarray, min_valid_frac: float = 0.8
) -> StreamState:
    """Empty streaming state for ``n_stations`` and the given windows (in steps)."""
    windows = np.ascontiguousarray(windows, dtype=np.int64)
    m = int(windows.max()) if windows.size else 1
    nw = windows.shape[0]
    return StreamState(
        windows=windows,
        min_counts=min_counts_for(windows, float(min_valid_frac)),
        t=np.zeros(1, dtype=np.int64),
        ring=np.full((n_stations, m), np.nan),
        sums=np.zeros((n_stations, nw)),
        comps=np.zeros((n_stations, nw)),
        counts=np.zeros((n_stations, nw), dtype=np.int64),
        nonzero=np.zeros((n_stations, nw), dtype=np.int64),
        dq_val=np.zeros((n_stations, m + 1)),
        dq_idx=np.zeros((n_stations, m + 1), dtype=np.int64),
        dq_ptr=np.zeros((n_stations, 2 + nw), dtype=np.int64),
    )


@jit
def _stream_step(
    windows: np.ndarray,
    min_counts: np.ndarray,
    tarr: np.ndarray,
    ring: np.ndarray,
    sums: np.ndarray,
    comps: np.ndarray,
    counts: np.ndarray,
    nonzero: np.ndarray,
    dq_val: np.ndarray,
    dq_idx: np.ndarray,
    dq_ptr: np.ndarray,
    new_values: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ns = ring.shape[0]
    nw = windows.shape[0]
    osum = np.empty((nw, ns))
    omean = np.empty((nw, ns))
    omax = np.empty((nw, ns))
    bs = np.empty(nw)
    bm = np.empty(nw)
    bx = np.empty(nw)
    t = tarr[0]
    for s in range(ns):
        _advance(s, new_values[s], t, windows, min_counts, ring, sums, comps, counts, nonzero,
                 dq_val, dq_idx, dq_ptr, bs, bm, bx)
        for j in range(nw):
            osum[j, s] = bs[j]
            omean[j, s] = bm[j]
            omax[j, s] = bx[j]
    tarr[0] = t + 1
    return osum, omean, omax


def stream_step(
    state: StreamState, new_values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advance every station by one step; returns (sums, means, maxs), each ``f8[W, S]``.

    O(stations × windows) per call; ``state`` is updated in place.
    """
    return _stream_step(*state, new_values)


@jit
def rolling_multi(
    x: np.ndarray, windows: np.ndarray, min_valid_frac: float = 0.8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing window sums, means and maxima for all windows over ``x[S, T]``.

    Returns ``(sums, means, maxs)``, each ``f8[n_windows, S, T]``. One pass over each station's
    row (kept in cache) per window: the sums repeat exactly the streaming update's arithmetic
    (so batch == stream bit for bit); the maxima use the van Herk / Gil-Werman block algorithm
    (max is exact, so any order gives the same numbers), O(1) per value and branch-free.
    """
    ns = x.shape[0]
    nt = x.shape[1]
    nw = windows.shape[0]
    osum = np.empty((nw, ns, nt))
    omean = np.empty((nw, ns, nt))
    omax = np.empty((nw, ns, nt))
    if nw == 0 or ns == 0:
        return osum, omean, omax
    min_counts = min_counts_for(windows, min_valid_frac)
    row = np.empty(nt)
    g = np.empty(nt)  # running max from each block start
    h = np.empty(nt)  # running max to each block end
    for s in range(ns):
        for t in range(nt):
            v = x[s, t]
            row[t] = -np.inf if np.isnan(v) else v
        for j in range(nw):
            w = windows[j]
            need = min_counts[j]
            sm = 0.0
            cp = 0.0
            cnt = 0
            nz = 0
            for t in range(nt):
                if t - w >= 0:
                    old = x[s, t - w]
                    if not np.isnan(old):
                        sm, cp = _add(sm, cp, -old)
                        cnt -= 1
                        if old != 0.0:
                            nz -= 1
                v = x[s, t]
                if not np.isnan(v):
                    sm, cp = _add(sm, cp, v)
                    cnt += 1
                    if v != 0.0:
                        nz += 1
                if cnt >= need:
                    total = sm + cp if nz > 0 else 0.0
                    osum[j, s, t] = total
                    omean[j, s, t] = total / cnt
                else:
                    osum[j, s, t] = np.nan
                    omean[j, s, t] = np.nan
            # van Herk / Gil-Werman: max(x[t-w+1..t]) = max(h[t-w+1], g[t]) over blocks of w
            pos = 0  # position within the block, avoiding an integer division per step
            for t in range(nt):
                g[t] = row[t] if pos == 0 else max(g[t - 1], row[t])
                pos = pos + 1 if pos + 1 < w else 0
            pos = (nt - 1) % w  # block position of the last step
            for t in range(nt - 1, -1, -1):
                h[t] = row[t] if pos == w - 1 or t == nt - 1 else max(h[t + 1], row[t])
                pos = pos - 1 if pos > 0 else w - 1
            for t in range(nt):
                if np.isnan(osum[j, s, t]):
                    omax[j, s, t] = np.nan
                elif t - w + 1 <= 0:
                    omax[j, s, t] = g[t]
                else:
                    omax[j, s, t] = max(h[t - w + 1], g[t])
    return osum, omean, omax


@jit
def rate_of_change(x: np.ndarray, lag: int) -> np.ndarray:
    """Change per step over ``lag`` steps, ``(x[t] - x[t-lag]) / lag``; NaN if either is missing."""
    ns = x.shape[0]
    nt = x.shape[1]
    out = np.empty((ns, nt))
    for s in range(ns):
        for t in range(nt):
            if lag < 1 or t < lag:
                out[s, t] = np.nan
            else:
                out[s, t] = (x[s, t] - x[s, t - lag]) / lag  # NaN propagates
    return out


@jit
def trend(x: np.ndarray, window: int, min_valid_frac: float = 0.8) -> np.ndarray:
    """Least-squares slope (per step) over the trailing ``window`` steps, valid values only.

    NaN when fewer than ``max(2, ceil(min_valid_frac * window))`` values are valid.
    """
    ns = x.shape[0]
    nt = x.shape[1]
    out = np.empty((ns, nt))
    need = int(np.ceil(min_valid_frac * window - 1e-9))
    if need < 2:
        need = 2
    for s in range(ns):
        for t in range(nt):
            lo = t - window + 1
            if lo < 0:
                lo = 0
            n = 0
            sx = 0.0
            sy = 0.0
            for i in range(lo, t + 1):
                v = x[s, i]
                if not np.isnan(v):
                    n += 1
                    sx += i - t
                    sy += v
            if n < need or window < 2:
                out[s, t] = np.nan
                continue
            mx = sx / n
            my = sy / n
            sxx = 0.0
            sxy = 0.0
            for i in range(lo, t + 1):
                v = x[s, i]
                if not np.isnan(v):
                    dx = (i - t) - mx
                    sxx += dx * dx
                    sxy += dx * (v - my)
            out[s, t] = sxy / sxx if sxx > 0.0 else np.nan
    return out
