"""Levels, thresholds and the exceedance probability read from three quantiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floodwarn.warn.levels import (
    LEVELS,
    classify,
    decision_quantile,
    exceedance_probability,
    level_index,
    quantile_trajectory,
    threshold_vector,
)


def test_levels_table() -> None:
    assert LEVELS == (
        ("attwl", "관심", "Watch", "Minor"),
        ("wrnwl", "주의보", "Advisory", "Moderate"),
        ("almwl", "경보", "Warning", "Severe"),
        ("srswl", "심각", "Serious", "Extreme"),
    )
    assert [level_index(x) for x in ("wrnwl", "경보", "Serious", 1, "4")] == [2, 3, 4, 1, 4]
    with pytest.raises(ValueError):
        level_index("flood")
    with pytest.raises(ValueError):
        level_index(5)


def test_threshold_vector_skips_unset_and_zero() -> None:
    v = threshold_vector({"wrnwl": 2.4, "almwl": 0.0, "srswl": 4.0})
    assert np.isnan(v[0]) and v[1] == 2.4 and np.isnan(v[2]) and v[3] == 4.0
    assert classify(3.5, v) == 2 and classify(4.0, v) == 4 and classify(1.0, v) == 0
    assert classify(float("nan"), v) == 0


def test_probability_reproduces_the_quantiles() -> None:
    q05, q50, q95 = np.array([7.0]), np.array([8.0]), np.array([10.0])
    for thr, p in ((7.0, 0.95), (8.0, 0.5), (10.0, 0.05)):
        assert exceedance_probability(q05, q50, q95, thr)[0] == pytest.approx(p, abs=1e-9)
    # asymmetric spread is kept: half-way up the upper side is less likely than half-way down
    assert exceedance_probability(q05, q50, q95, 9.0)[0] < 0.5 < exceedance_probability(q05, q50, q95, 7.5)[0]
    for q, want in ((0.05, 7.0), (0.5, 8.0), (0.95, 10.0)):
        assert quantile_trajectory(q05, q50, q95, q)[0] == pytest.approx(want)


def test_probability_degenerate_and_crossed() -> None:
    same = np.array([5.0])
    assert exceedance_probability(same, same, same, 5.0)[0] == 0.5
    assert exceedance_probability(same, same, same, 5.01)[0] == 0.0
    assert exceedance_probability(same, same, same, 4.99)[0] == 1.0
    # crossed quantiles (miscalibrated model) are sorted, not trusted blindly
    crossed = exceedance_probability(np.array([9.0]), np.array([8.0]), np.array([7.0]), 7.0)[0]
    assert crossed == pytest.approx(0.95)
    assert decision_quantile(0.5) == 0.5 and decision_quantile(0.8) == pytest.approx(0.2)


finite = st.floats(-5, 20, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(finite, st.floats(0, 3), st.floats(0, 3), finite, st.floats(0.05, 0.95))
def test_trajectory_decision_equals_probability_decision(q50: float, lo: float, hi: float, thr: float,
                                                         p: float) -> None:
    """P(stage ≥ thr) ≥ p exactly when the (1 − p)-quantile reaches thr (the engine's shortcut)."""
    a, b, c = np.array([q50 - lo]), np.array([q50]), np.array([q50 + hi])
    prob = exceedance_probability(a, b, c, thr)[0]
    traj = quantile_trajectory(a, b, c, decision_quantile(p))[0]
    if abs(prob - p) > 1e-6 and abs(traj - thr) > 1e-6:
        assert (prob >= p) == (traj >= thr)
    assert 0.0 <= prob <= 1.0 and not math.isnan(prob)


@settings(max_examples=100, deadline=None)
@given(finite, st.floats(0.01, 3), st.floats(0.01, 3), finite, finite)
def test_probability_is_monotone_in_threshold(q50: float, lo: float, hi: float, t1: float, t2: float) -> None:
    a, b, c = np.array([q50 - lo]), np.array([q50]), np.array([q50 + hi])
    lo_t, hi_t = sorted((t1, t2))
    assert exceedance_probability(a, b, c, lo_t)[0] >= exceedance_probability(a, b, c, hi_t)[0]
