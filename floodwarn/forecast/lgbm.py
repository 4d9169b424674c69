"""A scikit-learn compatible LightGBM estimator that returns calibrated 5/50/95 % quantiles.

Why three boosters and not one: the central forecast is an L2 model (it is what RMSE/NSE score),
the outer two are quantile models with fewer, smaller trees (they only shape the band, conformal
calibration fixes its width). ``predict`` returns the central value so the estimator drops into
any scikit-learn tool; ``predict_quantiles`` returns ``(n, 3)``, never crossing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from floodwarn.errors import ModelError
from floodwarn.forecast.calibrate import apply_offset, cqr_offset

log = logging.getLogger(__name__)

QUANTILES = (0.05, 0.5, 0.95)


class QuantileLGBM(RegressorMixin, BaseEstimator):
    """Central L2 booster + 5 %/95 % quantile boosters + a conformal offset.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree,
    max_bin : LightGBM settings of the central booster.
    q_estimators, q_num_leaves : size of the two quantile boosters.
    alpha : miscoverage of the band (0.1 → 90 % band).
    num_threads, random_state : passed to LightGBM (deterministic with ``deterministic=True``).
    """

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        max_bin: int = 63,
        q_estimators: int = 80,
        q_num_leaves: int = 15,
        alpha: float = 0.1,
        num_threads: int = 2,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.max_bin = max_bin
        self.q_estimators = q_estimators
        self.q_num_leaves = q_num_leaves
        self.alpha = alpha
        self.num_threads = num_threads
        self.random_state = random_state

    # -- training ------------------------------------------------------------------------
    def _params(self, objective: str, q: float | None) -> dict[str, Any]:
        central = q is None
        p: dict[str, Any] = {
            "objective": objective,
            "learning_rate": self.learning_rate if central else 0.1,
            "num_leaves": self.num_leaves if central else self.q_num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "max_bin": self.max_bin,
            "num_threads": self.num_threads,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        if q is not None:
            p["alpha"] = q
        return p

    def fit(self, X: Any, y: Any, feature_names: Sequence[str] | None = None,
            sample_weight: Any = None) -> QuantileLGBM:
        """Fit the three boosters on rows with a finite target."""
        import lightgbm as lgb

        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.float64)
        ok = np.isfinite(y)
        if ok.sum() < 10:
            raise ModelError(f"too few finite training targets ({int(ok.sum())})")
        names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(X.shape[1])]
        if len(names) != X.shape[1]:
            raise ModelError(f"{len(names)} feature names for {X.shape[1]} columns")
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)[ok]
        ds = lgb.Dataset(X[ok], y[ok], weight=w, feature_name=names, free_raw_data=False,
                         params={"max_bin": self.max_bin, "verbosity": -1})
        self.boosters_ = [
            lgb.train(self._params("quantile", QUANTILES[0]), ds, self.q_estimators),
            lgb.train(self._params("regression", None), ds, self.n_estimators),
            lgb.train(self._params("quantile", QUANTILES[2]), ds, self.q_estimators),
        ]
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.offset_ = 0.0
        return self

    def calibrate(self, X: Any, y: Any) -> QuantileLGBM:
        """Set the conformal offset from a calibration split the boosters never saw."""
        raw = self._raw(X)
        self.offset_ = cqr_offset(raw[:, 0], raw[:, 2], np.asarray(y, dtype=np.float64), self.alpha)
        return self

    # -- prediction ----------------------------------------------------------------------
    def _raw(self, X: Any) -> np.ndarray:
        if not hasattr(self, "boosters_"):
            raise ModelError("estimator is not fitted")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ModelError(f"expected {self.n_features_in_} input columns, got {X.shape}")
        # a handful of rows (the live cycle) is faster on one thread than waking an OpenMP team
        threads = 1 if X.shape[0] < 2000 else self.num_threads
        return np.column_stack([b.predict(X, num_threads=threads) for b in self.boosters_])

    def predict_quantiles(self, X: Any) -> np.ndarray:
        """``(n, 3)`` calibrated q05, q50, q95, sorted so they never cross."""
        return apply_offset(self._raw(X), getattr(self, "offset_", 0.0))

    def predict(self, X: Any) -> np.ndarray:
        """The central forecast (scikit-learn protocol)."""
        return self._raw(X)[:, 1]

    # -- persistence (LightGBM text format) -------------------------------------------------
    def model_strings(self) -> list[str]:
        """The three boosters in LightGBM text format."""
        return [b.model_to_string() for b in self.boosters_]

    @classmethod
    def from_strings(cls, texts: Sequence[str], offset: float, params: dict[str, Any] | None = None,
                     where: str = "") -> QuantileLGBM:
        """Rebuild a fitted estimator from three LightGBM text models and its offset."""
        import lightgbm as lgb

        est = cls(**(params or {}))
        try:
            est.boosters_ = [lgb.Booster(model_str=t) for t in texts]
        except Exception as err:  # lightgbm raises LightGBMError on a corrupt model
            raise ModelError(f"cannot load LightGBM model: {err}", file=where or None) from err
        names = est.boosters_[1].feature_name()
        for b in est.boosters_:
            if b.feature_name() != names:
                raise ModelError("quantile boosters disagree on their feature list", file=where or None)
        est.feature_names_in_ = np.asarray(names, dtype=object)
        est.n_features_in_ = len(names)
        est.offset_ = float(offset)
        return est
