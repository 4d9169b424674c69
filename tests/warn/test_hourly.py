"""Hourly gauges in the 10-minute cycle: not "stale" between their hourly values."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from floodwarn.warn.engine import evaluate, station_inputs
from tests.warn.warnfix import HANGANG, SETTINGS, STEP, T0, obs


def _hourly(values: list[float], last_at: Any) -> pd.DataFrame:
    """Values one hour apart ending at ``last_at`` (oldest first)."""
    n = len(values)
    return pd.concat([obs({HANGANG: v}, last_at - (n - 1 - k) * 6 * STEP) for k, v in enumerate(values)],
                     ignore_index=True)


LONG = dataclasses.replace(SETTINGS, expiry_min=180)  # observations count as "now" for 3 h


def test_hourly_gauge_is_fresh_until_its_value_is_overdue(catalog: Any) -> None:
    o = _hourly([3.0, 3.1, 3.2], T0)
    for minutes, stale in ((50, False), (60, False), (80, False), (90, True)):
        t = int((T0 + pd.Timedelta(minutes=minutes)).timestamp())
        inp = station_inputs(catalog, [HANGANG], t, o, None, LONG, as_of=t)[HANGANG]
        assert ("observed_stale" in inp.flags) is stale, minutes
        assert inp.freshness == ("stale" if stale else "fresh")
    # one missing hourly value does not make the gauge look two-hourly
    gap = pd.concat([_hourly([3.0, 3.1], T0 - 18 * STEP), _hourly([3.3], T0)], ignore_index=True)
    t = int((T0 + pd.Timedelta(minutes=90)).timestamp())
    assert "observed_stale" in station_inputs(catalog, [HANGANG], t, gap, None, LONG, as_of=t)[HANGANG].flags


def test_ten_minute_gauge_keeps_the_thirty_minute_rule(catalog: Any) -> None:
    o = pd.concat([obs({HANGANG: 3.0 + 0.01 * k}, T0 - (5 - k) * STEP) for k in range(6)], ignore_index=True)
    t40 = int((T0 + 4 * STEP).timestamp())
    t30 = int((T0 + 3 * STEP).timestamp())
    assert "observed_stale" in station_inputs(catalog, [HANGANG], t40, o, None, LONG, as_of=t40)[HANGANG].flags
    assert "observed_stale" not in station_inputs(catalog, [HANGANG], t30, o, None, LONG, as_of=t30)[HANGANG].flags


def test_hourly_crossing_warns_at_the_first_cycle_that_sees_it(store: Any, catalog: Any) -> None:
    o = _hourly([3.0, 8.7], T0)  # 주의보 8.5 crossed at T0 (arrives 2 min later)
    r = evaluate(store, catalog, T0 + STEP, o, None, SETTINGS)
    assert r.states[HANGANG].level == 2
    r = evaluate(store, catalog, T0 + 5 * STEP, o, None, SETTINGS)  # still the same hourly value
    assert r.states[HANGANG].level == 2


def _levels_over_cycles(store: Any, catalog: Any, obs_every: int, cycles: int) -> list[int]:
    """Issued 관심 level per cycle when every cycle forecasts a crossing ~150 min ahead."""
    from tests.warn.warnfix import forecast

    settings = dataclasses.replace(SETTINGS, confirm_cycles=2, imminent_min=60, expiry_min=180)
    fcs: list[pd.DataFrame] = []
    levels = []
    for i in range(cycles):
        at = T0 + i * STEP
        fcs.append(forecast(HANGANG, at, [3.2, 3.5, 4.5, 4.6, 4.6, 4.6], spread=0.1, step_min=60))
        last_obs = T0 + (i // obs_every) * obs_every * STEP
        o = pd.concat([obs({HANGANG: 3.0}, last_obs - k * obs_every * STEP) for k in (2, 1, 0)],
                      ignore_index=True)
        r = evaluate(store, catalog, at, o, pd.concat(fcs, ignore_index=True), settings)
        levels.append(r.states[HANGANG].level)
    return levels


def test_ten_minute_gauge_confirms_on_the_next_cycle(store: Any, catalog: Any) -> None:
    assert _levels_over_cycles(store, catalog, 1, 3) == [0, 1, 1]


def test_hourly_gauge_confirms_on_its_next_value(store: Any, catalog: Any) -> None:
    """The forecasts between two hourly values come from the same value: they don't confirm."""
    assert _levels_over_cycles(store, catalog, 6, 8) == [0, 0, 0, 0, 0, 0, 1, 1]


def test_observed_intervals_for_the_freshness_table() -> None:
    from floodwarn.warn.engine import observed_intervals, stale_after_s

    hourly = _hourly([3.0, 3.1, 3.2], T0)
    t = int(T0.timestamp()) + 600
    assert observed_intervals(hourly, t) == {HANGANG: 3600}
    assert stale_after_s(3600) == 3600 + 1200 and stale_after_s(600) == 1800


def _hourly_levels(store: Any, catalog: Any, values: list[float]) -> list[int]:
    """Issued level at every 10-minute cycle while hourly values ``values`` arrive (one per hour)."""
    levels = []
    for i in range(6 * len(values)):
        at = T0 + i * STEP
        o = pd.concat([obs({HANGANG: v}, T0 + k * 6 * STEP) for k, v in enumerate(values) if k * 6 <= i],
                      ignore_index=True)
        levels.append(evaluate(store, catalog, at, o, None, LONG).states[HANGANG].level)
    return levels


def test_one_hourly_dip_does_not_flap_the_warning(store: Any, catalog: Any) -> None:
    """A single hourly value under the line stands for six cycles: counted in cycles, a 3-cycle
    dwell would downgrade and re-upgrade on it; counted in reports it holds."""
    levels = _hourly_levels(store, catalog, [4.5, 4.5, 3.0, 4.5, 4.5])
    assert levels == [1] * len(levels)


def test_hourly_gauge_downgrades_after_dwell_reports_below(store: Any, catalog: Any) -> None:
    levels = _hourly_levels(store, catalog, [4.5, 3.0, 3.0, 3.0, 3.0])
    first_below = 6  # the second value (3.0 m) arrives at cycle 6
    down = levels.index(0)
    assert levels[:down] == [1] * down
    # three hourly values below (dwell 3 reports): not before the third one is 2 h old
    assert down >= first_below + 2 * 6
    assert set(levels[down:]) == {0}
