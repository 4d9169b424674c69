"""The warning engine: one cycle of levels, hysteresis and lifecycle messages.

For every forecast point (and every impact asset) the engine computes one *decision value*
per cycle and feeds it to the shared hysteresis kernel:

``value = max(latest observed stage, highest point of the decision trajectory within the
horizon)``

where the decision trajectory is the (1 − p)-quantile of the forecast (q50 for the default
p = 0.5; see :mod:`floodwarn.warn.levels`). So "observed ≥ threshold" fires at once, and so
does "forecast crosses the threshold within ``horizon_min`` with P(exceed) ≥ p"; downgrades
and cancels wait until the value stays below threshold − margin for ``dwell_cycles`` cycles.
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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

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
    quantile_trajectory,
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

log = logging.getLogger(__name__)

__all__ = ["StationInputs", "WarnResult", "evaluate", "station_inputs"]

#: an observation older than this is flagged ``observed_stale``
STALE_S = 3 * STEP_S
#: a forecast issued longer ago than this is flagged ``forecast_stale``
FORECAST_STALE_S = 3 * STEP_S


@dataclass(frozen=True)
class StationInputs:
    """What one cycle knows about one station, before hysteresis (all explainable)."""

    station: str
    thresholds: dict[str, float]
    observed_value: float | None = None
    observed_time: int | None = None
    decision_peak: float | None = None  # highest decision-trajectory value within the horizon
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

    @property
    def value(self) -> float:
        """The decision value fed to the hysteresis kernel (NaN: no usable data)."""
        vals = [v for v in (self.observed_value, self.decision_peak) if v is not None and math.isfinite(v)]
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

    ``changed`` lists the targets whose level changed (``len()`` is the count), ``enqueued``
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
            return dict(zip(freshness["station"].astype(str), freshness["status"].astype(str), strict=True))
        return {str(k): str(v) for k, v in freshness["status"].items()}
    if isinstance(freshness, Mapping):
        return {str(k): str(v.get("status") if isinstance(v, Mapping) else v) for k, v in freshness.items()}
    return {}


def _epoch_col(s: pd.Series) -> pd.Series:
    if np.issubdtype(s.dtype, np.integer):
        return s.astype(np.int64)
    if np.issubdtype(s.dtype, np.floating):
        return s.astype(np.int64)
    return pd.Series(epoch_array(pd.DatetimeIndex(pd.to_datetime(s, utc=True))), index=s.index)


def _latest_observed(observed: pd.DataFrame | None, t: int) -> pd.DataFrame:
    cols = ["valid_time", "value"]
    if observed is None or not len(observed):
        return pd.DataFrame(columns=cols)
    df = observed
    if "variable" in df:
        df = df[df["variable"] == "wl"]
    vt = _epoch_col(df["valid_time"])
    ok = df["value"].notna() & (vt <= t)
    if "arrival_time" in df:
        ok &= _epoch_col(df["arrival_time"]) <= t
    df = pd.DataFrame({"station": df["station"].astype(str), "valid_time": vt, "value": df["value"].astype(float)})[ok]
    df = df.sort_values(["station", "valid_time"]).drop_duplicates("station", keep="last")
    return df.set_index("station")[cols]


_FLAG_SPLIT = re.compile(r"[,;|\s]+")


def _latest_forecasts(forecasts: pd.DataFrame | None, t: int, horizon_s: int) -> pd.DataFrame:
    """Rows of each station's newest forecast issued ≤ t, with lead ``rel`` (min after t)."""
    if forecasts is None or not len(forecasts):
        return pd.DataFrame()
    fc = forecasts
    if "shadow" in fc:
        fc = fc[fc["shadow"].fillna(0).astype(int) == 0]
    fc = fc.copy()
    fc["station"] = fc["station"].astype(str)
    fc["issued_at"] = _epoch_col(fc["issued_at"])
    fc = fc[fc["issued_at"] <= t]
    if not len(fc):
        return pd.DataFrame()
    newest = fc.groupby("station")["issued_at"].transform("max")
    fc = fc[fc["issued_at"] == newest]
    valid = fc["issued_at"] + fc["lead_min"].astype(np.int64) * 60
    fc["rel"] = (valid - t) / 60.0
    fc = fc[(valid > t) & (valid <= t + horizon_s)]
    for c in ("q05", "q50", "q95"):
        fc[c] = fc[c].astype(float) if c in fc else np.nan
    fc["q05"] = fc["q05"].fillna(fc["q50"])
    fc["q95"] = fc["q95"].fillna(fc["q50"])
    fc = fc[fc["q50"].notna()]
    return fc.sort_values(["station", "rel"])


class _Groups:
    """Each station's forecast rows as NumPy arrays (pandas groupby is too slow per station)."""

    COLS = ("rel", "q05", "q50", "q95", "issued_at", "model_version", "method", "flags")

    def __init__(self, fc: pd.DataFrame) -> None:
        self._slices: dict[str, slice] = {}
        if not len(fc):
            return
        codes = fc["station"].to_numpy(str)
        self._cols = {
            c: (fc[c].to_numpy(float) if c in ("rel", "q05", "q50", "q95") else
                fc[c].to_numpy() if c in fc else np.full(len(fc), None, dtype=object))
            for c in self.COLS
        }
        uniq, first = np.unique(codes, return_index=True)
        order = np.argsort(first)
        bounds = list(first[order]) + [len(codes)]
        for j, ix in enumerate(order):
            self._slices[str(uniq[ix])] = slice(bounds[j], bounds[j + 1])

    def get(self, station: str) -> dict[str, np.ndarray] | None:
        sl = self._slices.get(station)
        return None if sl is None else {c: v[sl] for c, v in self._cols.items()}


def station_inputs(
    catalog: Any,
    stations: list[str],
    t: int,
    observed: pd.DataFrame | None,
    forecasts: pd.DataFrame | None,
    settings: WarnConfig,
    freshness: Any = None,
    model_info: Mapping[str, Any] | None = None,
) -> dict[str, StationInputs]:
    """Observed value, forecast peak, time to each threshold and P(exceed) per station.

    Pure (no store): the same function serves the engine and anyone explaining an alert.
    """
    q = decision_quantile(settings.exceedance_p)
    horizon_s = int(settings.horizon_min) * 60
    obs = _latest_observed(observed, t)
    fc = _latest_forecasts(forecasts, t, horizon_s)
    fresh = _freshness_map(freshness)
    model_info = model_info or {}
    thr = {s: dict(catalog.thresholds(s, settings.overrides)) for s in stations}
    by_station = _Groups(fc)
    obs_value = dict(zip(obs.index, obs["value"].astype(float), strict=True))
    obs_time = dict(zip(obs.index, obs["valid_time"].astype(np.int64), strict=True))

    # one matrix for the kernel: column 0 is the observation at lead 0, then the forecast leads
    leads = np.unique(np.concatenate([[0.0], fc["rel"].to_numpy(float) if len(fc) else []]))
    traj = np.full((len(stations), len(leads)), np.nan)
    thr_mat = np.vstack([threshold_vector(thr[s]) for s in stations]) if stations else np.empty((0, 4))
    decision: dict[str, np.ndarray] = {}
    for i, s in enumerate(stations):
        if s in obs_value:
            traj[i, 0] = obs_value[s]
        g = by_station.get(s)
        if g is not None:
            d = quantile_trajectory(g["q05"], g["q50"], g["q95"], q)
            decision[s] = d
            traj[i, np.searchsorted(leads, g["rel"])] = d
    crossing = first_crossing(traj, leads, thr_mat) if len(stations) else np.empty((0, 4))

    out: dict[str, StationInputs] = {}
    for i, s in enumerate(stations):
        flags: list[str] = []
        ov = ot = None
        if s in obs_value:
            ov, ot = float(obs_value[s]), int(obs_time[s])
            age = t - ot
            if age > settings.expiry_min * 60:
                flags.append("observed_missing")  # too old to stand for "now"
                ov = None
                traj_i = traj[i].copy()
                traj_i[0] = np.nan
                crossing[i] = first_crossing(traj_i[None, :], leads, thr_mat[i : i + 1])[0]
            elif age > STALE_S:
                flags.append("observed_stale")
        else:
            flags.append("observed_missing")
        g = by_station.get(s)
        peak = peak_t = dpeak = None
        version = method = None
        probs: dict[str, float | None] = {}
        if g is not None:
            q50 = g["q50"]
            k = int(np.nanargmax(q50))
            peak, peak_t = float(q50[k]), int(t + round(float(g["rel"][k]) * 60))
            dpeak = float(np.nanmax(decision[s]))
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
        elif forecasts is not None:
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
            forecast_peak=peak, forecast_peak_time=peak_t, time_to=time_to, probability=probs,
            leads=tuple(leads[sel]), trajectory=tuple(traj[i][sel]),
            model_version=version, method=method,
            freshness=fresh.get(s) or _own_freshness(ot, t), flags=tuple(dict.fromkeys(flags)),
        )
    return out


def _own_freshness(observed_time: int | None, t: int) -> str:
    if observed_time is None:
        return "missing"
    return "fresh" if t - observed_time <= STALE_S else "stale"


# ---------------------------------------------------------------------------------------
# rules in words


def _q_label(settings: WarnConfig) -> str:
    q = decision_quantile(settings.exceedance_p)
    return f"q{round(q * 100):02d}"


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
        ptxt = "" if p is None else f", P={p:.2f}"
        return f"forecast {_q_label(settings)} crosses {lv.ko} {thr:g} m in {t:.0f} min{ptxt}"
    return None


def _station_rule(inp: StationInputs, prev: int, new: int, settings: WarnConfig, note: str = "") -> str:
    fired = _firing_rule(inp, new, settings)
    parts = []
    if new < prev or new == 0:
        lv = LEVELS[prev - 1]
        thr = inp.thresholds.get(lv.key)
        below = f"{thr - settings.margin_m:.2f} m" if thr is not None else "threshold − margin"
        parts.append(f"below {lv.ko} − {settings.margin_m:g} m ({below}) for "
                     f"{settings.dwell_cycles} cycles")
        if new == 0:
            parts.append("all clear")
    if fired:
        parts.append(fired)
    elif new > 0 and not parts:
        lv = LEVELS[new - 1]
        parts.append(f"holding {lv.ko} (hysteresis: not yet below threshold − margin for "
                     f"{settings.dwell_cycles} cycles)")
    if note:
        parts.insert(0, note)
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------
# the cycle


def _targets(catalog: Any) -> tuple[list[str], list[assets_mod.Asset]]:
    fp = catalog.stations
    if "forecast_point" in fp:
        fp = fp[fp["forecast_point"].astype(bool)]
    return [str(c) for c in fp.index], assets_mod.assets_of(catalog)


def _station_facts(catalog: Any, code: str) -> dict[str, Any]:
    row = catalog.stations.loc[code] if code in catalog.stations.index else {}
    lon, lat = row.get("lon") if len(row) else None, row.get("lat") if len(row) else None
    return {
        "name": str(row.get("name") or code) if len(row) else code,
        "name_en": f"gauge {code}",
        "basin": (str(row.get("basin") or "") or None) if len(row) else None,
        "lon": None if lon is None or lon != lon else float(lon),
        "lat": None if lat is None or lat != lat else float(lat),
    }


def _nan_to_none(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def evaluate(
    store: Any,
    catalog: Any,
    cycle_at: datetime,
    observed: pd.DataFrame | None,
    forecasts: pd.DataFrame | None,
    settings: WarnConfig,
    freshness: Any = None,
    model_info: Mapping[str, Any] | None = None,
) -> WarnResult:
    """Decide levels for every forecast point and asset at ``cycle_at`` and write messages.

    ``observed``: station, valid_time, value (stage m), arrival_time (epoch s); rows that
    arrived after ``cycle_at`` are ignored. ``forecasts``: station, issued_at, lead_min,
    q05, q50, q95, method, model_version, flags (None: observed-only warnings).
    ``freshness``: station → fresh/stale/missing (a mapping or a frame with ``status``).
    Everything is written in one transaction; re-evaluating a cycle writes nothing.
    """
    t = to_epoch(cycle_at)
    at = from_epoch(t)
    stations, assets = _targets(catalog)
    need = list(dict.fromkeys(stations + [a.station for a in assets if a.station in catalog.stations.index]))
    inputs = station_inputs(catalog, need, t, observed, forecasts, settings, freshness, model_info)
    margin, dwell = float(settings.margin_m), int(settings.dwell_cycles)
    expiry = int(settings.expiry_min) * 60
    qlabel = _q_label(settings)
    fc_latest = _latest_forecasts(forecasts, t, int(settings.horizon_min) * 60)

    with store.tx() as cur:
        done = cur.execute("SELECT 1 FROM warn_cycles WHERE cycle_at = ?", (t,)).fetchone()
        last = cur.execute("SELECT MAX(cycle_at) FROM warn_cycles").fetchone()
        if done or (last and last[0] is not None and int(last[0]) > t):
            why = "cycle already evaluated" if done else f"older than the last evaluated cycle {from_epoch(last[0])}"
            log.info("warn: %s at %s; nothing written", why, at)
            rows = cur.execute(
                "SELECT payload FROM warn_events WHERE cycle_at = ? ORDER BY target, seq", (t,)
            ).fetchall()
            events = [AlertEvent.from_dict(json.loads(r[0])) for r in rows]
            return WarnResult(at, events, load_states(cur), (), 0, why, inputs)

        states = load_states(cur)
        events: list[AlertEvent] = []
        changed: list[str] = []
        new_states: dict[str, TargetState] = {}

        def step(target: str, kind: str, station: str, value: float, thr: np.ndarray) -> tuple[TargetState, TargetState, str]:
            st = states.get(target) or TargetState(target, kind, station)
            level, below, down = hysteresis_step(int(st.level), int(st.below), int(st.down_to),
                                                 float(value), thr, margin, dwell)
            level, below, down = int(level), int(below), int(down)
            note = ""
            if st.manual_until is not None and t < st.manual_until and level < st.manual_level:
                level, below, down = st.manual_level, 0, 0
                note = f"held by forecaster until {from_epoch(st.manual_until):%Y-%m-%d %H:%MZ}"
            if (st.suppress_until is not None and t < st.suppress_until and st.level == 0
                    and 0 < level <= st.suppress_level):
                level, below, down = 0, 0, 0
            new = replace(st, level=level, below=below, down_to=down, value=_nan_to_none(value),
                          cycle_at=t, updated_at=t)
            return st, new, note

        def emit(old: TargetState, new: TargetState, make: Any) -> TargetState:
            """Decide the message for a level change (or a renewal) and write it."""
            prev, lvl = old.level, new.level
            if prev == 0 and lvl == 0:
                return replace(new, episode_start=None) if old.episode_start is None else new
            if prev == 0:
                msg, start, seq = "Alert", t, 1
            elif lvl == 0:
                msg, start, seq = "Cancel", int(old.episode_start or t), old.seq + 1
            elif lvl != prev or (old.expires_at is not None and old.expires_at - t <= STEP_S):
                msg, start, seq = "Update", int(old.episode_start or t), old.seq + 1
            else:
                return new
            ev: AlertEvent = make(msg, start, seq, prev, lvl)
            if write_event(cur, ev, catalog):
                events.append(ev)
            if lvl != prev:
                changed.append(new.target)
            if lvl == 0:
                return replace(new, episode_start=None, seq=seq, last_event=ev.event_id, expires_at=None,
                               manual_level=0, manual_until=None)
            return replace(new, episode_start=start, seq=seq, last_event=ev.event_id,
                           expires_at=to_epoch(ev.expires))

        # forecast points ---------------------------------------------------------------
        for s in stations:
            inp = inputs[s]
            thr = threshold_vector(inp.thresholds)
            old, new, note = step(s, "station", s, inp.value, thr)
            facts = _station_facts(catalog, s)

            def make(msg: str, start: int, seq: int, prev: int, lvl: int, inp: StationInputs = inp,
                     s: str = s, facts: dict[str, Any] = facts, note: str = note) -> AlertEvent:
                lv_p = _prob_for(inp, lvl if lvl else prev)
                renew = msg == "Update" and lvl == prev
                rule = _station_rule(inp, prev, lvl, settings, note)
                if renew:
                    rule = "renewed before expiry; " + rule
                if "observed_missing" in inp.flags and lvl and not _firing_rule(inp, lvl, settings):
                    rule += "; no current observation (level held, never cancelled for missing data)"
                return AlertEvent(
                    event_id=event_identifier(s, from_epoch(start), seq), msg_type=msg, target=s,
                    kind="station", station=s, seq=seq, episode_start=from_epoch(start), sent=at,
                    expires=from_epoch(t + expiry), level=lvl, prev_level=prev, cycle_at=at,
                    references=episode_references(cur, s, start), rule=rule,
                    thresholds=inp.thresholds, observed_value=inp.observed_value,
                    observed_time=None if inp.observed_time is None else from_epoch(inp.observed_time),
                    forecast_peak=inp.forecast_peak,
                    forecast_peak_time=None if inp.forecast_peak_time is None else from_epoch(inp.forecast_peak_time),
                    time_to=dict(inp.time_to), exceedance_p=lv_p,
                    decision_quantile=decision_quantile(settings.exceedance_p),
                    model_version=inp.model_version, method=inp.method, freshness=inp.freshness,
                    flags=inp.flags, **facts,
                )

            new_states[s] = emit(old, new, make)

        # impact assets -----------------------------------------------------------------
        for a in assets:
            inp = inputs.get(a.station)
            if inp is None:
                log.warning("asset %s: trigger station %s not in the catalog; skipped", a.id, a.station)
                continue
            hv = assets_mod.impact_vector(a)
            tti = _impact_time(inp, a.trigger_stage_m)
            p_imp = _impact_probability(inp, fc_latest, a.trigger_stage_m)
            old, new, note = step(a.target, "asset", a.station, inp.value, hv)
            sev = assets_mod.severity_level(a, inp.thresholds)
            obs_now = inp.observed_value

            def make_a(msg: str, start: int, seq: int, prev: int, lvl: int, a: assets_mod.Asset = a,
                       inp: StationInputs = inp, tti: float | None = tti, p_imp: float | None = p_imp,
                       sev: int = sev, note: str = note, obs_now: float | None = obs_now) -> AlertEvent:
                if lvl == 0:
                    rule = (f"stage at {a.station} below trigger {a.trigger_stage_m:.2f} m − "
                            f"{settings.margin_m:g} m for {settings.dwell_cycles} cycles; all clear")
                else:
                    rule = assets_mod.impact_rule(a, obs_now, tti, p_imp, qlabel)
                    if msg == "Update":
                        rule = "renewed before expiry; " + rule
                if note:
                    rule = note + "; " + rule
                return AlertEvent(
                    event_id=event_identifier(a.target, from_epoch(start), seq), msg_type=msg,
                    target=a.target, kind="asset", station=a.station, seq=seq,
                    episode_start=from_epoch(start), sent=at, expires=from_epoch(t + expiry),
                    level=sev if lvl else 0, prev_level=sev if prev else 0, cycle_at=at,
                    references=episode_references(cur, a.target, start), rule=rule,
                    name=a.name_ko, name_en=a.name_en, basin=_station_facts(catalog, a.station)["basin"],
                    lon=a.lon, lat=a.lat, thresholds=inp.thresholds, observed_value=inp.observed_value,
                    observed_time=None if inp.observed_time is None else from_epoch(inp.observed_time),
                    forecast_peak=inp.forecast_peak,
                    forecast_peak_time=None if inp.forecast_peak_time is None else from_epoch(inp.forecast_peak_time),
                    time_to=dict(inp.time_to), exceedance_p=p_imp,
                    decision_quantile=decision_quantile(settings.exceedance_p),
                    model_version=inp.model_version, method=inp.method, freshness=inp.freshness,
                    flags=inp.flags, asset_id=a.id, asset_type=a.asset_type,
                    trigger_stage_m=a.trigger_stage_m, time_to_impact=tti if lvl else None,
                    district=a.district, district_code=a.district_code,
                )

            new_states[a.target] = emit(old, new, make_a)

        _save_states(cur, new_states.values())
        cur.execute(
            "INSERT INTO warn_cycles (cycle_at, n_targets, n_events) VALUES (?, ?, ?)",
            (t, len(new_states), len(events)),
        )
    all_states = {**states, **new_states}
    if events:
        log.info("warn %s: %d message(s), %d level change(s)", at, len(events), len(changed))
    return WarnResult(at, events, all_states, tuple(changed), len(events), None, inputs)


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


def _impact_probability(inp: StationInputs, fc: pd.DataFrame, stage: float) -> float | None:
    """P(stage ≥ trigger) at the most likely lead; 1 when already observed above."""
    if inp.observed_value is not None and inp.observed_value >= stage:
        return 1.0
    if not len(fc):
        return None
    g = fc[fc["station"] == inp.station]
    if not len(g):
        return None
    p = exceedance_probability(g["q05"].to_numpy(), g["q50"].to_numpy(), g["q95"].to_numpy(), stage)
    return round(float(np.nanmax(p)), 4)


_STATE_COLS = list(TargetState.__dataclass_fields__)


def _save_states(cur: Any, states: Any) -> None:
    rows = [[getattr(st, c) for c in _STATE_COLS] for st in states]
    if not rows:
        return
    cur.executemany("DELETE FROM warn_state WHERE target = ?", [(r[0],) for r in rows])
    cur.executemany(
        f"INSERT INTO warn_state ({', '.join(_STATE_COLS)}) VALUES ({', '.join('?' * len(_STATE_COLS))})",
        rows,
    )
