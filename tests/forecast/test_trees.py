"""The compiled tree kernel gives LightGBM's own doubles (``Booster.predict``), missing values
and iteration limits included; what it cannot reproduce is refused, never approximated."""

from __future__ import annotations

import numpy as np
import pytest

lgb = pytest.importorskip("lightgbm")

from floodwarn.forecast.trees import Unsupported, compile_boosters, try_compile  # noqa: E402


def _rows(rng: np.random.Generator, n: int, nf: int, forest) -> np.ndarray:
    """Random rows with NaN, exact zeros, ±tiny values and values exactly at split thresholds."""
    X = rng.normal(0.0, 2.0, size=(n, nf))
    X[rng.random(X.shape) < 0.15] = np.nan
    X[rng.random(X.shape) < 0.10] = 0.0
    X[rng.random(X.shape) < 0.03] = 1e-36
    X[rng.random(X.shape) < 0.03] = -1e-36
    if len(forest.threshold):
        at = rng.random(X.shape) < 0.10
        feats = forest.split_feature
        for i, j in zip(*np.nonzero(at), strict=True):
            cand = forest.threshold[feats == j]
            if len(cand):
                X[i, j] = cand[rng.integers(len(cand))]
    return X.astype(np.float32)


def _train(params: dict, X: np.ndarray, y: np.ndarray, rounds: int = 40, **kw) -> lgb.Booster:
    base = {"verbose": -1, "num_threads": 1, "num_leaves": 15, "min_data_in_leaf": 5, "seed": 1,
            "deterministic": True}
    return lgb.train({**base, **params}, lgb.Dataset(X, y, **kw), num_boost_round=rounds)


def _data(rng: np.random.Generator, n: int = 600, nf: int = 6) -> tuple[np.ndarray, np.ndarray]:
    X = rng.normal(0.0, 2.0, size=(n, nf))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] - 0.2 * X[:, 2] ** 2 + rng.normal(0, 0.1, n)
    X[rng.random(X.shape) < 0.2] = np.nan  # learnt missing-value directions
    X[rng.random(X.shape) < 0.2] = 0.0
    return X, y


@pytest.mark.parametrize(
    "params",
    [
        {"objective": "regression"},  # missing type NaN, default left or right
        {"objective": "quantile", "alpha": 0.05},
        {"objective": "quantile", "alpha": 0.95, "zero_as_missing": True},  # missing type Zero
        {"objective": "regression", "use_missing": False},  # missing type None: NaN → 0.0
        {"objective": "huber", "max_depth": 2, "num_leaves": 3},
    ],
)
def test_kernel_equals_booster_predict(params: dict) -> None:
    rng = np.random.default_rng(7)
    X, y = _data(rng)
    boosters = [_train(params, X, y), _train({**params, "seed": 2, "learning_rate": 0.3}, X, y, 25)]
    forest = compile_boosters(boosters)
    assert forest.n_boosters == 2
    R = _rows(rng, 400, X.shape[1], forest)
    ref = np.column_stack([b.predict(R, num_threads=1) for b in boosters])
    got = np.vstack([forest.predict_row(r) for r in R])
    assert np.abs(got - ref).max() <= 1e-9
    np.testing.assert_array_equal(got, ref)  # in fact bit for bit


def test_missing_types_are_all_exercised() -> None:
    """The parametrised models above really contain the decision types the kernel routes."""
    rng = np.random.default_rng(7)
    X, y = _data(rng)
    seen = set()
    for params in ({"objective": "regression"}, {"objective": "regression", "zero_as_missing": True},
                   {"objective": "regression", "use_missing": False}):
        seen |= {int(d) for d in compile_boosters([_train(params, X, y)]).decision_type}
    missing_types = {(d >> 2) & 3 for d in seen}
    assert missing_types == {0, 1, 2}
    assert any(d & 2 for d in seen if (d >> 2) & 3 == 2) and any(not d & 2 for d in seen if (d >> 2) & 3 == 2)


def test_iteration_limit_follows_best_iteration() -> None:
    rng = np.random.default_rng(3)
    X, y = _data(rng)
    b = _train({"objective": "regression"}, X, y, rounds=30)
    b.best_iteration = 12
    forest = compile_boosters([b])
    assert forest.booster_tree[-1] == 12
    R = _rows(rng, 100, X.shape[1], forest)
    np.testing.assert_array_equal(np.array([forest.predict_row(r)[0] for r in R]), b.predict(R))
    np.testing.assert_array_equal(np.array([compile_boosters([b], [0]).predict_row(r)[0] for r in R]),
                                  b.predict(R, num_iteration=-1))


def test_single_leaf_trees() -> None:
    X = np.zeros((50, 3))
    y = np.full(50, 2.5)
    b = _train({"objective": "regression", "min_data_in_leaf": 100}, X, y, rounds=3)
    forest = compile_boosters([b])
    r = np.array([1.0, np.nan, 0.0], dtype=np.float32)
    np.testing.assert_array_equal(forest.predict_row(r), b.predict(r[None, :]))


def test_what_the_kernel_cannot_reproduce_is_refused() -> None:
    rng = np.random.default_rng(5)
    X, y = _data(rng, nf=4)
    binary = _train({"objective": "binary"}, X, (y > 0).astype(float))
    assert try_compile([binary]) is None  # sigmoid output
    Xc = X.copy()
    Xc[:, 3] = rng.integers(0, 5, len(X))
    cat = _train({"objective": "regression", "min_data_per_group": 5, "cat_smooth": 1}, Xc, y,
                 categorical_feature=[3])
    if "num_cat=0" not in cat.model_to_string().split("Tree=1")[0]:
        with pytest.raises(Unsupported):
            compile_boosters([cat])
    with pytest.raises(Unsupported):
        compile_boosters([])


def test_shipped_models_equal_lightgbm() -> None:
    """Every estimator of the promoted model version: the kernel and LightGBM agree exactly."""
    from floodwarn.config import load_settings, models_dir
    from floodwarn.errors import ModelError
    from floodwarn.forecast.registry import ModelRegistry

    try:
        bundle = ModelRegistry(models_dir(load_settings(env={}))).load_promoted()
    except ModelError as err:
        pytest.skip(f"no promoted model: {err}")
    rng = np.random.default_rng(11)
    for key, est in sorted(bundle.estimators.items())[::5]:
        forest = compile_boosters(est.boosters_)
        R = _rows(rng, 40, forest.n_features, forest)
        ref = np.column_stack([b.predict(R, num_threads=1) for b in est.boosters_])
        got = np.vstack([forest.predict_row(r) for r in R])
        np.testing.assert_array_equal(got, ref, err_msg=str(key))
