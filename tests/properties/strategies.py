"""Hypothesis strategies for kernel inputs: gaps, all-NaN, one sample, ties, zeros."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

NAN = float("nan")

#: values with ties, zeros and NaN gaps (rounded so flatlines and equal maxima occur)
value = st.one_of(
    st.just(NAN),
    st.just(0.0),
    st.floats(-50, 50, allow_nan=False).map(lambda v: round(v, 1)),
)
rain_value = st.one_of(st.just(NAN), st.just(0.0), st.floats(0, 30).map(lambda v: round(v, 1)))


@st.composite
def matrix(draw, elements=value, max_stations=3, max_steps=60) -> np.ndarray:
    """``f8[S, T]`` with T possibly 0 or 1, sometimes all NaN."""
    s = draw(st.integers(1, max_stations))
    t = draw(st.integers(0, max_steps))
    x = draw(hnp.arrays(np.float64, (s, t), elements=elements))
    if draw(st.booleans()) and t:
        x[draw(st.integers(0, s - 1))] = NAN  # one station all NaN
    return x


windows = st.lists(st.integers(1, 80), min_size=1, max_size=6, unique=True).map(
    lambda w: np.array(w, dtype=np.int64)
)
frac = st.sampled_from([0.0, 0.5, 0.8, 1.0])


@st.composite
def report_times(draw, n: int) -> np.ndarray:
    """``n`` increasing epoch seconds on the 10-minute grid, mostly one step apart, some gaps."""
    steps = draw(hnp.arrays(np.int64, n, elements=st.sampled_from([1, 1, 1, 1, 2, 7])))
    return np.cumsum(steps) * 600
