"""The evaluation protocol of issue 6 and the model card it writes.

Test sets (issue times, KST calendar): the 2020 season, the 2020-07-28 .. 08-20 flood window,
May 2022 (the only 2022 month with released stages), and 2021 for the own-gauge-missing modes
(`sim`, `nbr`; `nbr` also on the 2020 flood window). Scores
come from :mod:`floodwarn.verify` on hindcasts made by the same estimators and inputs as the
live cycle. Results go to ``card.json`` (everything) and ``card.md`` (tables to quote).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn import verify
from floodwarn.forecast import dataset as D
from floodwarn.forecast.bundle import ForecastBundle
from floodwarn.forecast.predict import hindcast
from floodwarn.forecast.train import code_version

log = logging.getLogger(__name__)

KST = "Asia/Seoul"
PEAK_EVENT = ("2020-08-03", "2020-08-10")  # contains the 6 Aug 2020 peak (KST)
TARGET_STATIONS = ("1018680", "1018683")


def _span(index: pd.DatetimeIndex, start: str, end: str) -> np.ndarray:
    """Issue times in [start, end) given as KST dates."""
    t = index.tz_convert(KST)
    return np.asarray((t >= pd.Timestamp(start, tz=KST)) & (t < pd.Timestamp(end, tz=KST)))


#: the ``-outage6h`` sets: the station's gauge last reported this many steps before each issue
#: time, and the forecast carries the last-known offset (floodwarn.forecast.offset)
OUTAGE_STEPS = 36


def test_sets(index: pd.DatetimeIndex) -> dict[str, tuple]:
    """name → (mode, issue-time mask) or (mode, mask, outage steps)."""
    y2021 = D.years_mask(index, [2021])
    flood = _span(index, "2020-07-28", "2020-08-21")
    return {
        "2020": ("own", D.years_mask(index, [2020])),
        "2020-flood": ("own", flood),
        "2022-05": ("own", _span(index, "2022-05-01", "2022-06-01")),
        "2021-sim": ("sim", y2021),
        "2020-sim": ("sim", D.years_mask(index, [2020])),
        "2021-nbr": ("nbr", y2021),
        "2020-flood-nbr": ("nbr", flood),
        "2020-flood-solo": ("solo", flood),
        "2021-sim-outage6h": ("sim", y2021, OUTAGE_STEPS),
        "2021-nbr-outage6h": ("nbr", y2021, OUTAGE_STEPS),
        "2020-flood-nbr-outage6h": ("nbr", flood, OUTAGE_STEPS),
    }


def evaluate_bundle(bundle: ForecastBundle, wide: pd.DataFrame, feats: pd.DataFrame,
                    sets: dict[str, tuple] | None = None) -> dict[str, Any]:
    """Scores per test set, station and lead; peak errors; the competition metric; target checks."""
    sets = test_sets(feats.index) if sets is None else sets
    trained = set(bundle.manifest.get("train_years", []))
    tables: dict[str, pd.DataFrame] = {}
    notes: dict[str, str] = {}
    for name, (mode, mask, *outage) in sets.items():
        if not np.any(mask):
            continue
        years = set(feats.index[mask].tz_convert(KST).year)
        if years & trained:
            notes[name] = f"skipped: test years {sorted(years & trained)} were training years"
            continue
        frames = [hindcast(bundle, wide, feats, st, mode, mask, *outage)
                  for st in bundle.stations if bundle.has(st, mode)]
        if not frames:
            continue
        tab = verify.verify_table(pd.concat(frames, ignore_index=True))
        if len(tab):
            tables[name] = tab
    peaks = _peaks(bundle, wide, feats) if 2020 not in trained else {}
    comp = {}
    for name, tab in tables.items():
        at = {}
        for lead, g in tab.groupby("lead_min"):
            if len(g) == len(D.BRIDGES):
                at[int(lead)] = verify.competition_metric(g["rmse_cm"], g["r2"])
        comp[name] = at
    result = {
        "version": bundle.version,
        "tables": {k: v.round(5).to_dict(orient="records") for k, v in tables.items()},
        "peaks_180min": peaks,
        "competition_metric": comp,
        "notes": notes,
        # the card's numbers come from this code, which may be newer than the boosters'
        "evaluated_with": code_version(),
    }
    result["targets"] = check_targets(tables, peaks)
    return result


def _peaks(bundle: ForecastBundle, wide: pd.DataFrame, feats: pd.DataFrame) -> dict[str, Any]:
    """Peak height / timing error of the 3-hour-lead forecast trace around 6 Aug 2020."""
    out = {}
    mask = _span(feats.index, *PEAK_EVENT)
    for st in bundle.stations:
        if not bundle.has(st, "own") or 180 not in bundle.horizons:
            continue
        fc = hindcast(bundle, wide, feats, st, "own", mask)
        fc = fc[fc["lead_min"] == 180]
        valid = pd.DatetimeIndex(fc["issued_at"]) + pd.Timedelta(minutes=180)
        dh, dt = verify.peak_error(valid, fc["q50"].to_numpy(), fc["obs"].to_numpy())
        out[st] = {"height_error_cm": round(dh * 100, 2), "timing_error_min": dt}
    return out


def _get(tab: pd.DataFrame, st: str, lead: int, col: str) -> float:
    r = tab[(tab["station"] == st) & (tab["lead_min"] == lead)]
    return float(r[col].iloc[0]) if len(r) else float("nan")


def check_targets(tables: dict[str, pd.DataFrame], peaks: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets at Jamsu and Hangang bridge (and simulation mode at all four)."""
    rows: list[dict[str, Any]] = []

    def add(what: str, st: str, value: float, limit: float, ok: bool) -> None:
        rows.append({"target": what, "station": st, "value": round(value, 4), "limit": limit,
                     "met": bool(ok)})

    if "2020" in tables:
        t = tables["2020"]
        for st in TARGET_STATIONS:
            if not (t["station"] == st).any():
                continue
            v = _get(t, st, 60, "rmse_cm")
            add("2020 season 1 h RMSE cm", st, v, 3.0, v <= 3.0)
            v = _get(t, st, 360, "nse")
            add("2020 season 6 h NSE", st, v, 0.97, v >= 0.97)
            sk = t[t["station"] == st]["skill"]
            add("2020 season min skill over persistence (all leads)", st, float(sk.min()), 0.0,
                bool((sk > 0).all()))
            v = _get(t, st, 360, "coverage90")
            cov = t[t["station"] == st]["coverage90"]
            add("2020 season 90% band coverage (worst lead)", st,
                float(cov.iloc[int(np.argmax(np.abs(cov.to_numpy() - 0.9)))]), 0.9,
                bool((np.abs(cov - 0.9) <= 0.03).all()))
    if "2020-flood" in tables:
        t = tables["2020-flood"]
        for st in TARGET_STATIONS:
            if not (t["station"] == st).any():
                continue
            v = _get(t, st, 60, "rmse_cm")
            add("flood 2020-07-28..08-20 1 h RMSE cm", st, v, 4.0, v <= 4.0)
            v = _get(t, st, 360, "rmse_cm")
            add("flood 2020-07-28..08-20 6 h RMSE cm", st, v, 25.0, v <= 25.0)
    for st in TARGET_STATIONS:
        if st in peaks:
            p = peaks[st]
            add("6 Aug 2020 peak height error cm (3 h lead)", st, p["height_error_cm"], 20.0,
                abs(p["height_error_cm"]) <= 20.0)
            add("6 Aug 2020 peak timing error min (3 h lead)", st, p["timing_error_min"], 30.0,
                abs(p["timing_error_min"]) <= 30.0)
    outage = "2021, gauge failed 6 h before, last-known offset, RMSE cm (worst lead)"
    for name, what in (("2021-sim", "simulation 2021 RMSE cm (worst lead)"),
                       ("2021-sim-outage6h", f"informational: simulation {outage}"),
                       ("2021-nbr-outage6h", f"informational: neighbours {outage}")):
        t = tables.get(name)
        for st in D.BRIDGES if t is not None else ():
            sub = t[t["station"] == st]
            if len(sub):
                v = float(sub["rmse_cm"].max())
                add(what, st, v, 8.0, v <= 8.0)
    return rows


def write_card(bundle: ForecastBundle, result: dict[str, Any] | None, directory: Path) -> None:
    """``card.json`` (manifest summary + results) and ``card.md`` (Markdown to quote)."""
    m = bundle.manifest
    card = {
        "version": bundle.version,
        "purpose": m.get("purpose", ""),
        "created": m.get("created"),
        "code_version": m.get("code_version"),
        "data": {
            "source": "../shared/data/hanriver (2022 Han River competition set, HRFCO/KHOA obs.)",
            "train_years": m.get("train_years"),
            "calib_years": m.get("calib_years"),
            "thin": m.get("thin"),
        },
        "stations": m.get("stations"),
        "horizons_min": m.get("horizons"),
        "modes": m.get("modes"),
        "target": m.get("target"),
        "features": {k: len(v) for k, v in m.get("features", {}).items()},
        "feature_lists": "manifest.json",
        "params": m.get("params"),
        "train_seconds": m.get("train_seconds"),
        "added": m.get("added", []),
        "evaluation": result,
    }
    (directory / "card.json").write_text(json.dumps(card, indent=1, default=float), encoding="utf-8")
    (directory / "card.md").write_text(card_markdown(card), encoding="utf-8")


def card_markdown(card: dict[str, Any]) -> str:
    """The model card as Markdown: what, trained on what, how good (tables per test set)."""
    lines = [
        f"# Model card: {card['version']}",
        "",
        f"- purpose: {card['purpose']}",
        f"- created: {card['created']}; code: {card['code_version']}"
        + (f"; evaluated with code {ev_code}" if (ev_code := (card.get("evaluation") or {}).get(
            "evaluated_with")) else ""),
        f"- training years: {card['data']['train_years']}; conformal calibration: "
        f"{card['data']['calib_years']} (every {card['data']['thin']}th 10-min row for training)",
        f"- stations: {', '.join(f'{s} {D.BRIDGE_NAMES.get(s, s)}' for s in card['stations'])}",
        f"- leads (min): {card['horizons_min']}; modes: {card['modes']} "
        "(own = with own gauge, Δstage target; sim = boundary conditions only: Paldang dam, "
        "Ganghwa tide, rain, no stage or discharge on the reach; nbr = own gauge missing: the sim "
        "inputs + the other bridges' stage and discharge; solo = own gauge, another bridge "
        "missing: the own inputs without any other bridge's; `-outage6h` sets: the gauge failed "
        "6 h before each issue time and nbr/sim carry its last-known offset)",
        "- estimator: LightGBM L2 central model + 5/95 % quantile models, conformalised (CQR) on "
        "the calibration years, sorted so quantiles never cross",
        f"- training time: {card['train_seconds']} s on 2 threads",
        *(f"- added later: modes {a['modes']} on {a['created']}, code {a['code_version']}, "
          f"{a['train_seconds']} s (same years, stations, leads and settings)"
          for a in card.get("added") or []),
        "",
    ]
    ev = card.get("evaluation")
    if not ev:
        lines.append("No evaluation recorded (operational model trained on the test years).")
        return "\n".join(lines) + "\n"
    for name, rows in ev["tables"].items():
        tab = pd.DataFrame(rows)
        lines += [f"## {name}", "",
                  "| station | lead min | RMSE cm | persistence RMSE cm | skill | NSE | KGE | MAE cm | "
                  "CRPS cm | 90 % coverage |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in tab.itertuples():
            lines.append(
                f"| {r.station} {D.BRIDGE_NAMES.get(r.station, '')} | {r.lead_min} | {r.rmse_cm:.2f} | "
                f"{getattr(r, 'rmse_persistence_cm', float('nan')):.2f} | {getattr(r, 'skill', float('nan')):.3f} | "
                f"{r.nse:.4f} | {r.kge:.3f} | {r.mae * 100:.2f} | {r.crps * 100:.2f} | {r.coverage90:.3f} |")
        comp = ev["competition_metric"].get(name)
        if comp:
            lines += ["", "Competition metric (mean over the four bridges of RMSE cm / R²) by lead: "
                      + ", ".join(f"{k} min {v:.2f}" for k, v in comp.items())]
        lines.append("")
    if ev.get("peaks_180min"):
        lines += ["## 6 August 2020 peak, 3-hour lead", "",
                  "| station | height error cm | timing error min |", "| --- | ---: | ---: |"]
        for st, p in ev["peaks_180min"].items():
            lines.append(f"| {st} {D.BRIDGE_NAMES.get(st, '')} | {p['height_error_cm']:+.1f} | "
                         f"{p['timing_error_min']:+.0f} |")
        lines.append("")
    if ev.get("targets"):
        lines += ["## Targets (issue 6)", "", "| target | station | value | limit | met |",
                  "| --- | --- | ---: | ---: | --- |"]
        for t in ev["targets"]:
            lines.append(f"| {t['target']} | {t['station']} | {t['value']:.3f} | {t['limit']} | "
                         f"{'yes' if t['met'] else '**no**'} |")
        lines.append("")
    for k, v in ev.get("notes", {}).items():
        lines.append(f"- {k}: {v}")
    return "\n".join(lines) + "\n"
