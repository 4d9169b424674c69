"""Every kernel equals its slow reference twin (tests/reference.py) on generated edge cases."""

from __future__ import annotations

import floodwarn.kernels as K
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from floodwarn import features
from tests import reference as ref
from tests.properties.strategies import frac, matrix, rain_value, report_times, value, windows

SET = settings(max_examples=40, deadline=None)


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


@SET
@given(matrix(rain_value), windows, frac)
def test_rolling_multi_matches_reference(x, w, f):
    for got, want in zip(K.rolling_multi(x, w, f), ref.rolling_multi(x, w, f), strict=True):
        close(got, want)


@SET
@given(matrix(rain_value), windows, frac)
def test_stream_equals_batch_exactly(x, w, f):
    batch = K.rolling_multi(x, w, f)
    state = K.stream_init(x.shape[0], w, f)
    for t in range(x.shape[1]):
        step = K.stream_step(state, np.ascontiguousarray(x[:, t]))
        for b, s in zip(batch, step, strict=True):
            np.testing.assert_array_equal(s, b[:, :, t])


@SET
@given(matrix(rain_value), windows)
def test_sums_of_zeros_are_exact_and_never_negative(x, w):
    sums, _, _ = K.rolling_multi(x, w, 0.0)
    finite = sums[np.isfinite(sums)]
    assert (finite >= 0).all()


@SET
@given(matrix(value), st.integers(0, 70))
def test_rate_of_change(x, lag):
    close(K.rate_of_change(x, lag), ref.rate_of_change(x, lag))


@SET
@given(matrix(value, max_steps=40), st.integers(1, 50), frac)
def test_trend(x, w, f):
    close(K.trend(x, w, f), ref.trend(x, w, f), rtol=1e-6, atol=1e-8)


@SET
@given(matrix(value, max_steps=40), st.lists(st.integers(1, 80), min_size=1, max_size=4))
def test_float32_through_wrapper(x, hours_steps):
    hours = [h / 6 for h in sorted(set(hours_steps))]
    got = features.rolling_stats(x.astype(np.float32), hours, 0.5)
    x32 = x.astype(np.float32).astype(np.float64)
    w = np.array(sorted(set(hours_steps)), dtype=np.int64)
    close(got, np.concatenate(ref.rolling_multi(x32, w, 0.5)))


@st.composite
def trajectories(draw):
    s = draw(st.integers(1, 3))
    n = draw(st.integers(0, 20))
    traj = draw(hnp.arrays(np.float64, (s, n), elements=value))
    lead = np.cumsum(draw(hnp.arrays(np.float64, n, elements=st.sampled_from([10.0, 20.0]))))
    k = draw(st.integers(0, 4))
    thr = draw(hnp.arrays(np.float64, (s, k), elements=value))
    return traj, lead, thr


@SET
@given(trajectories())
def test_first_crossing(args):
    traj, lead, thr = args
    close(K.first_crossing(traj, lead, thr), ref.first_crossing(traj, lead, thr))


@SET
@given(
    hnp.arrays(np.float64, st.integers(0, 80), elements=value),
    hnp.arrays(np.float64, st.integers(0, 4), elements=st.one_of(st.just(np.nan),
               st.floats(-40, 40).map(lambda v: round(v, 1)))).map(np.sort),
    st.sampled_from([0.0, 0.1, 1.0]),
    st.integers(0, 5),
)
def test_hysteresis(series, thr, margin, dwell):
    np.testing.assert_array_equal(
        K.hysteresis_levels(series, thr, margin, dwell),
        ref.hysteresis_levels(series, thr, margin, dwell),
    )


@st.composite
def qc_case(draw):
    n = draw(st.integers(0, 80))
    vals = draw(hnp.arrays(np.float64, n, elements=value))
    times = draw(report_times(n))
    lo = draw(st.sampled_from([np.nan, -30.0]))
    hi = draw(st.sampled_from([np.nan, 30.0]))
    rate = draw(st.sampled_from([np.nan, 0.0, 1.0, 10.0]))
    z = draw(st.sampled_from([np.nan, 2.0, 6.0]))
    window = draw(st.integers(0, 12))
    flat_n = draw(st.integers(0, 5))
    gap = draw(st.sampled_from([0, 1800, 3600]))
    return vals, times, lo, hi, rate, z, window, flat_n, gap


@settings(max_examples=80, deadline=None)
@given(qc_case())
def test_qc_flags(args):
    np.testing.assert_array_equal(K.qc_flags(*args), ref.qc_flags(*args))


@st.composite
def rating_case(draw):
    s = draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    a = draw(hnp.arrays(np.float64, (s, k), elements=st.floats(0.5, 200)))
    b = draw(hnp.arrays(np.float64, (s, k), elements=st.floats(1.0, 2.5)))
    h0 = draw(hnp.arrays(np.float64, (s, k), elements=st.floats(-1, 1)))
    brk = np.sort(draw(hnp.arrays(np.float64, (s, k), elements=st.floats(0, 8))), axis=1)
    if draw(st.booleans()) and k > 1:
        brk[:, -1] = np.nan  # padded segment
    h = draw(matrix(value, max_stations=s, max_steps=20).filter(lambda x: x.shape[0] <= s))
    return h, a[: h.shape[0]], h0[: h.shape[0]], b[: h.shape[0]], brk[: h.shape[0]]


@SET
@given(rating_case())
def test_rating_q_and_h(args):
    h, a, h0, b, brk = args
    close(K.rating_q(h, a, h0, b, brk), ref.rating_q(h, a, h0, b, brk))
    q = np.abs(h) * 10
    close(K.rating_h(q, a, h0, b, brk), ref.rating_h(q, a, h0, b, brk))


@SET
@given(matrix(value, max_steps=20), st.floats(0, 1), st.booleans(), st.integers(10, 30))
def test_ar1(x, phi, per_station, n_pairs):
    err = x[:, 0] if x.shape[1] else np.full(x.shape[0], np.nan)
    ph = np.full(x.shape[0], phi) if per_station else phi
    leads = np.arange(1, x.shape[1] + 1, dtype=np.int64)
    close(K.ar1_correct(x, err, ph, leads), ref.ar1_correct(x, err, ph, leads))
    close(K.ar1_phi(x, 3), ref.ar1_phi(x, 3))


@st.composite
def catchments(draw):
    rain = draw(matrix(rain_value, max_stations=3, max_steps=60))
    c = rain.shape[0]

    def par(lo, hi):
        return draw(hnp.arrays(np.float64, c, elements=st.floats(lo, hi)))

    tl = draw(hnp.arrays(np.int64, c, elements=st.integers(0, 80)))
    return rain, par(1, 500), par(5, 60), par(0.3, 1.0), par(0.3, 1.0), par(0, 100), tl, \
        par(0, 5)


@SET
@given(catchments())
def test_runoff(args):
    rain, area, k, p, f1, rsa, tl, qb = args
    close(K.storage_function(rain, area, k, p, f1, rsa, tl, qb),
          ref.storage_function(rain, area, k, p, f1, rsa, tl, qb), rtol=1e-7, atol=1e-9)
    close(K.linear_reservoir(rain, area, k / 10, f1, qb),
          ref.linear_reservoir(rain, area, k / 10, f1, qb), rtol=1e-9, atol=1e-9)


@st.composite
def networks(draw):
    n = draw(st.integers(1, 8))
    # a random tree: each reach drains into a later one, the last is the outlet
    down = np.array([draw(st.integers(r + 1, n - 1)) if r < n - 1 else -1 for r in range(n)],
                    dtype=np.int64)
    perm = np.array(draw(st.permutations(range(n))), dtype=np.int64)
    inv = np.argsort(perm)  # relabel so that the order is not simply 0..n-1
    down = np.where(down[perm] >= 0, inv[np.maximum(down[perm], 0)], -1)
    t = draw(st.integers(0, 40))
    up = draw(hnp.arrays(np.float64, (n, t), elements=rain_value))
    lat = draw(hnp.arrays(np.float64, (n, t), elements=rain_value))
    length = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 2000.0, 9000.0])))
    cel = draw(hnp.arrays(np.float64, n, elements=st.floats(0.5, 4)))
    dif = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 5000)))
    return down, length, cel, dif, up, lat


@SET
@given(networks())
def test_routing(args):
    down, length, cel, dif, up, lat = args
    order = K.topological_order(down)
    assert len(order) == len(down)
    close(K.muskingum_cunge(order, down, length, cel, dif, up, lat),
          ref.muskingum_cunge(order, down, length, cel, dif, up, lat))
