"""The warning engine on a real SQLite store: levels, rules, lifecycle, idempotency, restarts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from floodwarn.dispatch import subscriptions
from floodwarn.dispatch.outbox import deliveries
from floodwarn.warn import lifecycle
from floodwarn.warn.engine import WarnResult, evaluate
from tests.warn.warnfix import (
    HANGANG,
    JAMSU,
    SETTINGS,
    SINDAEBANG,
    STEP,
    T0,
    forecast,
    new_store,
    obs,
)


def run(store: Any, catalog: Any, i: int, values: dict[str, float], fc: pd.DataFrame | None = None,
        settings: Any = SETTINGS) -> WarnResult:
    at = T0 + i * STEP
    return evaluate(store, catalog, at, obs(values, at), fc, settings)


def station_events(result: WarnResult, target: str = HANGANG) -> list[lifecycle.AlertEvent]:
    return [e for e in result.events if e.target == target]


def count(store: Any, table: str) -> int:
    return int(store.query(f"SELECT COUNT(*) FROM {table}")[0][0])


def test_observed_crossing_issues_at_once_with_the_rule(store: Any, catalog: Any) -> None:
    r = run(store, catalog, 0, {HANGANG: 8.62})
    (ev,) = station_events(r)
    assert ev.msg_type == "Alert" and ev.level == 2 and ev.level_key == "wrnwl"
    assert ev.rule == "observed wl 8.62 m ≥ 주의보 8.5 m"
    assert ev.event_id == "urn:floodwarn:alert:1018683:20200806T0200Z:1"
    assert ev.observed_value == 8.62 and ev.time_to["wrnwl"] == 0.0 and ev.time_to["almwl"] is None
    assert ev.sent == T0 and ev.expires == T0 + 6 * STEP and ev.references == ()
    assert ev.freshness == "fresh" and ev.exceedance_p == 1.0
    assert r.changed == (HANGANG, "asset:hangang-parking")  # the parking lot's trigger 6.0 m is passed too
    assert r.states[HANGANG].level == 2


def test_forecast_crossing_within_horizon(store: Any, catalog: Any) -> None:
    fc = forecast(HANGANG, T0, [8.0 + 0.2 * i for i in range(20)], model_version="lgbm-7")
    (ev,) = station_events(run(store, catalog, 0, {HANGANG: 7.9}, fc))
    # q50 is 10.4 m at lead 130 and 10.6 m at 140: 10.5 m at 135 min (the shared kernel)
    assert ev.level == 3
    assert ev.time_to["almwl"] == pytest.approx(135.0) and ev.time_to["attwl"] == 0.0
    assert ev.rule.startswith("forecast q50 crosses 경보 10.5 m in 135 min, P=")
    assert ev.exceedance_p is not None and ev.exceedance_p >= 0.5
    assert ev.model_version == "lgbm-7" and ev.method == "lightgbm"
    assert ev.forecast_peak == pytest.approx(11.8) and ev.forecast_peak_time == T0 + 20 * STEP
    assert ev.time_to["srswl"] is None


def test_forecast_beyond_horizon_or_unlikely_does_not_fire(store: Any, catalog: Any, tmp_path: Path) -> None:
    late = forecast(HANGANG, T0, [7.0] * 40 + [9.0] * 5)  # crosses 주의보 after 400 min
    assert run(store, catalog, 0, {HANGANG: 7.0}, late, dataclasses.replace(SETTINGS, horizon_min=360)).states[
        HANGANG].level == 1
    other = new_store(tmp_path / "b.sqlite")
    # q50 just above 주의보 but p = 0.9 demands the 10 % quantile above it: not likely enough
    fc = forecast(HANGANG, T0, [8.6] * 6, spread=0.5)
    r = run(other, catalog, 0, {HANGANG: 8.0}, fc, dataclasses.replace(SETTINGS, exceedance_p=0.9))
    assert r.states[HANGANG].level == 1
    other.close()


def test_overrides_change_the_thresholds(store: Any, catalog: Any) -> None:
    s = dataclasses.replace(SETTINGS, overrides={HANGANG: {"wrnwl": 8.0}})
    (ev,) = station_events(run(store, catalog, 0, {HANGANG: 8.1}, None, s))
    assert ev.level == 2 and ev.rule == "observed wl 8.10 m ≥ 주의보 8 m"


def test_unset_levels_are_skipped(store: Any, catalog: Any) -> None:
    # 신대방1교 has no 관심 level in this catalog: 2.0 m is quiet, 2.5 m is 주의보 directly
    assert run(store, catalog, 0, {SINDAEBANG: 2.0}).states[SINDAEBANG].level == 0
    (ev,) = station_events(run(store, catalog, 1, {SINDAEBANG: 2.5}), SINDAEBANG)
    assert ev.level == 2 and "attwl" not in ev.time_to


def test_lifecycle_alert_updates_cancel_with_references(store: Any, catalog: Any) -> None:
    series = [4.0, 8.7, 10.6, 10.45, 10.2, 10.1, 9.9, 3.0, 3.0, 3.0]
    msgs = []
    for i, v in enumerate(series):
        msgs += station_events(run(store, catalog, i, {HANGANG: v}))
    kinds = [(m.msg_type, m.level) for m in msgs]
    # 10.45 is within the 0.1 m margin of 경보 10.5: no downgrade; three cycles below 10.4 → 주의보
    assert kinds == [("Alert", 1), ("Update", 2), ("Update", 3), ("Update", 2), ("Cancel", 0)]
    start = "urn:floodwarn:alert:1018683:20200806T0200Z"
    assert [m.event_id for m in msgs] == [f"{start}:{k}" for k in range(1, 6)]
    for k, m in enumerate(msgs):
        assert [r[0] for r in m.references] == [p.event_id for p in msgs[:k]]
        assert [r[1] for r in m.references] == [p.sent for p in msgs[:k]]
    assert msgs[3].sent == T0 + 6 * STEP and "below 경보 − 0.1 m (10.40 m) for 3 cycles" in msgs[3].rule
    assert msgs[-1].prev_level == 2 and msgs[-1].severity_level == 2 and "all clear" in msgs[-1].rule
    assert lifecycle.active_events(store) == [e for e in lifecycle.active_events(store) if e.kind == "asset"]
    hist = lifecycle.history(store, HANGANG)
    assert [h.event_id for h in hist] == [m.event_id for m in msgs]
    assert lifecycle.event(store, msgs[2].event_id) == msgs[2]
    # a new rise later starts a new episode with a new identifier
    (again,) = station_events(run(store, catalog, 20, {HANGANG: 9.0}))
    assert again.msg_type == "Alert" and again.event_id == "urn:floodwarn:alert:1018683:20200806T0520Z:1"


def test_outbox_rows_written_with_the_messages(store: Any, catalog: Any) -> None:
    sub = subscriptions.create(store, "http://127.0.0.1:9/hook", allow_private=True, at=0)
    r = run(store, catalog, 0, {HANGANG: 10.6, JAMSU: 5.6})
    rows = deliveries(store)
    assert sorted(d["event_id"] for d in rows) == sorted(e.event_id for e in r.events)
    assert {d["subscription_id"] for d in rows} == {sub.id} and {d["kind"] for d in rows} == {"warning"}


def test_same_cycle_twice_writes_nothing_twice(store: Any, catalog: Any) -> None:
    subscriptions.create(store, "http://127.0.0.1:9/hook", allow_private=True, at=0)
    first = run(store, catalog, 0, {HANGANG: 10.6})
    n_events, n_out = count(store, "warn_events"), count(store, "deliveries")
    again = run(store, catalog, 0, {HANGANG: 10.6})
    assert again.skipped == "cycle already evaluated" and again.enqueued == 0 and again.changed == ()
    assert sorted(e.event_id for e in again.events) == sorted(e.event_id for e in first.events)
    assert (count(store, "warn_events"), count(store, "deliveries")) == (n_events, n_out)
    # an older cycle after a newer one cannot rewind the state
    run(store, catalog, 1, {HANGANG: 10.6})
    old = run(store, catalog, -1, {HANGANG: 3.0})
    assert old.skipped and old.skipped.startswith("older than the last evaluated cycle")


def test_restart_keeps_hysteresis_state(tmp_path: Path, catalog: Any) -> None:
    series = [9.0, 8.0, 8.0, 8.0, 8.0]  # dwell 3: 주의보 → 관심 after three cycles below 8.4 m
    path = tmp_path / "restart.sqlite"
    s = new_store(path)
    got = []
    for i, v in enumerate(series[:3]):
        got += station_events(run(s, catalog, i, {HANGANG: v}))
        if i == 1:  # daemon restarts mid-count
            s.close()
            s = new_store(path)
    got += station_events(run(s, catalog, 3, {HANGANG: series[3]}))
    got += station_events(run(s, catalog, 4, {HANGANG: series[4]}))
    s.close()
    ref_store = new_store(tmp_path / "ref.sqlite")
    ref = []
    for i, v in enumerate(series):
        ref += station_events(run(ref_store, catalog, i, {HANGANG: v}))
    ref_store.close()
    assert [(e.event_id, e.msg_type, e.level) for e in got] == [(e.event_id, e.msg_type, e.level) for e in ref]
    assert [(e.msg_type, e.level) for e in got] == [("Alert", 2), ("Update", 1)]


def test_missing_data_holds_and_renews(store: Any, catalog: Any) -> None:
    (alert,) = station_events(run(store, catalog, 0, {HANGANG: 9.0}))
    renewals = []
    for i in range(1, 13):  # two hours without any observation
        r = evaluate(store, catalog, T0 + i * STEP, obs({}, T0), None, SETTINGS)
        renewals += station_events(r)
        assert r.states[HANGANG].level == 2
    assert [e.msg_type for e in renewals] == ["Update", "Update"]
    assert renewals[0].sent == T0 + 5 * STEP and renewals[0].expires == T0 + 11 * STEP
    assert "observed_missing" in renewals[0].flags and "renewed before expiry" in renewals[0].rule
    assert "never cancelled for missing data" in renewals[0].rule


def test_stale_flags_and_freshness_pass_through(store: Any, catalog: Any) -> None:
    at = T0 + 4 * STEP
    o = obs({HANGANG: 8.7}, T0)  # 40 min old
    fc = forecast(HANGANG, T0, [8.7] * 6, method="fallback-muskingum", flags="degraded,upstream_missing")
    r = evaluate(store, catalog, at, o, fc, SETTINGS, {HANGANG: "stale"}, {HANGANG: {"model_version": "x"}})
    (ev,) = station_events(r)
    assert ev.freshness == "stale"
    assert {"observed_stale", "degraded", "upstream_missing", "fallback_model", "forecast_stale"} <= set(ev.flags)


def test_late_arrivals_are_invisible(store: Any, catalog: Any) -> None:
    o = obs({HANGANG: 9.0}, T0)
    o["arrival_time"] = int((T0 + STEP).timestamp())  # arrives after the cycle
    assert run(store, catalog, 0, {}).states[HANGANG].level == 0
    r = evaluate(store, catalog, T0 + STEP, o, None, SETTINGS)
    assert r.states[HANGANG].level == 2


def test_asset_impact_with_time_to_impact(store: Any, catalog: Any) -> None:
    fc = forecast(JAMSU, T0, [5.0, 5.2, 5.4, 5.6, 5.8])
    r = evaluate(store, catalog, T0, obs({JAMSU: 4.9}, T0), fc, SETTINGS)
    (ev,) = station_events(r, "asset:jamsu-deck")
    assert ev.kind == "asset" and ev.asset_type == "road" and ev.trigger_stage_m == 5.5
    assert ev.time_to_impact == pytest.approx(35.0)  # 5.4 m at 30 min, 5.6 m at 40 min
    assert ev.level == 2  # 5.5 m is 잠수교's 주의보 stage → Moderate
    assert ev.rule.startswith("forecast q50 at 1018680 reaches trigger 5.50 m of 반포 잠수교 보행로 in 35 min")
    assert ev.district_code == "11650" and ev.event_id.startswith("urn:floodwarn:alert:asset-jamsu-deck:")
    assert JAMSU not in r.states  # 잠수교 is no forecast point: only its asset is a target


def test_manual_actions(store: Any, catalog: Any) -> None:
    subscriptions.create(store, "http://127.0.0.1:9/hook", allow_private=True, at=0)
    ev = lifecycle.manual_issue(store, catalog, HANGANG, "경보", "levee seepage reported", "kim", T0, SETTINGS)
    assert (ev.msg_type, ev.level, ev.source, ev.actor) == ("Alert", 3, "manual", "kim")
    # the engine holds the forecaster's level while the message lasts, even on a low reading
    assert run(store, catalog, 1, {HANGANG: 4.0}).states[HANGANG].level == 3
    ext = lifecycle.manual_extend(store, ev.event_id, 120, "still seeping", "kim", T0 + 2 * STEP)
    assert ext.msg_type == "Update" and ext.expires == T0 + 6 * STEP + 12 * STEP
    assert [r[0] for r in ext.references] == [ev.event_id]
    with pytest.raises(lifecycle.NotActiveError):
        lifecycle.manual_extend(store, ev.event_id, 10, "old id", "kim", T0 + 3 * STEP)
    with pytest.raises(lifecycle.UnknownEventError):
        lifecycle.manual_cancel(store, "urn:floodwarn:alert:nope:1", "x", "kim", T0)
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.manual_issue(store, catalog, HANGANG, 2, "  ", "kim", T0)
    assert lifecycle.acknowledge(store, ext.event_id, "lee", T0 + 3 * STEP) is True
    assert lifecycle.acknowledge(store, ext.event_id, "lee", T0 + 4 * STEP) is False
    assert lifecycle.acknowledgements(store, ext.event_id) == [("lee", T0 + 3 * STEP)]
    cancel = lifecycle.manual_cancel(store, ext.event_id, "gauge fault", "kim", T0 + 4 * STEP)
    assert cancel.msg_type == "Cancel" and cancel.level == 0 and cancel.prev_level == 3
    assert [r[0] for r in cancel.references] == [ev.event_id, ext.event_id]
    # suppressed: the engine does not re-issue 주의보 from the same faulty reading for an hour ...
    assert run(store, catalog, 5, {HANGANG: 9.0}).states[HANGANG].level == 0
    # ... but a higher level still goes out at once
    r = run(store, catalog, 6, {HANGANG: 13.5})
    assert [(e.msg_type, e.level) for e in station_events(r)] == [("Alert", 4)]
    kinds = {d["kind"] for d in deliveries(store)}
    assert kinds == {"warning", "ack"}
    actions = store.query("SELECT action, actor FROM warn_actions ORDER BY id")
    assert actions == [("issue", "kim"), ("extend", "kim"), ("ack", "lee"), ("cancel", "kim")]
