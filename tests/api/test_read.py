"""Read endpoints over a real uvicorn server on loopback."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from floodwarn.api.app import STATIC, create_app, swagger_assets
from floodwarn.api.server import ApiServer
from floodwarn.store import open_store
from tests.api.apidata import EVIL, NOW  # tests/api/apidata.py


def test_healthz_follows_the_injected_clock(client, clock):
    r = client.get("/healthz")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "ok" and doc["age_s"] == 300 and doc["max_age_s"] == 1200
    assert doc["last_cycle_at"] == "2020-08-06T03:00:00Z"
    clock.t = NOW + timedelta(minutes=20)  # exactly two intervals: still fine
    assert client.get("/healthz").status_code == 200
    clock.t = NOW + timedelta(minutes=20, seconds=1)
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "stale"


def test_healthz_without_any_completed_cycle(settings, catalog, tmp_path, clock):
    st = open_store("sqlite:///" + str(tmp_path / "empty.sqlite"))
    st.cycle_begin(1, 1)
    st.cycle_end(1, 2, "failed", {})
    with ApiServer(create_app(settings, st, catalog, clock=clock), "127.0.0.1", 0) as srv:
        r = httpx.get(srv.url + "/healthz")
    assert r.status_code == 503 and r.json()["status"] == "no_cycle"
    st.close()


def test_metrics_prometheus_text(client, metrics):
    metrics.record_cycle({"duration_s": 0.8, "status": "ok", "stages": {"ingest": 0.1}, "stations_missing": ["x"],
                          "cycle_at": 1596682800})
    client.get("/api/stations")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for name in ("floodwarn_cycle_duration_seconds_bucket", "floodwarn_stage_duration_seconds_count",
                 "floodwarn_stations_missing 1.0", 'floodwarn_outbox_backlog{status="pending"} 0.0',
                 'floodwarn_warnings_active{level="wrnwl"} 0.0', "floodwarn_delivery_failures_total",
                 "floodwarn_qc_rejections_total", 'floodwarn_http_requests_total{route="/api/stations",status="2xx"} 1.0'):
        assert name in text, name


def test_stations_list_levels_and_latest(client):
    r = client.get("/api/stations")
    assert r.status_code == 200
    by = {s["code"]: s for s in r.json()}
    assert set(by) == {"1018683", "1018680", "1018662"}  # forecast points only
    s = by["1018683"]
    assert s["latest"] == {"time": "2020-08-06T03:00:00Z", "stage": 9.0}
    assert s["observed_level"] == 2 and s["thresholds"]["wrnwl"] == 8.5
    assert by["1018662"]["name"] == EVIL and by["1018662"]["latest"] is None
    assert len(client.get("/api/stations", params={"all": "true"}).json()) == 4


def test_stations_geojson(client):
    r = client.get("/api/stations.geojson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    feat = {f["id"]: f for f in doc["features"]}["1018683"]
    assert feat["geometry"]["coordinates"] == [126.958056, 37.516944]  # [lon, lat]
    assert feat["properties"]["level"] == 0


def test_series_default_window_forecast_and_thresholds(client):
    r = client.get("/api/stations/1018683/series")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["to"] == "2020-08-06T03:05:00Z" and doc["from"] == "2020-08-04T03:05:00Z"
    assert len(doc["observed"]) == 288 and doc["observed"][-1] == {"time": "2020-08-06T03:00:00Z", "stage": 9.0, "qc": 0}
    assert doc["thresholds"] == {"attwl": 5.5, "wrnwl": 8.5, "almwl": 10.5, "srswl": 11.5}
    fc = doc["forecast"]
    assert fc["issued_at"] == "2020-08-06T03:00:00Z" and fc["method"] == "lgbm" and len(fc["points"]) == 36
    p = fc["points"][-1]
    assert p["time"] == "2020-08-06T09:00:00Z" and p["q05"] <= p["q50"] <= p["q95"]


@pytest.mark.parametrize(
    ("params", "n_obs"),
    [
        ({"from": "2020-08-06T10:00", "to": "2020-08-06T12:00"}, 13),  # naive = KST
        ({"from": "2020-08-06T01:00:00Z", "to": "2020-08-06T03:00:00+00:00"}, 13),
        ({"from": "2020-08-06T10:00:00+09:00", "to": "2020-08-06 11:00"}, 7),
    ],
)
def test_series_time_parsing(client, params, n_obs):
    r = client.get("/api/stations/1018683/series", params=params)
    assert r.status_code == 200, r.text
    assert len(r.json()["observed"]) == n_obs


@pytest.mark.parametrize(
    ("code", "params", "status", "needle"),
    [
        ("9999999", {}, 404, "unknown station"),
        ("1018683' OR '1'='1", {}, 404, "unknown station"),
        ("1018683", {"from": "yesterday"}, 400, "not an ISO-8601 time"),
        ("1018683", {"to": "2020-13-45T00:00"}, 400, "not an ISO-8601 time"),
        ("1018683", {"from": "2020-08-06T12:00", "to": "2020-08-06T11:00"}, 400, "before"),
        ("1018683", {"from": "2020-06-01T00:00", "to": "2020-08-06T00:00"}, 422, "range too long"),
        ("1018683", {"from": "x" * 5000}, 400, "ISO-8601"),
    ],
)
def test_series_bad_requests(client, code, params, status, needle):
    r = client.get(f"/api/stations/{code}/series", params=params)
    assert r.status_code == status, r.text
    assert needle in r.json()["detail"]


def test_cycles_newest_first(client):
    r = client.get("/api/cycles", params={"limit": 2})
    assert r.status_code == 200
    doc = r.json()
    assert [c["cycle_at"] for c in doc] == ["2020-08-06T03:00:00Z", "2020-08-06T02:50:00Z"]
    assert doc[0]["status"] == "ok"
    assert client.get("/api/cycles", params={"limit": 0}).status_code == 422
    assert client.get("/api/cycles", params={"limit": "many"}).status_code == 422


def test_dashboard_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = r.text
    # every script / stylesheet is local; nothing from another origin
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    js = (STATIC / "app.js").read_text(encoding="utf-8")
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js
    assert "http://" not in js.replace("http://www.w3.org/2000/svg", "") and "https://" not in js


def test_openapi_and_offline_docs(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/warnings.geojson", "/api/alerts/{alert_id}.xml", "/api/stations/{code}/series",
                 "/api/subscriptions", "/api/warnings/manual", "/healthz", "/metrics"):
        assert path in spec["paths"], path
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    html = client.get("/docs").text
    if swagger_assets() is None:
        pytest.skip("swagger-ui-py not installed: /docs falls back to FastAPI's CDN page")
    assert "cdn" not in html.lower() and "/docs-static/swagger-ui-bundle.js" in html
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
