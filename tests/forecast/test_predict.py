"""forecast_cycle: the daemon's entry point — methods, flags, causality, speed, fallbacks."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from floodwarn.forecast import dataset as D
from floodwarn.forecast.predict import COLUMNS, forecast_cycle, hindcast
from floodwarn.forecast.registry import ModelRegistry
from tests.forecast.conftest import synthetic_wide


class Points:
    """A stand-in catalog exposing the one call forecast_cycle makes (forecast_points)."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes

    def forecast_points(self) -> pd.DataFrame:
        return pd.DataFrame(index=pd.Index(self.codes, name="code"))


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return synthetic_wide(600, start="2020-08-01", seed=7)


def test_columns_methods_and_quantiles(history: pd.DataFrame, tiny_models: Path) -> None:
    at = history.index[-1].to_pydatetime()
    df = forecast_cycle(at, history, Points(["1018683", "1019630"]), ModelRegistry(tiny_models))
    assert list(df.columns) == COLUMNS
    assert set(df["station"]) == {"1018680", "1018683", "1019630"}
    assert (df["issued_at"] == pd.Timestamp(at)).all() and str(df["issued_at"].dt.tz) == "UTC"
    m = df.set_index("station")["method"]
    assert (m.loc["1018683"] == "lgbm").all() and (m.loc["1019630"] == "persistence-trend").all()
    assert (df["q05"] <= df["q50"]).all() and (df["q50"] <= df["q95"]).all()
    assert df.loc[df.station == "1019630", "flags"].eq("fallback").all()
    assert sorted(df.loc[df.station == "1019630", "lead_min"]) == [10, 60]


def test_same_numbers_as_the_batch_hindcast(history: pd.DataFrame, tiny_models: Path) -> None:
    reg = ModelRegistry(tiny_models)
    bundle = reg.load_promoted()
    feats = D.base_features(history)
    hc = hindcast(bundle, history, feats, "1018683", "own")
    at = history.index[-50]
    live = forecast_cycle(at.to_pydatetime(), history, None, reg)
    live = live[live.station == "1018683"].set_index("lead_min")
    ref = hc[hc.issued_at == at].set_index("lead_min")
    np.testing.assert_allclose(live[["q05", "q50", "q95"]], ref[["q05", "q50", "q95"]], rtol=1e-6)


def test_rows_after_at_are_never_seen(history: pd.DataFrame, tiny_models: Path) -> None:
    reg = ModelRegistry(tiny_models)
    at = history.index[400]
    a = forecast_cycle(at.to_pydatetime(), history, None, reg)
    poisoned = history.copy()
    poisoned.loc[poisoned.index > at] = 99.0
    b = forecast_cycle(at.to_pydatetime(), poisoned, None, reg)
    pd.testing.assert_frame_equal(a, b)


def test_degraded_modes_are_flagged(history: pd.DataFrame, tiny_models: Path) -> None:
    reg = ModelRegistry(tiny_models)
    at = history.index[-1]
    h = history.copy()
    h.loc[h.index > at - pd.Timedelta("2h"), "wl_1018683"] = np.nan
    h.loc[h.index > at - pd.Timedelta("1h"), "rf_10184110"] = np.nan
    df = forecast_cycle(at.to_pydatetime(), h, None, reg)
    nbr = df[df.station == "1018683"]  # own gauge gone, the other bridges still report
    assert (nbr["method"] == "lgbm-nbr").all()
    assert nbr["flags"].str.contains("own-gauge-missing").all()
    assert nbr["flags"].str.contains("stale-input:rf_10184110").all()
    assert not nbr["flags"].str.contains("stale-input:wl_1018683").any()
    # a neighbour gone too: boundary conditions only
    h2 = h.copy()
    h2.loc[h2.index > at - pd.Timedelta("2h"), "wl_1019630"] = np.nan
    sim = forecast_cycle(at.to_pydatetime(), h2, None, reg)
    sim = sim[sim.station == "1018683"]
    assert (sim["method"] == "lgbm-sim").all()
    assert sim["flags"].str.contains("own-gauge-missing").all()
    assert sim["flags"].str.contains("stale-input:rf_10184110").all()
    assert not np.allclose(sim["q50"].to_numpy(), nbr["q50"].to_numpy())
    # Jamsu keeps its gauge but lost a neighbour (한강대교): the model trained without neighbours
    solo = df[df.station == "1018680"]
    assert (solo["method"] == "lgbm-solo").all()
    assert solo["flags"].str.contains("neighbour-gauge-missing").all()
    assert solo["flags"].str.contains("stale-input:rf_10184110").all()
    assert not solo["flags"].str.contains("stale-input:wl_1018683").any()  # not one of its inputs
    assert not solo["flags"].str.contains("own-gauge-missing").any()
    # every bridge reporting: the full own model
    full = forecast_cycle(at.to_pydatetime(), history, None, reg)
    own = full[full.station == "1018680"]
    assert (own["method"] == "lgbm").all() and own["flags"].eq("").all()
    assert not solo["flags"].str.contains("short-history").any()
    short = forecast_cycle(at.to_pydatetime(), history.iloc[-100:], None, reg)
    assert short["flags"].str.contains("short-history").all()
    # no data at all for a fallback point in the last 6 h: no rows, nothing invented
    h.loc[h.index > at - pd.Timedelta("7h"), "wl_1019630"] = np.nan
    df = forecast_cycle(at.to_pydatetime(), h, Points(["1019630"]), reg)
    assert "1019630" not in set(df.station)


def test_no_promoted_model_means_flagged_fallback(history: pd.DataFrame, tmp_path: Path) -> None:
    at = history.index[-1].to_pydatetime()
    df = forecast_cycle(at, history, Points(["1018683"]), ModelRegistry(tmp_path))
    assert set(df["method"]) == {"persistence-trend"}
    assert df["flags"].str.contains("model-unavailable").all()
    assert len(df) == 7  # every default lead
    assert forecast_cycle(at, history, None, ModelRegistry(tmp_path), shadow=True).empty


def test_naive_time_is_refused(history: pd.DataFrame, tiny_models: Path) -> None:
    with pytest.raises(ValueError, match="naive"):
        forecast_cycle(history.index[-1].to_pydatetime().replace(tzinfo=None), history, None,
                       ModelRegistry(tiny_models))


def test_223_points_well_under_a_second(history: pd.DataFrame, tiny_models: Path) -> None:
    rng = np.random.default_rng(3)
    codes = [f"{1000000 + i}" for i in range(219)]
    extra = pd.DataFrame({f"wl_{c}": 3 + np.cumsum(rng.normal(0, 0.01, len(history))) for c in codes},
                         index=history.index)
    h = pd.concat([history, extra], axis=1)
    reg = ModelRegistry(tiny_models)
    at = h.index[-1].to_pydatetime()
    forecast_cycle(at, h, Points(codes), reg)  # warm (model load, numba)
    t0 = time.perf_counter()
    df = forecast_cycle(at, h, Points(codes), reg)
    elapsed = time.perf_counter() - t0
    assert df["station"].nunique() == 221
    assert elapsed < 0.5, elapsed


def test_single_row_fast_path_equals_predict_quantiles() -> None:
    """The cycle's LightGBM single-row path must give exactly the estimator's own numbers
    (guards against a LightGBM upgrade changing the fast path)."""
    from floodwarn.config import project_root
    from floodwarn.forecast.predict import _ROW_PREDICTORS, _predict_row
    from floodwarn.forecast.registry import ModelRegistry

    bundle = ModelRegistry(project_root() / "models").load_promoted()
    rng = np.random.default_rng(7)
    for est in list(bundle.estimators.values())[:12]:
        x = rng.normal(size=(1, est.n_features_in_)).astype(np.float32)
        np.testing.assert_array_equal(_predict_row(est, x), est.predict_quantiles(x))
        assert _ROW_PREDICTORS[est] is not None  # the fast path was really taken
