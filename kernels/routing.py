"""Muskingum–Cunge channel routing over a river network (a tree with confluences).

Reaches are processed in topological order (every reach after all reaches draining into it),
each over the whole period, so every input row is read once and contiguously. A reach's inflow
is its upstream boundary (e.g. a dam's total outflow ``tototf``) + its lateral inflow + the
outflows of the reaches whose ``downstream`` is it; lateral inflow enters at the upstream end.
NaN boundary or lateral values count as 0 (the caller marks the forecast degraded).

Coefficients (constant-parameter Muskingum–Cunge, Cunge 1969) from reach length ``L`` (m),
wave celerity ``c`` (m/s) and hydraulic diffusivity ``D = Q / (2 B S0)`` (m²/s)::

    K = L / c,   X = 0.5 - D / (c L)   (clipped to [0, 0.5])
    O[t] = C0 I[t] + C1 I[t-1] + C2 O[t-1],   C0 + C1 + C2 = 1

The reach starts in steady state (``O[0] = I[0]``). Storage ``K (X I + (1-X) O)`` changes by
exactly ``dt/2 (I[t-1] + I[t] - O[t-1] - O[t])`` per step, so mass is conserved. Negative
coefficients (``dt < 2 K X`` or ``dt > 2 K (1 - X)``) keep mass but may oscillate: split long
reaches or shorten ``dt``.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit


@jit
def muskingum_coefficients(
    length: float, celerity: float, diffusivity: float, dt_s: float
) -> tuple[float, float, float, float, float]:
    """``(C0, C1, C2, K, X)`` for one reach; ``K = 0`` (no length or celerity) is a pass-through."""
    if not (length > 0.0 and celerity > 0.0):
        return 1.0, 0.0, 0.0, 0.0, 0.0
    k = length / celerity
    x = 0.5 - diffusivity / (celerity * length)
    if x < 0.0 or np.isnan(x):
        x = 0.0
    elif x > 0.5:
        x = 0.5
    den = k * (1.0 - x) + 0.5 * dt_s
    return (0.5 * dt_s - k * x) / den, (0.5 * dt_s + k * x) / den, \
        (k * (1.0 - x) - 0.5 * dt_s) / den, k, x


@jit
def topological_order(downstream: np.ndarray) -> np.ndarray:
    """Reaches ordered upstream-first (Kahn); shorter than ``downstream`` if there is a cycle
    or a ``downstream`` index out of range (-1 marks an outlet)."""
    n = downstream.shape[0]
    indeg = np.zeros(n, dtype=np.int64)
    for r in range(n):
        d = downstream[r]
        if d >= n or d < -1:
            return np.empty(0, dtype=np.int64)
        if d >= 0:
            indeg[d] += 1
    order = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    for r in range(n):
        if indeg[r] == 0:
            order[tail] = r
            tail += 1
    while head < tail:
        r = order[head]
        head += 1
        d = downstream[r]
        if d >= 0:
            indeg[d] -= 1
            if indeg[d] == 0:
                order[tail] = d
                tail += 1
    return order[:tail]


@jit
def muskingum_cunge(
    order: np.ndarray,
    downstream: np.ndarray,
    length: np.ndarray,
    celerity: np.ndarray,
    diffusivity: np.ndarray,
    upstream: np.ndarray,
    lateral: np.ndarray,
    dt_s: float = 600.0,
) -> np.ndarray:
    """Outflow ``f8[R, T]`` (m³/s) at the downstream end of each reach.

    ``order`` topological (see :func:`topological_order`), ``downstream[r]`` the receiving reach
    or -1; ``upstream`` and ``lateral`` are ``f8[R, T]`` external inflows (m³/s).
    """
    nr = downstream.shape[0]
    nt = upstream.shape[1]
    out = np.zeros((nr, nt))
    # children as CSR
    nchild = np.zeros(nr + 1, dtype=np.int64)
    for r in range(nr):
        d = downstream[r]
        if d >= 0:
            nchild[d + 1] += 1
    for r in range(nr):
        nchild[r + 1] += nchild[r]
    fill = nchild[:-1].copy()
    child = np.empty(max(nchild[nr], 1), dtype=np.int64)
    for r in range(nr):
        d = downstream[r]
        if d >= 0:
            child[fill[d]] = r
            fill[d] += 1
    inflow = np.empty(nt)
    for i in range(order.shape[0]):
        r = order[i]
        for t in range(nt):
            u = upstream[r, t]
            la = lateral[r, t]
            inflow[t] = (0.0 if np.isnan(u) else u) + (0.0 if np.isnan(la) else la)
        for j in range(nchild[r], nchild[r + 1]):
            cr = child[j]
            for t in range(nt):
                inflow[t] += out[cr, t]
        c0, c1, c2, k, _ = muskingum_coefficients(length[r], celerity[r], diffusivity[r], dt_s)
        if k == 0.0:
            for t in range(nt):
                out[r, t] = inflow[t]
            continue
        if nt > 0:
            o = inflow[0]
            out[r, 0] = o
            for t in range(1, nt):
                o = c0 * inflow[t] + c1 * inflow[t - 1] + c2 * o
                out[r, t] = o
    return out
