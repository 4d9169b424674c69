"""QC kernel on hand-made series: one example per flag bit."""

from __future__ import annotations

import numpy as np
from floodwarn.kernels import qc_flags

from floodwarn.records import QC


def run(v, t=None, lo=0.0, hi=10.0, rate=0.5, z=5.0, window=12, flat_n=4, gap=3600):
    v = np.asarray(v, dtype=float)
    t = np.arange(len(v), dtype=np.int64) * 600 if t is None else np.asarray(t, dtype=np.int64)
    return qc_flags(v, t, lo, hi, rate, z, window, flat_n, gap)


def test_kernel_bits_are_the_records_bits():
    from floodwarn.kernels import qc as kq

    assert (kq.MISSING, kq.RANGE, kq.SPIKE, kq.FLATLINE, kq.GAP) == (
        QC.MISSING, QC.RANGE, QC.SPIKE, QC.FLATLINE, QC.GAP)


def test_each_flag():
    f = run([1.0, 1.1, np.nan, 1.0, 11.0, 1.2, 5.0, 1.3])
    assert list(f) == [0, 0, QC.MISSING, 0, QC.RANGE, 0, QC.SPIKE, 0]
    f = run([1.0, 1.0, 1.0, 1.0, 1.0, 1.1])
    assert list(f) == [0, 0, 0, QC.FLATLINE, QC.FLATLINE, 0]
    f = run([1.0, 1.1, 1.2], t=[0, 600, 600 + 7200])
    assert list(f) == [0, 0, QC.GAP]


def test_real_level_shift_is_flagged_then_accepted():
    # a 2 m jump that stays: flagged until the allowed rate explains it (0.5 m/step -> 4 steps)
    f = run([1.0] * 5 + [3.0] * 6, hi=20.0, flat_n=0)
    assert list(f[5:]) == [QC.SPIKE] * 3 + [0] * 3


def test_fast_rise_in_a_moving_river_is_not_a_spike():
    rise = np.concatenate([np.linspace(1, 3, 12), [3.7, 4.4]])  # +0.7/step after +0.18/step
    assert not (run(rise, hi=20.0, z=6.0) & QC.SPIKE).any()


def test_empty_and_one_value():
    assert run([]).shape == (0,)
    assert list(run([np.nan])) == [QC.MISSING]
    assert list(run([20.0])) == [QC.RANGE]
