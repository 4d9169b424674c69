"""Property tests of the live engine (real store): no flapping, monotone rise ⇒ monotone levels.

The engine steps the shared hysteresis kernel one cycle at a time with its state in the
store; these tests also check that this gives exactly the levels of the hindcast kernel
``hysteresis_levels`` run over the whole series.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from floodwarn.kernels.threshold import hysteresis_levels
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floodwarn.warn.engine import evaluate
from floodwarn.warn.levels import threshold_vector
from tests.warn.warnfix import HANGANG, SETTINGS, STEP, T0, new_store, obs

WRNWL = 8.5
THR = threshold_vector({"attwl": 3.9, "wrnwl": 8.5, "almwl": 10.5, "srswl": 13.3})
_n = itertools.count()
PROP = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run_series(catalog: Any, series: list[float]) -> tuple[list[int], list[Any]]:
    """Levels and messages of the forecast point 한강대교 over ``series`` (one value per cycle)."""
    with tempfile.TemporaryDirectory() as d:
        store = new_store(Path(d) / f"p{next(_n)}.sqlite")
        levels, msgs = [], []
        for i, v in enumerate(series):
            at = T0 + i * STEP
            r = evaluate(store, catalog, at, obs({HANGANG: v}, at), None, SETTINGS)
            levels.append(r.states[HANGANG].level)
            msgs += [e for e in r.events if e.target == HANGANG]
        store.close()
    return levels, msgs


noise = st.lists(st.floats(-0.095, 0.095, allow_nan=False), min_size=5, max_size=18)


@PROP
@given(noise)
def test_no_flapping_on_noise_around_a_threshold(catalog: Any, eps: list[float]) -> None:
    """Noise smaller than the margin around 주의보 never downgrades once it is reached."""
    levels, msgs = run_series(catalog, [WRNWL + e for e in eps])
    assert all(b >= a for a, b in itertools.pairwise(levels))
    assert set(levels) <= {1, 2}
    assert not any(m.msg_type == "Cancel" for m in msgs)
    changes = [m for m in msgs if m.level != m.prev_level]
    assert len(changes) <= 2  # Alert 관심, then at most one upgrade to 주의보


@PROP
@given(st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=4, max_size=20))
def test_downgrades_need_the_dwell_and_match_the_hindcast_kernel(catalog: Any, eps: list[float]) -> None:
    series = [WRNWL + e for e in eps]
    levels, msgs = run_series(catalog, series)
    expected = hysteresis_levels(np.array(series), THR, SETTINGS.margin_m, SETTINGS.dwell_cycles)
    assert levels == expected.tolist()
    # a downgrade happens only after `dwell` consecutive cycles below threshold − margin
    for i in range(1, len(levels)):
        if levels[i] < levels[i - 1]:
            thr = THR[levels[i - 1] - 1]
            window = series[i - SETTINGS.dwell_cycles + 1 : i + 1]
            assert len(window) == SETTINGS.dwell_cycles and all(v < thr - SETTINGS.margin_m for v in window)
    # every level change is exactly one message
    assert sum(m.level != m.prev_level for m in msgs) == sum(a != b for a, b in itertools.pairwise([0, *levels]))


@PROP
@given(st.lists(st.floats(0.0, 1.5, allow_nan=False), min_size=2, max_size=12), st.floats(0.0, 9.0))
def test_monotone_rise_gives_monotone_levels(catalog: Any, steps: list[float], start: float) -> None:
    series = list(np.cumsum([start, *steps]))
    levels, msgs = run_series(catalog, series)
    assert all(b >= a for a, b in itertools.pairwise(levels))
    assert [m.msg_type for m in msgs][:1] in ([], ["Alert"])
    assert all(m.msg_type in ("Alert", "Update") and m.level >= m.prev_level for m in msgs)


@pytest.mark.parametrize("dwell", [1, 2, 4])
def test_dwell_setting_is_respected(catalog: Any, dwell: int, tmp_path: Path) -> None:
    import dataclasses

    s = dataclasses.replace(SETTINGS, dwell_cycles=dwell)
    store = new_store(tmp_path / "d.sqlite")
    series = [9.0] + [8.0] * 6
    levels = []
    for i, v in enumerate(series):
        at = T0 + i * STEP
        levels.append(evaluate(store, catalog, at, obs({HANGANG: v}, at), None, s).states[HANGANG].level)
    store.close()
    assert levels.index(1) == dwell
