"""Rule E (a level is lowered only when the forecast agrees) and the time floor of the dwell.

The flap these rules remove, as seen at hourly Geum gauges: three hourly reports just under
threshold − margin between two pulses of the same flood downgrade the warning, and the next
report (or the forecast made from it) re-upgrades it — a downgrade-and-reupgrade within one
event. The forecast made from those dipping reports already said a return above the line was
likely; rule E listens to it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from floodwarn.config import WarnConfig
from floodwarn.warn.engine import dwell_cycles_for, evaluate
from floodwarn.warn.levels import exceedance_probability
from floodwarn.warn.rules import HOLD_P, hold_probability, hold_trajectory
from tests.warn.warnfix import HANGANG, SETTINGS, STEP, T0, forecast, obs


@dataclass(frozen=True)
class _Cfg(WarnConfig):
    """WarnConfig with the optional rule-E / dwell-floor settings the engine reads by name."""

    hold_exceedance_p: float | None = HOLD_P
    dwell_min: float | None = None


#: the base rule of the other warning tests (messages live 3 h), rule E at its default
LONG = _Cfg(**{**{f.name: getattr(SETTINGS, f.name) for f in dataclasses.fields(WarnConfig)}, "expiry_min": 180})
OFF = dataclasses.replace(LONG, hold_exceedance_p=None)


@hsettings(max_examples=60, deadline=None)
@given(st.floats(0.0, 10.0), st.floats(0.01, 1.0), st.floats(0.01, 1.0), st.floats(0.02, 0.45))
def test_hold_trajectory_is_the_stage_with_p_hold_of_exceedance(q50: float, lo: float, hi: float, p: float) -> None:
    q05, q95 = np.array([q50 - lo]), np.array([q50 + hi])
    h = hold_trajectory(q05, np.array([q50]), q95, p)[0]
    assert float(exceedance_probability(q05, np.array([q50]), q95, h)[0]) == pytest.approx(p, abs=1e-6)
    assert h >= q50  # p_hold < 0.5: a stage above the median


def test_hold_probability_reads_the_settings() -> None:
    assert hold_probability(SETTINGS) == HOLD_P  # a WarnConfig without the field: the default
    assert hold_probability(OFF) is None
    assert hold_probability(dataclasses.replace(LONG, hold_exceedance_p=0.0)) is None
    with pytest.raises(ValueError):
        hold_probability(dataclasses.replace(LONG, hold_exceedance_p=1.0))


def test_dwell_is_reports_with_a_time_floor() -> None:
    assert dwell_cycles_for(3, 600) == 3  # 10-minute gauge: 3 reports = 30 min
    assert dwell_cycles_for(3, 3600) == 18  # hourly: 3 reports = 3 h
    assert dwell_cycles_for(3, 600, 180) == 18  # a 3-hour floor for a 10-minute gauge
    assert dwell_cycles_for(3, 3600, 240) == 24
    assert dwell_cycles_for(75, 600, 180) == 75  # a longer (tidal) dwell is never shortened
    assert dwell_cycles_for(3, 600, 0) == dwell_cycles_for(3, 600, None) == 3


def _run(store: Any, catalog: Any, reports: list[float], spreads: list[float], cfg: Any) -> tuple[list[int], list[Any]]:
    """Issued level at every 10-minute cycle while hourly ``reports`` arrive (one per hour); each
    cycle forecasts persistence of the newest report with the band ``spreads[k]`` around it."""
    levels, events = [], []
    for i in range(6 * len(reports)):
        at = T0 + i * STEP
        k = i // 6
        o = pd.concat([obs({HANGANG: v}, T0 + j * 6 * STEP) for j, v in enumerate(reports[: k + 1])],
                      ignore_index=True)
        fc = forecast(HANGANG, at, [reports[k]] * 6, spread=spreads[k], step_min=60)
        r = evaluate(store, catalog, at, o, fc, cfg)
        levels.append(r.states[HANGANG].level)
        events += r.events
    return levels, events


#: 주의보 8.5 m (threshold − margin 8.4 m): one report at 8.6, three just under the line, then 8.6
DIP = [8.6, 8.35, 8.33, 8.35, 8.6, 8.6]
#: a wide band while the river is still moving (the forecast sees a return above 8.4 as likely),
WIDE = [0.3] * len(DIP)
#: a narrow one on a steady recession (the forecast agrees with the downgrade)
NARROW = [0.02] * len(DIP)


def test_a_dip_the_forecast_expects_to_end_does_not_flap(store: Any, catalog: Any) -> None:
    levels, events = _run(store, catalog, DIP, WIDE, LONG)
    assert set(levels) == {2}  # held through the three dipping reports
    held = [e for e in events if "not lowered while a return is that likely" in e.rule]
    assert held, [e.rule for e in events]


def test_without_rule_e_the_same_dip_flaps(catalog: Any, tmp_path: Path) -> None:
    from tests.warn.warnfix import new_store

    store = new_store(tmp_path / "off.sqlite")
    try:
        levels, _ = _run(store, catalog, DIP, WIDE, OFF)
    finally:
        store.close()
    down = levels.index(1)
    assert levels[:down] == [2] * down and 2 in levels[down:]  # downgrade, then re-upgrade


def test_a_downgrade_the_forecast_agrees_with_still_happens(store: Any, catalog: Any) -> None:
    reports = [8.6, 8.3, 8.3, 8.3, 8.3, 8.3]
    levels, _ = _run(store, catalog, reports, NARROW, LONG)
    assert levels[0] == 2 and levels[-1] == 1
    # three hourly reports below 8.4 (the second arrives at cycle 6): not before the third is 2 h old
    assert levels.index(1) >= 6 + 2 * 6


def test_the_dwell_floor_applies_to_ten_minute_gauges(store: Any, catalog: Any) -> None:
    cfg = dataclasses.replace(OFF, dwell_min=60)
    levels = []
    for i, v in enumerate([8.6] + [8.3] * 8):
        at = T0 + i * STEP
        levels.append(evaluate(store, catalog, at, obs({HANGANG: v}, at), None, cfg).states[HANGANG].level)
    # below from cycle 1: three cycles would lower it at cycle 3, the 60-minute floor at cycle 6
    assert levels == [2, 2, 2, 2, 2, 2, 1, 1, 1]
