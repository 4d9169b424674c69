"""Threshold timing and hysteresis: the rules the warning engine relies on."""

from __future__ import annotations

import numpy as np
from floodwarn.kernels import first_crossing, hysteresis_levels, hysteresis_step

THR = np.array([1.0, 2.0, 3.0, 4.0])


def test_monotone_rise_gives_monotone_levels_reaching_each_threshold():
    series = np.linspace(0, 5, 200)
    lv = hysteresis_levels(series, THR, 0.1, 3)
    assert (np.diff(lv) >= 0).all()
    for k, t in enumerate(THR, start=1):
        assert lv[np.argmax(series >= t)] == k  # upgrade on the very step it is reached


def test_noisy_series_around_threshold_does_not_flap():
    rng = np.random.default_rng(1)
    series = 2.0 + rng.normal(0, 0.05, 500)  # jitters across 2.0 every few steps
    series[0] = 1.5
    lv = hysteresis_levels(series, THR, 0.2, 3)
    raw = (series >= 2.0).astype(int) + 1
    assert np.count_nonzero(np.diff(raw)) > 100  # the raw level flaps...
    assert (np.diff(lv) >= 0).all()
    assert np.count_nonzero(np.diff(lv)) == 1  # ...the warning goes up once and stays


def test_downgrade_needs_dwell_consecutive_steps_below_margin():
    s = np.array([3.5, 2.8, 2.8, 2.95, 2.8, 2.8, 2.8, 2.8])
    # threshold 3, margin 0.1: 2.95 is inside the band and resets the count
    np.testing.assert_array_equal(hysteresis_levels(s, THR, 0.1, 3), [3, 3, 3, 3, 3, 3, 2, 2])


def test_nan_holds_state_and_count():
    s = np.array([3.5, 0.0, np.nan, np.nan, 0.0, np.nan, 0.0])
    np.testing.assert_array_equal(hysteresis_levels(s, THR, 0.1, 3), [3, 3, 3, 3, 3, 3, 0])


def test_drop_goes_to_highest_level_supported_during_dwell():
    s = np.array([4.5, 0.5, 2.5, 0.5])
    np.testing.assert_array_equal(hysteresis_levels(s, THR, 0.0, 3), [4, 4, 4, 2])


def test_unset_thresholds_are_skipped():
    thr = np.array([np.nan, 2.0, np.nan, 4.0])
    np.testing.assert_array_equal(hysteresis_levels(np.array([1.5, 2.5, 5.0]), thr, 0, 1), [0, 2, 4])


def test_step_function_matches_series_form():
    rng = np.random.default_rng(3)
    s = np.cumsum(rng.normal(0, 0.3, 300)) + 2
    s[rng.random(300) < 0.1] = np.nan
    state = (0, 0, 0)
    live = []
    for v in s:
        state = hysteresis_step(*state, v, THR, 0.15, 4)
        live.append(state[0])
    np.testing.assert_array_equal(live, hysteresis_levels(s, THR, 0.15, 4))


def test_first_crossing_interpolates_and_reports_none_and_already():
    traj = np.array([[1.0, 2.0, 4.0, 3.0], [5.0, 6.0, 7.0, 8.0], [0.0, np.nan, np.nan, 3.0]])
    lead = np.array([10.0, 20.0, 30.0, 40.0])
    thr = np.array([[3.0, 9.0], [4.0, np.nan], [1.5, 0.0]])
    got = first_crossing(traj, lead, thr)
    np.testing.assert_allclose(got, [[25.0, np.nan], [0.0, np.nan], [25.0, 0.0]], equal_nan=True)


def test_first_crossing_empty_inputs():
    assert first_crossing(np.empty((2, 0)), np.empty(0), np.ones((2, 3))).shape == (2, 3)
    assert np.isnan(first_crossing(np.empty((2, 0)), np.empty(0), np.ones((2, 3)))).all()
