"""The warning engine: one cycle of levels, hysteresis and lifecycle messages.

For every forecast point (and every impact asset) the engine computes two values per cycle
(see :mod:`floodwarn.warn.rules` and ``docs/warnings.md``):

- what may **raise** the level: ``max(latest observed stage, decision trajectory within
  imminent_min, lowest decision peak of the last confirm_cycles forecasts)``;
- what **holds** it: ``max(latest observed stage, highest point of the decision trajectory
  within the horizon, highest (1 − p_hold)-quantile within the horizon)`` — rule E: a level is
  lowered only once the forecast, too, gives a return above threshold − margin less than
  ``p_hold`` (0.25) probability,

where the decision trajectory is, at every lead τ, the (1 − p(τ))-quantile of the forecast, with
the required probability p(τ) rising from ``exceedance_p`` (imminent) to ``exceedance_p_far``
(at the horizon). :func:`floodwarn.warn.rules.gated_value` combines them into the one value fed
to the shared hysteresis kernel. So "observed ≥ threshold" fires at once, and so does an
imminent forecast crossing; a farther one fires once ``confirm_cycles`` consecutive forecasts
showed it with P(exceed) ≥ p(τ); downgrades and cancels wait until the hold value stays below
threshold − margin for ``dwell_cycles`` of the gauge's own reports (3 reports: 30 min at a
10-minute gauge, 3 h at an hourly one), and at least ``warn.dwell_min`` minutes if set
(:func:`dwell_cycles_for`). Confirmation reads the previous cycles'
forecasts from the store (``run_cycle`` saves them before it warns).
The kernel state (level, count below, level to fall to) is kept in ``warn_state``, so a
restarted daemon carries on where it stopped.

Every level change becomes a lifecycle message (:mod:`floodwarn.warn.lifecycle`) written in
the same transaction as its outbox rows and the cycle's ledger row; a cycle already evaluated
is recognised and writes nothing. Messages are sent "at" the cycle time, not the wall clock,
so a replay produces the same identifiers and bytes.

Missing data never cancels a warning: a NaN value holds the level (and is flagged).

Which targets (see ``docs/warnings.md``):

- every water-level station with at least one threshold **and data in the cycle**
  (observations or forecasts) — not only the official forecast points. A forecast point's
  target is its code (an official 홍수예보지점 warning); any other gauge's is ``gauge:<code>``
  and its messages say "gauge alert level, not an official flood forecast point";
- every impact asset whose trigger station has data;
- plus every target with stored state that is not idle (a level, a dwell count, a value to
  clear), so hysteresis and renewals carry on while data is missing.

Everything else is skipped in O(1) per cycle: thresholds come from one cached array per
catalog (:func:`floodwarn.catalog.threshold_table`), states are read in one query and
written in two, and inputs are computed only for the targets above.

When a message is sent (besides level changes): an active message is renewed when less than
a quarter of its lifetime (at least one cycle) is left, and an Update goes out at once on a
*material change* since the last message — the forecast peak moved by ≥ ``MATERIAL_PEAK_M``,
the time to the current level (or to impact) moved by ≥ ``MATERIAL_LEAD_MIN``, or a level
reached by forecast is now observed.
"""

from __future__ import annotations

import json
import logging
import math
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.catalog import ThresholdTable, threshold_table
from floodwarn.config import WarnConfig
from floodwarn.times import STEP_S, epoch_array, from_epoch, to_epoch
from floodwarn.warn import assets as assets_mod
from floodwarn.warn.levels import (
    LEVELS,
    classify,
    decision_quantile,
    exceedance_probability,
    first_crossing,
    hysteresis_step,
    threshold_vector,
)
from floodwarn.warn.lifecycle import (
    AlertEvent,
    TargetState,
    episode_references,
    event_identifier,
    load_states,
    write_event,
)
from floodwarn.warn.rules import (
    decision_trajectory,
    gated_value,
    held_step,
    hold_probability,
    hold_trajectory,
    required_probability,
)

log = logging.getLogger(__name__)

__all__ = ["StationInputs", "WarnResult", "evaluate", "observed_intervals", "stale_after_s", "station_inputs",
           "target_of"]

#: an observation older than this is flagged ``observed_stale`` (a gauge reporting less often
#: than every 10 minutes: two cycles past its next value, :func:`stale_after_s`)
STALE_S = 3 * STEP_S
#: how many of a station's last steps between values give its reporting interval
INTERVAL_DIFFS = 3
#: a forecast issued longer ago than this is flagged ``forecast_stale``
FORECAST_STALE_S = 3 * STEP_S
#: an Update goes out when the forecast peak moved this much since the last message (m)
MATERIAL_PEAK_M = 0.5
#: ... or when the time to the current level (or to impact) moved this much (min)
MATERIAL_LEAD_MIN = 60.0
#: floor of the downgrade dwell in minutes (:func:`dwell_cycles_for`; ``warn.dwell_min`` overrides)
DWELL_MIN: float | None = None
#: target prefix of a thresholded gauge that is not an official forecast point
GAUGE_PREFIX = "gauge:"


@dataclass(frozen=True)
class StationInputs:
    """What one cycle knows about one station, before hysteresis (all explainable)."""

    station: str
    thresholds: dict[str, float]
    observed_value: float | None = None
    observed_time: int | None = None
    decision_peak: float | None = None  # highest decision-trajectory value within the horizon
    imminent_peak: float | None = None  # ... within ``imminent_min`` (needs no confirmation)
    confirmed_peak: float | None = None  # lowest decision peak of the last ``confirm_cycles`` forecasts
    #: highest (1 − p_hold)-quantile within the horizon (rule E: what the forecast says the stage
    #: may be back at with P ≥ p_hold; holds a level, never raises one)
    hold_peak: float | None = None
    confirm_cycles: int = 1
    forecast_peak: float | None = None  # highest q50 within the horizon
    forecast_peak_time: int | None = None
    time_to: dict[str, float | None] = field(default_factory=dict)
    probability: dict[str, float | None] = field(default_factory=dict)
    leads: tuple[float, ...] = ()
    trajectory: tuple[float, ...] = ()  # decision trajectory incl. observed at lead 0
    q05: tuple[float, ...] = ()
    q50: tuple[float, ...] = ()
    q95: tuple[float, ...] = ()
    model_version: str | None = None
    method: str | None = None
    freshness: str | None = None
    flags: tuple[str, ...] = ()
    #: the gauge's reporting interval (s): confirmation spans that many cycles per forecast
    obs_interval_s: int = STEP_S

    @property
    def value(self) -> float:
        """What holds a level: max(observed, current decision peak, hold peak) (NaN: no usable data)."""
        vals = [v for v in (self.observed_value, self.decision_peak, self.hold_peak)
                if v is not None and math.isfinite(v)]
        return max(vals) if vals else math.nan

    @property
    def rise_value(self) -> float:
        """What may raise a level: observed, imminent forecast or confirmed forecast (rules B–C)."""
        conf = self.confirmed_peak if self.confirm_cycles > 1 else self.decision_peak
        vals = [v for v in (self.observed_value, self.imminent_peak, conf) if v is not None and math.isfinite(v)]
        return max(vals) if vals else math.nan

    @property
    def observed_level(self) -> int:
        return classify(np.nan if self.observed_value is None else self.observed_value,
                        threshold_vector(self.thresholds))

    @property
    def forecast_level(self) -> int:
        return classify(np.nan if self.decision_peak is None else self.decision_peak,
                        threshold_vector(self.thresholds))


@dataclass(frozen=True)
class WarnResult:
    """What one evaluation did.

    ``states`` holds every stored target state plus a quiet one for each forecast point that
    was never evaluated. ``changed`` lists the targets whose level changed (``len()`` is the count), ``enqueued``
    the messages written (each with its outbox rows), ``skipped`` why nothing was written
    (cycle already evaluated, or older than the last one) or None.
    """

    cycle_at: datetime
    events: list[AlertEvent]
    states: dict[str, TargetState]
    changed: tuple[str, ...] = ()
    enqueued: int = 0
    skipped: str | None = None
    inputs: dict[str, StationInputs] = field(default_factory=dict, repr=False)

    @property
    def n_changed(self) -> int:
        return len(self.changed)


# ---------------------------------------------------------------------------------------
# inputs


def _freshness_map(freshness: Any) -> dict[str, str]:
    if freshness is None:
        return {}
    if isinstance(freshness, pd.DataFrame):
        if "status" not in freshness:
            return {}
        if "station" in freshness:
            codes = freshness["station"].to_numpy().astype(str).tolist()
            return dict(zip(codes, freshness["status"].to_numpy().astype(str).tolist(), strict=True))
        return {str(k): str(v) for k, v in freshness["status"].items()}
    if isinstance(freshness, Mapping):
        return {str(k): str(v.get("status") if isinstance(v, Mapping) else v) for k, v in freshness.items()}
    return {}


def _epoch_values(s: pd.Series) -> np.ndarray:
    if np.issubdtype(s.dtype, np.integer) or np.issubdtype(s.dtype, np.floating):
        return s.to_numpy().astype(np.int64)
    return epoch_array(pd.DatetimeIndex(pd.to_datetime(s, utc=True)))


def _latest_observed(observed: pd.DataFrame | None, t: int, as_of: int) -> dict[str, tuple[float, int, int]]:
    """Each station's newest stage value valid ≤ ``t`` among rows that arrived ≤ ``as_of``:
    ``(value, valid time, reporting interval s)``.

    The reporting interval is the shortest of the station's last :data:`INTERVAL_DIFFS` steps
    between values (one missing value does not lengthen it); :data:`STEP_S` with one value.
    An hourly gauge is then not "stale" 40 minutes after its last value.
    """
    if observed is None or not len(observed):
        return {}
    df = observed
    val = df["value"].to_numpy(dtype=float, na_value=np.nan)
    vt = _epoch_values(df["valid_time"])
    ok = ~np.isnan(val) & (vt <= t)
    if "variable" in df:
        ok &= (df["variable"] == "wl").to_numpy()
    if "arrival_time" in df:
        ok &= _epoch_values(df["arrival_time"]) <= as_of
    if not ok.any():
        return {}
    st = df["station"].to_numpy().astype(str)[ok]
    vt, val = vt[ok], val[ok]
    order = np.lexsort((vt, st))
    st, vt, val = st[order], vt[order], val[order]
    tail = np.append(st[1:] != st[:-1], True)  # the last row of each station is its newest
    head = np.append(True, st[1:] != st[:-1])
    first = np.maximum.accumulate(np.where(head, np.arange(len(st)), 0))  # each row's station start
    ends = np.flatnonzero(tail)
    interval = np.full(len(ends), np.iinfo(np.int64).max, dtype=np.int64)
    for k in range(INTERVAL_DIFFS):
        i = np.maximum(ends - k, 0)
        has = ends - k - 1 >= first[ends]
        d = np.where(has, vt[i] - vt[np.maximum(i - 1, 0)], np.iinfo(np.int64).max)
        interval = np.minimum(interval, np.where(d > 0, d, np.iinfo(np.int64).max))
    interval = np.where(interval == np.iinfo(np.int64).max, STEP_S, interval)
    return dict(zip(st[ends].tolist(), zip(val[ends].tolist(), vt[ends].tolist(), interval.tolist(), strict=True),
                    strict=True))


def observed_intervals(observed: pd.DataFrame | None, t: int, as_of: int | None = None) -> dict[str, int]:
    """Each station's reporting interval (s) from its stage rows valid ≤ ``t`` that arrived ≤
    ``as_of`` (default ``t``): for the cycle's freshness table (an hourly gauge is fresh for
    :func:`stale_after_s` of 3600 s, not 30 minutes)."""
    obs = _latest_observed(observed, t, t if as_of is None else int(as_of))
    return {s: int(o[2]) for s, o in obs.items()}


def reporting_dwell(dwell_cycles: int, interval_s: int) -> int:
    """The downgrade dwell counted in the gauge's own reports, not in cycles.

    ``dwell_cycles`` consecutive values below threshold − margin mean the same evidence for an
    hourly gauge as for a 10-minute one: ``dwell_cycles`` hourly values, i.e. that many hours.
    Counted in cycles, one hourly value that dips under the line (it stands for six cycles)
    would downgrade a 3-cycle dwell — a flap on every hourly dip.
    """
    return int(dwell_cycles) * max(1, -(-int(interval_s) // STEP_S))


def dwell_cycles_for(dwell_cycles: int, interval_s: int, floor_min: float | None = None) -> int:
    """The downgrade dwell in cycles: ``dwell_cycles`` of the gauge's own reports
    (:func:`reporting_dwell`), and never less than ``floor_min`` minutes of time below the line
    (None / 0: no floor). A floor is a *time*: a river below the line for 30 minutes has said
    less about the end of a flood than one below it for 3 hours, however often it reports."""
    n = reporting_dwell(dwell_cycles, interval_s)
    if floor_min:
        n = max(n, -(-int(round(float(floor_min) * 60)) // STEP_S))
    return n


def stale_after_s(interval_s: int) -> int:
    """An observation is stale once it is more than two cycles overdue (at least :data:`STALE_S`)."""
    return max(STALE_S, int(interval_s) + 2 * STEP_S)


_FLAG_SPLIT = re.compile(r"[,;|\s]+")
_FC_TEXT = ("model_version", "method", "flags")


def _forecast_groups(forecasts: pd.DataFrame | None, t: int, horizon_s: int) -> dict[str, dict[str, np.ndarray]]:
    """Each station's newest forecast issued ≤ t within the horizon, as arrays sorted by lead.

    ``rel`` is the lead in minutes after ``t``; q05/q95 fall back to q50; rows without q50
    are dropped.
    """
    if forecasts is None or not len(forecasts):
        return {}
    fc = forecasts
    if "shadow" in fc:
        fc = fc[fc["shadow"].fillna(0).astype(int).to_numpy() == 0]
    n = len(fc)
    if not n:
        return {}
    issued = _epoch_values(fc["issued_at"])
    ok = issued <= t
    if not ok.any():
        return {}
    st = fc["station"].to_numpy().astype(str)

    def qcol(c: str) -> np.ndarray:
        return fc[c].to_numpy(dtype=float, na_value=np.nan) if c in fc else np.full(n, np.nan)

    q50 = qcol("q50")
    q05, q95 = qcol("q05"), qcol("q95")
    q05 = np.where(np.isnan(q05), q50, q05)
    q95 = np.where(np.isnan(q95), q50, q95)
    codes, inv = np.unique(st, return_inverse=True)
    newest = np.full(len(codes), np.iinfo(np.int64).min)
    np.maximum.at(newest, inv[ok], issued[ok])
    valid = issued + fc["lead_min"].to_numpy().astype(np.int64) * 60
    keep = ok & (issued == newest[inv]) & (valid > t) & (valid <= t + horizon_s) & ~np.isnan(q50)
    if not keep.any():
        return {}
    idx = np.flatnonzero(keep)
    rel = (valid[idx] - t) / 60.0
    order = np.lexsort((rel, st[idx]))
    idx, rel = idx[order], rel[order]
    text = {c: (fc[c].to_numpy(dtype=object)[idx] if c in fc else np.full(len(idx), None, dtype=object))
            for c in _FC_TEXT}
    cols = {"rel": rel, "q05": q05[idx], "q50": q50[idx], "q95": q95[idx], "issued_at": issued[idx], **text}
    sts = st[idx]
    bounds = np.flatnonzero(np.append(True, sts[1:] != sts[:-1]))
    ends = np.append(bounds[1:], len(sts))
    return {str(sts[a]): {c: v[a:b] for c, v in cols.items()} for a, b in zip(bounds, ends, strict=True)}


def station_inputs(
    catalog: Any,
    stations: list[str],
    t: int,
    observed: pd.DataFrame | None,
    forecasts: pd.DataFrame | None,
    settings: WarnConfig,
    freshness: Any = None,
    model_info: Mapping[str, Any] | None = None,
    *,
    as_of: int | None = None,
) -> dict[str, StationInputs]:
    """Observed value, forecast peak, time to each threshold and P(exceed) per station.

    Pure (no store): the same function serves the engine and anyone explaining an alert.
    Observations count if they arrived by ``as_of`` (epoch s; default ``t``). With
    ``confirm_cycles > 1``, ``confirmed_peak`` is left None here: :func:`evaluate` fills it
    from the earlier cycles' forecasts in the store.
    """
    table = threshold_table(catalog, settings.overrides)
    obs = _latest_observed(observed, t, t if as_of is None else int(as_of))
    groups = _forecast_groups(forecasts, t, int(settings.horizon_min) * 60)
    return _inputs(table, stations, t, obs, groups, forecasts is not None, settings,
                   _freshness_map(freshness), model_info or {})


def _inputs(
    table: ThresholdTable,
    stations: list[str],
    t: int,
    obs: dict[str, tuple[float, int, int]],
    groups: dict[str, dict[str, np.ndarray]],
    have_forecasts: bool,
    settings: WarnConfig,
    fresh: dict[str, str],
    model_info: Mapping[str, Any],
) -> dict[str, StationInputs]:
    if not stations:
        return {}
    thr = {s: table.dicts[s] for s in stations}
    # one matrix for the kernel: column 0 is the observation at lead 0, then the forecast leads
    rels = [groups[s]["rel"] for s in stations if s in groups]
    leads = np.unique(np.concatenate([[0.0], *rels]))
    traj = np.full((len(stations), len(leads)), np.nan)
    thr_mat = table.matrix[[table.index[s] for s in stations]]
    decision: dict[str, np.ndarray] = {}
    p_hold = hold_probability(settings)
    for i, s in enumerate(stations):
        o = obs.get(s)
        if o is not None:
            traj[i, 0] = o[0]
        g = groups.get(s)
        if g is not None:
            d = decision_trajectory(g["q05"], g["q50"], g["q95"], g["rel"], settings)
            decision[s] = d
            traj[i, np.searchsorted(leads, g["rel"])] = d
    crossing = first_crossing(traj, leads, thr_mat)

    out: dict[str, StationInputs] = {}
    for i, s in enumerate(stations):
        flags: list[str] = []
        ov = ot = None
        stale_s = STALE_S
        o = obs.get(s)
        if o is not None:
            ov, ot = float(o[0]), int(o[1])
            stale_s = stale_after_s(o[2]) if len(o) > 2 else STALE_S
            age = t - ot
            if age > settings.expiry_min * 60:
                flags.append("observed_missing")  # too old to stand for "now"
                ov = None
                traj[i, 0] = np.nan
                crossing[i] = first_crossing(traj[i : i + 1], leads, thr_mat[i : i + 1])[0]
            elif age > stale_s:
                flags.append("observed_stale")
        else:
            flags.append("observed_missing")
        g = groups.get(s)
        peak = peak_t = dpeak = ipeak = hpeak = None
        version = method = None
        probs: dict[str, float | None] = {}
        if g is not None:
            q50 = g["q50"]
            k = int(np.nanargmax(q50))
            peak, peak_t = float(q50[k]), int(t + round(float(g["rel"][k]) * 60))
            dpeak = float(np.nanmax(decision[s]))
            near = g["rel"] <= float(settings.imminent_min)
            ipeak = float(np.nanmax(decision[s][near])) if near.any() else None
            if p_hold is not None:
                hpeak = float(np.nanmax(hold_trajectory(g["q05"], q50, g["q95"], p_hold)))
            for key, v in thr[s].items():
                if v:
                    p = exceedance_probability(g["q05"], q50, g["q95"], v)
                    probs[key] = round(float(np.nanmax(p)), 4)
            version = next((str(v) for v in g["model_version"] if isinstance(v, str) and v), None)
            method = next((str(v) for v in g["method"] if isinstance(v, str) and v), None)
            for text in dict.fromkeys(v for v in g["flags"] if isinstance(v, str) and v):
                flags += [f for f in _FLAG_SPLIT.split(text) if f]
            if int(t - g["issued_at"][0]) > FORECAST_STALE_S:
                flags.append("forecast_stale")
        elif have_forecasts:
            flags.append("forecast_missing")
        info = model_info.get(s) if isinstance(model_info.get(s), Mapping) else model_info
        version = version or (info.get("model_version") or info.get("version") if info else None)
        method = method or (info.get("method") if info else None)
        if method and "fallback" in str(method).lower():
            flags.append("fallback_model")
        time_to = {
            key: (None if math.isnan(crossing[i, j]) else round(float(crossing[i, j]), 1))
            for j, key in enumerate(lv.key for lv in LEVELS) if key in thr[s]
        }
        sel = ~np.isnan(traj[i])
        out[s] = StationInputs(
            station=s, thresholds=thr[s], observed_value=ov, observed_time=ot, decision_peak=dpeak,
            imminent_peak=ipeak, confirmed_peak=dpeak if settings.confirm_cycles <= 1 else None, hold_peak=hpeak,
            confirm_cycles=max(1, int(settings.confirm_cycles)),
            forecast_peak=peak, forecast_peak_time=peak_t, time_to=time_to, probability=probs,
            leads=tuple(leads[sel].tolist()), trajectory=tuple(traj[i][sel].tolist()),
            q05=tuple(g["q05"].tolist()) if g is not None else (),
            q50=tuple(g["q50"].tolist()) if g is not None else (),
            q95=tuple(g["q95"].tolist()) if g is not None else (),
            model_version=version, method=method,
            freshness=fresh.get(s) or _own_freshness(ot, t, stale_s), flags=tuple(dict.fromkeys(flags)),
            obs_interval_s=int(o[2]) if o is not None and len(o) > 2 else STEP_S,
        )
    return out


def _needs_confirmation(inp: StationInputs) -> bool:
    """Whether the current forecast says more than what needs no confirmation (rule B)."""
    if inp.confirm_cycles <= 1 or inp.decision_peak is None or not math.isfinite(inp.decision_peak):
        return False
    sure = [v for v in (inp.observed_value, inp.imminent_peak) if v is not None and math.isfinite(v)]
    return not sure or inp.decision_peak > max(sure)


def confirm_window_cycles(confirm_cycles: int, interval_s: int) -> int:
    """Earlier cycles whose forecasts must all support a crossing (rule B).

    ``confirm_cycles − 1`` for a 10-minute gauge; for a gauge reporting every ``interval_s``
    the window spans ``confirm_cycles − 1`` of its reporting intervals: the forecasts of an
    hourly gauge 10 minutes apart come from the same value and confirm nothing, so two
    consecutive forecasts means two hourly values (every cycle in between must agree).
    """
    steps = max(1, -(-int(interval_s) // STEP_S))
    return max(0, int(confirm_cycles) - 1) * steps


def _previous_peaks(cur: Any, forecasts: pd.DataFrame | None, stations: list[str], t: int,
                    settings: WarnConfig, back_cycles: int | None = None) -> dict[str, list[tuple[int, float]]]:
    """``(issued_at, decision peak)`` of the forecasts issued 1 .. ``back_cycles`` cycles before
    ``t`` (default ``confirm_cycles − 1``).

    Read from the store's forecasts (the cycle saves them before it warns) and from rows of
    ``forecasts`` issued before ``t`` if the caller passed any (those win). A cycle without a
    forecast is missing from the list, so it cannot confirm.
    """
    n = int(settings.confirm_cycles) - 1 if back_cycles is None else int(back_cycles)
    first = t - n * STEP_S
    cols = ["station", "issued_at", "lead_min", "q05", "q50", "q95"]
    marks = ",".join("?" * len(stations))
    rows = cur.execute(
        f"SELECT {', '.join(cols)} FROM forecasts WHERE shadow = 0 AND issued_at >= ? AND issued_at < ? "
        f"AND station IN ({marks})",
        (first, t, *stations),
    ).fetchall()
    # plain Python over a few dozen rows: this runs every cycle, and a DataFrame round trip
    # (concat, drop_duplicates, groupby) cost ~30x the arithmetic
    merged: dict[tuple[str, int, int], tuple[float, float, float]] = {}
    if forecasts is not None and len(forecasts):
        fc = forecasts
        if "shadow" in fc:
            fc = fc[fc["shadow"].fillna(0).astype(int).to_numpy() == 0]
        issued = _epoch_values(fc["issued_at"])
        keep = (issued >= first) & (issued < t) & fc["station"].astype(str).isin(stations).to_numpy()
        if keep.any():
            def num(c: str) -> np.ndarray:
                if c not in fc:
                    return np.full(int(keep.sum()), np.nan)
                return pd.to_numeric(fc.loc[keep, c], errors="coerce").to_numpy(dtype=float)

            q05, q50, q95 = num("q05"), num("q50"), num("q95")
            sts = fc.loc[keep, "station"].astype(str).tolist()
            leads = fc.loc[keep, "lead_min"].to_numpy().astype(int).tolist()
            for k, (st, iss, ld) in enumerate(zip(sts, issued[keep].tolist(), leads, strict=True)):
                merged.setdefault((st, int(iss), int(ld)), (q05[k], q50[k], q95[k]))  # caller's rows win
    for st, iss, ld, a, b, c in rows:
        merged.setdefault((str(st), int(iss), int(ld)), tuple(
            math.nan if v is None else float(v) for v in (a, b, c)))  # type: ignore[misc]
    horizon = float(settings.horizon_min)
    groups: dict[tuple[str, int], list[tuple[int, float, float, float]]] = {}
    for (st, iss, ld), (a, b, c) in merged.items():
        if ld <= horizon and not math.isnan(b):
            groups.setdefault((st, iss), []).append((ld, a, b, c))
    out: dict[str, list[tuple[int, float]]] = {}
    for st, iss in sorted(groups):
        g = np.array(sorted(groups[(st, iss)]), dtype=float)
        q50 = g[:, 2]
        q05 = np.where(np.isnan(g[:, 1]), q50, g[:, 1])
        q95 = np.where(np.isnan(g[:, 3]), q50, g[:, 3])
        d = decision_trajectory(q05, q50, q95, g[:, 0], settings)
        out.setdefault(st, []).append((iss, float(np.nanmax(d))))
    return out


def _confirm(inputs: dict[str, StationInputs], cur: Any, forecasts: pd.DataFrame | None, t: int,
             settings: WarnConfig) -> dict[str, StationInputs]:
    """Fill ``confirmed_peak``: the lowest decision peak of the last ``confirm_cycles`` forecasts
    (for a gauge reporting less often than every cycle: of every forecast over its last
    ``confirm_cycles`` reporting intervals, :func:`confirm_window_cycles`).

    Only for stations whose current forecast goes beyond what needs no confirmation; the
    others keep None (their rise value is the observed or imminent one anyway).
    """
    n = int(settings.confirm_cycles)
    todo = [s for s, inp in inputs.items() if _needs_confirmation(inp)]
    if n <= 1 or not todo:
        return inputs
    back = {s: confirm_window_cycles(n, inputs[s].obs_interval_s) for s in todo}
    prev = _previous_peaks(cur, forecasts, todo, t, settings, max(back.values()))
    out = dict(inputs)
    for s in todo:
        first = t - back[s] * STEP_S
        peaks = [p for issued, p in prev.get(s, []) if issued >= first]
        if len(peaks) >= back[s]:
            out[s] = replace(inputs[s], confirmed_peak=min([float(inputs[s].decision_peak or math.nan), *peaks]))
    return out


def _own_freshness(observed_time: int | None, t: int, stale_s: int = STALE_S) -> str:
    if observed_time is None:
        return "missing"
    return "fresh" if t - observed_time <= stale_s else "stale"


# ---------------------------------------------------------------------------------------
# rules in words


def _q_label(settings: WarnConfig) -> str:
    """The decision quantile(s): ``q40``, or ``q45–q35`` when the probability rises with lead."""
    near, far = required_probability([settings.imminent_min, settings.horizon_min], settings)
    lo, hi = decision_quantile(float(near)), decision_quantile(float(far))
    if round(lo * 100) == round(hi * 100):
        return f"q{round(lo * 100):02d}"
    return f"q{round(lo * 100):02d}–q{round(hi * 100):02d}"


def _firing_rule(inp: StationInputs, level: int, settings: WarnConfig) -> str | None:
    """Why ``level`` holds right now (observed first), or None if only hysteresis holds it."""
    if level <= 0:
        return None
    lv = LEVELS[level - 1]
    thr = inp.thresholds.get(lv.key)
    if thr is None:
        return None
    if inp.observed_value is not None and inp.observed_value >= thr:
        return f"observed wl {inp.observed_value:.2f} m ≥ {lv.ko} {thr:g} m"
    t = inp.time_to.get(lv.key)
    if inp.decision_peak is not None and inp.decision_peak >= thr and t is not None:
        p = inp.probability.get(lv.key)
        need = float(required_probability(t, settings)[0])
        ptxt = f" (P ≥ {need:.2f} required at that lead)" if p is None else f", P={p:.2f} ≥ {need:.2f} required at that lead"
        if inp.imminent_peak is not None and inp.imminent_peak >= thr:
            why = f"imminent (within {settings.imminent_min} min): no confirmation needed"
        elif inp.confirm_cycles > 1:
            why = f"confirmed by {inp.confirm_cycles} consecutive forecasts"
        else:
            why = ""
        qlab = f"q{round(decision_quantile(need) * 100):02d}"
        return f"forecast {qlab} crosses {lv.ko} {thr:g} m in {t:.0f} min{ptxt}" + (f"; {why}" if why else "")
    return None


def station_settings(catalog: Any, settings: WarnConfig) -> dict[str, WarnConfig]:
    """Per-station hysteresis from ``stations/hysteresis.csv`` (e.g. tide-affected gauges wait a
    full tidal cycle before a downgrade); stations not listed use the global settings."""
    table = getattr(catalog, "hysteresis", None)
    if table is None or len(table) == 0:
        return {}
    return {
        code: replace(settings, margin_m=float(m), dwell_cycles=int(d))
        for code, m, d in zip(table["code"], table["margin_m"], table["dwell_cycles"], strict=True)
    }


def _station_rule(inp: StationInputs, prev: int, new: int, settings: WarnConfig, note: str = "") -> str:
    fired = _firing_rule(inp, new, settings)
    parts = []
    if new < prev or new == 0:
        lv = LEVELS[prev - 1]
        thr = inp.thresholds.get(lv.key)
        below = f"{thr - settings.margin_m:.2f} m" if thr is not None else "threshold − margin"
        parts.append(f"below {lv.ko} − {settings.margin_m:g} m ({below}) for "
                     f"{settings.dwell_cycles} cycles ({settings.dwell_cycles * STEP_S // 60} min)")
        if new == 0:
            parts.append("all clear")
    if fired:
        parts.append(fired)
    elif new > 0 and not parts:
        lv = LEVELS[new - 1]
        parts.append(f"holding {lv.ko} (hysteresis: not yet below threshold − margin for "
                     f"{settings.dwell_cycles} cycles)")
        thr = inp.thresholds.get(lv.key)
        p_hold = hold_probability(settings)
        if (thr is not None and p_hold is not None and inp.hold_peak is not None
                and inp.hold_peak >= thr - settings.margin_m):
            parts.append(f"forecast q{round((1 - p_hold) * 100):02d} back to {inp.hold_peak:.2f} m ≥ "
                         f"{thr - settings.margin_m:.2f} m within {settings.horizon_min} min "
                         f"(P ≥ {p_hold:g}: not lowered while a return is that likely)")
    if note:
        parts.insert(0, note)
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------
# targets


def target_of(code: str, forecast_points: frozenset[str] | set[str]) -> str:
    """The target key of a station: its code for a forecast point, ``gauge:<code>`` otherwise."""
    return code if code in forecast_points else GAUGE_PREFIX + code


@dataclass(frozen=True, eq=False)
class _Plan:
    """What the engine needs from a catalog, computed once per catalog (the catalog is immutable)."""

    forecast_points: frozenset[str]
    assets: tuple[assets_mod.Asset, ...]
    facts: dict[str, dict[str, Any]]
    quiet: dict[str, TargetState]  # the state of a forecast point never evaluated


_plans: weakref.WeakKeyDictionary[Any, _Plan] = weakref.WeakKeyDictionary()


def _plan(catalog: Any) -> _Plan:
    hit = _plans.get(catalog)
    if hit is not None:
        return hit
    fp = catalog.stations
    if "forecast_point" in fp:
        fp = fp[fp["forecast_point"].astype(bool)]
    codes = sorted(str(c) for c in fp.index)
    plan = _Plan(frozenset(codes), tuple(assets_mod.assets_of(catalog)), {},
                 {c: TargetState(c, "station", c) for c in codes})
    _plans[catalog] = plan
    return plan


def _station_facts(catalog: Any, plan: _Plan, code: str) -> dict[str, Any]:
    hit = plan.facts.get(code)
    if hit is not None:
        return hit
    row = catalog.stations.loc[code] if code in catalog.stations.index else {}
    lon, lat = row.get("lon") if len(row) else None, row.get("lat") if len(row) else None
    facts = {
        "name": str(row.get("name") or code) if len(row) else code,
        "name_en": f"gauge {code}",
        "basin": (str(row.get("basin") or "") or None) if len(row) else None,
        "lon": None if lon is None or lon != lon else float(lon),
        "lat": None if lat is None or lat != lat else float(lat),
    }
    plan.facts[code] = facts
    return facts


def _level_since(cur: Any, st: TargetState) -> int | None:
    """When the target's current level (or a higher one, without a break) was first issued."""
    if st.episode_start is None or st.level <= 0:
        return None
    rows = cur.execute(
        "SELECT sent, level FROM warn_events WHERE target = ? AND episode_start = ? ORDER BY seq DESC",
        (st.target, int(st.episode_start)),
    ).fetchall()
    since = None
    for sent, level in rows:
        if int(level) < st.level:
            break
        since = int(sent)
    return since


def _idle(st: TargetState | None, t: int) -> bool:
    """Nothing to carry on without data: no level, no dwell count, no value, no manual hold."""
    return st is None or (
        st.level == 0 and st.below == 0 and st.down_to == 0 and st.value is None
        and (st.manual_until is None or st.manual_until <= t)
    )


def _nan_to_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


# ---------------------------------------------------------------------------------------
# material change since the last message


@dataclass(frozen=True)
class _Snap:
    """What a consumer acts on besides the level: forecast peak, time to the level, observed."""

    peak: float | None
    lead: float | None
    observed: bool


_snaps: weakref.WeakKeyDictionary[Any, dict[str, _Snap]] = weakref.WeakKeyDictionary()


def _snap_of_event(ev: AlertEvent) -> _Snap:
    if ev.kind == "asset":
        thr, lead = ev.trigger_stage_m, ev.time_to_impact
    else:
        key = ev.level_key
        thr = ev.thresholds.get(key) if key else None
        lead = ev.time_to.get(key) if key else None
    obs = ev.observed_value
    return _Snap(ev.forecast_peak, lead, obs is not None and thr is not None and obs >= thr)


def _last_snap(cur: Any, memo: dict[str, _Snap], event_id: str | None) -> _Snap | None:
    if event_id is None:
        return None
    hit = memo.get(event_id)
    if hit is None:
        row = cur.execute("SELECT payload FROM warn_events WHERE event_id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        hit = memo[event_id] = _snap_of_event(AlertEvent.from_dict(json.loads(row[0])))
    return hit


def _material(last: _Snap | None, now: _Snap) -> str | None:
    """Why the last message no longer describes the situation (None: it still does)."""
    if last is None:
        return None
    if last.peak is not None and now.peak is not None and abs(now.peak - last.peak) >= MATERIAL_PEAK_M:
        return f"forecast peak changed {last.peak:.2f} → {now.peak:.2f} m"
    if now.observed and not last.observed:
        return "now observed at the level"
    if last.lead is not None and now.lead is not None and abs(now.lead - last.lead) >= MATERIAL_LEAD_MIN:
        return f"expected time changed {last.lead:.0f} → {now.lead:.0f} min"
    return None


# ---------------------------------------------------------------------------------------
# the cycle


def evaluate(
    store: Any,
    catalog: Any,
    cycle_at: datetime,
    observed: pd.DataFrame | None,
    forecasts: pd.DataFrame | None,
    settings: WarnConfig,
    freshness: Any = None,
    model_info: Mapping[str, Any] | None = None,
    *,
    as_of: int | datetime | None = None,
) -> WarnResult:
    """Decide levels at ``cycle_at`` for every target (see the module docs) and write messages.

    ``observed``: station, valid_time, value (stage m), arrival_time (epoch s); rows valid
    after ``cycle_at`` or that arrived after ``as_of`` (epoch s or aware datetime; default
    ``cycle_at``) are ignored — the cycle passes its data cut-off (cycle time + latency).
    ``forecasts``: station, issued_at, lead_min, q05, q50, q95, method, model_version, flags
    (None: observed-only warnings). ``freshness``: station → fresh/stale/missing (a mapping or
    a frame with ``status``). Everything is written in one transaction; re-evaluating a cycle
    writes nothing.
    """
    t = to_epoch(cycle_at)
    at = from_epoch(t)
    as_of_s = t if as_of is None else (to_epoch(as_of) if isinstance(as_of, datetime) else int(as_of))
    table = threshold_table(catalog, settings.overrides)
    plan = _plan(catalog)
    obs = _latest_observed(observed, t, as_of_s)
    groups = _forecast_groups(forecasts, t, int(settings.horizon_min) * 60)
    fresh = _freshness_map(freshness)
    model_info = model_info or {}
    per_station = station_settings(catalog, settings)

    current: dict[str, StationInputs] = {}

    def cfg(station: str) -> WarnConfig:
        c = per_station.get(station, settings)
        inp = current.get(station)
        interval = inp.obs_interval_s if inp is not None else STEP_S
        n = dwell_cycles_for(int(c.dwell_cycles), interval, getattr(c, "dwell_min", DWELL_MIN))
        return c if n == int(c.dwell_cycles) else replace(c, dwell_cycles=n)

    expiry = int(settings.expiry_min) * 60
    renew_within = max(STEP_S, expiry // 4)
    qlabel = _q_label(settings)
    dq = decision_quantile(settings.exceedance_p)
    fps = plan.forecast_points
    memo = _snaps.setdefault(store, {})

    with store.tx() as cur:
        last = cur.execute("SELECT MAX(cycle_at) FROM warn_cycles").fetchone()
        last_t = None if not last or last[0] is None else int(last[0])
        done = last_t is not None and last_t >= t and cur.execute(
            "SELECT 1 FROM warn_cycles WHERE cycle_at = ?", (t,)).fetchone() is not None
        states = load_states(cur)

        # which targets: thresholded stations with data, assets whose station has data, and
        # whatever is not idle; everything else costs nothing
        with_data = obs.keys() | groups.keys()
        station_targets: dict[str, str] = {c: target_of(c, fps) for c in with_data if c in table.thresholded}
        for st in states.values():
            if st.kind != "asset" and st.station in table.index and not _idle(st, t):
                station_targets.setdefault(st.station, st.target)
        assets = [a for a in plan.assets
                  if (a.station in with_data and a.station in table.index) or not _idle(states.get(a.target), t)]
        for a in plan.assets:
            if a.station not in table.index and not _warned_missing.get(a.id):
                _warned_missing[a.id] = True
                log.warning("asset %s: trigger station %s not in the catalog; skipped", a.id, a.station)
        stations = sorted(station_targets, key=table.index.__getitem__)
        need = sorted(set(stations) | {a.station for a in assets}, key=table.index.__getitem__)
        inputs = _inputs(table, need, t, obs, groups, forecasts is not None, settings, fresh, model_info)
        inputs = _confirm(inputs, cur, forecasts, t, settings)
        current.update(inputs)

        if done or (last_t is not None and last_t > t):
            why = "cycle already evaluated" if done else f"older than the last evaluated cycle {from_epoch(last_t)}"
            log.info("warn: %s at %s; nothing written", why, at)
            rows = cur.execute(
                "SELECT payload FROM warn_events WHERE cycle_at = ? ORDER BY target, seq", (t,)
            ).fetchall()
            events = [AlertEvent.from_dict(json.loads(r[0])) for r in rows]
            return WarnResult(at, events, _with_quiet(plan, states), (), 0, why, inputs)

        events: list[AlertEvent] = []
        changed: list[str] = []
        new_states: dict[str, TargetState] = {}

        def step(target: str, kind: str, station: str, inp: StationInputs, thr: np.ndarray) -> tuple[TargetState, TargetState, str]:
            st = states.get(target) or TargetState(target, kind, station)
            c = cfg(station)
            value = gated_value(int(st.level), inp.rise_value, inp.value, thr)
            level, below, down = hysteresis_step(int(st.level), int(st.below), int(st.down_to),
                                                 float(value), thr, float(c.margin_m), int(c.dwell_cycles))
            level, below, down = int(level), int(below), int(down)
            note = ""
            hold_s = int(c.min_warned_min) * 60
            if level < st.level and hold_s > 0:
                since = _level_since(cur, st)
                in_force = None if since is None else (t - since) // STEP_S
                level, below, down = held_step(int(st.level), (level, below, down), in_force,
                                               -(-hold_s // STEP_S), int(c.dwell_cycles))
                if level == st.level:
                    note = f"minimum warned duration {c.min_warned_min} min not yet reached"
            if st.manual_until is not None and t < st.manual_until and level < st.manual_level:
                level, below, down = st.manual_level, 0, 0
                note = f"held by forecaster until {from_epoch(st.manual_until):%Y-%m-%d %H:%MZ}"
            if (st.suppress_until is not None and t < st.suppress_until and st.level == 0
                    and 0 < level <= st.suppress_level):
                level, below, down = 0, 0, 0
            new = replace(st, level=level, below=below, down_to=down, value=_nan_to_none(value),
                          cycle_at=t, updated_at=t)
            return st, new, note

        def emit(old: TargetState, new: TargetState, make: Any, snap: _Snap) -> TargetState:
            """Decide the message for a level change, a renewal or a material change; write it."""
            prev, lvl = old.level, new.level
            why = ""
            if prev == 0 and lvl == 0:
                return replace(new, episode_start=None) if old.episode_start is None else new
            if prev == 0:
                msg, start, seq = "Alert", t, 1
            elif lvl == 0:
                msg, start, seq = "Cancel", int(old.episode_start or t), old.seq + 1
            elif lvl != prev:
                msg, start, seq = "Update", int(old.episode_start or t), old.seq + 1
            elif old.expires_at is not None and old.expires_at - t <= renew_within:
                msg, start, seq = "Update", int(old.episode_start or t), old.seq + 1
                why = "renewed before expiry"
            else:
                why = _material(_last_snap(cur, memo, old.last_event), snap) or ""
                if not why:
                    return new
                msg, start, seq = "Update", int(old.episode_start or t), old.seq + 1
            ev: AlertEvent = make(msg, start, seq, prev, lvl, why)
            if write_event(cur, ev, catalog):
                events.append(ev)
                memo[ev.event_id] = _snap_of_event(ev)
            if lvl != prev:
                changed.append(new.target)
            if lvl == 0:
                return replace(new, episode_start=None, seq=seq, last_event=ev.event_id, expires_at=None,
                               manual_level=0, manual_until=None)
            return replace(new, episode_start=start, seq=seq, last_event=ev.event_id,
                           expires_at=to_epoch(ev.expires))

        def common(inp: StationInputs) -> dict[str, Any]:
            return {
                "thresholds": inp.thresholds, "observed_value": inp.observed_value,
                "observed_time": None if inp.observed_time is None else from_epoch(inp.observed_time),
                "forecast_peak": inp.forecast_peak,
                "forecast_peak_time": None if inp.forecast_peak_time is None else from_epoch(inp.forecast_peak_time),
                "time_to": dict(inp.time_to), "decision_quantile": dq, "model_version": inp.model_version,
                "method": inp.method, "freshness": inp.freshness, "flags": inp.flags,
            }

        # stations (forecast points and thresholded gauges) ------------------------------
        for s in stations:
            inp = inputs[s]
            target = station_targets[s]
            official = s in fps
            old, new, note = step(target, "station", s, inp, table.vector(s))
            facts = _station_facts(catalog, plan, s)

            def make(msg: str, start: int, seq: int, prev: int, lvl: int, why: str,
                     inp: StationInputs = inp, s: str = s, target: str = target, official: bool = official,
                     facts: dict[str, Any] = facts, note: str = note) -> AlertEvent:
                rule = _station_rule(inp, prev, lvl, cfg(s), note)
                if why:
                    rule = f"{why}; {rule}"
                if "observed_missing" in inp.flags and lvl and not _firing_rule(inp, lvl, settings):
                    rule += "; no current observation (level held, never cancelled for missing data)"
                return AlertEvent(
                    event_id=event_identifier(target, from_epoch(start), seq), msg_type=msg, target=target,
                    kind="station", station=s, seq=seq, episode_start=from_epoch(start), sent=at,
                    expires=from_epoch(t + expiry), level=lvl, prev_level=prev, cycle_at=at,
                    references=episode_references(cur, target, start), rule=rule,
                    exceedance_p=_prob_for(inp, lvl if lvl else prev), forecast_point=official,
                    **common(inp), **facts,
                )

            lvl_key = LEVELS[new.level - 1].key if new.level else None
            thr_now = inp.thresholds.get(lvl_key) if lvl_key else None
            snap = _Snap(inp.forecast_peak, inp.time_to.get(lvl_key) if lvl_key else None,
                         inp.observed_value is not None and thr_now is not None and inp.observed_value >= thr_now)
            new_states[target] = emit(old, new, make, snap)

        # impact assets -----------------------------------------------------------------
        for a in assets:
            inp = inputs[a.station]
            tti = _impact_time(inp, a.trigger_stage_m)
            old, new, note = step(a.target, "asset", a.station, inp, assets_mod.impact_vector(a))
            obs_now = inp.observed_value

            def make_a(msg: str, start: int, seq: int, prev: int, lvl: int, why: str,
                       a: assets_mod.Asset = a, inp: StationInputs = inp, tti: float | None = tti,
                       note: str = note, obs_now: float | None = obs_now) -> AlertEvent:
                # only when a message goes out: P(impact) and the CAP severity
                p_imp = _impact_probability(inp, groups.get(a.station), a.trigger_stage_m)
                sev = assets_mod.severity_level(a, inp.thresholds)
                if lvl == 0:
                    rule = (f"stage at {a.station} below trigger {a.trigger_stage_m:.2f} m − "
                            f"{cfg(a.station).margin_m:g} m for {cfg(a.station).dwell_cycles} cycles; all clear")
                else:
                    rule = assets_mod.impact_rule(a, obs_now, tti, p_imp, qlabel)
                    if why:
                        rule = f"{why}; {rule}"
                if note:
                    rule = note + "; " + rule
                return AlertEvent(
                    event_id=event_identifier(a.target, from_epoch(start), seq), msg_type=msg,
                    target=a.target, kind="asset", station=a.station, seq=seq,
                    episode_start=from_epoch(start), sent=at, expires=from_epoch(t + expiry),
                    level=sev if lvl else 0, prev_level=sev if prev else 0, cycle_at=at,
                    references=episode_references(cur, a.target, start), rule=rule,
                    name=a.name_ko, name_en=a.name_en, basin=_station_facts(catalog, plan, a.station)["basin"],
                    lon=a.lon, lat=a.lat, exceedance_p=p_imp, **common(inp),
                    asset_id=a.id, asset_type=a.asset_type,
                    trigger_stage_m=a.trigger_stage_m, time_to_impact=tti if lvl else None,
                    district=a.district, district_code=a.district_code,
                )

            snap = _Snap(inp.forecast_peak, tti, obs_now is not None and obs_now >= a.trigger_stage_m)
            new_states[a.target] = emit(old, new, make_a, snap)

        _save_states(cur, new_states.values())
        cur.execute(
            "INSERT INTO warn_cycles (cycle_at, n_targets, n_events) VALUES (?, ?, ?)",
            (t, len(new_states), len(events)),
        )
    all_states = _with_quiet(plan, {**states, **new_states})
    if events:
        log.info("warn %s: %d message(s), %d level change(s)", at, len(events), len(changed))
    return WarnResult(at, events, all_states, tuple(changed), len(events), None, inputs)


_warned_missing: dict[str, bool] = {}


def _with_quiet(plan: _Plan, states: dict[str, TargetState]) -> dict[str, TargetState]:
    """Stored states plus a quiet one for every forecast point never evaluated (no data yet)."""
    out = dict(plan.quiet)
    out.update(states)
    return out


def _prob_for(inp: StationInputs, level: int) -> float | None:
    if level <= 0:
        return None
    key = LEVELS[level - 1].key
    if inp.observed_value is not None and inp.thresholds.get(key) is not None and inp.observed_value >= inp.thresholds[key]:
        return 1.0
    return inp.probability.get(key)


def _impact_time(inp: StationInputs, stage: float) -> float | None:
    """Minutes until the decision trajectory (observed at lead 0) reaches ``stage``."""
    if not inp.trajectory:
        return None
    traj = np.asarray(inp.trajectory, dtype=float)[None, :]
    res = first_crossing(traj, np.asarray(inp.leads, dtype=float), np.array([[stage]]))[0, 0]
    return None if math.isnan(res) else round(float(res), 1)


def _impact_probability(inp: StationInputs, g: dict[str, np.ndarray] | None, stage: float) -> float | None:
    """P(stage ≥ trigger) at the most likely lead; 1 when already observed above."""
    if inp.observed_value is not None and inp.observed_value >= stage:
        return 1.0
    if g is None or not len(g["q50"]):
        return None
    p = exceedance_probability(g["q05"], g["q50"], g["q95"], stage)
    return round(float(np.nanmax(p)), 4)


_STATE_COLS = list(TargetState.__dataclass_fields__)


def _save_states(cur: Any, states: Any) -> None:
    """All changed states in two statements (delete + insert: portable SQLite/PostgreSQL)."""
    rows = [[getattr(st, c) for c in _STATE_COLS] for st in states]
    if not rows:
        return
    cur.executemany("DELETE FROM warn_state WHERE target = ?", [(r[0],) for r in rows])
    cur.executemany(
        f"INSERT INTO warn_state ({', '.join(_STATE_COLS)}) VALUES ({', '.join('?' * len(_STATE_COLS))})",
        rows,
    )
