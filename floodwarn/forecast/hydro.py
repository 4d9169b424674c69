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
   at most :data:`SUBREACH_KM` so the scheme stays accurate at a 10-minute step. Celerity and
   diffusivity are per basin (:data:`BASIN_PARAMS`); on the Geum the celerity follows the
   largest upstream release of the last day (c ∝ Q^0.4), so a 2,900 m³/s release travels faster
   than the ≈270 m³/s ones it was calibrated on.
4. **Stage**: a piecewise power-law rating (:func:`floodwarn.kernels.rating_h`) per station,
   fitted on the recent observed (``wl``, ``fw``) pairs when the station reports discharge over a
   wide enough stage range; otherwise a default curve (exponent :data:`RATING_B`, cease-to-flow
   stage ``min(0, lowest recent stage - 0.5 m)``) anchored through the latest observed stage and
   the routed flow at that time — i.e. the routed flow *change* carried onto the observed stage.
   Where the routed release is only part of the river (the Geum below Yongdam dam: 9 m³/s of
   release in a rain flood of thousands) that default would read a 9 → 18 m³/s change as a
   doubling of the river; a gauge with a **prior rating** (:data:`PRIOR_RATINGS`) instead gets
   ``Q_obs = rating(stage)``, the rest of the catchment ``Q_obs - routed`` held (plus half its
   last-hour trend for an hour: the ``persistence-trend`` rule in flow), and the routed change
   added to it. If the prior rating gives less than the routed release, the default applies.
5. **Error correction**: AR(1) updating (:func:`floodwarn.kernels.ar1_correct`) with the latest
   observed error ``e = obs - simulated``. The AR(1) model is the one :func:`ar1_phi` fits — the
   error's deviation from its mean ``m`` over the last :data:`ERR_STEPS` steps — so the forecast
   is ``sim + m + (e_now - m) phi ** lead``: a persistent bias stays corrected at every lead, the
   deviation decays. ``phi`` is clipped to [0, 0.99] (:data:`PHI_DEFAULT` when the errors have no
   variance). With the default anchored rating ``e_now = 0`` by construction and ``m`` is not
   used: the routed change is carried onto the observed stage as it is.
6. **Band**: the method's own recent errors at each lead, ``e[t + L] - phi**L e[t]`` over the
   last :data:`SPREAD_STEPS` issue times of the window (all inside the history, so causal), give
   a standard deviation per lead (an hourly gauge: its last :data:`SPREAD_STEPS` reports, the lag
   rounded up to whole hours); it is floored, made non-decreasing with lead, and the 5/95 %
   quantiles are ``q50 -/+ 1.645 sd`` (never crossing).

Inputs are stale (``stale-input:…``) only when older than their own reporting interval + 2
steps (hourly gauges and the hourly Yongdam release are on time at hh:40 and hh:50).

**Parameters are defaults, not calibrated** (flag ``uncalibrated-params``): celerity and
diffusivity are typical values for the lower Han (the Geum's: travel times of two ≈270 m³/s
releases, and prior ratings from their stage rises, extrapolated tenfold in a flood), the subcatchment areas are the tributary basin
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
from floodwarn.forecast.fallback import (
    TREND_DAMP,
    TREND_HOLD_MIN,
    recent_state,
    reporting_interval_steps,
)

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
#: ... or older than its own reporting interval plus this many steps (an hourly release or stage
#: 40 minutes old on the 10-minute grid is on time; the same rule as ``forecast/predict.py``)
STALE_EXTRA_STEPS = 2


@dataclass(frozen=True)
class ReachParams:
    """Channel routing parameters of one basin's reaches.

    The kinematic celerity is ``celerity_ms`` at the flow ``q_ref_m3s`` and scales as
    ``(Q / q_ref) ** celerity_exp`` with the upstream dam release (``celerity_exp`` 0: constant).
    """

    celerity_ms: float
    diffusivity_m2s: float
    q_ref_m3s: float = 0.0
    celerity_exp: float = 0.0


#: Geum below Yongdam dam: travel times of the 2018-09-05 and 2021-08-30 releases (≈270 m³/s, the
#: only releases above 100 m³/s outside the test floods) to 대티교 / 적벽교 / 호탄리 / 양강교 /
#: 이원대교 (see ``docs/unseen-floods.md``); flow-dependent as a wide channel under Manning
#: (c ∝ Q^0.4, the same b = 5/3 as :data:`RATING_B`; the exponent is not fitted), since a flood
#: release ten times larger travels faster. Not tuned on the test floods.
GEUM_CELERITY_MS = 1.0
GEUM_Q_REF_M3S = 270.0
GEUM_CELERITY_EXP = 0.4
#: Q / (2 B S0) at a few hundred m³/s, ~150 m bed, slope ~1e-3
GEUM_DIFFUSIVITY_M2S = 1500.0
#: routing parameters by the network's ``basin`` column; other basins use the Han defaults
BASIN_PARAMS: dict[str, ReachParams] = {
    "Geum": ReachParams(GEUM_CELERITY_MS, GEUM_DIFFUSIVITY_M2S, GEUM_Q_REF_M3S, GEUM_CELERITY_EXP),
}
#: the flow-dependent celerity is clipped to this range of multiples of ``celerity_ms``
CELERITY_SCALE_RANGE = (0.5, 4.0)
#: ... and follows the largest upstream release of the last day before the issue time
CELERITY_FLOW_WINDOW_MIN = 24 * 60
#: prior stage-discharge curves ``Q = a (h - h0)^b`` (m³/s, m) of network gauges without
#: discharge data, see :func:`routing_ar1`: b = :data:`RATING_B`, h0 = lowest stage of
#: 2015–2019 − :data:`RATING_H0_MARGIN_M`, a from the stage rise of the 2018-09 and 2021-08
#: ≈270 m³/s releases (geometric mean of the two). Rough: two small steps, extrapolated tenfold.
PRIOR_RATINGS: dict[str, tuple[float, float, float]] = {
    "3002655": (63.6, -0.07, RATING_B),  # 무주군(대티교)
    "3004620": (76.5, -0.49, RATING_B),  # 금산군(적벽교)
    "3004650": (99.5, -0.48, RATING_B),  # 영동군(호탄리)
    "3004690": (106.8, 0.15, RATING_B),  # 영동군(양강교)
    "3006680": (112.6, -0.37, RATING_B),  # 옥천군(이원대교)
}


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
    sub_node: np.ndarray  # node whose reach each sub-reach belongs to
    q_ref: np.ndarray  # per sub-reach: flow at which ``celerity`` holds (0: constant celerity)
    celerity_exp: np.ndarray
    index: dict[str, int] = field(default_factory=dict)

    def drivers(self, node: int) -> tuple[list[int], list[int]]:
        """Indices into :attr:`dams` and :attr:`rains` that feed ``node``."""
        ups = self.upstream_sets[node]
        return ([k for k, (i, _) in enumerate(self.dams) if i in ups],
                [k for k, (i, _, _) in enumerate(self.rains) if i in ups])

    def celerities(self, dam_flow: np.ndarray | None) -> np.ndarray:
        """Celerity of each sub-reach for representative dam releases ``dam_flow[dam]`` (m³/s):
        the sum of the releases upstream of the reach (flow-dependent reaches only)."""
        var = self.q_ref > 0
        if dam_flow is None or not var.any() or not len(self.dams):
            return self.celerity
        q_node = np.zeros(len(self.nodes))
        for k, (i, _) in enumerate(self.dams):
            for j in range(len(self.nodes)):
                if i in self.upstream_sets[j]:
                    q_node[j] += float(dam_flow[k])
        q = q_node[self.sub_node]
        scale = np.ones_like(self.celerity)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(var & (q > 0), q / np.where(var, self.q_ref, 1.0), 1.0)
            scale = np.where(var & (q > 0), np.clip(ratio ** self.celerity_exp, *CELERITY_SCALE_RANGE), scale)
        return self.celerity * scale

    def route(self, boundary: np.ndarray, rain: np.ndarray, dt_s: float = 600.0,
              dam_flow: np.ndarray | None = None) -> np.ndarray:
        """Flow ``f8[node, T]`` (m³/s) at every node from dam outflows ``boundary[dam, T]``
        (m³/s) and rain ``rain[gauge, T]`` (mm per step); ``dam_flow[dam]`` sets flow-dependent
        celerities (default: each release's maximum)."""
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
        if dam_flow is None and len(self.dams):
            dam_flow = np.nanmax(boundary, axis=1)
        cel = np.ascontiguousarray(self.celerities(dam_flow), dtype=np.float64)
        out = muskingum_cunge(self.order, self.sub_down, self.sub_len_m, cel,
                              self.diffusivity, up, lat, dt_s)
        return up[self.heads] + lat[self.heads] + self.children @ out[self.tails]


def plan_from_network(
    network: pd.DataFrame,
    celerity_ms: float | None = None,
    diffusivity_m2s: float | None = None,
    subreach_km: float = SUBREACH_KM,
    areas_km2: Mapping[str, float] | None = None,
    basin_params: Mapping[str, ReachParams] | None = None,
) -> NetworkPlan:
    """Kernel arrays for a network table (columns as ``Catalog.network``, indexed by code).

    Each reach takes the :class:`ReachParams` of its ``basin`` (:data:`BASIN_PARAMS`; the Han
    defaults :data:`CELERITY_MS`, :data:`DIFFUSIVITY_M2S` elsewhere); ``celerity_ms`` /
    ``diffusivity_m2s`` given explicitly apply to every reach, with a constant celerity.
    """
    per_basin = BASIN_PARAMS if basin_params is None else basin_params
    default = ReachParams(CELERITY_MS, DIFFUSIVITY_M2S)
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
    sub_node: list[int] = []
    params: list[ReachParams] = []
    for c in codes:
        p = per_basin.get(str(net.at[c, "basin"]), default) if "basin" in net.columns else default
        if celerity_ms is not None or diffusivity_m2s is not None:
            p = ReachParams(p.celerity_ms if celerity_ms is None else float(celerity_ms),
                            p.diffusivity_m2s if diffusivity_m2s is None else float(diffusivity_m2s))
        params.append(p)
    for i, c in enumerate(codes):
        length = float(net.at[c, "reach_km"]) if pd.notna(net.at[c, "reach_km"]) else 0.0
        if down[i] < 0:
            length = 0.0  # drains into a boundary (tide) or nowhere: the node itself is the end
        m = max(1, math.ceil(length / subreach_km)) if length > 0 else 1
        heads[i] = len(sub_len)
        for j in range(m):
            sub_len.append(1000.0 * length / m)
            sub_down.append(len(sub_len) if j < m - 1 else -1)
            sub_node.append(i)
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
    sn = np.array(sub_node, dtype=np.int64)
    return NetworkPlan(
        nodes=tuple(codes), kinds=tuple(str(flow.at[c, "kind"]) for c in codes), heads=heads,
        tails=tails, children=children, sub_down=sd, sub_len_m=np.array(sub_len),
        celerity=np.array([params[i].celerity_ms for i in sn], dtype=np.float64),
        diffusivity=np.array([params[i].diffusivity_m2s for i in sn], dtype=np.float64),
        order=order, dams=dams, rains=tuple(rains), upstream_sets=tuple(frozenset(u) for u in ups),
        sub_node=sn, q_ref=np.array([params[i].q_ref_m3s for i in sn], dtype=np.float64),
        celerity_exp=np.array([params[i].celerity_exp for i in sn], dtype=np.float64),
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


def _stale(x: np.ndarray) -> bool:
    """Older than :data:`FFILL_STEPS` and than its own reporting interval + a margin."""
    every = int(reporting_interval_steps(x[None, :])[0])
    return _age(x) > max(FFILL_STEPS, every + STALE_EXTRA_STEPS)


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
    recent = max(1, CELERITY_FLOW_WINDOW_MIN // step_min)
    for k, (_, name) in enumerate(plan.dams):
        x = _col(win, name)
        if x is None or not np.isfinite(x).any():
            continue
        dam_ok[k] = True
        boundary[k] = _fill_boundary(x, horizon)
        stale[name] = _stale(x)
    # flow-dependent celerity: the largest release of the last day up to the issue time
    dam_flow = boundary[:, max(0, nt - recent):nt].max(axis=1) if len(plan.dams) else None
    rain = np.zeros((len(plan.rains), nt + horizon))
    rain_ok = np.zeros(len(plan.rains), bool)
    for k, (_, name, _) in enumerate(plan.rains):
        x = _col(win, name)
        if x is None:
            stale[name] = True
            continue
        rain_ok[k] = True
        rain[k, :nt] = np.where(np.isfinite(x), x, 0.0)
        stale[name] = _stale(x)
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
    flows = plan.route(boundary, rain, 60.0 * step_min, dam_flow)  # [node, nt + horizon]
    from floodwarn.kernels import ar1_correct, ar1_phi, rating_h

    ns = len(cand)
    a = np.empty((ns, 1))
    h0 = np.empty((ns, 1))
    b = np.empty((ns, 1))
    fitted = np.zeros(ns, bool)
    kind = ["default"] * ns
    q_sim = np.empty((ns, nt + horizon))
    obs_m = np.empty((ns, nt))
    every = np.ones(ns, dtype=np.int64)
    for s, (st, i, _, _, obs, age) in enumerate(cand):
        q_sim[s] = flows[i]
        obs_m[s] = obs
        every[s] = int(reporting_interval_steps(obs[None, :])[0])
        known = (ratings or {}).get(st)
        fw = _col(win, f"fw_{st}")
        fit = known if known is not None else (fit_rating(obs, fw) if fw is not None else None)
        if fit is not None:
            a[s, 0], h0[s, 0], b[s, 0] = fit
            fitted[s] = True
            kind[s] = "fitted"
            continue
        t_last = nt - 1 - age
        prior = PRIOR_RATINGS.get(st)
        if prior is not None and obs[t_last] > prior[1]:
            pa, ph0, pb = prior
            lateral = pa * (np.clip(obs, ph0, None) - ph0) ** pb - flows[i, :nt]  # NaN without obs
            if lateral[t_last] > 0:
                # the flow the rating gives minus the routed release is what the rest of the
                # catchment brings: held, plus half its last-hour trend for an hour (the
                # persistence-trend rule, on the part of the flow that routing does not know)
                rate = float(recent_state(lateral[None, :], step_min)[2][0])
                lead_min = (np.arange(nt + horizon) - t_last) * float(step_min)
                trend = TREND_DAMP * (rate if math.isfinite(rate) else 0.0) * np.clip(lead_min, 0.0, TREND_HOLD_MIN)
                q_sim[s] = np.maximum(flows[i] + lateral[t_last] + trend, 1e-6)
                a[s, 0], h0[s, 0], b[s, 0] = pa, ph0, pb
                kind[s] = "prior"
                continue
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
        sigma = _spread(err[s] - bias[s], lead_steps[s], phi_eff, int(every[s]))
        q = np.stack([corrected - Z90 * sigma, corrected, corrected + Z90 * sigma], axis=-1)
        flags = ["fallback"]
        if not fitted[s] or any(rain_ok[k] for k in rains):
            flags.append("uncalibrated-params")
        names = [plan.dams[k][1] for k in dams] + [plan.rains[k][1] for k in rains]
        flags += [f"stale-input:{n}" for n in names if stale.get(n)]
        if age > max(FFILL_STEPS, every[s] + STALE_EXTRA_STEPS):
            flags.append(f"stale-input:wl_{st}")
        out[st] = HydroForecast(st, noncrossing(q), tuple(flags), kind[s], float(phi[s]))
    return out


def _spread(err: np.ndarray, lead_steps: np.ndarray, phi: float, every: int = 1) -> np.ndarray:
    """Sd of the method's own recent errors at each lead, floored and non-decreasing.

    A gauge reporting every ``every`` steps has errors only at its reports: the lag is rounded
    up to a multiple of ``every`` (an hourly gauge's 40-minute lead uses its 60-minute errors)
    and the last ``SPREAD_STEPS`` of its *reports* are used, not of the grid steps."""
    n = len(err)
    every = max(1, int(every))
    sig = np.empty(len(lead_steps))
    for j, ls in enumerate(lead_steps):
        L = int(ls)
        floor = MIN_SIGMA_M * math.sqrt(max(L, 1) / 6)
        lag = max(every, -(-L // every) * every)
        if lag >= n:
            sig[j] = np.nan
            continue
        start = max(0, n - lag - SPREAD_STEPS * every)
        e0 = err[start:n - lag]
        e1 = err[start + lag:n]
        r = e1 - phi**lag * e0
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
