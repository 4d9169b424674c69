"""Last-known offset of a forecast made without the station's gauge: the arithmetic against a plain
reference, the live cycle against the batch hindcast, and when it must not apply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floodwarn.forecast import dataset as D
from floodwarn.forecast import offset as O
from floodwarn.forecast.predict import OFFSET_HISTORY_MIN, forecast_cycle, hindcast
from floodwarn.forecast.registry import ModelRegistry
from tests.forecast.conftest import synthetic_wide

STATION = "1018683"


def _reference(own: list[float], nowcast: list[float], k: int, end: int) -> float:
    """Plain Python: mean of own[i] - nowcast[i-k] over the window ending at ``end``."""
    vals = []
    for i in range(max(0, end - O.WINDOW_STEPS + 1), end + 1):
        if i - k < 0 or i >= len(own):
            continue
        d = own[i] - nowcast[i - k]
        if d == d:  # not NaN
            vals.append(d)
    return sum(vals) / len(vals) if len(vals) >= O.MIN_PAIRS and end >= 0 else float("nan")


values = st.lists(st.one_of(st.floats(-5, 15, allow_nan=False), st.just(float("nan"))),
                  min_size=0, max_size=400)


@settings(max_examples=60, deadline=None)
@given(own=values, shift=st.floats(-1, 1), k=st.integers(1, 3), age=st.integers(0, 50))
def test_offset_matches_a_plain_reference(own: list[float], shift: float, k: int, age: int) -> None:
    nowcast = [v - shift if i % 7 else float("nan") for i, v in enumerate(own)]
    r = O.residuals(np.array(own), np.array(nowcast), k)
    series = O.offset_series(r, age)
    assert len(series) == len(own)
    for t in range(len(own)):
        ref = _reference(own, nowcast, k, t - age)
        got = series[t]
        assert (np.isnan(ref) and np.isnan(got)) or got == pytest.approx(ref, abs=1e-12)


def test_offset_needs_enough_residuals_and_a_step() -> None:
    r = np.full(200, 0.1)
    r[:190] = np.nan
    assert np.isnan(O.offset_at(r, 199))  # 10 residuals < MIN_PAIRS
    assert np.isnan(O.offset_at(np.array([]), -1))
    assert O.last_report(np.array([np.nan, 1.0, np.nan])) == 1
    assert O.last_report(np.array([np.nan])) is None
    with pytest.raises(ValueError):
        O.residuals(np.zeros(3), np.zeros(3), 0)


@pytest.fixture(scope="module")
def long_history() -> pd.DataFrame:
    # long enough for the whole offset history before the issue time
    return synthetic_wide(OFFSET_HISTORY_MIN // 10 + 200, start="2020-08-01", seed=11)


def test_live_offset_equals_the_batch_hindcast(long_history: pd.DataFrame, tiny_models: Path) -> None:
    """The gauge stopped 6 h before the issue time: the live cycle switches to ``nbr`` and adds
    the same offset as the hindcast with ``outage_steps=36`` (to a micrometre, the tolerance of
    the own-mode live/batch test in test_predict.py)."""
    reg = ModelRegistry(tiny_models)
    bundle = reg.load_promoted()
    at = long_history.index[-20]
    age = 36
    failed = long_history.copy()
    failed.loc[failed.index > at - pd.Timedelta(minutes=10 * age), f"wl_{STATION}"] = np.nan
    live = forecast_cycle(at.to_pydatetime(), failed, None, reg)
    live = live[live["station"] == STATION].set_index("lead_min")
    assert (live["method"] == "lgbm-nbr").all()
    assert live["flags"].str.contains("offset-corrected").all()

    feats = D.base_features(long_history)
    rows = np.asarray(feats.index == at)
    batch = hindcast(bundle, long_history, feats, STATION, "nbr", rows, outage_steps=age)
    batch = batch.set_index("lead_min")
    assert (batch["flags"] == "offset-corrected").all()
    for q in ("q05", "q50", "q95"):
        np.testing.assert_allclose(live[q].to_numpy(), batch[q].to_numpy(), rtol=0, atol=1e-6)
    plain = hindcast(bundle, long_history, feats, STATION, "nbr", rows).set_index("lead_min")
    shift = (batch["q50"] - plain["q50"]).to_numpy()
    assert np.ptp(shift) < 1e-12 and abs(shift[0]) > 0  # one offset, added to every lead


def test_no_offset_from_a_report_too_old_or_with_the_gauge_present(
        long_history: pd.DataFrame, tiny_models: Path) -> None:
    reg = ModelRegistry(tiny_models)
    at = long_history.index[-20]
    failed = long_history.copy()
    failed.loc[failed.index > at - pd.Timedelta(minutes=10 * (O.MAX_AGE_STEPS + 1)), f"wl_{STATION}"] = np.nan
    old = forecast_cycle(at.to_pydatetime(), failed, None, reg)
    old = old[old["station"] == STATION]
    assert (old["method"] == "lgbm-nbr").all()
    assert not old["flags"].str.contains("offset-corrected").any()
    ok = forecast_cycle(at.to_pydatetime(), long_history, None, reg)
    ok = ok[ok["station"] == STATION]
    assert (ok["method"] == "lgbm").all()
    assert not ok["flags"].str.contains("offset-corrected").any()


def test_the_offset_never_reads_after_the_issue_time(long_history: pd.DataFrame, tiny_models: Path) -> None:
    reg = ModelRegistry(tiny_models)
    at = long_history.index[-20]
    failed = long_history.copy()
    failed.loc[failed.index > at - pd.Timedelta(minutes=60), f"wl_{STATION}"] = np.nan
    a = forecast_cycle(at.to_pydatetime(), failed, None, reg)
    poisoned = failed.copy()
    poisoned.loc[poisoned.index > at] = 99.0
    b = forecast_cycle(at.to_pydatetime(), poisoned, None, reg)
    pd.testing.assert_frame_equal(a, b)
