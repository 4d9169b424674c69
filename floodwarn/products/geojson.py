"""Current warnings as one RFC 7946 GeoJSON FeatureCollection for municipal systems.

One Point per forecast point (every one of them, ``level`` 0 where quiet), one Point per other
gauge with an active gauge-level warning (``kind`` ``gauge``, ``official_forecast_point``
false: the gauge's own alert levels, not an official 홍수특보), plus a Polygon per affected
reach (stations with an active warning) and per impacted asset. Coordinates
are ``[lon, lat]`` WGS84 with at most 7 decimals, exterior rings counter-clockwise, no ``crs``
member; feature ids are stable (``station:<code>``, ``reach:<code>``, ``asset:<id>``).
Properties are documented in ``docs/geojson.md``. Text values are plain JSON strings —
consumers must escape them before putting them into HTML.
"""

from __future__ import annotations

import copy
import logging
import math
import weakref
from typing import Any

from floodwarn.products.areas import asset_polygon, reach_polygon, rounded, station_point
from floodwarn.warn.assets import assets_of
from floodwarn.warn.levels import level_info
from floodwarn.warn.lifecycle import AlertEvent, active_events, load_states

log = logging.getLogger(__name__)

__all__ = ["warnings_geojson"]


def _num(v: Any, nd: int = 3) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return round(f, nd) if math.isfinite(f) else None


def _level_props(level: int) -> dict[str, Any]:
    info = level_info(level)
    return {
        "level": level,
        "level_key": info.key if info else None,
        "level_name_ko": info.ko if info else None,
        "level_name_en": info.en if info else None,
        "severity": info.severity if info else None,
    }


def _event_props(ev: AlertEvent | None) -> dict[str, Any]:
    if ev is None:
        return {k: None for k in ("event_id", "msg_type", "sent", "expires", "episode_start", "rule",
                                  "observed_value", "observed_time", "forecast_peak",
                                  "forecast_peak_time", "exceedance_p", "model_version", "method",
                                  "freshness")} | {"time_to": {}, "flags": [], "cap_url": None}
    d = ev.to_dict()
    return {
        "event_id": ev.event_id,
        "msg_type": ev.msg_type,
        "sent": d["sent"],
        "expires": d["expires"],
        "episode_start": d["episode_start"],
        "rule": ev.rule,
        "observed_value": _num(ev.observed_value),
        "observed_time": d["observed_time"],
        "forecast_peak": _num(ev.forecast_peak),
        "forecast_peak_time": d["forecast_peak_time"],
        "time_to": {k: _num(v, 1) for k, v in ev.time_to.items()},
        "exceedance_p": _num(ev.exceedance_p),
        "model_version": ev.model_version,
        "method": ev.method,
        "freshness": ev.freshness,
        "flags": list(ev.flags),
        "cap_url": f"/api/alerts/{ev.event_id}.xml",
    }


def warnings_geojson(store: Any, catalog: Any, at: Any = None) -> dict[str, Any]:
    """The current warnings FeatureCollection (see the module docs and ``docs/geojson.md``).

    ``at`` (the serving clock): messages that expired before it are left out — a daemon that
    stopped renewing must not leave a municipality looking at a warning nobody stands behind.
    """
    with store.tx() as cur:
        states = load_states(cur)
    active = {ev.target: ev for ev in active_events(store, at=at)}
    static = _static(catalog)
    fp_codes = sorted(static["fp"])
    gauges = sorted(t[len(GAUGE):] for t in active if t.startswith(GAUGE) and t[len(GAUGE):] in catalog.stations.index)
    features: list[dict[str, Any]] = []
    reaches: list[dict[str, Any]] = []
    for code, official in [(c, True) for c in fp_codes] + [(c, False) for c in gauges]:
        target = code if official else GAUGE + code
        fixed, geometry = _station_static(catalog, static, code)
        ev = active.get(target)
        st = states.get(target)
        level = ev.level if ev is not None else 0
        base = {
            "kind": "forecast_point" if official else "gauge",
            "official_forecast_point": official,
            **fixed,
            "value": _num(st.value) if st is not None else None,
            "evaluated_at": None if st is None or st.cycle_at is None else _iso(st.cycle_at),
            **_level_props(level),
            **_event_props(ev),
        }
        features.append({
            "type": "Feature", "id": f"station:{code}", "geometry": geometry, "properties": base,
        })
        if ev is not None:
            reach = _reach_static(catalog, static, code)
            if reach is not None:
                props = dict(base, kind="reach")
                reaches.append({"type": "Feature", "id": f"reach:{code}", "geometry": copy.deepcopy(reach),
                                "properties": props})
    assets = {a.target: a for a in assets_of(catalog)}
    impacted = []
    for target in sorted(t for t in active if t.startswith("asset:")):
        ev, a = active[target], assets.get(target)
        if a is None:
            log.warning("active warning for %s, which is no longer in the catalog", target)
            continue
        poly = asset_polygon(a.geometry)
        if poly is None:
            continue
        props = {
            "kind": "asset",
            "asset_id": a.id,
            "asset_type": a.asset_type,
            "name": a.name_ko,
            "name_en": a.name_en,
            "district": a.district,
            "district_code": a.district_code,
            "station": a.station,
            "trigger_stage_m": _num(a.trigger_stage_m),
            "time_to_impact": _num(ev.time_to_impact, 1),
            **_level_props(ev.level),
            **_event_props(ev),
        }
        impacted.append({"type": "Feature", "id": target, "geometry": rounded(poly), "properties": props})
    return {"type": "FeatureCollection", "features": features + reaches + impacted}


GAUGE = "gauge:"
_static_cache: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _static(catalog: Any) -> dict[str, Any]:
    """Per catalog: the forecast points and each station's unchanging properties and point."""
    hit = _static_cache.get(catalog)
    if hit is None:
        fp = catalog.stations
        if "forecast_point" in fp:
            fp = fp[fp["forecast_point"].astype(bool)]
        hit = _static_cache[catalog] = {"fp": frozenset(str(c) for c in fp.index), "stations": {}}
    return hit


def _station_static(catalog: Any, static: dict[str, Any], code: str) -> tuple[dict[str, Any], Any]:
    hit = static["stations"].get(code)
    if hit is None:
        row = catalog.stations.loc[code]
        fixed = {
            "station": code,
            "name": str(row.get("name") or code),
            "basin": str(row.get("basin") or "") or None,
            "address": str(row.get("addr") or "") or None,
            "thresholds": {k: _num(v) for k, v in catalog.thresholds(code).items()},
        }
        pt = station_point(catalog, code)
        hit = static["stations"][code] = (fixed, rounded(pt) if pt is not None else None)
    fixed, geometry = hit
    return copy.deepcopy(fixed), copy.deepcopy(geometry)


def _reach_static(catalog: Any, static: dict[str, Any], code: str) -> dict[str, Any] | None:
    """A station's rounded reach polygon; it depends on the catalog only, so built once."""
    reaches = static.setdefault("reaches", {})
    if code not in reaches:
        poly = reach_polygon(catalog, code)
        reaches[code] = rounded(poly) if poly is not None else None
    return reaches[code]


def _iso(t: int) -> str:
    from floodwarn.times import from_epoch

    return from_epoch(t).strftime("%Y-%m-%dT%H:%M:%SZ")
