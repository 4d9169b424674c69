"""Hindcast verification of a replay: forecast skill per station and lead, warning skill per level.

Reads a replay directory (``forecasts.parquet``, ``alerts.jsonl``, ``replay.sqlite`` for the
observations as finally known) and writes ``DIR/hindcast/report.md`` with figures.

Warning skill, per station and threshold level k (관심 attwl, 주의보 wrnwl, 경보 almwl, 심각 srswl):

- an **observed event** is a run of observed stage ≥ threshold; runs less than
  :data:`MERGE_GAP_H` apart are one event (a wave that dips under the line for an hour is one
  flood, not two). Its **onset** is the first observed value at or above the threshold.
- a **warned interval** is a span during which the issued warning level was ≥ k (from a
  message's ``sent`` to the next message or its ``expires``).
- **hit**: an event overlapped by a warned interval in force at some time between
  :data:`LOOKAHEAD_H` before the onset and the event's end; **lead time** = onset − start of
  the interval in force at the onset (positive: warned before the crossing; an interval that
  ended before the onset gives none; with none in force, the first later one gives a negative
  lead), only for intervals that started within
  the look-ahead window and after the previous event at that level ended (a warning still in
  force from an earlier rise is a hit with no lead).
  **miss**: an event without one.
- **false alarm**: a warned interval with no observed value ≥ threshold from its start to
  :data:`FA_GRACE_H` after its end.
- POD = hits / events, FAR = false alarms / warned intervals, CSI = hits / (hits + misses + FA);
  per level, and pooled over the 관심, 주의보 and 경보 events and spans (``attwl-almwl``).
- **persistence** (the skill reference): the last observation at or before the issue time.
- **flapping**: per warning episode, the number of downgrade-then-re-upgrade sequences.
- **shortest warned span** per level (minutes): a warning too short to act on (see the minimum
  warned duration in ``docs/warnings.md``) shows here even when it is not a false alarm.
- an event already in progress at the first observation of the replay is not counted (its
  crossing happened before the replay could warn of it).

Observations flagged SYNTHETIC (the demo feed) are never verified against.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.records import QC, REJECT

log = logging.getLogger(__name__)

LEVEL_KEYS = ("attwl", "wrnwl", "almwl", "srswl")
LEVEL_NAMES = {"attwl": "관심 (attention)", "wrnwl": "주의보 (watch)", "almwl": "경보 (warning)",
               "srswl": "심각 (severe)", "attwl-almwl": "관심–경보 pooled"}
MERGE_GAP_H = 6.0
LOOKAHEAD_H = 24.0
FA_GRACE_H = 6.0
FAN_LEADS = (60, 180)


@dataclass
class HindcastResult:
    out_dir: Path
    skill: pd.DataFrame
    events: pd.DataFrame  # one row per observed event and level
    warnings: pd.DataFrame  # one row per warned interval and level
    summary: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        lines = []
        for scope, by in self.summary.get("levels", {}).items():
            for lvl, s in by.items():
                lines.append(
                    f"{scope:<15} {lvl:<11} events {s['events']:>3}  POD {_f(s['pod'])}  FAR {_f(s['far'])}  "
                    f"CSI {_f(s['csi'])}  median lead {_f(s['median_lead_min'], 0)} min  "
                    f"max flaps/event {s['max_flaps']}  shortest span {_f(s.get('shortest_span_min'), 0)} min"
                )
        lines.append(f"report: {self.out_dir / 'report.md'}")
        return "\n".join(lines) + "\n"


def _f(x: Any, nd: int = 2) -> str:
    return "  n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{nd}f}"


# ---------------------------------------------------------------------------------------------
# inputs


def load_replay(replay_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(forecasts, alert messages, observed stage, manifest) of a replay directory."""
    from floodwarn.store import open_store

    fc = pd.read_parquet(replay_dir / "forecasts.parquet")
    lines = (replay_dir / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    alerts = pd.DataFrame([json.loads(x) for x in lines if x.strip()])
    manifest = json.loads((replay_dir / "replay.json").read_text(encoding="utf-8"))
    store = open_store(f"sqlite:///{replay_dir / 'replay.sqlite'}", migrate=False)
    try:
        obs = store.observations(variables=["wl"])
    finally:
        store.close()
    if len(obs):
        real = (obs["qc"].to_numpy() & int(QC.SYNTHETIC)) == 0
        usable = (obs["qc"].to_numpy() & int(REJECT)) == 0
        obs = obs.loc[real & usable & obs["value"].notna().to_numpy()]
    obs = obs[["station", "valid_time", "value"]].copy()
    obs["time"] = pd.to_datetime(obs["valid_time"].astype("int64"), unit="s", utc=True)
    return fc, alerts, obs, manifest


# ---------------------------------------------------------------------------------------------
# forecast skill


#: persistence (the skill reference) holds the last observation for at most this long
PERSISTENCE_MAX_AGE_H = 6.0


def last_known(obs: pd.DataFrame, station: pd.Series, at: pd.Series) -> np.ndarray:
    """The newest observed stage of ``station`` at or before ``at`` (≤ :data:`PERSISTENCE_MAX_AGE_H`
    old), row by row — the persistence forecast a forecaster had at issue time.

    Why not the value *at* ``at``: an hourly gauge has none at hh:10..hh:50, so persistence (and
    with it the skill score) was missing for five cycles in six there.
    """
    left = pd.DataFrame({"station": station.to_numpy(), "t": pd.DatetimeIndex(at), "row": np.arange(len(at))})
    right = obs[["station", "time", "value"]].rename(columns={"time": "t"})
    m = pd.merge_asof(left.sort_values("t"), right.sort_values("t"), on="t", by="station",
                      direction="backward", tolerance=pd.Timedelta(hours=PERSISTENCE_MAX_AGE_H))
    out = np.full(len(left), np.nan)
    out[m["row"].to_numpy()] = m["value"].to_numpy(dtype=float)
    return out


def forecast_skill(fc: pd.DataFrame, obs: pd.DataFrame) -> pd.DataFrame:
    """verify.py scores per (station, lead) against the observation at valid time."""
    from floodwarn.verify import verify_table

    if not len(fc) or not len(obs):
        return pd.DataFrame()
    o = obs.set_index(["station", "time"])["value"]
    f = fc[fc["station"].isin(obs["station"].unique())].copy()
    f["valid"] = f["issued_at"] + pd.to_timedelta(f["lead_min"], unit="min")
    f["obs"] = o.reindex(pd.MultiIndex.from_arrays([f["station"], f["valid"]])).to_numpy()
    f["persistence"] = last_known(obs, f["station"], f["issued_at"])
    f = f[np.isfinite(f["obs"].to_numpy(dtype=float))]
    if not len(f):
        return pd.DataFrame()
    return verify_table(f)


# ---------------------------------------------------------------------------------------------
# warning skill


def warned_intervals(alerts: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    """Spans of constant issued level per station: station, start, stop, level, episode."""
    cols = ["station", "start", "stop", "level", "episode"]
    if not len(alerts):
        return pd.DataFrame(columns=cols)
    a = alerts[alerts.get("kind", "station") == "station"].copy()
    a["sent"] = pd.to_datetime(a["sent"], utc=True)
    a["expires"] = pd.to_datetime(a["expires"], utc=True)
    rows = []
    for st, g in a.sort_values(["sent", "seq"]).groupby("station", sort=True):
        g = g.reset_index(drop=True)
        for i, m in g.iterrows():
            level = 0 if m["msg_type"] == "Cancel" else int(m["level"])
            nxt = g["sent"].iloc[i + 1] if i + 1 < len(g) else end
            stop = min(nxt, m["expires"]) if pd.notna(m["expires"]) else nxt
            if level > 0 and stop > m["sent"]:
                rows.append((st, m["sent"], stop, level, str(m.get("episode_start", ""))))
    return pd.DataFrame(rows, columns=cols)


def _runs(mask: np.ndarray, times: pd.DatetimeIndex, merge_gap: pd.Timedelta) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Contiguous True runs of ``mask`` as (first, last) times, merging runs closer than the gap."""
    out: list[list[pd.Timestamp]] = []
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    starts = [idx[0]]
    ends = []
    for a, b in zip(idx[:-1], idx[1:], strict=True):
        if b != a + 1:
            ends.append(a)
            starts.append(b)
    ends.append(idx[-1])
    for s, e in zip(starts, ends, strict=True):
        if out and times[s] - out[-1][1] < merge_gap:
            out[-1][1] = times[e]
        else:
            out.append([times[s], times[e]])
    return [(a, b) for a, b in out]


def flaps(levels: list[int]) -> int:
    """Downgrade-then-re-upgrade sequences in a sequence of issued levels."""
    n, went_down = 0, False
    for prev, cur in zip(levels[:-1], levels[1:], strict=True):
        if cur < prev:
            went_down = True
        elif cur > prev and went_down:
            n += 1
            went_down = False
    return n


def warning_skill(
    alerts: pd.DataFrame, obs: pd.DataFrame, thresholds: dict[str, dict[str, float]],
    end: pd.Timestamp, forecast_points: set[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(events, warned intervals) tables with hit/miss/false-alarm and lead time per level."""
    intervals = warned_intervals(alerts, end)
    episodes_flaps: dict[tuple[str, str], int] = {}
    if len(alerts):
        a = alerts[alerts.get("kind", "station") == "station"].sort_values(["sent", "seq"])
        for (st, ep), g in a.groupby(["station", "episode_start"], sort=True):
            lv = [0 if t == "Cancel" else int(x) for t, x in zip(g["msg_type"], g["level"], strict=True)]
            episodes_flaps[(st, str(ep))] = flaps(lv)
    ev_rows, w_rows = [], []
    merge = pd.Timedelta(hours=MERGE_GAP_H)
    for st, levels in sorted(thresholds.items()):
        o = obs[obs["station"] == st].sort_values("time")
        if not len(o):
            continue
        times = pd.DatetimeIndex(o["time"])
        vals = o["value"].to_numpy(float)
        ivs = intervals[intervals["station"] == st]
        for k, key in enumerate(LEVEL_KEYS, start=1):
            thr = levels.get(key)
            if not thr:
                continue
            warned = ivs[ivs["level"] >= k]
            spans = _merge_spans(list(zip(warned["start"], warned["stop"], warned["episode"], strict=True)))
            events = _runs(vals >= thr, times, merge)
            prev_end: pd.Timestamp | None = None
            for onset, last in events:
                if onset == times[0]:
                    prev_end = last
                    continue  # already above at the start: its crossing is outside the replay
                look = onset - pd.Timedelta(hours=LOOKAHEAD_H)
                hit = [s for s in spans if s[0] <= last and s[1] > look]
                # a warning still in force from an earlier rise covers the event (a hit), but its
                # start says nothing about this event's lead time: such events get no lead.
                # "Earlier rise" = it started before the previous event at this level had ended
                # (an hourly gauge held at 관심 between two waves 20 h apart is not 20 h of lead)
                fresh = [s for s in hit if s[0] >= look and (prev_end is None or s[0] > prev_end)]
                prev_end = last
                lead = _lead_min(fresh, onset)
                eps = {e for s in hit for e in s[2]}
                ev_rows.append({
                    "station": st, "level": key, "threshold": thr, "onset": onset, "end": last,
                    "peak": float(vals[(times >= onset) & (times <= last)].max()),
                    "hit": bool(hit), "lead_min": lead,
                    "flaps": max((episodes_flaps.get((st, e), 0) for e in eps), default=0),
                    "forecast_point": st in forecast_points,
                })
            for s0, s1, _eps in spans:
                window = (times >= s0) & (times <= s1 + pd.Timedelta(hours=FA_GRACE_H))
                w_rows.append({
                    "station": st, "level": key, "threshold": thr, "start": s0, "stop": s1,
                    "false_alarm": not bool((vals[window] >= thr).any()),
                })
    return pd.DataFrame(ev_rows), pd.DataFrame(w_rows)


def _lead_min(spans: list[tuple], onset: pd.Timestamp) -> float:
    """Minutes from the start of the warning in force at ``onset`` to the onset; for a late
    warning (none in force at the onset) the negative delay of the first one after it.

    A span that ended before the onset — a false alarm hours earlier, cancelled before the river
    rose — gives no lead: at the crossing nobody was warned (the Aug 2020 Geum replay credited
    대티교 주의보 with 720 min from such a span; the warning actually in force gave 120).
    """
    live = [s[0] for s in spans if s[0] <= onset < s[1]]
    later = [s[0] for s in spans if s[0] > onset]
    start = min(live) if live else min(later) if later else None
    return (onset - start).total_seconds() / 60 if start is not None else np.nan


def _merge_spans(spans: list[tuple[Any, Any, str]]) -> list[tuple[Any, Any, set[str]]]:
    out: list[list[Any]] = []
    for s0, s1, ep in sorted(spans, key=lambda s: s[0]):
        if out and s0 <= out[-1][1]:
            out[-1][1] = max(out[-1][1], s1)
            out[-1][2].add(ep)
        else:
            out.append([s0, s1, {ep}])
    return [(a, b, c) for a, b, c in out]


#: the levels issue 7's Aug 2020 targets are stated over ("every 관심 / 주의보 / 경보 crossing"):
#: the summary also scores them pooled, since one flood has one or two 경보 spans per station
POOLED_KEYS = ("attwl", "wrnwl", "almwl")
POOLED = "attwl-almwl"


def _scores(e: pd.DataFrame, w: pd.DataFrame) -> dict[str, Any]:
    """POD, FAR, CSI, median lead, flaps and shortest span of some events and warned spans."""
    n_ev, hits = len(e), int(e["hit"].sum()) if len(e) else 0
    fa = int(w["false_alarm"].sum()) if len(w) else 0
    leads = e.loc[e["hit"], "lead_min"] if len(e) else pd.Series(dtype=float)
    return {
        "events": n_ev, "hits": hits, "misses": n_ev - hits, "warned": len(w), "false_alarms": fa,
        "pod": hits / n_ev if n_ev else float("nan"),
        "far": fa / len(w) if len(w) else float("nan"),
        "csi": hits / (hits + (n_ev - hits) + fa) if (n_ev + fa) else float("nan"),
        "median_lead_min": float(leads.median()) if len(leads) else float("nan"),
        "max_flaps": int(e["flaps"].max()) if len(e) else 0,
        "shortest_span_min": float((w["stop"] - w["start"]).dt.total_seconds().min() / 60)
        if len(w) else float("nan"),
    }


def summarise(events: pd.DataFrame, warnings: pd.DataFrame) -> dict[str, Any]:
    """POD, FAR, CSI, median lead and flapping per level, and pooled over 관심–경보
    (:data:`POOLED`), for all stations and for forecast points."""
    out: dict[str, Any] = {"levels": {}}
    scopes = {"all stations": None, "forecast points": True}
    for scope, fp in scopes.items():
        by: dict[str, Any] = {}
        ev = events if fp is None or not len(events) else events[events["forecast_point"]]
        wv = warnings
        if fp and len(wv):
            wv = wv[wv["station"].isin(set(ev["station"]) if len(ev) else set())]
        for key, keys in [*((k, (k,)) for k in LEVEL_KEYS), (POOLED, POOLED_KEYS)]:
            e = ev[ev["level"].isin(keys)] if len(ev) else ev
            w = wv[wv["level"].isin(keys)] if len(wv) else wv
            if len(e) or len(w):
                by[key] = _scores(e, w)
        out["levels"][scope] = by
    return out


# ---------------------------------------------------------------------------------------------
# report


def hindcast(replay_dir: str | Path, settings: Any, out_dir: str | Path | None = None, figures: bool = True
             ) -> HindcastResult:
    """Verify a replay directory and write ``report.md`` (+ CSVs and PNG figures)."""
    from floodwarn.cycle import load_catalog_or_none

    rdir = Path(replay_dir)
    out = Path(out_dir) if out_dir else rdir / "hindcast"
    out.mkdir(parents=True, exist_ok=True)
    fc, alerts, obs, manifest = load_replay(rdir)
    catalog = load_catalog_or_none(settings)
    end = pd.Timestamp(manifest["end"]) + pd.Timedelta(minutes=10)
    start = pd.Timestamp(manifest["start"])
    obs = obs[(obs["time"] >= start) & (obs["time"] <= end)]
    thresholds: dict[str, dict[str, float]] = {}
    fps: set[str] = set()
    if catalog is not None:
        fps = {str(c) for c in catalog.forecast_points().index}
        for st in sorted(obs["station"].unique()):
            if st in catalog.stations.index:
                thr = catalog.thresholds(st, settings.warn.overrides)
                if thr:
                    thresholds[st] = thr
    skill = forecast_skill(fc, obs)
    events, warnings = warning_skill(alerts, obs, thresholds, end, fps)
    summary = summarise(events, warnings)
    summary.update(replay=str(rdir), start=manifest["start"], end=manifest["end"],
                   model_version=manifest.get("model_version"), cycles=manifest.get("cycles"))
    skill.to_csv(out / "forecast_skill.csv", index=False)
    events.to_csv(out / "warning_events.csv", index=False)
    warnings.to_csv(out / "warned_intervals.csv", index=False)
    (out / "summary.json").write_text(
        json.dumps(_clean(summary), indent=1, default=str, allow_nan=False) + "\n", encoding="utf-8"
    )
    figs = _figures(out, fc, obs, alerts, thresholds, skill, end) if figures else []
    _markdown(out, summary, skill, events, warnings, thresholds, fps, figs)
    return HindcastResult(out, skill, events, warnings, summary)


def _clean(x: Any) -> Any:
    """NaN → None recursively (strict JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float) and np.isnan(x):
        return None
    return x


def _figures(out: Path, fc: pd.DataFrame, obs: pd.DataFrame, alerts: pd.DataFrame,
             thresholds: dict[str, dict[str, float]], skill: pd.DataFrame, end: pd.Timestamp) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {1: "#f5d90a", 2: "#ff9f1a", 3: "#e5484d", 4: "#8e1b5c"}
    names = []
    ivs = warned_intervals(alerts, end)
    for st in sorted(set(obs["station"]) & (set(fc["station"]) | set(thresholds))):
        o = obs[obs["station"] == st].sort_values("time")
        fig, ax = plt.subplots(figsize=(11, 4.2))
        for _, iv in ivs[ivs["station"] == st].iterrows():
            ax.axvspan(iv["start"], iv["stop"], color=colors.get(int(iv["level"]), "grey"), alpha=0.18, lw=0)
        f = fc[fc["station"] == st]
        for lead, alpha in zip(FAN_LEADS, (0.35, 0.2), strict=True):
            g = f[f["lead_min"] == lead].sort_values("issued_at")
            if len(g):
                vt = g["issued_at"] + pd.to_timedelta(lead, unit="min")
                ax.fill_between(vt, g["q05"], g["q95"], alpha=alpha, color="tab:blue", lw=0,
                                label=f"forecast 5–95 % at +{lead} min")
                ax.plot(vt, g["q50"], color="tab:blue", lw=0.8, alpha=0.7)
        ax.plot(o["time"], o["value"], color="black", lw=1.1, label="observed stage")
        for k, key in enumerate(LEVEL_KEYS, start=1):
            thr = thresholds.get(st, {}).get(key)
            if thr:
                ax.axhline(thr, color=colors[k], lw=1, ls="--", label=f"{key} {thr:g} m")
        ax.set_title(f"{st}: observed stage, forecast fan and warning bands")
        ax.set_ylabel("stage (m above gauge zero)")
        ax.legend(loc="upper left", fontsize=7, ncol=2)
        fig.autofmt_xdate()
        fig.tight_layout()
        name = f"hydrograph_{st}.png"
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        names.append(name)
    if len(skill):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for st, g in skill.groupby("station"):
            axes[0].plot(g["lead_min"], g["rmse_cm"], marker="o", label=st)
            axes[1].plot(g["lead_min"], g["coverage90"], marker="o", label=st)
        axes[0].set_xlabel("lead (min)")
        axes[0].set_ylabel("RMSE (cm)")
        axes[1].set_xlabel("lead (min)")
        axes[1].set_ylabel("5–95 % coverage")
        axes[1].axhline(0.9, color="grey", ls=":")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "skill_by_lead.png", dpi=90)
        plt.close(fig)
        names.append("skill_by_lead.png")
    return names


def _markdown(out: Path, summary: dict[str, Any], skill: pd.DataFrame, events: pd.DataFrame,
              warnings: pd.DataFrame, thresholds: dict[str, dict[str, float]], fps: set[str],
              figs: list[str]) -> None:
    md = [
        "# Hindcast verification",
        "",
        f"Replay `{summary['replay']}`: cycles {summary['start']} .. {summary['end']} "
        f"({summary.get('cycles')} cycles), model version `{summary.get('model_version')}`.",
        "",
        "## Warning skill",
        "",
        f"Events are runs of observed stage ≥ threshold (runs < {MERGE_GAP_H:g} h apart merged); a hit "
        f"is a warning at that level or higher in force between {LOOKAHEAD_H:g} h before the onset "
        "and the event's end; lead = onset − warning start (none for a warning still in force from "
        "an earlier rise); a false alarm is a warned "
        f"span with no observed exceedance up to {FA_GRACE_H:g} h after it.",
        "",
        "| scope | level | events | hits | misses | warned spans | false alarms | POD | FAR | CSI | median lead (min) | max flaps/event |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scope, by in summary["levels"].items():
        for key, s in by.items():
            md.append(
                f"| {scope} | {LEVEL_NAMES[key]} | {s['events']} | {s['hits']} | {s['misses']} | {s['warned']} | "
                f"{s['false_alarms']} | {_f(s['pod'])} | {_f(s['far'])} | {_f(s['csi'])} | "
                f"{_f(s['median_lead_min'], 0)} | {s['max_flaps']} |"
            )
    not_fp = sorted(set(thresholds) - fps)
    if not_fp:
        md += ["", f"Stations with thresholds that are not official forecast points (warned as gauge "
               f"alert levels, labelled unofficial in the products): {', '.join(not_fp)}."]
    if len(events):
        md += ["", "### Observed events", "", events.assign(
            onset=events["onset"].dt.strftime("%Y-%m-%d %H:%M"), end=events["end"].dt.strftime("%Y-%m-%d %H:%M"),
        ).to_markdown(index=False) if _has_tabulate() else "```\n" + events.to_string(index=False) + "\n```"]
    md += ["", "## Forecast skill (median vs observed; RMSE in cm, 5–95 % coverage)", ""]
    if len(skill):
        cols = ["station", "lead_min", "n", "rmse_cm", "rmse_persistence_cm", "skill", "nse", "coverage90", "crps"]
        tab = skill[[c for c in cols if c in skill]].round(3)
        md.append("```\n" + tab.to_string(index=False) + "\n```")
    else:
        md.append("No forecast could be paired with an observation.")
    md += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figs]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True
