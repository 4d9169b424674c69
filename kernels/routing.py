"""Muskingum–Cunge channel routing over a river network (a tree with confluences).

Reaches are processed in topological order (every reach after all reaches draining into it),
each over the whole period in one fused pass, so every input row is read once and contiguously
and each outflow is added straight into its downstream reach's inflow. A reach's inflow
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
def _inflow(row: np.ndarray, urow: np.ndarray, lrow: np.ndarray, t: int, base: bool) -> float:
    """Inflow at step ``t``: children's outflow already in ``row`` (if ``base``) + boundary +
    lateral, NaN counting as 0."""
    u = urow[t]
    la = lrow[t]
    ext = (0.0 if np.isnan(u) else u) + (0.0 if np.isnan(la) else la)
    return row[t] + ext if base else ext


@jit
def _route_row(
    row: np.ndarray,
    urow: np.ndarray,
    lrow: np.ndarray,
    base: bool,
    c0: float,
    c1: float,
    c2: float,
    passthrough: bool,
    drow: np.ndarray,
    mode: int,
) -> None:
    """One reach in one fused pass: inflow (see :func:`_inflow`) → outflow written to ``row``
    and added to (``mode`` 2), copied to (1) or not sent to (0) the downstream row ``drow``.

    ``O[t] = C0 I[t] + C1 I[t-1] + C2 O[t-1]``, ``O[0] = I[0]``, two steps per iteration, both
    from ``O[t-1]`` (``O[t+1] = A[t+1] + C2 A[t] + C2² O[t-1]`` with ``A[t] = C0 I[t] +
    C1 I[t-1]``), so the serial dependency advances two steps per multiply-add, not one.
    """
    nt = row.shape[0]
    if passthrough:
        for t in range(nt):
            o = _inflow(row, urow, lrow, t, base)
            row[t] = o
            if mode == 2:
                drow[t] += o
            elif mode == 1:
                drow[t] = o
        return
    if nt == 0:
        return
    i_prev = _inflow(row, urow, lrow, 0, base)
    o = i_prev  # steady state at the start
    row[0] = o
    if mode == 2:
        drow[0] += o
    elif mode == 1:
        drow[0] = o
    c22 = c2 * c2
    t = 1
    while t + 1 < nt:
        i1 = _inflow(row, urow, lrow, t, base)
        i2 = _inflow(row, urow, lrow, t + 1, base)
        a1 = c0 * i1 + c1 * i_prev
        a2 = c0 * i2 + c1 * i1
        o1 = a1 + c2 * o
        o = (a2 + c2 * a1) + c22 * o
        row[t] = o1
        row[t + 1] = o
        if mode == 2:
            drow[t] += o1
            drow[t + 1] += o
        elif mode == 1:
            drow[t] = o1
            drow[t + 1] = o
        i_prev = i2
        t += 2
    if t < nt:
        o = c0 * _inflow(row, urow, lrow, t, base) + c1 * i_prev + c2 * o
        row[t] = o
        if mode == 2:
            drow[t] += o
        elif mode == 1:
            drow[t] = o


def muskingum_cunge(
    order: np.ndarray,
    downstream: np.ndarray,
    length: np.ndarray,
    celerity: np.ndarray,
    diffusivity: np.ndarray,
    upstream: np.ndarray,
    lateral: np.ndarray,
    dt_s: float = 600.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Outflow ``f8[R, T]`` (m³/s) at the downstream end of each reach.

    ``order`` topological (see :func:`topological_order`; every reach after the reaches draining
    into it), ``downstream[r]`` the receiving reach or -1; ``upstream`` and ``lateral`` are
    ``f8[R, T]`` external inflows (m³/s). Reaches not in ``order`` get zero outflow. ``out``
    (C-contiguous ``f8[R, T]``) is written and returned when given.
    """
    upstream = np.ascontiguousarray(upstream, dtype=np.float64)
    lateral = np.ascontiguousarray(lateral, dtype=np.float64)
    shape = (np.shape(downstream)[0], upstream.shape[1])
    if out is None:
        out = np.empty(shape)  # NumPy's allocator (huge pages for big arrays), not Numba's
    elif out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float64 array of shape {shape}")
    _muskingum_cunge_into(
        np.ascontiguousarray(order, dtype=np.int64),
        np.ascontiguousarray(downstream, dtype=np.int64),
        np.ascontiguousarray(length, dtype=np.float64),
        np.ascontiguousarray(celerity, dtype=np.float64),
        np.ascontiguousarray(diffusivity, dtype=np.float64),
        upstream, lateral, float(dt_s), out,
    )
    return out


@jit
def _muskingum_cunge_into(
    order: np.ndarray,
    downstream: np.ndarray,
    length: np.ndarray,
    celerity: np.ndarray,
    diffusivity: np.ndarray,
    upstream: np.ndarray,
    lateral: np.ndarray,
    dt_s: float,
    out: np.ndarray,
) -> None:
    nr = downstream.shape[0]
    nt = upstream.shape[1]
    # out[r] first holds r's inflow (its children add their outflows into it as they are
    # routed), then is overwritten in place by r's outflow. Every row is first touched by a
    # write (no zero pass: first touches are what big arrays cost on a VM)
    started = np.zeros(nr, dtype=np.bool_)  # out[r] already holds some inflow
    done = np.zeros(nr, dtype=np.bool_)
    for i in range(order.shape[0]):
        r = order[i]
        done[r] = True
        if nt == 0:
            continue
        c0, c1, c2, k, _ = muskingum_coefficients(length[r], celerity[r], diffusivity[r], dt_s)
        d = downstream[r]
        drow = out[d] if d >= 0 else out[r]
        mode = 0 if d < 0 else (2 if started[d] else 1)
        _route_row(out[r], upstream[r], lateral[r], started[r], c0, c1, c2, k == 0.0, drow, mode)
        if d >= 0:
            started[d] = True
    for r in range(nr):  # reaches left out of ``order`` (a cycle) stay zero, as documented
        if not done[r]:
            out[r, :] = 0.0
