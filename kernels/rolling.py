"""Trailing (causal) rolling window features on the 10-minute grid, batch and streaming.

The window of length ``w`` ending at step ``t`` covers ``x[t-w+1 .. t]``; slots before the start
of the series count as missing. A window with fewer than ``max(1, ceil(min_valid_frac * w))``
valid (non-NaN) values gives NaN for its sum, mean and max — never a number computed from too
little data. The mean is the sum divided by the number of valid values.

The batch form and the streaming form run the *same* per-step update (:func:`_advance`) on the
same state layout, so a stream fed one step per cycle gives bit-for-bit the numbers of the batch
form. Sums are kept with Neumaier compensation and a count of non-zero values, so a window of
zeros sums to exactly 0.0 (no ``-1e-17`` mm of rain after a storm leaves the window). The update
is branch-free: a missing value enters as ``-0.0``, which leaves the sum unchanged.
Maxima are exact in any order, so the two forms use different algorithms: the stream keeps one
monotonic deque shared by all windows (a head pointer per window, amortised O(windows) per step);
the batch form builds each window's maximum from the next smaller one
(``max_w[t] = max(max_p[t], max_p[t - (w - p)])`` for ``w/2 <= p <= w``), a few vectorised
passes over a cached row. The batch form runs stations in parallel (``prange``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._jit import jit, jit_parallel, n_threads, prange


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
def _nadd(sm: float, cp: float, d: float) -> tuple[float, float]:
    """Neumaier-compensated ``sm + d``; returns the new (sum, compensation). Branch-free."""
    t = sm + d
    a = (sm - t) + d
    b = (d - t) + sm
    return t, cp + (a if abs(sm) >= abs(d) else b)


@jit
def _push(
    sm: float, cp: float, cnt: int, nz: int, v: float
) -> tuple[float, float, int, int]:
    """Add ``v`` to a window; NaN adds ``-0.0``, which leaves the sum as it is."""
    valid = v == v
    d = v if valid else -0.0
    sm, cp = _nadd(sm, cp, d)
    return sm, cp, cnt + (1 if valid else 0), nz + (1 if d != 0.0 else 0)


@jit
def _pop(
    sm: float, cp: float, cnt: int, nz: int, old: float
) -> tuple[float, float, int, int]:
    """Remove ``old`` from a window; NaN removes nothing (the mirror of :func:`_push`)."""
    valid = old == old
    d = -old if valid else -0.0
    sm, cp = _nadd(sm, cp, d)
    return sm, cp, cnt - (1 if valid else 0), nz - (1 if d != 0.0 else 0)


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
        sm = sums[s, j]
        cp = comps[s, j]
        cnt = counts[s, j]
        nz = nonzero[s, j]
        # value leaving window j: x[t - w], still in the ring because w <= m
        if t - w >= 0:
            sm, cp, cnt, nz = _pop(sm, cp, cnt, nz, ring[s, (t - w) % m])
        sm, cp, cnt, nz = _push(sm, cp, cnt, nz, v)
        sums[s, j] = sm
        comps[s, j] = cp
        counts[s, j] = cnt
        nonzero[s, j] = nz
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
def _window_max(src: np.ndarray, shift: int, dst: np.ndarray) -> None:
    """``dst[t] = max(src[t], src[t - shift])`` (just ``src[t]`` while ``t < shift``)."""
    nt = src.shape[0]
    lim = shift if shift < nt else nt
    for t in range(lim):
        dst[t] = src[t]
    for t in range(lim, nt):
        a = src[t]
        b = src[t - shift]
        dst[t] = a if a >= b else b


@jit
def _sums_two(
    xp: np.ndarray, xn: np.ndarray, w1: int, raw1: np.ndarray, w2: int, raw2: np.ndarray
) -> None:
    """Running sums ``sum + compensation`` of two windows, before any validity test.

    ``xp``/``xn`` are the row's values as :func:`_push`/:func:`_pop` add them (NaN → -0.0),
    so this is the streaming update's arithmetic step for step; two windows per pass give two
    independent dependency chains per step.
    """
    nt = xp.shape[0]
    sa = 0.0
    ca = 0.0
    sb = 0.0
    cb = 0.0
    for t in range(nt):
        if t >= w1:
            sa, ca = _nadd(sa, ca, xn[t - w1])
        if t >= w2:
            sb, cb = _nadd(sb, cb, xn[t - w2])
        v = xp[t]
        sa, ca = _nadd(sa, ca, v)
        sb, cb = _nadd(sb, cb, v)
        raw1[t] = sa + ca
        raw2[t] = sb + cb


@jit
def _finish(
    osum: np.ndarray,
    cv: np.ndarray,
    cz: np.ndarray,
    w: int,
    need: int,
    mx: np.ndarray,
    omean: np.ndarray,
    omax: np.ndarray,
) -> None:
    """Validity, exact zeros, means and masked maxima from the raw sums in ``osum`` (in place).

    ``cv``/``cz`` are prefix counts of valid and of non-zero values (``cv[t]`` over
    ``x[0:t]``), so a window's counts are two subtractions: vectorisable, no serial state.
    """
    nt = osum.shape[0]
    lim = w if w < nt else nt
    for t in range(nt):
        lo = t + 1 - w if t >= lim else 0
        cnt = cv[t + 1] - cv[lo]
        total = osum[t] if cz[t + 1] - cz[lo] > 0.0 else 0.0
        ok = cnt >= need
        osum[t] = total if ok else np.nan
        omean[t] = total / cnt if ok else np.nan  # cnt >= need >= 1 when used
        omax[t] = mx[t] if ok else np.nan


@jit
def _station(
    xr: np.ndarray,
    windows: np.ndarray,
    order: np.ndarray,
    min_counts: np.ndarray,
    osum: np.ndarray,
    omean: np.ndarray,
    omax: np.ndarray,
    s: int,
    scratch: np.ndarray,
    mbuf: np.ndarray,
) -> None:
    """All windows of one station row ``xr``; ``scratch`` ``f8[8, T+1]`` and ``mbuf``
    ``f8[W, T]`` are the caller's, reused from station to station (they stay in cache)."""
    nt = xr.shape[0]
    nw = windows.shape[0]
    row = scratch[0, :nt]  # NaN → -inf, for maxima
    xp = scratch[1, :nt]  # as _push adds it
    xn = scratch[2, :nt]  # as _pop adds it
    cv = scratch[3]  # prefix count of valid values
    cz = scratch[4]  # prefix count of valid non-zero values
    tmp_a = scratch[5, :nt]
    tmp_b = scratch[6, :nt]
    spare = scratch[7, :nt]
    cv[0] = 0.0
    cz[0] = 0.0
    for t in range(nt):
        v = xr[t]
        valid = v == v
        row[t] = v if valid else -np.inf
        xp[t] = v if valid else -0.0
        xn[t] = -v if valid else -0.0
        cv[t + 1] = cv[t] + (1.0 if valid else 0.0)
        cz[t + 1] = cz[t] + (1.0 if valid and v != 0.0 else 0.0)
    # maxima without the validity mask, smallest window first, each from the previous one
    src = row
    p = 1
    for k in range(nw):
        w = windows[order[k]]
        if w < 1:
            continue
        if 2 * p < w:  # double p (in scratch) until p >= w / 2
            _window_max(src, p, tmp_a)
            p *= 2
            src = tmp_a
            while 2 * p < w:
                _window_max(src, p, tmp_b)
                p *= 2
                tmp_a, tmp_b = tmp_b, tmp_a
                src = tmp_a
        _window_max(src, w - p, mbuf[k])
        src = mbuf[k]
        p = w
    # raw sums two windows per pass, then validity, means and maxima per window
    for k in range(0, nw, 2):
        j = order[k]
        j2 = order[k + 1] if k + 1 < nw else j
        raw2 = osum[j2, s] if k + 1 < nw else spare
        _sums_two(xp, xn, max(windows[j], 0), osum[j, s], max(windows[j2], 0), raw2)
    for k in range(nw):
        j = order[k]
        w = windows[j]
        if w < 1:
            osum[j, s, :] = np.nan
            omean[j, s, :] = np.nan
            omax[j, s, :] = np.nan
        else:
            _finish(osum[j, s], cv, cz, w, min_counts[j], mbuf[k], omean[j, s], omax[j, s])


@jit_parallel
def _rolling_into(
    x: np.ndarray,
    windows: np.ndarray,
    order: np.ndarray,
    min_counts: np.ndarray,
    chunks: int,
    osum: np.ndarray,
    omean: np.ndarray,
    omax: np.ndarray,
) -> None:
    """Stations split into ``chunks`` contiguous blocks, one scratch set per block."""
    ns = x.shape[0]
    nt = x.shape[1]
    nw = windows.shape[0]
    for c in prange(chunks):
        lo = c * ns // chunks
        hi = (c + 1) * ns // chunks
        scratch = np.empty((8, nt + 1))
        mbuf = np.empty((nw, nt))
        for s in range(lo, hi):
            _station(x[s], windows, order, min_counts, osum, omean, omax, s, scratch, mbuf)


def rolling_multi(
    x: np.ndarray,
    windows: np.ndarray,
    min_valid_frac: float = 0.8,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing window sums, means and maxima for all windows over ``x[S, T]``.

    Returns ``(sums, means, maxs)``, each ``f8[n_windows, S, T]``, written into ``out`` when
    given (three C-contiguous float64 arrays of that shape; saves allocating and first-touching
    the output on repeated calls). Stations run in parallel; each station's row stays in cache
    while every window is computed from it. The sums repeat exactly the streaming update's
    arithmetic, so batch == stream bit for bit.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    windows = np.ascontiguousarray(windows, dtype=np.int64).reshape(-1)
    ns, nt = x.shape
    shape = (windows.shape[0], ns, nt)
    if out is None:
        res = (np.empty(shape), np.empty(shape), np.empty(shape))
    else:
        res = tuple(out)  # type: ignore[assignment]
        if len(res) != 3 or any(
            a.shape != shape or a.dtype != np.float64 or not a.flags.c_contiguous
            for a in res
        ):
            raise ValueError(f"out must be three C-contiguous float64 arrays of shape {shape}")
    if windows.shape[0] == 0 or ns == 0 or nt == 0:
        return res
    # min_counts_for's arithmetic in NumPy (saves loading one more kernel on a cold start)
    min_counts = np.maximum(
        np.ceil(float(min_valid_frac) * windows - 1e-9).astype(np.int64), 1
    )
    order = np.argsort(windows, kind="stable")
    _rolling_into(x, windows, order, min_counts, min(ns, n_threads()), *res)
    return res


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
