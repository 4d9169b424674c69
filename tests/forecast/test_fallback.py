"""persistence-trend: holds the level, follows half a trend for an hour, empirical band by lead,
rate of rise and activity; works on hourly gauges on the 10-minute grid; calibration."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from floodwarn.forecast import fallback as F
from floodwarn.forecast.fallback import persistence_trend

ROOT = Path(__file__).resolve().parents[2]


def test_flat_rising_stale_and_empty() -> None:
    n = 40
    flat = np.full(n, 3.0)
    rising = 3.0 + 0.01 * np.arange(n)  # 0.06 m/h
    stale = flat.copy()
    stale[-10:] = np.nan
    empty = np.full(n, np.nan)
    q, age, ok = persistence_trend(np.vstack([flat, rising, stale, empty]), [10, 60, 360])
    assert ok.tolist() == [True, True, True, False]
    assert age[:3].tolist() == [0, 0, 10]
    np.testing.assert_allclose(q[0, :, 1], 3.0)
    # half the slope (0.001 m/min), for at most one hour, then held
    np.testing.assert_allclose(q[1, :, 1], rising[-1] + F.TREND_DAMP * 0.001 * np.array([10, 60, 60]), atol=1e-9)
    np.testing.assert_allclose(q[2, :, 1], 3.0)  # stale (100 min): no trend, last value held
    assert (np.diff(q[1, :, 2] - q[1, :, 0]) > 0).all()  # band widens with lead
    assert (q[:3, :, 0] <= q[:3, :, 1]).all() and (q[:3, :, 1] <= q[:3, :, 2]).all()
    # the flat gauge's band is the quiet, steady class; the rising one's is wider and skewed up
    assert (q[1, :, 2] - q[1, :, 1] > q[0, :, 2] - q[0, :, 1]).all()
    assert q[1, -1, 2] - q[1, -1, 1] > q[1, -1, 1] - q[1, -1, 0]


def test_hourly_gauge_on_the_ten_minute_grid() -> None:
    """An hourly gauge: a slope from the hourly values, leads counted from the newest value."""
    grid = np.full(3 * 36, np.nan)  # 18 h of 10-minute steps, a value every 6th step
    hours = 3.0 + 0.12 * np.arange(18)  # rising 0.12 m/h
    grid[5::6] = hours
    at_hour = grid  # cycle on the hour: newest value now
    later = np.append(grid, [np.nan] * 2)  # cycle 20 min after the hour
    q0, age0, ok0 = persistence_trend(at_hour[None, :], [10, 60, 360])
    q2, age2, ok2 = persistence_trend(later[None, :], [10, 60, 360])
    assert ok0[0] and ok2[0] and age0[0] == 0 and age2[0] == 2
    rate = 0.12 / 60
    np.testing.assert_allclose(q0[0, :, 1], hours[-1] + F.TREND_DAMP * rate * np.array([10, 60, 60]))
    np.testing.assert_allclose(q2[0, :, 1], hours[-1] + F.TREND_DAMP * rate * np.array([30, 60, 60]))
    # 20 minutes later the same 10-minute lead is a 30-minute forecast: a wider band
    assert q2[0, 0, 2] - q2[0, 0, 0] > q0[0, 0, 2] - q0[0, 0, 0]
    # the band is the "rising fast" one (0.05..0.15 m/h), not the 1-cm floor of a silent gauge
    last, _, r, act = F.recent_state(later[None, :])
    assert F.class_name(int(F.band_class(r * 60, act)[0])) == "rising fast, in flood"
    assert q0[0, 1, 2] - q0[0, 1, 1] > 0.05


def test_recent_state_needs_two_values_half_an_hour_apart() -> None:
    one = np.full(12, np.nan)
    one[-1] = 2.0
    two_close = np.full(12, np.nan)
    two_close[-2:] = [2.0, 2.1]  # 10 minutes apart: too short for a slope
    last, age, rate, act = F.recent_state(np.vstack([one, two_close]))
    assert last.tolist() == [2.0, 2.1] and age.tolist() == [0, 0]
    assert np.isnan(rate).all()
    np.testing.assert_allclose(act, [0.0, 0.1])


def _random_walk(rng: np.random.Generator, n: int, noise: float = 0.005, decimals: int | None = 2) -> np.ndarray:
    """Quiet stretches and rises of varied steepness, 1-cm resolution (an hourly gauge)."""
    steps = rng.normal(0.0, noise, n)
    k = 0
    while k < n:  # a flood every ~300 h: 12 h of rise, 24 h of recession
        k += int(rng.integers(150, 450))
        if k + 36 >= n:
            break
        up = rng.uniform(0.03, 0.3)
        steps[k:k + 12] += up * rng.uniform(0.5, 1.5, 12)
        steps[k + 12:k + 36] -= up * 0.5
    x = 1.0 + np.cumsum(steps)
    return x if decimals is None else np.round(x, decimals)


def test_calibration_covers_about_ninety_percent_out_of_sample() -> None:
    """A band calibrated on one set of series covers ~90 % of another set's errors.

    Continuous values here: on 1-cm gauges the ties at ±1 cm (and the 1-cm floor) make a quiet
    river's band cover more than 90 % (docs/unseen-floods.md)."""
    rng = np.random.default_rng(7)
    train = [_random_walk(rng, 20_000, noise=0.02, decimals=None) for _ in range(4)]
    test = [_random_walk(rng, 20_000, noise=0.02, decimals=None) for _ in range(4)]

    def errors(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        parts = [F.forecast_errors(x, 60) for x in series]
        return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    e_tr, c_tr = errors(train)
    lo, hi, n = F.calibrate_band(e_tr, c_tr)
    assert not np.isnan(lo).any() and (lo <= hi).all()
    e_te, c_te = errors(test)
    cov = F.band_coverage(e_te, c_te, lo, hi)
    assert ((cov > 0.87) & (cov < 0.93)).all(), cov
    # a band made for a quiet river (the steady/quiet row everywhere) covers far less
    quiet = np.repeat(lo[[F.band_class(np.array([0.0]), np.array([0.0]))[0]]], len(lo), axis=0)
    quiet_hi = np.repeat(hi[[F.band_class(np.array([0.0]), np.array([0.0]))[0]]], len(hi), axis=0)
    assert (F.band_coverage(e_te, c_te, quiet, quiet_hi) < cov - 0.02).all()


def test_forecast_errors_use_the_live_forecast() -> None:
    """The calibration scores exactly what persistence_trend forecasts (same code path)."""
    rng = np.random.default_rng(3)
    x = _random_walk(rng, 400)
    e, cls, origin = F.forecast_errors(x, 60, (60, 120))
    k = len(origin) // 2
    o = origin[k]
    q, _, _ = persistence_trend(x[None, o - 6:o + 1], [60, 120], step_min=60)
    np.testing.assert_allclose(x[o + 1] - q[0, 0, 1], e[k, 0])
    np.testing.assert_allclose(x[o + 2] - q[0, 1, 1], e[k, 1])


def test_shipped_band_reproduces_from_the_geum_gauges(shared_data: Path) -> None:
    """BAND_Q05/Q95 are what tools/calibrate_fallback.py computes on 2015–2019 (not tuned)."""
    if not (shared_data / "geum_yongdam_downstream_hourly").is_dir():
        pytest.skip("../shared/data/geum_yongdam_downstream_hourly not found")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import calibrate_fallback as C
    finally:
        sys.path.remove(str(ROOT / "tools"))
    wl = C.load_stage(shared_data / "geum_yongdam_downstream_hourly")
    e, cls, _ = C.errors_for(wl, C.years_mask(wl.index, [2015, 2016, 2017, 2018, 2019]))
    lo, hi, _ = F.calibrate_band(e, cls)
    np.testing.assert_allclose(np.round(lo, 3), F.BAND_Q05, atol=1e-9)
    np.testing.assert_allclose(np.round(hi, 3), F.BAND_Q95, atol=1e-9)


def test_reporting_interval() -> None:
    ten = np.arange(30, dtype=float)
    hourly = np.full(30, np.nan)
    hourly[2::6] = 1.0
    gap = hourly.copy()
    gap[20] = np.nan  # one hourly value missing: still hourly
    one = np.full(30, np.nan)
    one[-1] = 1.0
    assert F.reporting_interval_steps(np.vstack([ten, hourly, gap, one])).tolist() == [1, 6, 6, 1]
