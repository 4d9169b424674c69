"""Synthetic Han-like wide frames and a tiny trained model version for the forecast tests.

The synthetic river is a made-up but causal system: the four gauges follow the dam release with
delays and a tide signal — enough for LightGBM to learn something in a second, and for every
code path (own, sim, fallback) to run without ../shared/data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from floodwarn.forecast import dataset as D


def synthetic_wide(n: int = 4000, start: str = "2019-07-01", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start, periods=n, freq="10min", tz="UTC", name="time")
    t = np.arange(n)
    release = 500 + 3000 * np.clip(np.sin(t / 400.0), 0, None) ** 2 + rng.normal(0, 20, n)
    tide = 300 + 250 * np.sin(2 * np.pi * t / 74.5)
    rain = np.where(rng.random((3, n)) < 0.05, rng.integers(0, 8, (3, n)), 0).astype(float)
    wide = pd.DataFrame(index=idx)
    for k, s in enumerate(D.BRIDGES):
        lag = 6 + 4 * k
        rel = np.concatenate([np.full(lag, release[0]), release[:-lag]])
        wide[f"wl_{s}"] = 2.0 + rel / 1000.0 + (0.1 + 0.1 * k) * (tide - 300) / 250 + rng.normal(0, 0.005, n)
        wide[f"fw_{s}"] = rel
    wide[f"swl_{D.DAM}"] = 25.0
    wide[f"inf_{D.DAM}"] = release + 50
    wide[f"tototf_{D.DAM}"] = release
    wide[f"sfw_{D.DAM}"] = 210.0
    wide[f"ecpc_{D.DAM}"] = 30.0
    wide[f"tide_{D.TIDE}"] = tide
    for i, g in enumerate(D.RAIN_GAUGES):
        wide[f"rf_{g}"] = rain[i]
    return wide


TINY = {"n_estimators": 20, "q_estimators": 10, "num_leaves": 7, "q_num_leaves": 5,
        "min_child_samples": 10, "num_threads": 1}


@pytest.fixture(scope="session")
def wide() -> pd.DataFrame:
    return synthetic_wide()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, wide: pd.DataFrame) -> Path:
    """A registry with one promoted tiny version trained on synthetic 'years' 2019, calib 2020."""
    from floodwarn.forecast.registry import ModelRegistry
    from floodwarn.forecast.train import save_and_register, train_bundle

    w2 = synthetic_wide(start="2020-07-01", seed=1)
    both = D.regularise(pd.concat([wide, w2]))
    feats = D.base_features(both)
    bundle = train_bundle(both, feats, version="tiny-1", train_years=[2019], calib_years=[2020],
                          stations=["1018680", "1018683"], horizons=[10, 60], params=TINY, thin=2)
    root = tmp_path_factory.mktemp("models")
    save_and_register(bundle, root)
    ModelRegistry(root).promote("tiny-1")
    return root
