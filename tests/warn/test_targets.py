"""Which targets the engine warns, ``as_of``, and when it renews or updates (real store)."""

from __future__ import annotations

import dataclasses
from typing import Any

from floodwarn.products.cap import cap_xml
from floodwarn.warn.engine import evaluate
from tests.products.prodfix import validate_cap
from tests.warn.warnfix import HANGANG, JAMSU, SETTINGS, STEP, T0, forecast, obs

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}


def test_thresholded_gauge_with_data_is_warned_and_labelled(store: Any, catalog: Any) -> None:
    r = evaluate(store, catalog, T0, obs({JAMSU: 5.7}, T0), None, SETTINGS)
    (ev,) = [e for e in r.events if e.kind == "station"]
    assert (ev.target, ev.station, ev.level, ev.forecast_point) == (f"gauge:{JAMSU}", JAMSU, 2, False)
    assert ev.event_id == "urn:floodwarn:alert:gauge-1018680:20200806T0200Z:1"
    assert r.states[f"gauge:{JAMSU}"].level == 2 and JAMSU not in r.states
    doc = validate_cap(cap_xml(ev, catalog))
    texts = " ".join(doc.itertext())
    assert "공식 홍수예보지점 아님" in texts and "not an official flood forecast point" in texts
    params = {p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
              for p in doc.iterfind(".//cap:parameter", NS)}
    assert params["officialForecastPoint"] == "N"


def test_stations_without_data_or_state_cost_nothing(store: Any, catalog: Any) -> None:
    evaluate(store, catalog, T0, obs({HANGANG: 4.0}, T0), None, SETTINGS)
    rows = {r[0] for r in store.query("SELECT target FROM warn_state")}
    assert rows == {HANGANG, "asset:hangang-parking"}  # 중랑교, 신대방1교, 잠수교: no data, no row
    # the quiet forecast points are still reported, at level 0
    r = evaluate(store, catalog, T0 + STEP, obs({}, T0), None, SETTINGS)
    assert r.states["1018675"].level == 0


def test_as_of_admits_what_arrived_by_the_cut_off(store: Any, catalog: Any) -> None:
    o = obs({HANGANG: 9.0}, T0)
    o["arrival_time"] = int(T0.timestamp()) + 60  # after the cycle time, before its cut-off
    assert evaluate(store, catalog, T0, o, None, SETTINGS, as_of=int(T0.timestamp()) + 90).states[HANGANG].level == 2


def test_as_of_default_is_the_cycle_time(store: Any, catalog: Any) -> None:
    o = obs({HANGANG: 9.0}, T0)
    o["arrival_time"] = int(T0.timestamp()) + 60
    assert evaluate(store, catalog, T0, o, None, SETTINGS).states[HANGANG].level == 0


def test_renewal_at_three_quarters_of_a_longer_expiry(store: Any, catalog: Any) -> None:
    s = dataclasses.replace(SETTINGS, expiry_min=180)
    msgs = []
    for i in range(24):  # four hours at a steady 주의보
        at = T0 + i * STEP
        msgs += [e for e in evaluate(store, catalog, at, obs({HANGANG: 9.0}, at), None, s).events
                 if e.target == HANGANG]
    assert [(m.msg_type, m.sent) for m in msgs] == [("Alert", T0), ("Update", T0 + 14 * STEP)]
    assert msgs[1].rule.startswith("renewed before expiry")


def test_material_forecast_change_sends_an_update(store: Any, catalog: Any) -> None:
    s = dataclasses.replace(SETTINGS, expiry_min=180)
    peaks = [9.5, 9.6, 9.7, 10.2, 10.25]  # 주의보 by observation; the peak creeps, then jumps 0.5 m
    msgs = []
    for i, p in enumerate(peaks):
        at = T0 + i * STEP
        fc = forecast(HANGANG, at, [9.0, p, p - 0.1])
        msgs += [e for e in evaluate(store, catalog, at, obs({HANGANG: 9.0}, at), fc, s).events
                 if e.target == HANGANG]
    assert [(m.msg_type, m.level) for m in msgs] == [("Alert", 2), ("Update", 2)]
    assert msgs[1].sent == T0 + 3 * STEP and msgs[1].rule.startswith("forecast peak changed 9.50 → 10.20 m")
