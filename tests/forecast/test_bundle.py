"""Model files on disk: the compacted LightGBM text predicts exactly like the full one."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from floodwarn.errors import ModelError
from floodwarn.forecast.bundle import ForecastBundle, compact_model_text
from floodwarn.forecast.lgbm import QuantileLGBM

SMALL = {"n_estimators": 40, "q_estimators": 15, "num_leaves": 15, "q_num_leaves": 5,
         "min_child_samples": 10, "num_threads": 1}


def _fitted() -> tuple[QuantileLGBM, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3000, 5))
    X[rng.random(X.shape) < 0.1] = np.nan  # missing values take the trees' default branches
    y = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) ** 2 + rng.normal(0, 0.2, 3000)
    est = QuantileLGBM(**SMALL).fit(X, y, feature_names=list("abcde")).calibrate(X, y)
    Xt = rng.normal(size=(4000, 5)) * 3
    Xt[rng.random(Xt.shape) < 0.2] = np.nan
    Xt[::11, 2] = 0.0  # zero is a missing value for some decision types
    return est, Xt.astype(np.float32)


def test_compact_text_predicts_bit_identically_and_is_smaller() -> None:
    est, Xt = _fitted()
    full = est.model_strings()
    small = [compact_model_text(t) for t in full]
    back = QuantileLGBM.from_strings(small, est.offset_, SMALL)
    np.testing.assert_array_equal(back.predict_quantiles(Xt), est.predict_quantiles(Xt))
    assert list(back.feature_names_in_) == list("abcde")
    for f, s in zip(full, small, strict=True):
        assert len(s) < 0.75 * len(f)
        assert "split_gain=" not in s and "leaf_count=" not in s and "parameters:" not in s
        assert "leaf_value=" in s and "threshold=" in s
    assert compact_model_text(small[1]) == small[1]  # idempotent


def test_compact_refuses_what_is_not_a_model() -> None:
    with pytest.raises(ModelError, match="not a LightGBM text model"):
        compact_model_text("hello")


def test_saved_version_holds_compact_models(tmp_path: Path) -> None:
    est, Xt = _fitted()
    manifest = {"version": "t", "feature_set": "x", "stations": ["s"], "horizons": [10],
                "features": {"s_own": list("abcde")}, "params": SMALL}
    bundle = ForecastBundle(version="t", manifest=manifest, estimators={("s", "own", 10): est})
    d = bundle.save(tmp_path / "t")
    text = gzip.decompress((d / "s_own_h10_q50.txt.gz").read_bytes()).decode()
    assert "split_gain=" not in text
    loaded = QuantileLGBM.from_strings(
        [gzip.decompress((d / f"s_own_h10_{q}.txt.gz").read_bytes()).decode()
         for q in ("q05", "q50", "q95")], est.offset_, SMALL)
    np.testing.assert_array_equal(loaded.predict_quantiles(Xt), est.predict_quantiles(Xt))
