"""Train a model version: one :class:`QuantileLGBM` per (station, mode, lead).

Why per (station, lead) and not one multi-station model: four gauges, seven leads — 28 small
models train in parallel-free minutes on two cores, each picks its own lags (tide dominates at
Haengju, dam release at Cheongdam), and a single bad model can be dropped without retraining the
rest. A multi-station model pays off only where many gauges share behaviour (the 219 fallback
points, which have no training data here anyway).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.errors import ModelError
from floodwarn.forecast import dataset as D
from floodwarn.forecast.bundle import FEATURE_SET, MANIFEST, ForecastBundle
from floodwarn.forecast.distributed import is_dask_client
from floodwarn.forecast.lgbm import QuantileLGBM

log = logging.getLogger(__name__)

#: settings of the shipped models: a few minutes for the full set on two cores
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_child_samples": 40,
    "colsample_bytree": 0.5,
    "q_estimators": 40,
    "q_num_leaves": 7,
    "num_threads": 2,
}
#: flood rows weigh more: the targets are about floods, which are a few % of the record
FLOOD_WEIGHT_STAGE_M = 6.0
FLOOD_WEIGHT_MAX = 4.0


def flood_weights(wl: np.ndarray) -> np.ndarray:
    """Training weight of each row from the stage at issue time: more weight on high water.

    A ramp from 1 (low flow, stage <= 3 m) to ``FLOOD_WEIGHT_MAX`` (stage >= FLOOD_WEIGHT_STAGE_M).
    """
    ramp = np.clip((np.nan_to_num(wl, nan=0.0) - 3.0) / (FLOOD_WEIGHT_STAGE_M - 3.0), 0, 1)
    return 1.0 + (FLOOD_WEIGHT_MAX - 1.0) * ramp


def code_version() -> str:
    """``git describe`` of the checkout the package runs from, else the package version."""
    from importlib.metadata import PackageNotFoundError, version

    from floodwarn.config import project_root

    try:
        pkg = version("floodwarn")
    except PackageNotFoundError:
        pkg = "0+unknown"

    try:
        out = subprocess.run(
            ["git", "-C", str(project_root()), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=5, check=False,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"{pkg}+g{out.stdout.strip()}"
    except OSError:
        pass
    return str(pkg)


def train_rows(feats: pd.DataFrame, y: np.ndarray, years: Iterable[int], thin: int) -> np.ndarray:
    """Rows of ``years`` with a finite target, every ``thin``-th step (neighbours are near-copies)."""
    m = D.years_mask(feats.index, years) & np.isfinite(y)
    if thin > 1:
        keep = np.zeros(len(m), bool)
        keep[::thin] = True
        m &= keep
    return m


def train_bundle(
    wide: pd.DataFrame,
    feats: pd.DataFrame,
    *,
    version: str,
    train_years: Sequence[int],
    calib_years: Sequence[int],
    stations: Sequence[str] = D.BRIDGES,
    horizons: Sequence[int] = D.HORIZONS,
    modes: Sequence[str] = D.MODES,
    params: dict[str, Any] | None = None,
    thin: int = 3,
    purpose: str = "",
    progress: Callable[[str], None] | None = None,
    executor: Any = None,
) -> ForecastBundle:
    """Fit and conformally calibrate every (station, mode, lead) model; nothing is written.

    ``executor``: anything with ``submit(fn, *args) -> future`` — a
    :class:`concurrent.futures.Executor` or a ``dask.distributed.Client`` — fits the models in
    parallel; LightGBM runs deterministic, so the result is identical to the serial run.
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    overlap = set(train_years) & set(calib_years)
    if overlap:
        raise ValueError(f"calibration years {sorted(overlap)} are also training years")
    manifest: dict[str, Any] = {
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "feature_set": FEATURE_SET,
        "code_version": code_version(),
        "purpose": purpose,
        "stations": list(stations),
        "horizons": [int(h) for h in horizons],
        "modes": list(modes),
        "train_years": [int(y) for y in train_years],
        "calib_years": [int(y) for y in calib_years],
        "thin": thin,
        "params": params,
        "target": {"own": "stage(t+h) - stage(t), m",
                   "nbr": "stage(t+h) - stage of the nbr_reference bridge(t), m",
                   "sim": "stage(t+h), m",
                   "solo": "stage(t+h) - stage(t), m, without the other bridges' inputs"},
        "nbr_reference": dict(D.NBR_REFERENCE),
        "flood_weight_stage_m": FLOOD_WEIGHT_STAGE_M,
        "flood_weight_max": FLOOD_WEIGHT_MAX,
        "features": {},
    }
    bundle = ForecastBundle(version=version, manifest=manifest)
    t0 = time.perf_counter()
    jobs = []
    for st in stations:
        w_all = flood_weights(wide[f"wl_{st}"].to_numpy(np.float64))
        for mode in modes:
            cols = D.feature_names(st, mode, list(feats.columns))
            manifest["features"][f"{st}_{mode}"] = cols
            X = feats[cols].to_numpy(np.float32)
            for h in horizons:
                y = D.target(wide, st, h, mode).to_numpy(np.float64)
                tr = train_rows(feats, y, train_years, thin)
                ca = train_rows(feats, y, calib_years, 1)
                args = (X[tr], y[tr], w_all[tr], X[ca], y[ca], cols, params)
                key = (st, mode, int(h))
                if executor is None:
                    _done(bundle, key, int(tr.sum()), fit_one(*args), t0, progress)
                else:
                    if is_dask_client(executor):  # arrays travel as data, not inside the graph
                        args = (*executor.scatter(list(args[:5]), hash=False), cols, params)
                    jobs.append((key, int(tr.sum()), executor.submit(fit_one, *args)))
    for key, n, job in jobs:
        _done(bundle, key, n, job.result(), t0, progress)
    manifest["train_seconds"] = round(time.perf_counter() - t0, 1)
    return bundle


def _done(bundle: ForecastBundle, key: tuple[str, str, int], n: int, est: QuantileLGBM,
          t0: float, progress: Callable[[str], None] | None) -> None:
    bundle.estimators[key] = est
    msg = (f"{key[0]} {key[1]} h{key[2]}: {n} rows, offset {est.offset_:+.3f} m, "
           f"{time.perf_counter() - t0:.0f}s")
    log.info("%s", msg)
    if progress is not None:
        progress(msg)


def fit_one(X: np.ndarray, y: np.ndarray, w: np.ndarray, Xc: np.ndarray, yc: np.ndarray,
            cols: list[str], params: dict[str, Any]) -> QuantileLGBM:
    """Fit one (station, mode, lead) estimator and set its conformal offset (a pure task)."""
    est = QuantileLGBM(**params)
    est.fit(X, y, cols, sample_weight=w)
    return est.calibrate(Xc, yc)


def new_version(prefix: str = "han-lgbm") -> str:
    """A sortable version name: ``han-lgbm-20240801T1200``."""
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M')}"


def save_and_register(bundle: ForecastBundle, models_root: Path, note: str = "") -> Path:
    """Write the version under ``models_root`` and add it to the registry as a candidate."""
    from floodwarn.forecast.registry import ModelRegistry

    target = models_root / bundle.version
    if (target / MANIFEST).exists():
        # a running daemon caches versions by name: new models under an old name would never load
        raise ModelError(f"model version {bundle.version!r} already exists; versions are immutable, "
                         "train under a new --version", file=str(target))
    path = bundle.save(target)
    ModelRegistry(models_root).register(bundle.version, note=note)
    return path
