"""Rolling kernels: hand-checked values, window longer than the series, streaming equality."""

from __future__ import annotations

import numpy as np
from floodwarn.kernels import rate_of_change, rolling_multi, stream_init, stream_step, trend


def test_hand_values_and_nan_when_too_few_valid():
    x = np.array([[1.0, np.nan, 3.0, 4.0]])
    sums, means, maxs = rolling_multi(x, np.array([2, 10]), 0.5)
    np.testing.assert_array_equal(sums[0, 0], [1.0, 1.0, 3.0, 7.0])
    np.testing.assert_array_equal(means[0, 0], [1.0, 1.0, 3.0, 3.5])
    np.testing.assert_array_equal(maxs[0, 0], [1.0, 1.0, 3.0, 4.0])
    # window of 10 needs 5 valid values: never reached in a 4-step series
    assert np.isnan(sums[1]).all() and np.isnan(maxs[1]).all()


def test_storm_leaving_the_window_leaves_exact_zero():
    x = np.zeros((1, 400))
    x[0, 10:40] = np.random.default_rng(0).gamma(0.5, 3.3, 30).round(1) + 0.1
    sums, _, _ = rolling_multi(x, np.array([6, 144]), 0.8)
    assert sums[0, 0, 60] == 0.0 and sums[1, 0, 399] == 0.0


def test_empty_and_all_nan():
    s, m, x = rolling_multi(np.empty((3, 0)), np.array([1, 6]), 0.8)
    assert s.shape == m.shape == x.shape == (2, 3, 0)
    s, m, x = rolling_multi(np.full((2, 5), np.nan), np.array([1, 6]), 0.0)
    assert np.isnan(s).all() and np.isnan(x).all()


def test_stream_matches_batch_on_long_rain_series():
    rng = np.random.default_rng(5)
    x = rng.gamma(0.2, 4, (7, 3000)).round(1)
    x[rng.random(x.shape) < 0.05] = np.nan
    w = np.array([6, 18, 36, 72, 144, 288, 432])
    batch = rolling_multi(x, w, 0.8)
    st = stream_init(7, w, 0.8)
    for t in range(x.shape[1]):
        for b, s in zip(batch, stream_step(st, x[:, t].copy()), strict=True):
            np.testing.assert_array_equal(s, b[:, :, t])


def test_rate_and_trend_of_a_line():
    x = np.array([np.arange(20) * 0.5])
    np.testing.assert_allclose(rate_of_change(x, 3)[0, 3:], 0.5)
    assert np.isnan(rate_of_change(x, 3)[0, :3]).all()
    np.testing.assert_allclose(trend(x, 5, 0.8)[0, 4:], 0.5)
