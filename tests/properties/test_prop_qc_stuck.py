"""The near-flat (stuck sensor) part of ``qc_flags`` equals a naive reference; QC stays causal."""

from __future__ import annotations

import floodwarn.kernels as K
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from floodwarn.records import QC
from tests import reference as ref
from tests.properties.strategies import report_times

STUCK_TOL = 1e-9  # the kernel's documented slack on the band
FLATLINE, GAP = int(QC.FLATLINE), int(QC.GAP)

#: stages on a 1 cm grid in a narrow range, so dither within the band is common; NaN and gaps too
stage = st.one_of(st.just(np.nan), st.integers(100, 104).map(lambda c: c / 100.0))


def stuck_reference(values, times_s, max_gap_s, stuck_n, stuck_band, stuck_min):
    """FLATLINE bits of the near-flat rule, written the slow, obvious way."""
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros(len(values), dtype=np.int64)
    if stuck_n <= 1 or np.isnan(stuck_band) or stuck_band < 0:
        return out
    present = [i for i in range(len(values)) if not np.isnan(values[i])]
    seg: list[int] = []  # present values since the last gap
    for n, i in enumerate(present):
        if n > 0 and max_gap_s > 0 and times_s[i] - times_s[present[n - 1]] > max_gap_s:
            seg = []
        seg.append(i)
        if len(seg) < stuck_n:
            continue
        win = [float(values[j]) for j in seg[-stuck_n:]]
        if max(win) - min(win) > stuck_band + STUCK_TOL:
            continue
        if not np.isnan(stuck_min) and min(win) < stuck_min:
            continue
        out[i] = FLATLINE
    return out


@st.composite
def stuck_case(draw):
    n = draw(st.integers(0, 80))
    vals = draw(hnp.arrays(np.float64, n, elements=stage))
    times = draw(report_times(n))
    lo = draw(st.sampled_from([np.nan, 1.01]))
    rate = draw(st.sampled_from([np.nan, 0.02]))
    z = draw(st.sampled_from([np.nan, 6.0]))
    window = draw(st.integers(0, 12))
    flat_n = draw(st.integers(0, 5))
    gap = draw(st.sampled_from([0, 1800, 3600]))
    base = (vals, times, lo, np.nan, rate, z, window, flat_n, gap)
    stuck_n = draw(st.integers(-1, 12))
    band = draw(st.sampled_from([np.nan, -0.01, 0.0, 0.01, 0.02]))
    floor = draw(st.sampled_from([np.nan, 1.0, 1.02]))
    return base, (stuck_n, band, floor)


@settings(max_examples=150, deadline=None)
@given(stuck_case())
def test_qc_flags_with_stuck_matches_reference(case):
    base, (stuck_n, band, floor) = case
    vals, times, gap = base[0], base[1], base[8]
    got = K.qc_flags(*base, 600, stuck_n, band, floor)
    want = ref.qc_flags(*base) | stuck_reference(vals, times, gap, stuck_n, band, floor)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=80, deadline=None)
@given(stuck_case(), st.integers(0, 80))
def test_qc_flags_are_causal(case, cut):
    """A value's flags never change when later values arrive (live == replay == hindcast)."""
    base, stuck = case
    cut = min(cut, len(base[0]))
    head = (base[0][:cut], base[1][:cut], *base[2:])
    np.testing.assert_array_equal(
        K.qc_flags(*head, 600, *stuck), K.qc_flags(*base, 600, *stuck)[:cut])


def test_all_nan_and_empty():
    t = np.arange(5, dtype=np.int64) * 600
    got = K.qc_flags(np.full(5, np.nan), t, np.nan, np.nan, np.nan, 6.0, 0, 0, 3600, 600, 2, 0.01)
    assert list(got) == [1] * 5
    empty = K.qc_flags(np.zeros(0), np.zeros(0, np.int64), np.nan, np.nan, np.nan, 6.0, 0, 0,
                       3600, 600, 2, 0.01, 1.0)
    assert empty.shape == (0,)
