"""The forecast stage: one call per 10-minute cycle, and the same code path in batch for hindcasts.

:func:`forecast_cycle` is the daemon's entry point (keep its signature stable). For each station
it picks the best method that its inputs allow, and says which in ``method`` and ``flags``:

1. ``lgbm`` — the trained model with the station's own recent stage (change-of-stage targets);
2. ``lgbm-nbr`` — own gauge missing, the other bridges reporting: their stages + the boundary
   conditions (a gauge that fails in a flood while its neighbours keep reporting);
   ``lgbm-sim`` — own gauge missing and a neighbour too: simulation from boundary conditions
   (dam, tide, rain) alone;
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
import threading
import weakref
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.errors import ModelError
from floodwarn.forecast import dataset as D
from floodwarn.forecast import offset as O
from floodwarn.forecast import proxies
from floodwarn.forecast.bundle import ForecastBundle
from floodwarn.forecast.calibrate import apply_offset, noncrossing
from floodwarn.forecast.fallback import persistence_trend, reporting_interval_steps
from floodwarn.forecast.hydro import METHOD as HYDRO_METHOD
from floodwarn.forecast.hydro import network_plan, routable, routing_ar1
from floodwarn.forecast.lgbm import QuantileLGBM
from floodwarn.times import as_utc, floor_step

log = logging.getLogger(__name__)

COLUMNS = ["station", "issued_at", "lead_min", "q05", "q50", "q95", "method", "model_version", "flags"]
#: history rows the features need: the longest trailing window (3 days) + a few steps
WINDOW_STEPS = max(*D.RAIN_SUMS_MIN, *D.DAM_MEANS_MIN) // D.STEP_MIN + 6
#: minutes of history the caller should hand to :func:`forecast_cycle` for the modelled stations
#: (shorter works, but the 3-day inputs go missing and forecasts carry ``short-history``)
HISTORY_MIN = (WINDOW_STEPS - 1) * D.STEP_MIN
#: history for the last-known offset of a station whose gauge failed up to
#: :data:`~floodwarn.forecast.offset.MAX_AGE_STEPS` ago: the residual day before the failure with
#: each of its nowcasts' full input windows (a shorter history gives the offset from inputs with
#: partial 3-day windows)
OFFSET_HISTORY_MIN = HISTORY_MIN + (O.WINDOW_STEPS + O.MAX_AGE_STEPS + 1) * D.STEP_MIN
FALLBACK_VERSION = "builtin"
FALLBACK_MAX_AGE_STEPS = 36  # six hours


@functools.cache
def available_features() -> list[str]:
    """Names of every input :func:`~floodwarn.forecast.dataset.base_features` builds."""
    idx = pd.date_range("2020-01-01", periods=2, freq="10min", tz="UTC")
    return list(D.base_features(pd.DataFrame(index=idx)).columns)


def _window(history: pd.DataFrame, at: datetime, steps: int = WINDOW_STEPS) -> pd.DataFrame:
    """The last ``steps`` grid rows ending at ``at``; anything after ``at`` is cut off."""
    if not isinstance(history.index, pd.DatetimeIndex) or history.index.tz is None:
        raise ValueError("history needs a timezone-aware DatetimeIndex (UTC)")
    ts = pd.Timestamp(at)
    start = ts - pd.Timedelta(minutes=D.STEP_MIN * (steps - 1))
    h = history
    fast = _grid_slice(h, start, ts, steps)
    if fast is not None:
        return fast
    if not h.index.is_monotonic_increasing:
        h = h.sort_index()
    h = h.loc[(h.index >= start) & (h.index <= ts)]
    grid = pd.date_range(start, ts, freq=f"{D.STEP_MIN}min", name="time")
    return h[~h.index.duplicated(keep="last")].reindex(grid)


def _grid_slice(h: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                steps: int = WINDOW_STEPS) -> pd.DataFrame | None:
    """``h``'s rows ``start..end`` when they already are the whole 10-minute grid (the cycle's
    wide frame always is): the same frame as the reindex in :func:`_window`, without its cost."""
    idx = h.index
    if not len(idx) or not idx.is_monotonic_increasing or str(idx.tz) != "UTC":
        return None
    i = int(idx.searchsorted(start, side="left"))
    j = int(idx.searchsorted(end, side="right"))
    if j - i != steps or idx[i] != start or idx[j - 1] != end:
        return None
    grid = pd.date_range(start, end, freq=f"{D.STEP_MIN}min", name="time")
    part = h.iloc[i:j]
    if not (part.index == grid).all():
        return None
    part = part.copy()
    part.index = grid
    return part


def _stale(win: pd.DataFrame, cols: list[str]) -> list[str]:
    """Inputs whose newest value is older than the carry-forward limit at the last row."""
    return _stale_from(_tail_finite(win), cols)


def _tail_finite(win: pd.DataFrame) -> dict[str, bool]:
    """For each column: any finite value in the last FFILL_STEPS + 1 rows (once per cycle)."""
    tail = win.iloc[-(D.FFILL_STEPS + 1):]
    ok = np.isfinite(tail.to_numpy(np.float64)).any(axis=0) if tail.shape[1] else []
    return dict(zip(tail.columns, (bool(v) for v in ok), strict=True))


def _stale_from(finite: dict[str, bool], cols: list[str]) -> list[str]:
    return [c for c in cols if not finite.get(c, False)]


def _raw_inputs(mode: str, station: str = "") -> list[str]:
    """The raw columns a ``mode`` model reads (``nbr``: everything but ``station``'s gauge;
    ``solo``: ``station``'s gauge and the boundary conditions)."""
    cols = D.input_columns()
    if mode == "own":
        return cols
    bound = [c for c in cols if not c.startswith(("wl_", "fw_"))]
    if mode == "sim":
        return bound
    if mode == "solo":
        return [c for c in cols if c not in bound and c.endswith(f"_{station}")] + bound
    return [c for c in cols if c not in bound and not c.endswith(f"_{station}")] + bound


def _mode(bundle: ForecastBundle, station: str, own_now: float, finite: dict[str, bool]) -> str:
    """Own gauge with every other bridge's stage fresh → ``own``; own gauge with another bridge
    missing → ``solo`` (when the version has it, else ``own`` flagged ``stale-input``); no own
    gauge but every other bridge fresh → ``nbr``; else ``sim``.

    Only stages decide: a missing rating-curve discharge (Cheongdam's ``fw`` is blank for 14 % of
    2020, at low flow) is what the own models were trained with."""
    neighbours = [c for c in _raw_inputs("nbr", station) if c.startswith("wl_")]
    others_fresh = not _stale_from(finite, neighbours)
    if np.isfinite(own_now) and bundle.has(station, "own"):
        return "own" if others_fresh or not bundle.has(station, "solo") else "solo"
    if bundle.has(station, "nbr") and others_fresh:
        return "nbr"
    return "sim"


def _anchor_station(bundle: ForecastBundle, station: str, mode: str) -> str | None:
    """The gauge the (station, mode) model's output is relative to, as the version was trained
    (its manifest's ``nbr_reference``; :func:`floodwarn.forecast.dataset.anchor_station`)."""
    if mode == "nbr":
        return dict(bundle.manifest.get("nbr_reference", D.NBR_REFERENCE))[station]
    return D.anchor_station(station, mode)


#: forecast ``method`` of each model mode
METHODS = {"own": "lgbm", "nbr": "lgbm-nbr", "sim": "lgbm-sim", "solo": "lgbm-solo"}


#: catalog → (its stations table, codes forecast every cycle); see floodwarn.cycle._forecast_codes
_WARNED: weakref.WeakKeyDictionary[Any, tuple[Any, frozenset[str]]] = weakref.WeakKeyDictionary()


def _warned_codes(catalog: object) -> set[str]:
    """Stations forecast every cycle: ``catalog.warned_codes()`` (forecast points + gauges with
    an alert level), or the forecast points of a catalog-like object without that method."""
    if catalog is None:
        return set()
    stations = getattr(catalog, "stations", None)
    try:
        hit = _WARNED.get(catalog)
    except TypeError:
        hit = None
    if hit is not None and stations is not None and hit[0] is stations:
        return set(hit[1])
    if hasattr(catalog, "warned_codes"):  # forecast points + every gauge with an alert level
        codes = frozenset(catalog.warned_codes())  # type: ignore[attr-defined]
    else:
        codes = frozenset(str(c) for c in catalog.forecast_points().index)  # type: ignore[attr-defined]
    try:
        _WARNED[catalog] = (stations, codes)
    except TypeError:
        pass
    return set(codes)


def _model_rows(bundle: ForecastBundle, feats: pd.DataFrame, win: pd.DataFrame, station: str,
                issued: pd.Timestamp, extra_flags: list[str],
                prep: tuple[dict[str, int], np.ndarray, dict[str, bool]] | None = None,
                history: pd.DataFrame | None = None) -> list[dict]:
    """``prep``: (feature column → position, last feature row, :func:`_tail_finite` of ``win``),
    built once per cycle by the caller; derived here when absent. ``history``: the cycle's whole
    history, for the last-known offset of a station whose gauge is missing
    (:func:`outage_offset`)."""
    if prep is None:
        prep = _prep(feats, win)
    pos, last, finite = prep
    i_own = pos.get(f"wl_{station}")
    own_now = last[i_own] if i_own is not None else np.nan
    mode = _mode(bundle, station, own_now, finite)
    if not bundle.has(station, mode):
        return []
    flags = list(extra_flags)
    if mode == "solo":
        flags.append("neighbour-gauge-missing")
    elif mode != "own":
        flags.append("own-gauge-missing")
    stale = _stale_from(finite, _raw_inputs(mode, station))
    if mode in D.OWN_GAUGE_MODES:
        stale = [c for c in stale if c != f"wl_{station}"]
    stand_in = proxies.covered(stale, finite)  # tide, Paldang inflow / release
    if mode == "sim" and f"tototf_{D.DAM}" in stale and f"tototf_{D.DAM}" not in stand_in:
        return []  # no boundary condition either: nothing honest to say
    flags += [f"proxy-input:{c}" if c in stand_in else f"stale-input:{c}" for c in stale]
    names = bundle.features(station, mode)
    long_windows = [f"tototf_m{max(D.DAM_MEANS_MIN)}", f"rf_mean_s{max(D.RAIN_SUMS_MIN)}"]
    if any(c in names and not np.isfinite(last[pos[c]]) for c in long_windows):
        flags.append("short-history")  # under half of the 3-day windows available
    x = last[[pos[c] for c in names]].astype(np.float32)[None, :]
    ref = _anchor_station(bundle, station, mode)
    base = 0.0 if ref is None else float(last[pos[f"wl_{ref}"]])
    if not np.isfinite(base):
        return []  # _mode checked it is fresh; never add a forecast to a missing stage
    method = METHODS[mode]
    horizons = list(bundle.horizons)
    q = _predict_leads([bundle.estimators[(station, mode, h)] for h in horizons], x) + base
    if mode not in D.OWN_GAUGE_MODES and history is not None:
        off = outage_offset(bundle, station, mode, history, issued)
        if np.isfinite(off):
            q = q + off
            flags.append("offset-corrected")
    fl = ",".join(flags)
    return [{"station": station, "issued_at": issued, "lead_min": h, "q05": q[k, 0], "q50": q[k, 1],
             "q95": q[k, 2], "method": method, "model_version": bundle.version, "flags": fl}
            for k, h in enumerate(horizons)]


def outage_offset(bundle: ForecastBundle, station: str, mode: str, history: pd.DataFrame,
                  issued: pd.Timestamp) -> float:
    """The last-known offset (:mod:`floodwarn.forecast.offset`) of the (station, mode) model at
    ``issued``: the mean residual of its shortest-lead forecast over the day up to the gauge's
    last report in ``history``; NaN when there is none recent enough."""
    col = f"wl_{station}"
    if col not in history.columns:
        return float("nan")
    k = min(bundle.horizons) // D.STEP_MIN
    long = _window(history, issued, OFFSET_HISTORY_MIN // D.STEP_MIN + 1)
    own = long[col].to_numpy(np.float64)
    last = O.last_report(own)
    if last is None or len(own) - 1 - last > O.MAX_AGE_STEPS or last < k:
        return float("nan")
    first = max(0, last - O.WINDOW_STEPS + 1 - k)  # the earliest nowcast the residuals need
    lo = max(0, first - (WINDOW_STEPS - 1))  # ... with its full input windows
    part = long.iloc[lo: last - k + 1]
    nowcast = np.full(len(own), np.nan)
    nowcast[lo: last - k + 1] = _nowcast(bundle, part, D.base_features(part), station, mode)
    return O.offset_at(O.residuals(own, nowcast, k), last)


def _anchor_values(bundle: ForecastBundle, wide: pd.DataFrame, station: str, mode: str) -> np.ndarray:
    """Per row of ``wide``: the stage the (station, mode) model's output is added to (zeros for
    an absolute target), carried forward as in the live cycle."""
    ref = _anchor_station(bundle, station, mode)
    if ref is None:
        return np.zeros(len(wide))
    return wide[f"wl_{ref}"].ffill(limit=D.FFILL_STEPS).to_numpy(np.float64)


def _nowcast(bundle: ForecastBundle, wide: pd.DataFrame, feats: pd.DataFrame, station: str,
             mode: str) -> np.ndarray:
    """The (station, mode) model's shortest-lead median stage for every row of ``wide``/``feats``:
    what the last-known offset's residuals are measured against."""
    est = bundle.estimators[(station, mode, min(bundle.horizons))]
    X = feats[bundle.features(station, mode)].to_numpy(np.float32)
    return est.predict_quantiles(X)[:, 1] + _anchor_values(bundle, wide, station, mode)


def _predict_leads(ests: list[Any], x: np.ndarray) -> np.ndarray:
    """``(len(ests), 3)``: row k = ``_predict_row(ests[k], x)[0]`` (one row, every lead).

    All leads' boosters are walked in one call of the compiled tree kernel
    (:mod:`floodwarn.forecast.trees`, the same doubles as LightGBM); models it does not cover go
    through LightGBM's single-row fast path with one lock and one row pointer for all leads.
    The offsets are applied by one vectorised :func:`apply_offset` (row-wise, the same doubles).
    """
    forest = _forest(ests)
    if forest is not None and x.shape == (1, forest.n_features):
        raw = forest.predict_row(x[0]).reshape(len(ests), 3)
        return _widen(raw, ests)
    fasts = [_row_predictors(est) for est in ests]
    if any(f is None or x.shape != (1, est.n_features_in_) or any(p._ncol != x.shape[1] for p in f)
           for f, est in zip(fasts, ests, strict=True)):
        return np.vstack([_predict_row(est, x) for est in ests])
    row = np.ascontiguousarray(x[0], dtype=np.float32)
    ptr = row.ctypes.data_as(fasts[0][0]._ctypes.c_void_p)  # type: ignore[index]
    with _ROW_LOCK:
        raw = np.array([[p(ptr) for p in f] for f in fasts], dtype=np.float64)  # type: ignore[union-attr]
    return _widen(raw, ests)


def _widen(raw: np.ndarray, ests: list[Any]) -> np.ndarray:
    """:func:`apply_offset` row by row: each lead widened by its own estimator's offset."""
    offset = np.array([getattr(est, "offset_", 0.0) for est in ests], dtype=np.float64)
    raw[:, 0] -= offset
    raw[:, 2] += offset
    return noncrossing(raw)


#: first estimator of a lead set → {the set's estimator ids: (the other estimators, Forest)}
_FORESTS: weakref.WeakKeyDictionary[Any, dict[tuple[int, ...], tuple[tuple[Any, ...], Any]]] = (
    weakref.WeakKeyDictionary())


def _forest(ests: list[Any]) -> Any:
    """The estimators' boosters compiled for :mod:`floodwarn.forecast.trees` (built once per
    model load), or None: not all :class:`QuantileLGBM` with three boosters, or a model the
    kernel does not reproduce exactly (LightGBM's fast path then predicts)."""
    if not ests:
        return None
    key = tuple(id(e) for e in ests)
    try:
        hit = _FORESTS.get(ests[0], {}).get(key)
    except TypeError:
        return None
    if hit is not None:
        return hit[1]
    forest = None
    if all(type(e) is QuantileLGBM and len(getattr(e, "boosters_", ())) == 3 for e in ests):
        from floodwarn.forecast.trees import try_compile

        forest = try_compile([b for e in ests for b in e.boosters_])
        if forest is not None and any(e.n_features_in_ != forest.n_features for e in ests):
            forest = None
    try:
        # the others stay alive with the first (a reference to the key itself would pin it)
        _FORESTS.setdefault(ests[0], {})[key] = (tuple(ests[1:]), forest)
    except TypeError:
        pass
    return forest


class _RowPredictor:
    """LightGBM's single-row fast path for one booster: the prediction config is parsed once.

    ``Booster.predict`` on one row spends most of its ~80 µs building a predictor and parsing
    the parameter string; the live cycle makes 84 such calls. Same trees, same iteration
    limit, same ``num_threads=1`` parameter as :meth:`QuantileLGBM._raw` → the same doubles.
    """

    def __init__(self, booster: Any) -> None:
        import ctypes

        from lightgbm import basic

        self._lib = basic._LIB
        self._handle = ctypes.c_void_p()
        self._ncol = booster.num_feature()
        # Booster.predict's defaults: start 0, best iteration (-1 = all) for a start <= 0
        self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle, ctypes.c_int(basic._C_API_PREDICT_NORMAL), ctypes.c_int(0),
            ctypes.c_int(booster.best_iteration), ctypes.c_int(basic._C_API_DTYPE_FLOAT32),
            ctypes.c_int32(self._ncol), basic._c_str(basic._param_dict_to_str({"num_threads": 1})),
            ctypes.byref(self._handle))
        if not self._handle.value:
            raise RuntimeError("LGBM_BoosterPredictForMatSingleRowFastInit failed")
        self._booster = booster  # the fast config points into it: keep it alive as long
        self._out = np.empty(1, dtype=np.float64)
        self._len = ctypes.c_int64(0)
        self._c_len = ctypes.byref(self._len)
        self._c_out = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._ctypes = ctypes

    def __call__(self, row_ptr: Any) -> float:
        """``row_ptr``: ``c_void_p`` to ``ncol`` contiguous float32 values."""
        ret = self._lib.LGBM_BoosterPredictForMatSingleRowFast(
            self._handle, row_ptr, self._c_len, self._c_out)
        if ret != 0 or self._len.value != 1:
            raise RuntimeError("LGBM_BoosterPredictForMatSingleRowFast failed")
        return float(self._out[0])

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            self._lib.LGBM_FastConfigFree(handle)
            handle.value = None


_ROW_LOCK = threading.Lock()
#: estimator → its three row predictors (dropped with the estimator when a bundle is unloaded)
_ROW_PREDICTORS: weakref.WeakKeyDictionary[Any, list[_RowPredictor] | None] = weakref.WeakKeyDictionary()


def _row_predictors(est: Any) -> list[_RowPredictor] | None:
    """The estimator's single-row fast predictors (built once), or None without the fast API."""
    try:
        return _ROW_PREDICTORS[est]
    except (KeyError, TypeError):
        fast = None
        if type(est) is QuantileLGBM and hasattr(est, "boosters_"):
            try:
                fast = [_RowPredictor(b) for b in est.boosters_]
            except Exception:  # noqa: BLE001 - any LightGBM build without the fast API
                log.debug("single-row fast path unavailable, using Booster.predict", exc_info=True)
                fast = None
        try:
            _ROW_PREDICTORS[est] = fast
        except TypeError:
            pass
        return fast


def _predict_row(est: Any, x: np.ndarray) -> np.ndarray:
    """``est.predict_quantiles(x)`` for one float32 row, through LightGBM's single-row fast path
    when ``est`` is a :class:`~floodwarn.forecast.lgbm.QuantileLGBM` (identical numbers)."""
    fast = _row_predictors(est)
    if fast is None or x.shape != (1, est.n_features_in_) or any(f._ncol != x.shape[1] for f in fast):
        return est.predict_quantiles(x)
    row = np.ascontiguousarray(x[0], dtype=np.float32)
    ptr = row.ctypes.data_as(fast[0]._ctypes.c_void_p)  # ``row`` stays alive until the end
    with _ROW_LOCK:  # the predictors' output buffers are shared: one caller at a time
        raw = np.array([[f(ptr) for f in fast]], dtype=np.float64)
    return apply_offset(raw, getattr(est, "offset_", 0.0))


def _prep(feats: pd.DataFrame, win: pd.DataFrame) -> tuple[dict[str, int], np.ndarray, dict[str, bool]]:
    pos = {c: i for i, c in enumerate(feats.columns)}
    return pos, feats.to_numpy(np.float32)[-1], _tail_finite(win)


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
    frames = [_one_bundle(b, win, catalog, issued, extra, history) for b in bundles]
    if len(frames) == 1:
        return frames[0]  # already exactly COLUMNS with a fresh RangeIndex
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    return out[COLUMNS]


def _one_bundle(bundle: ForecastBundle | None, win: pd.DataFrame, catalog: object,
                issued: pd.Timestamp, extra: list[str],
                history: pd.DataFrame | None = None) -> pd.DataFrame:
    wl_codes = {c[3:] for c in win.columns if c.startswith("wl_")}
    model_st = set(bundle.stations) if bundle is not None else set()
    points = (_warned_codes(catalog) & wl_codes) | model_st
    rows: list[dict] = []
    done: set[str] = set()
    if model_st:
        feats = D.base_features(win.iloc[-WINDOW_STEPS:])
        prep = _prep(feats, win)
        for st in sorted(model_st):
            r = _model_rows(bundle, feats, win, st, issued, extra, prep, history)  # type: ignore[arg-type]
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
        every = reporting_interval_steps(levels)
        for i, st in enumerate(rest):
            if not ok[i]:
                continue
            flags = [*extra, "fallback"]
            if age[i] > max(D.FFILL_STEPS, every[i] + 2):
                flags.append(f"stale-input:wl_{st}")
            fl = ",".join(flags)
            for j, h in enumerate(horizons):
                rows.append({"station": st, "issued_at": issued, "lead_min": int(h),
                             "q05": q[i, j, 0], "q50": q[i, j, 1], "q95": q[i, j, 2],
                             "method": "persistence-trend", "model_version": FALLBACK_VERSION,
                             "flags": fl})
    return _rows_frame(rows)


def _rows_frame(rows: list[dict]) -> pd.DataFrame:
    """The forecast rows as a frame with :data:`COLUMNS` (int64 leads, float64 quantiles).

    Built column by column with the final dtypes: the row-dict constructor plus four casts
    cost ~1 ms per cycle for a few dozen rows."""
    if not rows:
        df = pd.DataFrame(rows, columns=COLUMNS)
        df["lead_min"] = df["lead_min"].astype(np.int64)
        for c in ("q05", "q50", "q95"):
            df[c] = df[c].astype(np.float64)
        return df
    data: dict[str, Any] = {c: [r[c] for r in rows] for c in COLUMNS}
    data["lead_min"] = np.array(data["lead_min"], dtype=np.int64)
    for c in ("q05", "q50", "q95"):
        data[c] = np.array(data[c], dtype=np.float64)
    return pd.DataFrame(data, columns=COLUMNS)


# --------------------------------------------------------------------------- batch hindcast


def hindcast(
    bundle: ForecastBundle,
    wide: pd.DataFrame,
    feats: pd.DataFrame,
    station: str,
    mode: str,
    rows: np.ndarray | None = None,
    outage_steps: int | None = None,
) -> pd.DataFrame:
    """Forecasts of one station/mode for many issue times at once (same estimators, same inputs).

    ``outage_steps`` (``nbr``/``sim`` only): the station's gauge is taken to have last reported
    that many steps before each issue time, and the forecast gets the last-known offset the live
    cycle would add (:func:`outage_offset`; flag ``offset-corrected``); issue times without one
    stay uncorrected.
    Returns a long frame: issued_at, lead_min, q05, q50, q95, obs (stage at t + lead),
    persistence (stage at t, carried forward as in the live cycle).
    """
    if not bundle.has(station, mode):
        raise ModelError(f"version {bundle.version} has no {mode} model", station=station)
    sel = np.ones(len(feats), bool) if rows is None else np.asarray(rows, bool)
    X = feats.loc[sel, bundle.features(station, mode)].to_numpy(np.float32)
    now = wide[f"wl_{station}"].ffill(limit=D.FFILL_STEPS).to_numpy(np.float64)[sel]
    base = _anchor_values(bundle, wide, station, mode)[sel]
    idx = feats.index[sel]
    corrected = np.zeros(len(idx), bool)
    off = np.zeros(len(idx))
    if outage_steps is not None and mode not in D.OWN_GAUGE_MODES:
        off = _batch_offsets(bundle, wide, feats, station, mode, sel, outage_steps)
        corrected = np.isfinite(off)
        off = np.where(corrected, off, 0.0)
    out = []
    for h in bundle.horizons:
        q = bundle.estimators[(station, mode, h)].predict_quantiles(X) + base[:, None] + off[:, None]
        obs = D.observed_future(wide, station, h).to_numpy(np.float64)[sel]
        out.append(pd.DataFrame({"issued_at": idx, "lead_min": h, "q05": q[:, 0], "q50": q[:, 1],
                                 "q95": q[:, 2], "obs": obs, "persistence": now}))
    df = pd.concat(out, ignore_index=True)
    df.insert(0, "station", station)
    df["method"] = METHODS[mode]
    if outage_steps is not None and mode not in D.OWN_GAUGE_MODES:
        df["flags"] = np.where(np.tile(corrected, len(bundle.horizons)), "offset-corrected", "")
    return df


def _batch_offsets(bundle: ForecastBundle, wide: pd.DataFrame, feats: pd.DataFrame, station: str,
                   mode: str, sel: np.ndarray, outage_steps: int) -> np.ndarray:
    """:func:`outage_offset` for every selected issue time at once (NaN where there is none)."""
    k = min(bundle.horizons) // D.STEP_MIN
    r = O.residuals(wide[f"wl_{station}"].to_numpy(np.float64),
                    _nowcast(bundle, wide, feats, station, mode), k)
    return O.offset_series(r, outage_steps, np.flatnonzero(sel))
