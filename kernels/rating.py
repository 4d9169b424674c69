"""Stage–discharge rating curves: piecewise power law ``Q = a (h - h0)^b`` and its inverse.

Per station ``s`` the curve has up to K segments; ``breaks[s, k]`` is the lowest stage of
segment ``k`` (increasing; NaN pads unused segments), and segment ``k`` applies from
``breaks[s, k]`` up to the next set break (the last one is open above; stages below
``breaks[s, 0]`` use segment 0). ``Q = 0`` at or below the segment's ``h0`` (no flow).
The inverse picks the segment whose discharge range holds ``q``; it is exact for a curve that
is non-decreasing across breaks (what a rating is).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit


@jit
def _segment_q(h: float, a: float, h0: float, b: float) -> float:
    if h <= h0:
        return 0.0
    return a * (h - h0) ** b


@jit
def rating_q(
    h: np.ndarray, a: np.ndarray, h0: np.ndarray, b: np.ndarray, breaks: np.ndarray
) -> np.ndarray:
    """Discharge (m³/s) for stages ``h[S, T]`` (pass ``h[:, None]`` for one value per station).

    ``a``, ``h0``, ``b``, ``breaks`` are ``f8[S, K]``. NaN stage gives NaN.
    """
    ns = h.shape[0]
    nt = h.shape[1]
    nk = a.shape[1]
    out = np.empty((ns, nt))
    for s in range(ns):
        for t in range(nt):
            v = h[s, t]
            if np.isnan(v):
                out[s, t] = np.nan
                continue
            seg = 0
            for k in range(1, nk):
                if not np.isnan(breaks[s, k]) and v >= breaks[s, k]:
                    seg = k
            out[s, t] = _segment_q(v, a[s, seg], h0[s, seg], b[s, seg])
    return out


@jit
def rating_h(
    q: np.ndarray, a: np.ndarray, h0: np.ndarray, b: np.ndarray, breaks: np.ndarray
) -> np.ndarray:
    """Stage for discharges ``q[S, T]`` (inverse of :func:`rating_q`).

    ``q <= 0`` gives the first segment's ``h0`` (cease-to-flow stage); NaN gives NaN.
    """
    ns = q.shape[0]
    nt = q.shape[1]
    nk = a.shape[1]
    out = np.empty((ns, nt))
    for s in range(ns):
        for t in range(nt):
            v = q[s, t]
            if np.isnan(v):
                out[s, t] = np.nan
                continue
            if v <= 0.0:
                out[s, t] = h0[s, 0]
                continue
            seg = 0
            for k in range(1, nk):
                bk = breaks[s, k]
                if not np.isnan(bk) and v >= _segment_q(bk, a[s, k], h0[s, k], b[s, k]):
                    seg = k
            out[s, t] = h0[s, seg] + (v / a[s, seg]) ** (1.0 / b[s, seg])
    return out
