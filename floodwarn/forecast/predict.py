"""The forecast stage: one call per 10-minute cycle, and the same code path in batch for hindcasts.

:func:`forecast_cycle` is the daemon's entry point (keep its signature stable). For each station
it picks the best method that its inputs allow, and says which in ``method`` and ``flags``:

1. ``lgbm`` — the trained model with the station's own recent stage (change-of-stage targets);
2. ``lgbm-sim`` — own gauge missing: simulation from boundary conditions (dam, tide, rain);
3. ``routing+ar1`` — no trained model applies, but the catalog's river network knows what
   drains into the station: dam outflow and rain routed down the network, stage by rating,
   AR(1)-corrected (:mod:`floodwarn.forecast.hydro`); network gauges that are not forecast points
   are forecast too when this method serves them;
4. ``persistence-trend`` — no model and no network path (or its inputs are missing).

A station with no stage in the last six hours and no model gets no rows.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

import numpy as np
import pandas as pd

from floodwarn.errors import ModelError
from floodwarn.forecast import dataset as D
from floodwarn.forecast.bundle import ForecastBundle
from floodwarn.forecast.fallback import persistence_trend
from floodwarn.forecast.hydro import METHOD as HYDRO_METHOD
from floodwarn.forecast.hydro import network_plan, routable, routing_ar1
from floodwarn.times import as_utc, floor_step

log = logging.getLogger(__name__)

COLUMNS = ["station", "issued_at", "lead_min", "q05", "q50", "q95", "method", "model_version", "flags"]
#: history rows the features need: the longest trailing window (3 days) + a few steps
WINDOW_STEPS = max(*D.RAIN_SUMS_MIN, *D.DAM_MEANS_MIN) // D.STEP_MIN + 6
#: minutes of history the caller should hand to :func:`forecast_cycle` for the modelled stations
#: (shorter works, but the 3-day inputs go missing and forecasts carry ``short-history``)
HISTORY_MIN = (WINDOW_STEPS - 1) * D.STEP_MIN
FALLBACK_VERSION = "builtin"
FALLBACK_MAX_AGE_STEPS = 36  # six hours


@functools.cache
def available_features() -> list[str]:
    """Names of every input :func:`~floodwarn.forecast.dataset.base_features` builds."""
    idx = pd.date_range("2020-01-01", periods=2, freq="10min", tz="UTC")
    return list(D.base_features(pd.DataFrame(index=idx)).columns)


def _window(history: pd.DataFrame, at: datetime) -> pd.DataFrame:
    """The last WINDOW_STEPS grid rows ending at ``at``; anything after ``at`` is cut off."""
    if not isinstance(history.index, pd.DatetimeIndex) or history.index.tz is None:
        raise ValueError("history needs a timezone-aware DatetimeIndex (UTC)")
    ts = pd.Timestamp(at)
    start = ts - pd.Timedelta(minutes=D.STEP_MIN * (WINDOW_STEPS - 1))
    h = history
    if not h.index.is_monotonic_increasing:
        h = h.sort_index()
    h = h.loc[(h.index >= start) & (h.index <= ts)]
    grid = pd.date_range(start, ts, freq=f"{D.STEP_MIN}min", name="time")
    return h[~h.index.duplicated(keep="last")].reindex(grid)


def _stale(win: pd.DataFrame, cols: list[str]) -> list[str]:
    """Inputs whose newest value is older than the carry-forward limit at the last row."""
    tail = win.iloc[-(D.FFILL_STEPS + 1):]
    out = []
    for c in cols:
        if c not in tail.columns or not np.isfinite(tail[c].to_numpy(np.float64)).any():
            out.append(c)
    return out


def _raw_inputs(mode: str) -> list[str]:
    cols = D.input_columns()
    return [c for c in cols if not c.startswith(("wl_", "fw_"))] if mode == "sim" else cols


def _forecast_point_codes(catalog: object) -> set[str]:
    if catalog is None:
        return set()
    fp = catalog.forecast_points()  # type: ignore[attr-defined]
    return {str(c) for c in fp.index}


def _model_rows(bundle: ForecastBundle, feats: pd.DataFrame, win: pd.DataFrame, station: str,
                issued: pd.Timestamp, extra_flags: list[str]) -> list[dict]:
    last = feats.iloc[-1]
    own_now = last.get(f"wl_{station}", np.nan)
    mode = "own" if np.isfinite(own_now) and bundle.has(station, "own") else "sim"
    if not bundle.has(station, mode):
        return []
    flags = list(extra_flags)
    if mode == "sim":
        flags.append("own-gauge-missing")
    stale = _stale(win, _raw_inputs(mode))
    if mode == "own":
        stale = [c for c in stale if c != f"wl_{station}"]
    if mode == "sim" and f"tototf_{D.DAM}" in stale:
        return []  # no boundary condition either: nothing honest to say
    flags += [f"stale-input:{c}" for c in stale]
    names = bundle.features(station, mode)
    long_windows = [f"tototf_m{max(D.DAM_MEANS_MIN)}", f"rf_mean_s{max(D.RAIN_SUMS_MIN)}"]
    if any(c in names and not np.isfinite(last[c]) for c in long_windows):
        flags.append("short-history")  # under half of the 3-day windows available
    x = last[names].to_numpy(np.float32)[None, :]
    base = float(own_now) if mode == "own" else 0.0
    method = "lgbm" if mode == "own" else "lgbm-sim"
    rows = []
    for h in bundle.horizons:
        q = bundle.estimators[(station, mode, h)].predict_quantiles(x)[0] + base
        rows.append({"station": station, "issued_at": issued, "lead_min": h, "q05": q[0],
                     "q50": q[1], "q95": q[2], "method": method, "model_version": bundle.version,
                     "flags": ",".join(flags)})
    return rows


def forecast_cycle(
    at: datetime,
    history: pd.DataFrame,
    catalog: object,
    registry: object,
    shadow: bool = False,
) -> pd.DataFrame:
    """Forecasts for every forecast point (and every modelled station) issued at ``at``.

    ``history``: UTC 10-minute wide frame ``{variable}_{code}`` (stage m), rows up to ``at``
    (later rows are ignored, so a cycle never sees the future). ``registry`` is a
    :class:`~floodwarn.forecast.registry.ModelRegistry`; with ``shadow=True`` the shadow
    candidates forecast instead of the promoted version (none → empty frame).
    Returns one row per (station, lead) with columns :data:`COLUMNS`.
    """
    at = floor_step(as_utc(at))
    issued = pd.Timestamp(at)
    win = _window(history, at)
    bundles: list[ForecastBundle | None]
    extra: list[str] = []
    if shadow:
        bundles = list(registry.load_shadow())  # type: ignore[attr-defined]
        if not bundles:
            return pd.DataFrame(columns=COLUMNS)
    else:
        try:
            bundles = [registry.load_promoted()]  # type: ignore[attr-defined]
        except ModelError as err:
            log.warning("no usable promoted model, all stations on fallback: %s", err)
            bundles = [None]
            extra = ["model-unavailable"]
    frames = [_one_bundle(b, win, catalog, issued, extra) for b in bundles]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return out[COLUMNS]


def _one_bundle(bundle: ForecastBundle | None, win: pd.DataFrame, catalog: object,
                issued: pd.Timestamp, extra: list[str]) -> pd.DataFrame:
    wl_codes = {c[3:] for c in win.columns if c.startswith("wl_")}
    model_st = set(bundle.stations) if bundle is not None else set()
    points = (_forecast_point_codes(catalog) & wl_codes) | model_st
    rows: list[dict] = []
    done: set[str] = set()
    if model_st:
        feats = D.base_features(win.iloc[-WINDOW_STEPS:])
        for st in sorted(model_st):
            r = _model_rows(bundle, feats, win, st, issued, extra)  # type: ignore[arg-type]
            if r:
                rows += r
                done.add(st)
    horizons = bundle.horizons if bundle is not None else list(D.HORIZONS)
    plan = network_plan(catalog)
    if plan is not None:
        net_codes = {s for s in wl_codes if routable(plan, s)}
        hydro = routing_ar1(win, sorted((points | net_codes) - done), plan, horizons, D.STEP_MIN,
                            FALLBACK_MAX_AGE_STEPS)
        for st, hf in hydro.items():
            fl = ",".join([*extra, *hf.flags])
            for j, h in enumerate(horizons):
                rows.append({"station": st, "issued_at": issued, "lead_min": int(h),
                             "q05": hf.q[j, 0], "q50": hf.q[j, 1], "q95": hf.q[j, 2],
                             "method": HYDRO_METHOD, "model_version": FALLBACK_VERSION, "flags": fl})
            done.add(st)
    rest = sorted((points - done) & wl_codes)
    if rest:
        levels = win[[f"wl_{s}" for s in rest]].to_numpy(np.float64).T
        q, age, ok = persistence_trend(levels, horizons, D.STEP_MIN, FALLBACK_MAX_AGE_STEPS)
        for i, st in enumerate(rest):
            if not ok[i]:
                continue
            flags = [*extra, "fallback"]
            if age[i] > D.FFILL_STEPS:
                flags.append(f"stale-input:wl_{st}")
            fl = ",".join(flags)
            for j, h in enumerate(horizons):
                rows.append({"station": st, "issued_at": issued, "lead_min": int(h),
                             "q05": q[i, j, 0], "q50": q[i, j, 1], "q95": q[i, j, 2],
                             "method": "persistence-trend", "model_version": FALLBACK_VERSION,
                             "flags": fl})
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["lead_min"] = df["lead_min"].astype(np.int64)
    for c in ("q05", "q50", "q95"):
        df[c] = df[c].astype(np.float64)
    return df


# --------------------------------------------------------------------------- batch hindcast


def hindcast(
    bundle: ForecastBundle,
    wide: pd.DataFrame,
    feats: pd.DataFrame,
    station: str,
    mode: str,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Forecasts of one station/mode for many issue times at once (same estimators, same inputs).

    Returns a long frame: issued_at, lead_min, q05, q50, q95, obs (stage at t + lead),
    persistence (stage at t, carried forward as in the live cycle).
    """
    if not bundle.has(station, mode):
        raise ModelError(f"version {bundle.version} has no {mode} model", station=station)
    sel = np.ones(len(feats), bool) if rows is None else np.asarray(rows, bool)
    X = feats.loc[sel, bundle.features(station, mode)].to_numpy(np.float32)
    now = wide[f"wl_{station}"].ffill(limit=D.FFILL_STEPS).to_numpy(np.float64)[sel]
    idx = feats.index[sel]
    out = []
    for h in bundle.horizons:
        q = bundle.estimators[(station, mode, h)].predict_quantiles(X)
        if mode == "own":
            q = q + now[:, None]
        obs = D.observed_future(wide, station, h).to_numpy(np.float64)[sel]
        out.append(pd.DataFrame({"issued_at": idx, "lead_min": h, "q05": q[:, 0], "q50": q[:, 1],
                                 "q95": q[:, 2], "obs": obs, "persistence": now}))
    df = pd.concat(out, ignore_index=True)
    df.insert(0, "station", station)
    df["method"] = "lgbm" if mode == "own" else "lgbm-sim"
    return df
