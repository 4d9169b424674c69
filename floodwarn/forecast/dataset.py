"""Training data and model inputs for the Han River (Seoul reach) forecast models.

One feature builder serves training, hindcasts and the live cycle: :func:`base_features` turns a
wide 10-minute frame (columns ``{variable}_{code}`` in HRFCO names and units, stage in m) into
model inputs. Every input at issue time ``t`` is a function of values at valid times ``<= t``
only (backward shifts and trailing windows), so a row can be computed from history that ends at
``t`` — the property ``tests/forecast/test_dataset.py`` proves by poisoning the future.

Targets are the change of stage from the latest observation (``own`` mode) or the stage itself
(``sim`` mode: simulation from boundary conditions when the station's own gauge is missing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: the four Seoul bridges with gauges in the competition set, upstream to downstream
BRIDGES: tuple[str, ...] = ("1018662", "1018680", "1018683", "1019630")
BRIDGE_NAMES = {
    "1018662": "Cheongdam",
    "1018680": "Jamsu",
    "1018683": "Hangang",
    "1019630": "Haengju",
}
#: gauge datum gdt (m) from HRFCO waterlevel/info; elevation = stage + gdt
GDT = {"1018662": 1.747, "1018680": -0.068, "1018683": 2.07, "1019630": 0.803}
DAM = "1017310"  # Paldang
TIDE = "DT_0032"  # Ganghwa bridge (KHOA)
RAIN_GAUGES: tuple[str, ...] = ("10184100", "10184110", "10184140")

HORIZONS: tuple[int, ...] = (10, 20, 30, 60, 120, 180, 360)
#: own gauge present / own gauge missing but the other bridges report / boundary conditions only /
#: own gauge present but another bridge's missing (an archive or feed with some bridges only)
MODES: tuple[str, ...] = ("own", "nbr", "sim", "solo")
#: modes whose target is the station's own change of stage (the others are relative to another
#: gauge or absolute, and carry the last-known offset when the gauge has failed)
OWN_GAUGE_MODES: tuple[str, ...] = ("own", "solo")
#: nbr mode: the bridge whose current stage a station's forecast is relative to (nearest one)
NBR_REFERENCE = {"1018662": "1018680", "1018680": "1018683", "1018683": "1018680",
                 "1019630": "1018683"}
STEP_MIN = 10
#: an input older than this many steps is not carried forward (it becomes missing, flagged)
FFILL_STEPS = 3

WL_LAGS_MIN = (10, 20, 30, 60, 120, 180, 360)
DAM_LAGS_MIN = (30, 60, 90, 120, 180, 240, 300, 360, 480, 600, 720)
DAM_DIFFS_MIN = (10, 30, 60, 120, 180)
TIDE_LAGS_MIN = tuple(range(30, 781, 30))
RAIN_SUMS_MIN = (60, 180, 360, 720, 1440, 4320)
#: slow boundary conditions (baseflow, tributaries): mean Paldang release over 1 and 3 days
DAM_MEANS_MIN = (1440, 4320)
#: discharge (rating curve of the stage) at the bridges that have one — own mode only
FW_STATIONS: tuple[str, ...] = ("1018662", "1018683", "1019630")

# sim-mode-only inputs (prefix ``sim_``): the slow state of the boundary conditions. All windows
# fit in the live cycle's 73 h of history.
#: two M2 tidal cycles (24 h 50 min): a missing tide value is taken from this many steps earlier
SIM_TIDE_PERIOD_STEPS = 149
#: ... for at most this long after the last real tide value (3 days), then it stays missing
SIM_TIDE_FILL_MAX_STEPS = 432
#: tide mean / max / min / range over one and two tidal cycles (12.5 h, 25 h)
SIM_TIDE_WINDOWS_STEPS = (75, 150)
#: Paldang release: trailing means (6 h, 12 h, 2 d) and maxima (1 d, 3 d)
SIM_DAM_MEANS_MIN = (360, 720, 2880)
SIM_DAM_MAX_MIN = (1440, 4320)


def _dam(v: str) -> str:
    return f"{v}_{DAM}"


def input_columns() -> list[str]:
    """The raw wide columns the Han models read (for staleness checks and documentation)."""
    cols = [f"wl_{s}" for s in BRIDGES] + [f"fw_{s}" for s in FW_STATIONS]
    cols += [_dam(v) for v in ("swl", "inf", "tototf", "ecpc")]
    cols += [f"tide_{TIDE}"] + [f"rf_{g}" for g in RAIN_GAUGES]
    return cols


# --------------------------------------------------------------------------- reading


def read_hanriver(data_dir: str | Path, years: Iterable[int] | None = None) -> pd.DataFrame:
    """The competition archive as a wide UTC frame in HRFCO units (stage m, flows m³/s).

    Uses :func:`floodwarn.feeds.hanriver.hanriver_wide` when that feed exists; otherwise a small
    private reader applying the same conventions and the provenance notes' known errors.
    """
    data_dir = Path(data_dir)
    years = list(years) if years is not None else list(range(2012, 2023))
    try:
        from floodwarn.feeds.hanriver import hanriver_wide  # type: ignore[import-not-found]
    except ImportError:
        hanriver_wide = None
    if hanriver_wide is not None:
        wide = hanriver_wide(data_dir, years)
        return regularise(wide)
    return regularise(_read_csv_private(data_dir, years))


def _read_csv_private(data_dir: Path, years: Sequence[int]) -> pd.DataFrame:
    frames = []
    for y in years:
        w = pd.read_csv(data_dir / "water_data" / f"data_{y}.csv")
        r = pd.read_csv(data_dir / "rf_data" / f"rf_{y}.csv")
        w = w.merge(r, on="ymdhm", how="left")
        frames.append(w)
    df = pd.concat(frames, ignore_index=True)
    t = pd.to_datetime(df.pop("ymdhm"), format="%Y-%m-%d %H:%M")
    df.index = pd.DatetimeIndex(t).tz_localize("Asia/Seoul").tz_convert("UTC")
    df.index.name = "time"
    out = pd.DataFrame(index=df.index)
    for s in BRIDGES:
        el = df[f"wl_{s}"].where(df[f"wl_{s}"] > 0)  # 0.0 = blanked competition test window
        out[f"wl_{s}"] = el / 100.0 - GDT[s]
        out[f"fw_{s}"] = df[f"fw_{s}"]
    swl = df["swl"].where(df["swl"] > 0)  # swl == 0 is a sentinel
    out[_dam("swl")] = swl
    for v in ("inf", "tototf"):
        x = df[v].where((df[v] > -100) & (df[v] < 20000))  # -990 sentinel, ~25,000 spikes
        out[_dam(v)] = x
    out[_dam("sfw")] = df["sfw"]
    out[_dam("ecpc")] = df["ecpc"]
    out[f"tide_{TIDE}"] = df["tide_level"]
    for g in RAIN_GAUGES:
        out[f"rf_{g}"] = df[f"rf_{g}"]
    return out.astype(np.float64)


def regularise(wide: pd.DataFrame) -> pd.DataFrame:
    """Reindex to a complete 10-minute UTC grid so that shifting by k rows means k·10 min."""
    if not isinstance(wide.index, pd.DatetimeIndex) or wide.index.tz is None:
        raise ValueError("wide frame needs a timezone-aware DatetimeIndex")
    idx = wide.index.tz_convert("UTC")
    wide = wide.set_axis(idx).sort_index()
    wide = wide[~wide.index.duplicated(keep="last")]
    grid = pd.date_range(idx.min().floor("10min"), idx.max(), freq="10min", name="time")
    return wide.reindex(grid)


def to_xarray(wide: pd.DataFrame):  # -> xarray.Dataset
    """Station × time xarray Dataset with one variable per HRFCO variable, units in attrs."""
    import xarray as xr

    from floodwarn.records import VARIABLES

    data_vars = {}
    for var, unit in VARIABLES.items():
        cols = [c for c in wide.columns if c.split("_", 1)[0] == var]
        if not cols:
            continue
        codes = [c.split("_", 1)[1] for c in cols]
        arr = xr.DataArray(
            wide[cols].to_numpy().T,
            dims=("station", "time"),
            coords={"station": codes, "time": wide.index.tz_convert(None).to_numpy()},
            attrs={"units": unit, "hrfco_variable": var},
        )
        data_vars[var] = arr
    ds = xr.merge([a.rename(k).to_dataset() for k, a in data_vars.items()], join="outer")
    ds.attrs["time_zone"] = "UTC"
    return ds


# --------------------------------------------------------------------------- features


#: inputs up to this many values run the rolling kernel on one thread
_SMALL_ROLLING = 50_000


def _rolling_sums(x: np.ndarray, windows: Sequence[int]) -> np.ndarray:
    """Trailing sums over ``windows`` steps for x[series, time] → out[window, series, time].

    Built by :func:`floodwarn.kernels.rolling.rolling_multi` when the kernels are installed.
    A window with less than half its values valid is missing.
    """
    from floodwarn.forecast._kernels import rolling_sums

    if x.size > _SMALL_ROLLING:
        return rolling_sums(x, windows, min_valid_frac=0.5)
    # the live cycle's few series × 73 h: waking the parallel kernel's thread team costs ~100×
    # the work (several ms on a busy host); stations are independent, so one thread gives the
    # same bits
    try:
        import numba
    except ImportError:  # no kernels either: the NumPy twin runs
        return rolling_sums(x, windows, min_valid_frac=0.5)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return rolling_sums(x, windows, min_valid_frac=0.5)
    finally:
        numba.set_num_threads(threads)


def _ffill(a: pd.DataFrame, limit: int = FFILL_STEPS) -> pd.DataFrame:
    return a.ffill(limit=limit)


def base_features(wide: pd.DataFrame) -> pd.DataFrame:
    """All model inputs for every row of a regular 10-minute wide frame (float32).

    Causal by construction: only ``shift(k >= 0)`` and trailing windows are used.
    """
    n = len(wide)
    feats: dict[str, np.ndarray] = {}
    present = [c for c in input_columns() if c in wide.columns]
    filled = _ffill(wide[present].astype(np.float64)) if present else None
    # one 2-D array instead of a pandas column lookup per input (this runs every live cycle)
    arr = filled.to_numpy(np.float64) if filled is not None else None
    where = {c: i for i, c in enumerate(filled.columns)} if filled is not None else {}

    def col(name: str) -> np.ndarray:
        if arr is not None and name in where:
            return arr[:, where[name]]
        return np.full(n, np.nan)

    def lag(x: np.ndarray, k: int) -> np.ndarray:
        out = np.full_like(x, np.nan)
        if k < n:
            out[k:] = x[: n - k]
        return out

    for s in BRIDGES:
        wl = col(f"wl_{s}")
        feats[f"wl_{s}"] = wl
        for m in WL_LAGS_MIN:
            feats[f"wl_{s}_d{m}"] = wl - lag(wl, m // STEP_MIN)
    for s in FW_STATIONS:
        fw = col(f"fw_{s}")
        feats[f"fw_{s}"] = fw
        feats[f"fw_{s}_d60"] = fw - lag(fw, 6)
    from floodwarn.forecast import proxies  # imports this module

    # a missing Paldang inflow / release is stood in for by the other one (proxies.py)
    inf, tot = proxies.fill_dam(col(_dam("inf")), col(_dam("tototf")))
    feats["tototf"] = tot
    feats["inf"] = inf
    feats["swl"] = col(_dam("swl"))
    feats["ecpc"] = col(_dam("ecpc"))
    feats["inf_minus_tototf"] = inf - tot
    for m in DAM_LAGS_MIN:
        feats[f"tototf_l{m}"] = lag(tot, m // STEP_MIN)
    for m in DAM_DIFFS_MIN:
        feats[f"tototf_d{m}"] = tot - lag(tot, m // STEP_MIN)
        feats[f"inf_d{m}"] = inf - lag(inf, m // STEP_MIN)
    means = _rolling_sums(tot[None, :], [m // STEP_MIN for m in DAM_MEANS_MIN])
    for j, m in enumerate(DAM_MEANS_MIN):
        feats[f"tototf_m{m}"] = means[j, 0] / (m // STEP_MIN)
    raw_tide = col(f"tide_{TIDE}")
    # gaps: the tide two M2 cycles earlier (≤ 3 days), then the astronomical tide (proxies.py)
    tide = proxies.fill_tide_astronomical(fill_tide(raw_tide), wide.index)
    feats["tide"] = tide
    feats["tide_d10"] = tide - lag(tide, 1)
    feats["tide_d30"] = tide - lag(tide, 3)
    for m in TIDE_LAGS_MIN:
        feats[f"tide_l{m}"] = lag(tide, m // STEP_MIN)
    rain = np.vstack([col(f"rf_{g}") for g in RAIN_GAUGES])
    nvalid = np.isfinite(rain).sum(axis=0)
    mean = np.where(nvalid > 0, np.nansum(rain, axis=0) / np.maximum(nvalid, 1), np.nan)
    rain = np.vstack([rain, mean[None, :]])
    sums = _rolling_sums(rain, [m // STEP_MIN for m in RAIN_SUMS_MIN])
    for i, g in enumerate([*RAIN_GAUGES, "mean"]):
        for j, m in enumerate(RAIN_SUMS_MIN):
            feats[f"rf_{g}_s{m}"] = sums[j, i]
    t = wide.index
    minutes = (t.hour * 60 + t.minute).to_numpy(np.float64)
    doy = t.day_of_year.to_numpy(np.float64)
    feats["tod_sin"] = np.sin(2 * np.pi * minutes / 1440)
    feats["tod_cos"] = np.cos(2 * np.pi * minutes / 1440)
    feats["doy_sin"] = np.sin(2 * np.pi * doy / 365.25)
    feats["doy_cos"] = np.cos(2 * np.pi * doy / 365.25)
    feats.update(_sim_features(tot, raw_tide, tide))
    feats.update(_own_features({s: col(f"wl_{s}") for s in BRIDGES}, inf, tot, rain))
    out = np.empty((n, len(feats)), dtype=np.float32)
    for j, v in enumerate(feats.values()):
        out[:, j] = v  # float64 → float32, the same rounding as DataFrame.astype
    return pd.DataFrame(out, index=wide.index, columns=list(feats))


def fill_tide(tide: np.ndarray) -> np.ndarray:
    """Tide with gaps of up to 3 days filled from two M2 cycles (24 h 50 min) earlier.

    Why: Ganghwa tide is missing ~10 % of 2021 and the sim models lean on it; the tide one
    day earlier is a far better guess than "missing". Causal: a value only copies earlier ones.
    """
    out = np.array(tide, dtype=np.float64, copy=True)
    ok = np.isfinite(out)
    idx = np.arange(len(out))
    last = np.maximum.accumulate(np.where(ok, idx, -1))  # index of the latest real value
    todo = ~ok & (last >= 0) & (idx - last <= SIM_TIDE_FILL_MAX_STEPS) & (idx >= SIM_TIDE_PERIOD_STEPS)
    for i in np.flatnonzero(todo):  # in time order, so a long gap copies already-filled values
        out[i] = out[i - SIM_TIDE_PERIOD_STEPS]
    return out


def _sim_features(tot: np.ndarray, raw_tide: np.ndarray, tf: np.ndarray) -> dict[str, np.ndarray]:
    """Slow state of the boundary conditions for the sim models (names ``sim_*``; causal).

    ``tf``: the tide with its gaps filled (:func:`fill_tide`, then the astronomical tide);
    ``sim_tide_missing`` says where the observed ``raw_tide`` was missing."""
    n = len(tot)
    feats: dict[str, np.ndarray] = {}
    feats["sim_tide"] = tf
    feats["sim_tide_missing"] = (~np.isfinite(raw_tide)).astype(np.float64)
    for m in TIDE_LAGS_MIN:
        k = m // STEP_MIN
        lagged = np.full(n, np.nan)
        if k < n:
            lagged[k:] = tf[: n - k]
        feats[f"sim_tide_l{m}"] = lagged
    ts = pd.Series(tf)
    sums = _rolling_sums(tf[None, :], SIM_TIDE_WINDOWS_STEPS)
    for j, w in enumerate(SIM_TIDE_WINDOWS_STEPS):
        hi = ts.rolling(w, min_periods=w // 2).max().to_numpy()
        lo = ts.rolling(w, min_periods=w // 2).min().to_numpy()
        feats[f"sim_tide_mean{w}"] = sums[j, 0] / w
        feats[f"sim_tide_max{w}"] = hi
        feats[f"sim_tide_min{w}"] = lo
        feats[f"sim_tide_range{w}"] = hi - lo
    means = _rolling_sums(tot[None, :], [m // STEP_MIN for m in SIM_DAM_MEANS_MIN])
    for j, m in enumerate(SIM_DAM_MEANS_MIN):
        feats[f"sim_tototf_m{m}"] = means[j, 0] / (m // STEP_MIN)
    tser = pd.Series(tot)
    for m in SIM_DAM_MAX_MIN:
        k = m // STEP_MIN
        feats[f"sim_tototf_max{m}"] = tser.rolling(k, min_periods=k // 2).max().to_numpy()
    return feats


#: own-mode inputs that anticipate a rise (issue 6): smoothed stage for the noisy Hangang gauge
#: at high water, curvature, water-surface slope between neighbouring bridges, Paldang inflow
#: trends and short-window rain. Gauge-derived names start with ``wl_``, boundary-derived ones
#: with ``own_`` — neither prefix is a sim-mode input.
OWN_WL_MEANS_STEPS = (3, 6)  # stage minus its trailing 30 / 60-min mean
OWN_WL_CURVE_STEPS = (6, 18)  # second differences over 1 h and 3 h
OWN_INF_DIFFS_MIN = (240, 360, 480, 720)


def _own_features(wl: dict[str, np.ndarray], inf: np.ndarray, tot: np.ndarray,
                  rain: np.ndarray) -> dict[str, np.ndarray]:
    """Own-mode inputs that anticipate the rise 1-6 h ahead (names ``wl_*`` and ``own_*``; causal).

    ``rain``: rain[gauge, time] with the gauge mean as the last row.
    Why: trees split on one input at a time, so a difference the forecast depends on (stage minus
    its recent mean, upstream minus downstream elevation, inflow now minus inflow hours ago) is
    given explicitly instead of being pieced together from many splits.
    """
    n = len(inf)

    def lag(x: np.ndarray, k: int) -> np.ndarray:
        out = np.full(n, np.nan)
        if k < n:
            out[k:] = x[: n - k]
        return out

    feats: dict[str, np.ndarray] = {}
    stages = np.vstack([wl[s] for s in BRIDGES])
    means = _rolling_sums(stages, OWN_WL_MEANS_STEPS)
    for i, s in enumerate(BRIDGES):
        for j, k in enumerate(OWN_WL_MEANS_STEPS):
            feats[f"wl_{s}_r{k * STEP_MIN}"] = stages[i] - means[j, i] / k
        for k in OWN_WL_CURVE_STEPS:
            feats[f"wl_{s}_a{k * STEP_MIN}"] = stages[i] - 2 * lag(stages[i], k) + lag(stages[i], 2 * k)
    smooth = {s: means[0, i] / OWN_WL_MEANS_STEPS[0] for i, s in enumerate(BRIDGES)}
    for a, b in zip(BRIDGES[:-1], BRIDGES[1:], strict=True):
        # elevations (m) averaged over 30 min: the Hangang gauge swings ±10 cm at high water
        slope = (smooth[a] + GDT[a]) - (smooth[b] + GDT[b])
        feats[f"wl_slope_{a}_{b}"] = slope
        feats[f"wl_slope_{a}_{b}_d60"] = slope - lag(slope, 6)
    for m in OWN_INF_DIFFS_MIN:
        feats[f"own_inf_d{m}"] = inf - lag(inf, m // STEP_MIN)
    sums = _rolling_sums(np.vstack([inf, inf - tot]), [6, 18])
    inf_m60 = sums[0, 0] / 6  # the computed inflow is noisy: its 1-h mean
    feats["own_inf_m60"] = inf_m60
    feats["own_inf_m60_d60"] = inf_m60 - lag(inf_m60, 6)
    feats["own_inf_m60_d180"] = inf_m60 - lag(inf_m60, 18)
    feats["own_store_s180"] = sums[1, 1] / 18  # mean inflow minus release over 3 h, m³/s
    feats["own_inf_a60"] = inf - 2 * lag(inf, 6) + lag(inf, 12)
    mean_sums = _rolling_sums(rain[-1:], [1, 3, 6, 18])
    feats["own_rf_s10"] = mean_sums[0, 0]
    feats["own_rf_s30"] = mean_sums[1, 0]
    feats["own_rf_s60_d60"] = mean_sums[2, 0] - lag(mean_sums[2, 0], 6)
    feats["own_rf_s180_d180"] = mean_sums[3, 0] - lag(mean_sums[3, 0], 18)
    hourly = _rolling_sums(rain[:-1], [6])[0]  # per gauge: the heaviest local hour
    ok = np.isfinite(hourly)
    feats["own_rf_max_s60"] = np.where(ok.any(axis=0), np.where(ok, hourly, -np.inf).max(axis=0), np.nan)
    return feats


_BOUNDARY_PREFIXES = ("tototf", "inf", "swl", "ecpc", "tide", "rf_", "tod_", "doy_")


def feature_names(station: str, mode: str, available: Sequence[str]) -> list[str]:
    """The inputs of the (station, mode) model, in a fixed order.

    ``own``: every bridge's stage, discharge and their changes + boundary conditions. ``sim``:
    boundary conditions only (dam, tide, rain, time of day) — no stage and no discharge anywhere
    on the reach, so the station's own stage cannot leak in through a rating curve or a
    neighbour; no day of year (it learns the training years' seasonal levels and biases
    another year by 5-15 cm); no dam empty capacity ``ecpc`` (it drifts from year to year with
    the reservoir's storage table, so the trees use it to tell years apart and carry that
    year's gauge level into another year); plus the ``sim_*`` slow-state inputs. ``nbr``: the
    ``sim`` inputs plus the stage and discharge of the *other* bridges (never a column that
    names ``station``: its stage, its rating-curve discharge, a slope to it) — what is left when
    the station's own gauge fails in a flood while its neighbours keep reporting. ``solo``: the
    ``own`` inputs without any column that names another bridge — an own model fed NaN for a
    missing neighbour goes down branches it never trained on (Hangang bridge alone, Aug 2020
    flood: 1-h RMSE 10.6 cm against 7.8 cm for a model trained without the neighbours).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (known: {MODES})")
    bound = [c for c in available if c.startswith(_BOUNDARY_PREFIXES)]
    gauges = [c for c in available if c.startswith(("wl_", "fw_"))]
    if mode in ("sim", "nbr"):
        sim = [c for c in bound if not c.startswith(("doy_", "ecpc"))] + [
            c for c in available if c.startswith("sim_")]
        return sim if mode == "sim" else sim + [c for c in gauges if station not in c]
    own = gauges + bound + [c for c in available if c.startswith("own_")]
    if mode == "solo":
        others = [b for b in BRIDGES if b != station]
        return [c for c in own if not any(b in c for b in others)]
    return own


def anchor_station(station: str, mode: str) -> str | None:
    """The gauge whose current stage a (station, mode) target is relative to (None: absolute).

    ``own``: the station itself. ``nbr``: its nearest bridge, :data:`NBR_REFERENCE` — an absolute
    stage target cannot leave the range of the training years (trees predict leaf values), which
    put the 2020 flood 60-126 cm off; relative to the neighbour it is 18-41 cm off (1-6 h). ``sim``:
    none is available.
    """
    if mode in OWN_GAUGE_MODES:
        return station
    if mode == "nbr":
        return NBR_REFERENCE[station]
    return None


def anchor(wide: pd.DataFrame, station: str, mode: str) -> pd.Series:
    """The stage the forecast of ``mode`` is added to, as the live cycle carries it forward."""
    ref = anchor_station(station, mode)
    if ref is None:
        return pd.Series(0.0, index=wide.index)
    return wide[f"wl_{ref}"].ffill(limit=FFILL_STEPS)


def target(wide: pd.DataFrame, station: str, horizon_min: int, mode: str) -> pd.Series:
    """What the (station, horizon, mode) model learns: stage at t + h minus :func:`anchor`
    (Δstage for ``own``, the difference to the reference bridge now for ``nbr``, the stage
    itself for ``sim``)."""
    fut = wide[f"wl_{station}"].shift(-(horizon_min // STEP_MIN))
    return fut - anchor(wide, station, mode)


def observed_future(wide: pd.DataFrame, station: str, horizon_min: int) -> pd.Series:
    """Observed stage at t + h, indexed by issue time t (for verification)."""
    return wide[f"wl_{station}"].shift(-(horizon_min // STEP_MIN))


def years_mask(index: pd.DatetimeIndex, years: Iterable[int]) -> np.ndarray:
    """Rows whose issue time falls in ``years`` (KST calendar year, as in the archive)."""
    y = index.tz_convert("Asia/Seoul").year
    return np.isin(y, list(years))
