"""``routing+ar1``: the hydrological fallback for network stations that no trained model covers.

Where the catalog's river network (``stations/network.csv``) knows what drains into a station,
its stage is forecast from the boundary conditions with the kernels instead of persistence:

1. **Boundary inflow**: a dam node's total outflow ``tototf_{dam}``, carried forward over gaps
   and held at its last value over the forecast horizon (the future release is not an input).
2. **Lateral inflow**: each rain gauge stands for the subcatchment of its ``river``; Kimura's
   storage function (:func:`floodwarn.kernels.storage_function`) turns its 10-minute rain into
   discharge, which enters at the upstream-most network node on that river (so every gauge of
   the tributary sees it), or at the gauge's ``downstream`` node when no node of the river is in
   the network. Rain after the issue time is zero (no rainfall forecast is used).
3. **Routing**: Muskingum–Cunge (:func:`floodwarn.kernels.muskingum_cunge`) down each reach
   (``reach_km`` of a node = its distance to the ``downstream`` node), split into sub-reaches of
   at most :data:`SUBREACH_KM` so the scheme stays accurate at a 10-minute step.
4. **Stage**: a piecewise power-law rating (:func:`floodwarn.kernels.rating_h`) per station,
   fitted on the recent observed (``wl``, ``fw``) pairs when the station reports discharge over a
   wide enough stage range; otherwise a default curve (exponent :data:`RATING_B`, cease-to-flow
   stage ``min(0, lowest recent stage - 0.5 m)``) anchored through the latest observed stage and
   the routed flow at that time — i.e. the routed flow *change* carried onto the observed stage.
5. **Error correction**: AR(1) updating (:func:`floodwarn.kernels.ar1_correct`) with the latest
   observed error ``e = obs - simulated``. The AR(1) model is the one :func:`ar1_phi` fits — the
   error's deviation from its mean ``m`` over the last :data:`ERR_STEPS` steps — so the forecast
   is ``sim + m + (e_now - m) phi ** lead``: a persistent bias stays corrected at every lead, the
   deviation decays. ``phi`` is clipped to [0, 0.99] (:data:`PHI_DEFAULT` when the errors have no
   variance). With the default anchored rating ``e_now = 0`` by construction and ``m`` is not
   used: the routed change is carried onto the observed stage as it is.
6. **Band**: the method's own recent errors at each lead, ``e[t + L] - phi**L e[t]`` over the
   last :data:`SPREAD_STEPS` issue times of the window (all inside the history, so causal), give
   a standard deviation per lead; it is floored, made non-decreasing with lead, and the 5/95 %
   quantiles are ``q50 -/+ 1.645 sd`` (never crossing).

**Parameters are defaults, not calibrated** (flag ``uncalibrated-params``): celerity and
diffusivity are typical values for the lower Han, the subcatchment areas are the tributary basin
areas at their Han confluence, the storage-function constants are textbook values for urban
Korean basins. A station only escapes the flag when its rating is fitted and no default-parameter
rain subcatchment drains into it — the channel routing defaults were checked against the
Paldang-release → Cheongdam discharge travel time (see ``models/README.md``).
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.forecast.calibrate import noncrossing

log = logging.getLogger(__name__)

METHOD = "routing+ar1"
#: kinematic wave celerity (m/s) of the lower Han in the flood season (1.5-3 m/s; see README)
CELERITY_MS = 2.5
#: hydraulic diffusivity Q / (2 B S0) (m²/s): ~2,000 m³/s over a 1 km wide bed at 2e-4 slope
DIFFUSIVITY_M2S = 5000.0
#: longest sub-reach (km): keeps K = L/c near the 10-minute step
SUBREACH_KM = 2.0
#: default rating exponent b of Q = a (h - h0)^b (wide channel, Manning: 5/3)
RATING_B = 5.0 / 3.0
#: stage below the lowest recent stage taken as the default cease-to-flow stage h0 (m)
RATING_H0_MARGIN_M = 0.5
#: fit a station's own rating only from this many (wl, fw) pairs spanning this stage range
RATING_MIN_PAIRS = 36
RATING_MIN_RANGE_M = 0.3
#: tributary basin areas (km²) at the Han confluence (Korean river basin statistics; rounded)
SUBCATCHMENT_KM2: dict[str, float] = {"탄천": 302.7, "왕숙천": 278.6, "중랑천": 299.9}
DEFAULT_SUBCATCHMENT_KM2 = 100.0
#: Kimura storage function defaults for urban basins of a few hundred km² (not calibrated)
SFM_K = 20.0  # mm h^p / mm^p
SFM_P = 0.5
SFM_F1 = 0.6  # primary runoff ratio (urban)
SFM_RSA_MM = 60.0  # saturation rain
SFM_LAG_STEPS = 3  # 30 minutes
SFM_BASEFLOW_M3S_KM2 = 0.02  # specific base flow
#: AR(1): error window for phi, and phi for a constant (variance-free) error
ERR_STEPS = 144  # 24 h
PHI_MAX = 0.99
PHI_DEFAULT = 0.95
#: band: issue times whose errors give the spread per lead; floor as in persistence-trend
SPREAD_STEPS = 144
SPREAD_MIN_SAMPLES = 12
MIN_SIGMA_M = 0.02
Z90 = 1.645
FFILL_STEPS = 3  # an input older than this at the issue time is flagged stale


@dataclass(frozen=True, eq=False)
class NetworkPlan:
    """The river network as kernel arrays, built once per catalog (see :func:`network_plan`)."""

    nodes: tuple[str, ...]  # flow-carrying nodes (dams, water-level gauges)
    kinds: tuple[str, ...]
    heads: np.ndarray  # first sub-reach of each node (receives its inflow)
    tails: np.ndarray  # last sub-reach of each node
    children: np.ndarray  # f8[node, node]: 1 where column node drains into row node
    sub_down: np.ndarray  # downstream sub-reach or -1
    sub_len_m: np.ndarray
    celerity: np.ndarray
    diffusivity: np.ndarray
    order: np.ndarray
    dams: tuple[tuple[int, str], ...]  # (node index, boundary column)
    rains: tuple[tuple[int, str, float], ...]  # (entry node, rain column, area km²)
    upstream_sets: tuple[frozenset[int], ...]  # node -> nodes draining into it, itself included
    index: dict[str, int] = field(default_factory=dict)

    def drivers(self, node: int) -> tuple[list[int], list[int]]:
        """Indices into :attr:`dams` and :attr:`rains` that feed ``node``."""
        ups = self.upstream_sets[node]
        return ([k for k, (i, _) in enumerate(self.dams) if i in ups],
                [k for k, (i, _, _) in enumerate(self.rains) if i in ups])

    def route(self, boundary: np.ndarray, rain: np.ndarray, dt_s: float = 600.0) -> np.ndarray:
        """Flow ``f8[node, T]`` (m³/s) at every node from dam outflows ``boundary[dam, T]``
        (m³/s) and rain ``rain[gauge, T]`` (mm per step)."""
        from floodwarn.kernels import muskingum_cunge, storage_function

        nt = boundary.shape[1] if len(self.dams) else rain.shape[1]
        nsub = self.sub_down.shape[0]
        up = np.zeros((nsub, nt))
        lat = np.zeros((nsub, nt))
        for k, (i, _) in enumerate(self.dams):
            up[self.heads[i]] += boundary[k]
        if len(self.rains):
            area = np.array([a for _, _, a in self.rains])
            nc = len(area)
            q = storage_function(
                np.ascontiguousarray(rain, dtype=np.float64), area, np.full(nc, SFM_K),
                np.full(nc, SFM_P), np.full(nc, SFM_F1), np.full(nc, SFM_RSA_MM),
                np.full(nc, SFM_LAG_STEPS, dtype=np.int64), area * SFM_BASEFLOW_M3S_KM2,
                dt_s / 3600.0,
            )
            for k, (i, _, _) in enumerate(self.rains):
                lat[self.heads[i]] += q[k]
        out = muskingum_cunge(self.order, self.sub_down, self.sub_len_m, self.celerity,
                              self.diffusivity, up, lat, dt_s)
        return up[self.heads] + lat[self.heads] + self.children @ out[self.tails]


def plan_from_network(
    network: pd.DataFrame,
    celerity_ms: float = CELERITY_MS,
    diffusivity_m2s: float = DIFFUSIVITY_M2S,
    subreach_km: float = SUBREACH_KM,
    areas_km2: Mapping[str, float] | None = None,
) -> NetworkPlan:
    """Kernel arrays for a network table (columns as ``Catalog.network``, indexed by code)."""
    areas = SUBCATCHMENT_KM2 if areas_km2 is None else areas_km2
    net = network
    flow = net[net["kind"].isin(["dam", "waterlevel"])]
    codes = [str(c) for c in flow.index]
    idx = {c: i for i, c in enumerate(codes)}
    down = np.array([idx.get(str(net.at[c, "downstream"] or ""), -1) for c in codes], dtype=np.int64)
    n = len(codes)
    heads = np.empty(n, dtype=np.int64)
    tails = np.empty(n, dtype=np.int64)
    sub_len: list[float] = []
    sub_down: list[int] = []
    for i, c in enumerate(codes):
        length = float(net.at[c, "reach_km"]) if pd.notna(net.at[c, "reach_km"]) else 0.0
        if down[i] < 0:
            length = 0.0  # drains into a boundary (tide) or nowhere: the node itself is the end
        m = max(1, math.ceil(length / subreach_km)) if length > 0 else 1
        heads[i] = len(sub_len)
        for j in range(m):
            sub_len.append(1000.0 * length / m)
            sub_down.append(len(sub_len) if j < m - 1 else -1)
        tails[i] = len(sub_len) - 1
    sd = np.array(sub_down, dtype=np.int64)
    for i in range(n):
        if down[i] >= 0:
            sd[tails[i]] = heads[down[i]]
    children = np.zeros((n, n))
    for j in range(n):
        if down[j] >= 0:
            children[down[j], j] = 1.0
    from floodwarn.kernels import topological_order

    order = topological_order(sd)
    ups: list[set[int]] = [{i} for i in range(n)]
    for j in range(n):
        d = down[j]
        while d >= 0:
            ups[d].add(j)
            d = down[d]
    # depth = steps to the outlet; the upstream-most node of a river has the largest depth
    depth = np.zeros(n, dtype=np.int64)
    for i in range(n):
        d = down[i]
        while d >= 0:
            depth[i] += 1
            d = down[d]
    rivers = [str(flow.at[c, "river"]) for c in codes]
    rains = []
    for code, row in net[net["kind"] == "rainfall"].iterrows():
        river = str(row["river"])
        on_river = [i for i in range(n) if rivers[i] == river and flow.at[codes[i], "kind"] == "waterlevel"]
        if on_river:
            entry = max(on_river, key=lambda i: (depth[i], codes[i]))
        elif str(row["downstream"]) in idx:
            entry = idx[str(row["downstream"])]
        else:
            continue
        rains.append((entry, f"rf_{code}", float(areas.get(river, DEFAULT_SUBCATCHMENT_KM2))))
    dams = tuple((idx[c], f"tototf_{c}") for c in codes if flow.at[c, "kind"] == "dam")
    nsub = len(sub_len)
    return NetworkPlan(
        nodes=tuple(codes), kinds=tuple(str(flow.at[c, "kind"]) for c in codes), heads=heads,
        tails=tails, children=children, sub_down=sd, sub_len_m=np.array(sub_len),
        celerity=np.full(nsub, float(celerity_ms)), diffusivity=np.full(nsub, float(diffusivity_m2s)),
        order=order, dams=dams, rains=tuple(rains), upstream_sets=tuple(frozenset(u) for u in ups),
        index=idx,
    )


_PLANS: weakref.WeakKeyDictionary[Any, NetworkPlan | None] = weakref.WeakKeyDictionary()


def network_plan(catalog: object) -> NetworkPlan | None:
    """The cached :class:`NetworkPlan` of ``catalog`` (None without a usable network)."""
    if catalog is None:
        return None
    try:
        return _PLANS[catalog]
    except (KeyError, TypeError):
        pass
    net = getattr(catalog, "network", None)
    plan = None
    if isinstance(net, pd.DataFrame) and len(net) and {"kind", "downstream", "reach_km"} <= set(net.columns):
        try:
            plan = plan_from_network(net)
        except (KeyError, ValueError) as err:
            log.warning("river network unusable for %s, no routing fallback: %s", METHOD, err)
        if plan is not None and len(plan.order) != len(plan.sub_down):
            log.warning("river network has a cycle, no routing fallback")
            plan = None
    try:
        _PLANS[catalog] = plan
    except TypeError:  # not weak-referenceable: rebuilt each cycle (cheap)
        pass
    return plan


# --------------------------------------------------------------------------- ratings


def fit_rating(h: np.ndarray, q: np.ndarray) -> tuple[float, float, float] | None:
    """Least-squares ``Q = a (h - h0)^b`` in log space over a grid of ``h0``; None if too few
    pairs or too narrow a stage range to say anything about the curve."""
    ok = np.isfinite(h) & np.isfinite(q) & (q > 0)
    if ok.sum() < RATING_MIN_PAIRS:
        return None
    h, q = h[ok], q[ok]
    hmin, hmax = float(h.min()), float(h.max())
    if hmax - hmin < RATING_MIN_RANGE_M:
        return None
    lq = np.log(q)
    h0s = hmin - np.geomspace(0.01, max(10.0, 3 * (hmax - hmin)), 60)
    x = np.log(h[None, :] - h0s[:, None])  # [grid, n]
    xm = x.mean(axis=1, keepdims=True)
    sxx = ((x - xm) ** 2).sum(axis=1)
    b = ((x - xm) * (lq - lq.mean())).sum(axis=1) / sxx
    la = lq.mean() - b * xm[:, 0]
    sse = ((lq[None, :] - la[:, None] - b[:, None] * x) ** 2).sum(axis=1)
    sse = np.where((b >= 0.8) & (b <= 4.0), sse, np.inf)
    k = int(np.argmin(sse))
    if not np.isfinite(sse[k]):
        return None
    return float(np.exp(la[k])), float(h0s[k]), float(b[k])


# --------------------------------------------------------------------------- forecast


@dataclass(frozen=True)
class HydroForecast:
    """One station's ``routing+ar1`` forecast: ``q[lead, (q05, q50, q95)]`` and its flags."""

    station: str
    q: np.ndarray
    flags: tuple[str, ...]
    rating: str  # "fitted" or "default"
    phi: float


def _col(win: pd.DataFrame, name: str) -> np.ndarray | None:
    return win[name].to_numpy(np.float64) if name in win.columns else None


def _age(x: np.ndarray) -> int:
    """Steps since the newest finite value (len(x) when there is none)."""
    ok = np.flatnonzero(np.isfinite(x))
    return len(x) - 1 - int(ok[-1]) if len(ok) else len(x)


def _fill_boundary(x: np.ndarray, horizon: int) -> np.ndarray:
    """Carry forward over gaps, back-fill the start, hold the last value over the horizon."""
    s = pd.Series(x).ffill().bfill().to_numpy()
    return np.concatenate([s, np.full(horizon, s[-1])])


def routable(plan: NetworkPlan, station: str) -> bool:
    """Whether ``station`` is a gauge of the network with at least one dam or rain input."""
    i = plan.index.get(station)
    if i is None or plan.kinds[i] != "waterlevel":
        return False
    dams, rains = plan.drivers(i)
    return bool(dams or rains)


def routing_ar1(
    win: pd.DataFrame,
    stations: Sequence[str],
    plan: NetworkPlan,
    horizons_min: Sequence[int],
    step_min: int = 10,
    max_age_steps: int = 36,
    ratings: Mapping[str, tuple[float, float, float]] | None = None,
) -> dict[str, HydroForecast]:
    """Forecasts for the ``stations`` this method can serve, from the grid window ``win``.

    ``win`` is a regular UTC grid whose last row is the issue time (nothing later is read).
    ``ratings`` optionally gives a known ``(a, h0, b)`` per station, which wins over the fit.
    Stations without an own stage in the last ``max_age_steps``, without any driving input, or
    whose dam boundary has no value in the window are left out (the caller falls back).
    """
    nt = len(win)
    hs = np.asarray(horizons_min, dtype=np.int64) // step_min
    if nt < 2 or not len(hs):
        return {}
    horizon = int(hs.max())
    # boundary conditions ------------------------------------------------------------------
    dam_ok = np.zeros(len(plan.dams), bool)
    stale: dict[str, bool] = {}
    boundary = np.zeros((len(plan.dams), nt + horizon))
    for k, (_, name) in enumerate(plan.dams):
        x = _col(win, name)
        if x is None or not np.isfinite(x).any():
            continue
        dam_ok[k] = True
        boundary[k] = _fill_boundary(x, horizon)
        stale[name] = _age(x) > FFILL_STEPS
    rain = np.zeros((len(plan.rains), nt + horizon))
    rain_ok = np.zeros(len(plan.rains), bool)
    for k, (_, name, _) in enumerate(plan.rains):
        x = _col(win, name)
        if x is None:
            stale[name] = True
            continue
        rain_ok[k] = True
        rain[k, :nt] = np.where(np.isfinite(x), x, 0.0)
        stale[name] = _age(x) > FFILL_STEPS
    # candidates ---------------------------------------------------------------------------
    cand: list[tuple[str, int, list[int], list[int], np.ndarray, int]] = []
    for st in stations:
        i = plan.index.get(st)
        if i is None or plan.kinds[i] != "waterlevel":
            continue
        dams, rains = plan.drivers(i)
        if any(not dam_ok[k] for k in dams) or not (dams or any(rain_ok[k] for k in rains)):
            continue
        obs = _col(win, f"wl_{st}")
        if obs is None:
            continue
        age = _age(obs)
        if age > max_age_steps or age >= nt:
            continue
        cand.append((st, i, dams, rains, obs, age))
    if not cand:
        return {}
    flows = plan.route(boundary, rain, 60.0 * step_min)  # [node, nt + horizon]
    from floodwarn.kernels import ar1_correct, ar1_phi, rating_h

    ns = len(cand)
    a = np.empty((ns, 1))
    h0 = np.empty((ns, 1))
    b = np.empty((ns, 1))
    fitted = np.zeros(ns, bool)
    q_sim = np.empty((ns, nt + horizon))
    obs_m = np.empty((ns, nt))
    for s, (st, i, _, _, obs, age) in enumerate(cand):
        q_sim[s] = flows[i]
        obs_m[s] = obs
        known = (ratings or {}).get(st)
        fw = _col(win, f"fw_{st}")
        fit = known if known is not None else (fit_rating(obs, fw) if fw is not None else None)
        if fit is not None:
            a[s, 0], h0[s, 0], b[s, 0] = fit
            fitted[s] = True
            continue
        t_last = nt - 1 - age
        b[s, 0] = RATING_B
        h0[s, 0] = min(0.0, float(np.nanmin(obs)) - RATING_H0_MARGIN_M)
        q_now = max(float(flows[i, t_last]), 1e-6)
        a[s, 0] = q_now / (obs[t_last] - h0[s, 0]) ** RATING_B
    breaks = np.full((ns, 1), -np.inf)
    h_sim = rating_h(q_sim, a, h0, b, breaks)
    err = obs_m - h_sim[:, :nt]
    phi = ar1_phi(np.ascontiguousarray(err[:, -ERR_STEPS:]), 10)
    phi = np.where(np.isnan(phi), PHI_DEFAULT, np.clip(phi, 0.0, PHI_MAX))
    # AR(1) around the recent mean error (what ar1_phi fits): a persistent bias stays, the
    # deviation from it decays; an anchored rating has no bias term (its error is 0 at t_last)
    tail = err[:, -ERR_STEPS:]
    cnt = np.isfinite(tail).sum(axis=1)
    bias = np.where(fitted & (cnt > 0), np.nansum(np.where(np.isfinite(tail), tail, 0.0), axis=1)
                    / np.maximum(cnt, 1), 0.0)
    ages = np.array([c[5] for c in cand], dtype=np.int64)
    last_dev = err[np.arange(ns), nt - 1 - ages] - bias
    mid = h_sim[:, nt - 1 + hs] + bias[:, None]
    lead_steps = (hs[None, :] + ages[:, None]).astype(np.float64)
    out: dict[str, HydroForecast] = {}
    for s, (st, _i, dams, rains, _, age) in enumerate(cand):
        corrected = ar1_correct(mid[s:s + 1], last_dev[s:s + 1], float(phi[s]), lead_steps[s])[0]
        phi_eff = phi[s] if fitted[s] else 1.0  # an anchored rating carries the error at once
        sigma = _spread(err[s] - bias[s], lead_steps[s], phi_eff)
        q = np.stack([corrected - Z90 * sigma, corrected, corrected + Z90 * sigma], axis=-1)
        flags = ["fallback"]
        if not fitted[s] or any(rain_ok[k] for k in rains):
            flags.append("uncalibrated-params")
        names = [plan.dams[k][1] for k in dams] + [plan.rains[k][1] for k in rains]
        flags += [f"stale-input:{n}" for n in names if stale.get(n)]
        if age > FFILL_STEPS:
            flags.append(f"stale-input:wl_{st}")
        out[st] = HydroForecast(st, noncrossing(q), tuple(flags), "fitted" if fitted[s] else "default",
                                float(phi[s]))
    return out


def _spread(err: np.ndarray, lead_steps: np.ndarray, phi: float) -> np.ndarray:
    """Sd of the method's own recent errors at each lead, floored and non-decreasing."""
    n = len(err)
    sig = np.empty(len(lead_steps))
    for j, ls in enumerate(lead_steps):
        L = int(ls)
        floor = MIN_SIGMA_M * math.sqrt(max(L, 1) / 6)
        if L >= n:
            sig[j] = np.nan
            continue
        start = max(0, n - L - SPREAD_STEPS)
        e0 = err[start:n - L]
        e1 = err[start + L:n]
        r = e1 - phi**L * e0
        r = r[np.isfinite(r)]
        sig[j] = max(floor, float(np.sqrt(np.mean(r * r)))) if len(r) >= SPREAD_MIN_SAMPLES else np.nan
    if np.isnan(sig).all():
        sig = MIN_SIGMA_M * np.sqrt(np.maximum(lead_steps, 1) / 6) * 5.0
    else:
        # unknown leads (too few samples): the widest known spread scaled by sqrt(lead)
        known = np.isfinite(sig)
        ref = np.flatnonzero(known)[-1]
        sig = np.where(known, sig, sig[ref] * np.sqrt(np.maximum(lead_steps, 1) / max(lead_steps[ref], 1)))
    return np.maximum.accumulate(sig)
