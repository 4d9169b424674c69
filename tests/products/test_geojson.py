"""GeoJSON of current warnings: RFC 7946 rules, stable ids, all forecast points, escaping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from floodwarn.products.geojson import warnings_geojson
from floodwarn.warn.engine import evaluate
from tests.products.prodfix import lifecycle_run
from tests.warn.warnfix import HANGANG, SETTINGS, STEP, T0, asset, new_store, obs, write_catalog


def _positions(geom: dict[str, Any]) -> list[list[float]]:
    c = geom["coordinates"]
    if geom["type"] == "Point":
        return [c]
    return [p for ring in c for p in ring]


def _signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False)) / 2


def check_rfc7946(doc: dict[str, Any]) -> None:
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    ids = [f["id"] for f in doc["features"]]
    assert len(ids) == len(set(ids))
    text = json.dumps(doc)
    assert "NaN" not in text and "Infinity" not in text
    for f in doc["features"]:
        assert f["type"] == "Feature" and isinstance(f["properties"], dict)
        g = f["geometry"]
        if g is None:
            continue
        assert g["type"] in ("Point", "Polygon")
        for lon, lat in _positions(g):
            assert 124 <= lon <= 132 and 33 <= lat <= 39  # [lon, lat] order
            for v in (lon, lat):
                assert len(repr(v).split(".")[-1]) <= 7
        if g["type"] == "Polygon":
            ext = g["coordinates"][0]
            assert len(ext) >= 4 and ext[0] == ext[-1]
            assert _signed_area(ext) > 0  # counter-clockwise exterior
            for hole in g["coordinates"][1:]:
                assert _signed_area(hole) < 0


def test_quiet_catalog_lists_every_forecast_point(store: Any, catalog: Any) -> None:
    doc = warnings_geojson(store, catalog)
    check_rfc7946(doc)
    assert [f["id"] for f in doc["features"]] == ["station:1018675", "station:1018683", "station:1018698"]
    assert all(f["properties"]["level"] == 0 and f["properties"]["event_id"] is None for f in doc["features"])


def test_active_warnings_add_reach_and_asset_polygons(store: Any, catalog: Any) -> None:
    evaluate(store, catalog, T0, obs({HANGANG: 10.6, "1018680": 5.7, "1018675": 5.2}, T0), None, SETTINGS)
    doc = warnings_geojson(store, catalog)
    check_rfc7946(doc)
    by = {f["id"]: f for f in doc["features"]}
    # 잠수교 (1018680) is no forecast point but has thresholds and data: a gauge-level warning
    assert set(by) == {"station:1018675", "station:1018683", "station:1018698", "reach:1018675",
                       "reach:1018683", "asset:jamsu-deck", "asset:hangang-parking",
                       "station:1018680", "reach:1018680"}
    g = by["station:1018680"]["properties"]
    assert (g["kind"], g["official_forecast_point"], g["level"]) == ("gauge", False, 2)
    assert by["station:1018683"]["properties"]["official_forecast_point"] is True
    p = by["station:1018683"]["properties"]
    assert (p["level"], p["level_key"], p["level_name_ko"], p["severity"]) == (3, "almwl", "경보", "Severe")
    assert p["event_id"] == "urn:floodwarn:alert:1018683:20200806T0200Z:1"
    assert p["cap_url"] == f"/api/alerts/{p['event_id']}.xml" and p["observed_value"] == 10.6
    assert by["station:1018683"]["geometry"] == {"type": "Point", "coordinates": [126.956667, 37.514444]}
    # 중랑교 drains to 잠수교 in the network: its reach is a buffered segment, longer than wide
    from shapely.geometry import shape

    reach = shape(by["reach:1018675"]["geometry"])
    minx, miny, maxx, maxy = reach.bounds
    assert reach.contains(shape({"type": "Point", "coordinates": [127.070556, 37.5925]}))
    assert maxy - miny > 0.05
    # 한강대교 has no downstream node: a circle of about 1 km around the gauge
    circle = shape(by["reach:1018683"]["geometry"])
    assert 0.015 < circle.bounds[3] - circle.bounds[1] < 0.02
    a = by["asset:jamsu-deck"]["properties"]
    assert (a["kind"], a["asset_type"], a["district_code"], a["time_to_impact"]) == ("asset", "road", "11650", 0.0)
    # stable: the same state gives the same document
    assert warnings_geojson(store, catalog) == doc


def test_cancelled_warnings_disappear(store: Any, catalog: Any) -> None:
    events = lifecycle_run(store, catalog)
    assert any(e.msg_type == "Cancel" and e.target == HANGANG for e in events)
    doc = warnings_geojson(store, catalog)
    check_rfc7946(doc)
    ids = {f["id"] for f in doc["features"]}
    assert "reach:1018683" not in ids and "asset:jamsu-deck" in ids


def test_injection_stays_data(tmp_path: Any) -> None:
    evil = '"},{"type":"Feature"</script><img src=x onerror=alert(1)>'
    station_name = "</script><img src=x onerror=alert(1)>"
    cat = write_catalog(tmp_path / "st", hangang=station_name,
                        assets=[asset("evil", HANGANG, 6.0, name_ko=evil)])
    store = new_store(tmp_path / "g.sqlite")
    evaluate(store, cat, T0 + STEP, obs({HANGANG: 9.0}, T0 + STEP), None, SETTINGS)
    doc = json.loads(json.dumps(warnings_geojson(store, cat)))
    check_rfc7946(doc)
    names = {f["id"]: f["properties"]["name"] for f in doc["features"]}
    assert names["asset:evil"] == evil and names["station:1018683"] == station_name
    assert len(doc["features"]) == 3 + 1 + 1
    store.close()


def test_real_catalog_all_forecast_points(tmp_path: Any) -> None:
    """With the shipped stations/ catalog: one point per forecast point (223), valid GeoJSON."""
    from floodwarn.catalog import load_catalog
    from floodwarn.config import project_root

    if not (project_root() / "stations" / "waterlevel.csv").exists():
        pytest.skip("stations/waterlevel.csv not built yet")
    cat = load_catalog()
    store = new_store(tmp_path / "real.sqlite")
    fp = cat.forecast_points()
    top = fp.index[:20]
    o = obs({c: float(cat.thresholds(c).get("wrnwl", 99.0)) + 0.01 for c in top}, T0)
    r = evaluate(store, cat, T0, o, None, SETTINGS)
    doc = warnings_geojson(store, cat)
    check_rfc7946(doc)
    points = [f for f in doc["features"] if f["id"].startswith("station:")]
    assert len(points) == len(fp) == 223
    assert sum(f["properties"]["level"] > 0 for f in points) == len({e.station for e in r.events if e.kind == "station"})
    store.close()
