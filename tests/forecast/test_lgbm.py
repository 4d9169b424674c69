"""The estimator: scikit-learn protocol, non-crossing quantiles, conformal coverage, text round trip."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from floodwarn.errors import ModelError
from floodwarn.forecast.calibrate import cqr_offset, noncrossing
from floodwarn.forecast.lgbm import QuantileLGBM

SMALL = {"n_estimators": 30, "q_estimators": 15, "num_leaves": 7, "q_num_leaves": 5,
         "min_child_samples": 10, "num_threads": 1}


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = X[:, 0] + 0.5 * X[:, 1] ** 2 + rng.normal(0, 0.3 + 0.3 * np.abs(X[:, 2]), n)
    return X, y


def test_sklearn_protocol_and_quantiles() -> None:
    X, y = data(3000, 0)
    est = QuantileLGBM(**SMALL)
    assert clone(est).get_params()["n_estimators"] == 30
    est.fit(X, y)
    assert est.predict(X).shape == (3000,)
    assert est.score(X, y) > 0.5  # RegressorMixin R²
    q = est.predict_quantiles(X)
    assert q.shape == (3000, 3) and (np.diff(q, axis=1) >= 0).all()


def test_conformal_band_covers_ninety_percent_on_new_data() -> None:
    X, y = data(4000, 1)
    Xc, yc = data(4000, 2)
    Xt, yt = data(6000, 3)
    est = QuantileLGBM(**SMALL).fit(X, y).calibrate(Xc, yc)
    q = est.predict_quantiles(Xt)
    cov = np.mean((yt >= q[:, 0]) & (yt <= q[:, 2]))
    assert 0.87 <= cov <= 0.93


def test_text_round_trip_predicts_identically() -> None:
    X, y = data(1000, 4)
    est = QuantileLGBM(**SMALL).fit(X, y, feature_names=["a", "b", "c", "d"]).calibrate(X, y)
    back = QuantileLGBM.from_strings(est.model_strings(), est.offset_, SMALL)
    np.testing.assert_array_equal(back.predict_quantiles(X), est.predict_quantiles(X))
    assert list(back.feature_names_in_) == ["a", "b", "c", "d"]


def test_bad_inputs_raise_model_errors() -> None:
    with pytest.raises(ModelError, match="not fitted"):
        QuantileLGBM().predict(np.zeros((2, 3)))
    X, y = data(500, 5)
    est = QuantileLGBM(**SMALL).fit(X, y)
    with pytest.raises(ModelError, match="expected 4 input columns"):
        est.predict(np.zeros((2, 3)))
    with pytest.raises(ModelError, match="too few"):
        QuantileLGBM(**SMALL).fit(X[:5], y[:5])
    with pytest.raises(ModelError, match="cannot load"):
        QuantileLGBM.from_strings(["garbage"] * 3, 0.0)


def test_cqr_offset_and_noncrossing() -> None:
    y = np.arange(100.0)
    off = cqr_offset(np.full(100, 40.0), np.full(100, 60.0), y, alpha=0.1)
    # scores max(40 - y, y - 60): need ~91 of 101 covered → offset 45 covers [-5, 105]... exact:
    scores = np.maximum(40 - y, y - 60)
    assert np.mean(scores <= off) >= 0.9 and np.mean(scores < off) < 0.92
    q = noncrossing(np.array([[3.0, 1.0, 2.0]]))
    assert q.tolist() == [[1.0, 2.0, 3.0]]
    with pytest.raises(ValueError, match="no finite"):
        cqr_offset(np.array([np.nan]), np.array([1.0]), np.array([1.0]))
