"""Forecast issuance rules (docs/warnings.md rules A–D): lead-dependent probability, confirmation
across consecutive forecasts, upgrade by confirmed evidence and hold by any evidence, minimum
warned duration.

Engine tests run on a real SQLite store and save each cycle's forecasts in it first, as
``run_cycle`` does, because confirmation reads the previous cycles' forecasts from the store.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from floodwarn.kernels.threshold import hysteresis_levels
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from floodwarn.config import WarnConfig
from floodwarn.warn.engine import WarnResult, evaluate
from floodwarn.warn.levels import exceedance_probability, threshold_vector
from floodwarn.warn.rules import (
    HOLD_P,
    confirmed_values,
    decision_trajectory,
    gated_value,
    held_step,
    hold_trajectory,
    required_probability,
    warning_levels,
)
from tests.warn.warnfix import HANGANG, SETTINGS, STEP, T0, forecast, new_store, obs

THR = threshold_vector({"attwl": 3.9, "wrnwl": 8.5, "almwl": 10.5, "srswl": 13.3})
CONFIRM = dataclasses.replace(SETTINGS, confirm_cycles=2, imminent_min=60)
PROP = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def cycle(store: Any, catalog: Any, i: int, stage: float, q50: list[float] | None,
          cfg: WarnConfig = CONFIRM, spread: float = 0.3) -> WarnResult:
    """One cycle as run_cycle does it: save this cycle's forecast, then evaluate."""
    at = T0 + i * STEP
    fc = None
    if q50 is not None:
        fc = forecast(HANGANG, at, q50, spread=spread)
        store.save_forecasts(fc)
    return evaluate(store, catalog, at, obs({HANGANG: stage}, at), fc, cfg)


#: q50 stays at 7 m for two hours, then 9 m: crosses 주의보 8.5 m between +120 and +130 min
FAR_RISE = [7.0] * 12 + [9.0] * 8
#: crosses 주의보 within the first 10 minutes
NEAR_RISE = [9.0] * 20
QUIET = [7.0] * 20


# -- rule A: the probability a crossing needs rises with its lead time ---------------------------


def test_required_probability_ramps_from_imminent_to_horizon() -> None:
    cfg = WarnConfig(exceedance_p=0.5, exceedance_p_far=0.8, imminent_min=60, horizon_min=360)
    assert required_probability([0, 60, 210, 360, 500], cfg).tolist() == pytest.approx([0.5, 0.5, 0.65, 0.8, 0.8])
    flat = dataclasses.replace(cfg, exceedance_p_far=None)
    assert required_probability([0, 360], flat).tolist() == [0.5, 0.5]


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 10.0), st.floats(0.01, 1.0), st.floats(0.01, 1.0), st.floats(-1.5, 1.5),
       st.sampled_from([10.0, 60.0, 120.0, 240.0, 360.0]))
def test_decision_trajectory_reaches_a_threshold_iff_p_meets_the_lead_requirement(
        q50: float, lo: float, hi: float, off: float, lead: float) -> None:
    cfg = WarnConfig(exceedance_p=0.55, exceedance_p_far=0.8, imminent_min=60, horizon_min=360)
    q05, q95 = np.array([q50 - lo]), np.array([q50 + hi])
    d = decision_trajectory(q05, np.array([q50]), q95, np.array([lead]), cfg)[0]
    thr = q50 + off
    p = float(exceedance_probability(q05, np.array([q50]), q95, thr)[0])
    need = float(required_probability(lead, cfg)[0])
    if abs(p - need) > 1e-6:  # away from the boundary, where rounding decides
        assert (d >= thr) == (p >= need)


def test_far_crossing_needs_more_confidence_than_a_near_one(store: Any, catalog: Any, tmp_path: Path) -> None:
    cfg = dataclasses.replace(SETTINGS, exceedance_p=0.5, exceedance_p_far=0.9, imminent_min=60, confirm_cycles=1)
    # q50 8.6 m with this spread gives P(≥ 8.5 m) ≈ 0.63: enough at +30 min, not at +300 min
    far = [7.0] * 29 + [8.6] * 6
    r = cycle(store, catalog, 0, 7.0, far, cfg, spread=0.5)
    assert r.states[HANGANG].level == 1 and r.inputs[HANGANG].probability["wrnwl"] == pytest.approx(0.63, abs=0.01)
    other = new_store(tmp_path / "near.sqlite")
    near = [7.0] * 2 + [8.6] * 6
    (ev,) = [e for e in cycle(other, catalog, 0, 7.0, near, cfg, spread=0.5).events if e.target == HANGANG]
    other.close()
    assert ev.level == 2 and "≥ 0.50 required at that lead" in ev.rule


# -- rule B: confirmation across consecutive forecasts ---------------------------------------------


def levels_of(store: Any, catalog: Any, forecasts: list[list[float] | None], stage: float = 7.0,
              cfg: WarnConfig = CONFIRM) -> tuple[list[int], list[Any]]:
    levels, events = [], []
    for i, q in enumerate(forecasts):
        r = cycle(store, catalog, i, stage, q, cfg)
        levels.append(r.states[HANGANG].level)
        events += [e for e in r.events if e.target == HANGANG]
    return levels, events


def test_far_forecast_crossing_is_issued_when_the_next_forecast_confirms_it(store: Any, catalog: Any) -> None:
    levels, events = levels_of(store, catalog, [FAR_RISE, FAR_RISE])
    assert levels == [1, 2]  # 관심 observed at once; 주의보 waits for the second forecast
    up = events[-1]
    assert up.level == 2 and up.sent == T0 + STEP
    assert "forecast q50 crosses 주의보 8.5 m in 1" in up.rule and "confirmed by 2 consecutive forecasts" in up.rule


def test_one_cycle_flicker_is_never_issued(store: Any, catalog: Any) -> None:
    levels, _ = levels_of(store, catalog, [FAR_RISE, QUIET, FAR_RISE, QUIET, FAR_RISE, FAR_RISE])
    assert levels == [1, 1, 1, 1, 1, 2]


def test_missing_forecast_cannot_confirm(store: Any, catalog: Any) -> None:
    levels, _ = levels_of(store, catalog, [None, FAR_RISE, FAR_RISE])
    assert levels == [1, 1, 2]


def test_imminent_or_observed_crossing_needs_no_confirmation(store: Any, catalog: Any, tmp_path: Path) -> None:
    levels, events = levels_of(store, catalog, [NEAR_RISE])
    assert levels == [2] and "imminent (within 60 min): no confirmation needed" in events[0].rule
    other = new_store(tmp_path / "obs.sqlite")
    levels, events = levels_of(other, catalog, [FAR_RISE], stage=8.6)
    other.close()
    assert levels == [2] and events[0].rule.startswith("observed wl 8.60 m ≥ 주의보 8.5 m")


def test_confirmation_from_a_callers_forecast_history(store: Any, catalog: Any) -> None:
    """Forecasts of earlier cycles passed to evaluate (not in the store) confirm as well."""
    prev = forecast(HANGANG, T0, FAR_RISE)
    now = forecast(HANGANG, T0 + STEP, FAR_RISE)
    r = evaluate(store, catalog, T0 + STEP, obs({HANGANG: 7.0}, T0 + STEP), pd.concat([prev, now]), CONFIRM)
    assert r.states[HANGANG].level == 2


# -- rule C: upgrade on confirmed evidence, hold on any ----------------------------------------------


def test_an_issued_level_is_held_by_the_current_forecast(store: Any, catalog: Any) -> None:
    # confirmed 주의보, then the forecast dips once: no downgrade, no re-issue, no flap
    levels, events = levels_of(store, catalog, [FAR_RISE, FAR_RISE, QUIET, FAR_RISE, QUIET, QUIET, QUIET])
    assert levels == [1, 2, 2, 2, 2, 2, 1]
    assert [(e.msg_type, e.level) for e in events if e.level != e.prev_level] == [("Alert", 1), ("Update", 2),
                                                                                  ("Update", 1)]


def test_gated_value() -> None:
    # unconfirmed 9.0 m at level 1: kept just below 주의보 (no upgrade, no downgrade count)
    v = gated_value(1, 7.0, 9.0, THR)
    assert 8.49 < v < 8.5
    assert gated_value(1, 9.0, 9.0, THR) == 9.0  # confirmed: upgrades
    assert gated_value(2, 7.0, 9.0, THR) == 9.0  # holds 주의보 on the current forecast
    assert gated_value(4, 7.0, 14.0, THR) == 14.0  # nothing above 심각
    assert np.isnan(gated_value(1, np.nan, np.nan, THR))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 15.0, allow_nan=False), min_size=1, max_size=40), st.integers(1, 5))
def test_without_forecast_evidence_the_rules_are_the_plain_kernel(series: list[float], dwell: int) -> None:
    x = np.array(series)
    plain = hysteresis_levels(x, THR, 0.1, dwell)
    assert warning_levels(x, x, THR, 0.1, dwell).tolist() == plain.tolist()
    # a minimum duration only delays downgrades: never an extra upgrade, the same highest level,
    # and never lower while the first issued level is young. (Not "never lower" everywhere: the
    # dwell restarts after each downgrade, so a held path can reach 0 a cycle before a plain path
    # that dropped earlier and was re-raised — e.g. [11, 0, 0, 9, 4, 0, 0] with dwell 2.)
    held = warning_levels(x, x, THR, 0.1, dwell, 4)
    assert (np.diff(held) > 0).sum() <= (np.diff(plain) > 0).sum()
    assert held.max() == plain.max()
    first = int(np.argmax(plain > 0)) if (plain > 0).any() else len(plain)
    young = slice(first, min(first + 4, len(plain)))
    assert (held[young] >= plain[young]).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 15.0), st.floats(0.0, 3.0)), min_size=1, max_size=30))
def test_rules_never_raise_above_the_unconfirmed_levels(pairs: list[tuple[float, float]]) -> None:
    rise = np.array([a for a, _ in pairs])
    hold = rise + np.array([b for _, b in pairs])
    gated = warning_levels(rise, hold, THR, 0.1, 3)
    assert all(g <= h for g, h in zip(gated, hysteresis_levels(hold, THR, 0.1, 3), strict=True))


def test_confirmed_values_is_a_rolling_minimum() -> None:
    x = np.array([1.0, 3.0, 2.0, np.nan, 5.0, 6.0])
    assert np.array_equal(confirmed_values(x, 2), [np.nan, 1.0, 2.0, np.nan, np.nan, 5.0], equal_nan=True)
    assert np.array_equal(confirmed_values(x, 1), x, equal_nan=True)


# -- rule D: minimum warned duration ---------------------------------------------------------------


@pytest.mark.parametrize(("minimum", "cancel_at"), [(0, 3), (60, 6), (90, 9)])
def test_no_warning_shorter_than_the_minimum_duration(store: Any, catalog: Any, minimum: int,
                                                      cancel_at: int) -> None:
    """An imminent forecast crossing at cycle 0 that vanishes at once: 관심 lasts ≥ the minimum."""
    cfg = dataclasses.replace(CONFIRM, min_warned_min=minimum)
    rise = [4.0] * 20  # crosses 관심 3.9 m within 10 min
    levels, events = levels_of(store, catalog, [rise] + [[3.0] * 20] * 11, stage=3.0, cfg=cfg)
    assert levels[0] == 1 and levels.index(0) == cancel_at
    assert [e.msg_type for e in events if e.level != e.prev_level] == ["Alert", "Cancel"]
    # a renewal while the minimum holds the level says so (expiry 60 min: renewed at cycle 6)
    held = [e for e in events if e.level == e.prev_level == 1 and "minimum warned duration" in e.rule]
    assert [e.sent for e in held] == ([T0 + 6 * STEP] if minimum == 90 else [])


def test_minimum_duration_never_holds_past_the_dwell() -> None:
    # a level already in force for long enough falls with the plain dwell
    assert held_step(2, (1, 0, 0), 30, 6, 3) == (1, 0, 0)
    # too early: held, with the dwell count kept one short and the level to fall to remembered
    assert held_step(2, (1, 0, 0), 3, 6, 3) == (2, 2, 1)
    assert held_step(2, (2, 0, 0), 1, 6, 3) == (2, 0, 0)  # not a downgrade: untouched
    assert held_step(2, (1, 0, 0), None, 6, 3) == (1, 0, 0)  # unknown issue time: no hold


# -- the engine equals the offline reference (what the hindcast studies use) -------------------------

_n = itertools.count()
LEADS = np.arange(1, 21) * 10.0


@PROP
@given(st.lists(st.tuples(st.floats(5.0, 12.0), st.floats(5.0, 12.0), st.floats(0.0, 3.0), st.booleans()),
                min_size=2, max_size=10))
# rule E at work: 주의보 observed, then the stage and a flat forecast sit 0.1 m under the line
# (8.4 m): the decision peak is below it, the 75 % quantile (8.48 m) is not, so no downgrade
@example([(8.6, 8.6, 0.0, True)] + [(8.3, 8.3, 0.0, True)] * 7)
def test_engine_matches_the_offline_reference(catalog: Any, steps: list[tuple[float, float, float, bool]]) -> None:
    cfg = dataclasses.replace(CONFIRM, exceedance_p=0.55, exceedance_p_far=0.7, confirm_cycles=3, min_warned_min=40)
    stages, fcs = [], []
    for stage, base, rise, present in steps:
        stages.append(stage)
        # a ramp from `base` rising by `rise` over the horizon shown; sometimes no forecast at all
        fcs.append([base + rise * k / 19 for k in range(20)] if present else None)
    with tempfile.TemporaryDirectory() as d:
        store = new_store(Path(d) / f"r{next(_n)}.sqlite")
        got = [cycle(store, catalog, i, s, q, cfg).states[HANGANG].level
               for i, (s, q) in enumerate(zip(stages, fcs, strict=True))]
        store.close()
    # offline: decision peaks per cycle, imminent part, rolling minimum, gated hysteresis
    # (rule E: the hold also sees the (1 − p_hold)-quantile of the current forecast)
    peak, near, back = (np.full(len(fcs), np.nan) for _ in range(3))
    for i, q in enumerate(fcs):
        if q is not None:
            q50 = np.array(q)
            dtraj = decision_trajectory(q50 - 0.3, q50, q50 + 0.45, LEADS, cfg)
            peak[i], near[i] = dtraj.max(), dtraj[LEADS <= cfg.imminent_min].max()
            back[i] = hold_trajectory(q50 - 0.3, q50, q50 + 0.45, HOLD_P).max()
    o = np.array(stages)
    rise = np.fmax(np.fmax(o, near), confirmed_values(peak, cfg.confirm_cycles))
    hold = np.fmax(np.fmax(o, peak), back)
    assert got == warning_levels(rise, hold, THR, cfg.margin_m, cfg.dwell_cycles, 4).tolist()
