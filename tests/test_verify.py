"""Verification scores against hand computations and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, r2_score

from floodwarn import verify as V


def test_point_scores() -> None:
    o = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    f = np.array([1.5, 2.0, 2.5, 4.0, 9.0])
    assert V.rmse(f, o) == pytest.approx(np.sqrt(0.5 / 4))
    assert V.mae(f, o) == pytest.approx(mean_absolute_error(o[:4], f[:4]))
    assert V.r2(f, o) == pytest.approx(r2_score(o[:4], f[:4]))
    assert V.nse(o, o) == 1.0 and np.isnan(V.nse(f, np.full(5, 2.0)))
    assert V.kge(o[:4], o[:4]) == pytest.approx(1.0)
    # KGE with a 10 % bias and perfect correlation/variability: 1 - 0.1
    assert V.kge(o[:4] * 1.1, o[:4]) == pytest.approx(1 - np.sqrt(0.1**2 + 0.1**2))
    with pytest.raises(ValueError, match="shape"):
        V.rmse(f[:3], o)


def test_quantile_scores_and_coverage() -> None:
    o = np.array([0.0, 1.0, 2.0, 3.0])
    assert V.pinball(np.full(4, 1.0), o, 0.5) == pytest.approx(0.5 * np.mean(np.abs(o - 1)))
    assert V.pinball(np.full(4, 0.0), o, 0.9) == pytest.approx(0.9 * 1.5)
    assert V.coverage(np.full(4, 0.5), np.full(4, 2.5), o) == 0.5
    qs = np.column_stack([o, o, o])
    assert V.crps_quantiles(qs, o, (0.05, 0.5, 0.95)) == 0.0


def test_skill_peak_and_competition_metric() -> None:
    o = np.array([1.0, 2.0, 3.0, 2.0])
    pers = np.array([0.0, 1.0, 2.0, 3.0])
    assert V.skill(o, o, pers) == 1.0 and V.skill(pers, o, pers) == 0.0
    t = pd.date_range("2020-08-06", periods=4, freq="10min", tz="UTC")
    dh, dt = V.peak_error(t, np.array([1.0, 2.0, 2.5, 3.2]), o)
    assert dh == pytest.approx(0.2) and dt == 10.0
    assert V.competition_metric([3.0, 4.0], [1.0, 0.5]) == pytest.approx(5.5)


def test_verify_table_per_station_and_lead() -> None:
    rng = np.random.default_rng(0)
    n = 200
    obs = rng.normal(3, 1, n)
    fc = pd.DataFrame({"station": np.repeat(["a", "b"], n // 2), "lead_min": 60,
                       "q50": obs + rng.normal(0, 0.1, n), "obs": obs, "persistence": obs + 0.5})
    fc["q05"] = fc["q50"] - 0.2
    fc["q95"] = fc["q50"] + 0.2
    tab = V.verify_table(fc)
    assert list(tab["station"]) == ["a", "b"]
    assert (tab["skill"] > 0.9).all() and (tab["coverage90"] > 0.8).all()
    assert tab["rmse_cm"].iloc[0] == pytest.approx(100 * V.rmse(fc.q50[:100], fc.obs[:100]))
    with pytest.raises(ValueError, match="lacks columns"):
        V.verify_table(fc.drop(columns="obs"))
