"""Leave-one-year-out (LOYO) evaluation: how well would the models have done in each season?

One fold per held-out season: train on the other seasons, calibrate the conformal band on one of
them, hindcast the held-out season and verify it with :mod:`floodwarn.verify` per station and
lead. Why LOYO on top of the fixed 2020 / 2021 test sets: one season says little about the spread
of skill between wet and dry years; ten folds give a mean and a range.

Split rule (documented in every report): for held-out year ``y``, the calibration year is the
latest of the remaining years (2021, or 2020 when 2021 is held out) and all other remaining years
train. The default seasons are 2012–2021; 2022 (one month of released stages) is left out.

Each fold is one pure task ``run_fold(wide, feats, fold, config) -> dict`` submitted to an
executor (None = serial, a thread pool, or a ``dask.distributed.Client``, see
:mod:`floodwarn.forecast.distributed`). Inside a fold the models train serially with a fixed
LightGBM thread count, so the fold's scores and model hashes do not depend on where it ran.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn import verify
from floodwarn.forecast import dataset as D
from floodwarn.forecast.distributed import share

log = logging.getLogger(__name__)

DEFAULT_YEARS: tuple[int, ...] = tuple(range(2012, 2022))
#: one LightGBM thread per model: the folds are the parallelism, and a fixed thread count keeps
#: the results identical whichever executor runs them
LOYO_PARAMS: dict[str, Any] = {"num_threads": 1}
SPLIT_RULE = ("held-out year = test; latest remaining year = conformal calibration; "
              "all other remaining years = training")


def make_folds(years: Sequence[int] = DEFAULT_YEARS) -> list[dict[str, Any]]:
    """One fold per year: ``{"test_year", "calib_years", "train_years"}`` (see the split rule)."""
    ys = sorted({int(y) for y in years})
    if len(ys) < 3:
        raise ValueError(f"leave-one-year-out needs at least 3 years, got {ys}")
    folds = []
    for y in ys:
        rest = [x for x in ys if x != y]
        calib = rest[-1]
        folds.append({"test_year": y, "calib_years": [calib],
                      "train_years": [x for x in rest if x != calib]})
    return folds


def models_sha256(bundle: Any) -> str:
    """A digest of every booster (LightGBM text) and conformal offset of a bundle."""
    h = hashlib.sha256()
    for key, est in sorted(bundle.estimators.items()):
        h.update(repr(key).encode())
        for text in est.model_strings():
            h.update(text.encode())
        h.update(repr(float(est.offset_)).encode())
    return h.hexdigest()


def run_fold(wide: pd.DataFrame, feats: pd.DataFrame, fold: dict[str, Any],
             config: dict[str, Any]) -> dict[str, Any]:
    """Train on the fold's years, hindcast and verify its held-out year (a pure task).

    Returns the per (mode, station, lead) scores, the competition metric per (mode, lead) when
    all four bridges were verified, and a hash of the fitted models.
    """
    from floodwarn.forecast.predict import hindcast
    from floodwarn.forecast.train import train_bundle

    t0 = time.perf_counter()
    test_year = int(fold["test_year"])
    bundle = train_bundle(
        wide, feats, version=f"loyo-{test_year}", train_years=fold["train_years"],
        calib_years=fold["calib_years"], stations=config["stations"],
        horizons=config["horizons"], modes=config["modes"], params=config["params"],
        thin=config["thin"], purpose=f"leave-one-year-out fold {test_year}",
    )
    train_s = time.perf_counter() - t0
    rows = D.years_mask(feats.index, [test_year])
    tables = []
    comp: dict[str, dict[int, float]] = {}
    for mode in config["modes"]:
        frames = [hindcast(bundle, wide, feats, st, mode, rows)
                  for st in config["stations"] if bundle.has(st, mode)]
        if not frames:
            continue
        tab = verify.verify_table(pd.concat(frames, ignore_index=True))
        tab = tab[tab["n"] > 0]
        if not len(tab):
            continue
        for lead, g in tab.groupby("lead_min"):
            if set(g["station"]) >= set(D.BRIDGES):
                g = g[g["station"].isin(D.BRIDGES)]
                comp.setdefault(mode, {})[int(lead)] = verify.competition_metric(
                    g["rmse_cm"], g["r2"])
        tab.insert(0, "mode", mode)
        tables.append(tab)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    table.insert(0, "test_year", test_year)
    return {
        **{k: fold[k] for k in ("test_year", "calib_years", "train_years")},
        "models_sha256": models_sha256(bundle),
        "n_models": len(bundle.estimators),
        "ran_on": f"{socket.gethostname()}:{os.getpid()}",
        "train_seconds": round(train_s, 2),
        "seconds": round(time.perf_counter() - t0, 2),
        "table": table.to_dict(orient="records"),
        "competition_metric": comp,
    }


def run_loyo(
    wide: pd.DataFrame,
    feats: pd.DataFrame,
    *,
    years: Sequence[int] = DEFAULT_YEARS,
    stations: Sequence[str] = D.BRIDGES,
    horizons: Sequence[int] = D.HORIZONS,
    modes: Sequence[str] = D.MODES,
    params: dict[str, Any] | None = None,
    thin: int = 3,
    executor: Any = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every fold through ``executor`` (None = serial); folds, aggregate table and config.

    ``params`` override :data:`floodwarn.forecast.train.DEFAULT_PARAMS` after
    :data:`LOYO_PARAMS`; equal params give identical results on every executor.
    """
    from floodwarn.forecast.train import DEFAULT_PARAMS, code_version

    config = {
        "stations": list(stations),
        "horizons": [int(h) for h in horizons],
        "modes": list(modes),
        "params": {**DEFAULT_PARAMS, **LOYO_PARAMS, **(params or {})},
        "thin": int(thin),
    }
    folds = make_folds(years)
    t0 = time.perf_counter()
    if executor is None:
        results = []
        for f in folds:
            results.append(run_fold(wide, feats, f, config))
            _report_fold(results[-1], t0, progress)
    else:
        w, x = share(executor, wide), share(executor, feats)
        futures = [executor.submit(run_fold, w, x, f, config) for f in folds]
        results = []
        for fut in futures:  # in fold order, so the report does not depend on finishing order
            results.append(fut.result())
            _report_fold(results[-1], t0, progress)
    wall = time.perf_counter() - t0
    table = fold_table(results)
    return {
        "split_rule": SPLIT_RULE,
        "years": [f["test_year"] for f in folds],
        "config": config,
        "code_version": code_version(),
        "executor": _executor_name(executor),
        "wall_seconds": round(wall, 2),
        "folds": [{k: v for k, v in r.items() if k != "table"} for r in results],
        "table": table.to_dict(orient="records"),
        "aggregate": aggregate(table).to_dict(orient="records"),
        "competition_metric": aggregate_competition(results),
    }


def _executor_name(executor: Any) -> str:
    if executor is None:
        return "serial"
    from floodwarn.forecast.distributed import is_dask_client

    if is_dask_client(executor):
        return f"dask ({len(executor.scheduler_info().get('workers', {}))} workers)"
    return type(executor).__name__


def _report_fold(r: dict[str, Any], t0: float, progress: Callable[[str], None] | None) -> None:
    msg = (f"fold {r['test_year']}: {r['n_models']} models in {r['train_seconds']:.0f}s, "
           f"fold {r['seconds']:.0f}s, elapsed {time.perf_counter() - t0:.0f}s")
    log.info("%s", msg)
    if progress is not None:
        progress(msg)


def fold_table(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """All folds' per (test_year, mode, station, lead) scores in one frame."""
    frames = [pd.DataFrame(r["table"]) for r in results if r["table"]]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def aggregate(table: pd.DataFrame) -> pd.DataFrame:
    """Per (mode, station, lead): RMSE cm mean / min / max over folds (+ worst year), mean NSE,
    skill over persistence and 90 % coverage."""
    if table.empty:
        return pd.DataFrame()
    rows = []
    for (mode, st, lead), g in table.groupby(["mode", "station", "lead_min"], sort=True):
        r = g["rmse_cm"].to_numpy(np.float64)
        row = {
            "mode": mode, "station": st, "lead_min": int(lead), "folds": len(g),
            "rmse_cm_mean": float(np.nanmean(r)), "rmse_cm_min": float(np.nanmin(r)),
            "rmse_cm_max": float(np.nanmax(r)),
            "worst_year": int(g["test_year"].iloc[int(np.nanargmax(r))]),
            "nse_mean": float(np.nanmean(g["nse"])),
            "coverage90_mean": float(np.nanmean(g["coverage90"])),
        }
        if "skill" in g:
            row["skill_mean"] = float(np.nanmean(g["skill"]))
        rows.append(row)
    return pd.DataFrame(rows)


def aggregate_competition(results: Sequence[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    """Competition metric (mean over the four bridges of RMSE cm / R²) per mode and lead:
    per-year values and their mean / min / max."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for r in results:
        for mode, by_lead in r["competition_metric"].items():
            for lead, v in by_lead.items():
                out.setdefault(mode, {}).setdefault(int(lead), {"by_year": {}})["by_year"][
                    int(r["test_year"])] = float(v)
    for by_lead in out.values():
        for d in by_lead.values():
            v = np.asarray(list(d["by_year"].values()), np.float64)
            d.update(mean=float(np.mean(v)), min=float(np.min(v)), max=float(np.max(v)))
    return out


def identical(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two LOYO results agree exactly: same model hashes, scores and competition metrics."""
    def core(r: dict[str, Any]) -> Any:
        return ([(f["test_year"], f["models_sha256"], f["competition_metric"]) for f in r["folds"]],
                r["table"])
    return json.dumps(core(a), sort_keys=True, default=float) == json.dumps(
        core(b), sort_keys=True, default=float)


# --------------------------------------------------------------------------- report


def write_report(result: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """``loyo.json`` (everything) and ``loyo.md`` (tables to quote) in ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    jpath = directory / "loyo.json"
    mpath = directory / "loyo.md"
    jpath.write_text(json.dumps(result, indent=1, default=float), encoding="utf-8")
    mpath.write_text(report_markdown(result), encoding="utf-8")
    return jpath, mpath


def report_markdown(result: dict[str, Any]) -> str:
    """The LOYO report as Markdown: split rule, per-fold summary, aggregate and competition tables."""
    cfg = result["config"]
    lines = [
        "# Leave-one-year-out evaluation",
        "",
        f"- held-out years: {result['years']}",
        f"- split: {result['split_rule']}",
        f"- stations: {', '.join(f'{s} {D.BRIDGE_NAMES.get(s, s)}' for s in cfg['stations'])}",
        f"- leads (min): {cfg['horizons']}; modes: {cfg['modes']}; training rows: 1 in "
        f"{cfg['thin']} 10-min steps; scores on every row of the held-out season",
        f"- LightGBM params: {json.dumps(cfg['params'], sort_keys=True)}",
        f"- code: {result['code_version']}; executor: {result['executor']}; wall time "
        f"{result['wall_seconds']:.1f} s",
        "",
        "## Folds",
        "",
        "| test year | calibration | training years | models | seconds | models sha256 |",
        "| ---: | --- | --- | ---: | ---: | --- |",
    ]
    for f in result["folds"]:
        lines.append(f"| {f['test_year']} | {f['calib_years']} | {_years_text(f['train_years'])} | "
                     f"{f['n_models']} | {f['seconds']:.1f} | `{f['models_sha256'][:12]}` |")
    agg = pd.DataFrame(result["aggregate"])
    for mode in cfg["modes"]:
        sub = agg[agg["mode"] == mode] if len(agg) else agg
        if not len(sub):
            continue
        lines += ["", f"## RMSE over the folds, mode {mode}", "",
                  "| station | lead min | folds | RMSE cm mean | min | max | worst year | NSE mean | "
                  "skill mean | 90 % coverage mean |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        if mode == "sim":
            lines.insert(-3, "Skill is over persistence of the station's own stage, which the "
                             "simulation mode does not see (a hard reference).")
        for r in sub.itertuples():
            lines.append(
                f"| {r.station} {D.BRIDGE_NAMES.get(r.station, '')} | {r.lead_min} | {r.folds} | "
                f"{r.rmse_cm_mean:.2f} | {r.rmse_cm_min:.2f} | {r.rmse_cm_max:.2f} | {r.worst_year} | "
                f"{r.nse_mean:.4f} | {getattr(r, 'skill_mean', float('nan')):.3f} | "
                f"{r.coverage90_mean:.3f} |")
    comp = result.get("competition_metric") or {}
    for mode, by_lead in comp.items():
        years = sorted({int(y) for d in by_lead.values() for y in d["by_year"]})
        lines += ["", f"## Competition metric (mean over the four bridges of RMSE cm / R²), mode {mode}",
                  "", "| lead min | mean | min | max | " + " | ".join(str(y) for y in years) + " |",
                  "| ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in years) + " |"]
        for lead in sorted(by_lead, key=int):
            d = by_lead[lead]
            by_year = {int(k): v for k, v in d["by_year"].items()}
            cells = " | ".join(f"{by_year[y]:.2f}" if y in by_year else "" for y in years)
            lines.append(f"| {lead} | {d['mean']:.2f} | {d['min']:.2f} | {d['max']:.2f} | {cells} |")
    return "\n".join(lines) + "\n"


def _years_text(years: Sequence[int]) -> str:
    ys = sorted(int(y) for y in years)
    if ys and ys == list(range(ys[0], ys[-1] + 1)):
        return f"{ys[0]}–{ys[-1]}" if len(ys) > 1 else str(ys[0])
    return ", ".join(str(y) for y in ys)
