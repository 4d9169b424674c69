"""persistence-trend: holds the level, follows a trend for an hour, grows the band with lead."""

from __future__ import annotations

import numpy as np

from floodwarn.forecast.fallback import persistence_trend


def test_flat_rising_stale_and_empty() -> None:
    n = 40
    flat = np.full(n, 3.0)
    rising = 3.0 + 0.01 * np.arange(n)
    stale = flat.copy()
    stale[-10:] = np.nan
    empty = np.full(n, np.nan)
    q, age, ok = persistence_trend(np.vstack([flat, rising, stale, empty]), [10, 60, 360])
    assert ok.tolist() == [True, True, True, False]
    assert age[:3].tolist() == [0, 0, 10]
    np.testing.assert_allclose(q[0, :, 1], 3.0)
    np.testing.assert_allclose(q[1, :, 1], rising[-1] + 0.01 * np.array([1, 6, 6]), atol=1e-9)
    np.testing.assert_allclose(q[2, :, 1], 3.0)  # stale: no trend, last value held
    assert (np.diff(q[1, :, 2] - q[1, :, 0]) > 0).all()  # band widens with lead
    assert (q[:3, :, 0] <= q[:3, :, 1]).all() and (q[:3, :, 1] <= q[:3, :, 2]).all()
