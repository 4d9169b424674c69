"""Write endpoints: tokens, validation, injection, the forecaster's actions, webhooks end to end."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from lxml import etree

from floodwarn.api.app import create_app
from floodwarn.api.server import ApiServer
from floodwarn.config import load_settings
from floodwarn.dispatch.signing import verify
from floodwarn.dispatch.worker import DeliveryWorker
from tests.api.apidata import EVIL, TOKEN  # tests/api/apidata.py

HOOK = "http://127.0.0.1:9/hook"  # never called in these tests
WRITES = [
    ("POST", "/api/subscriptions", {"url": HOOK}),
    ("GET", "/api/subscriptions", None),
    ("DELETE", "/api/subscriptions/abc", None),
    ("POST", "/api/warnings/manual", {"station": "1018683", "level": 2, "reason": "r"}),
    ("POST", "/api/alerts/x/extend", {"minutes": 30, "reason": "r"}),
    ("POST", "/api/alerts/x/cancel", {"reason": "r"}),
    ("POST", "/api/alerts/x/ack", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_writes_need_a_token(client, method, path, body):
    r = client.request(method, path, json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = client.request(method, path, json=body, headers={"Authorization": "Bearer wrong-token"})
    assert r.status_code == 403 and r.json()["detail"] == "invalid token"
    r = client.request(method, path, json=body, headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status_code == 401
    r = client.request(method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}x"})
    assert r.status_code == 403


def test_no_configured_token_disables_writes(settings, store, catalog, clock):
    open_settings = load_settings(env={}, stations_dir=settings.stations_dir, api={"port": 0, "token": ""})
    with ApiServer(create_app(open_settings, store, catalog, clock=clock), "127.0.0.1", 0) as srv:
        r = httpx.post(srv.url + "/api/subscriptions", json={"url": HOOK}, headers={"Authorization": "Bearer"})
        assert r.status_code == 401
        r = httpx.post(srv.url + "/api/subscriptions", json={"url": HOOK}, headers={"Authorization": "Bearer x"})
        assert r.status_code == 403 and "no api.token" in r.json()["detail"]


def test_subscription_lifecycle(client, auth):
    body = {"url": HOOK, "stations": ["1018683"], "min_level": "wrnwl", "basins": ["Han"],
            "asset_types": ["parking"], "description": "서울시 재난안전상황실",
            "area": {"type": "Polygon", "coordinates": [[[126.8, 37.4], [127.2, 37.4], [127.2, 37.7], [126.8, 37.4]]]}}
    r = client.post("/api/subscriptions", json=body, headers=auth)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert len(sub["secret"]) >= 32 and sub["filters"]["min_level"] == "wrnwl"
    listed = client.get("/api/subscriptions", headers=auth).json()
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    assert client.delete(f"/api/subscriptions/{sub['id']}", headers=auth).status_code == 204
    assert client.delete(f"/api/subscriptions/{sub['id']}", headers=auth).status_code == 404
    assert client.get("/api/subscriptions", headers=auth).json() == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"url": HOOK, "colour": "red"}, "colour"),                       # unknown field
        ({"stations": ["1018683"]}, "url"),                               # missing url
        ({"url": HOOK, "min_level": "purple"}, "unknown level"),
        ({"url": HOOK, "asset_types": ["castle"]}, "asset type"),
        ({"url": HOOK, "area": {"type": "Point", "coordinates": [127, 37]}}, "Polygon"),
        ({"url": "ftp://example.org/x"}, "http"),
        ({"url": HOOK, "secret": "short"}, "secret"),
        ({"url": HOOK, "description": "a\x00b"}, "control characters"),
        ({"url": HOOK, "stations": ["x" * 65]}, "1..64"),
    ],
)
def test_subscription_validation_422(client, auth, body, needle):
    r = client.post("/api/subscriptions", json=body, headers=auth)
    assert r.status_code == 422, r.text
    assert needle in json.dumps(r.json(), ensure_ascii=False)


def test_malformed_and_oversized_bodies(client, auth):
    r = client.post("/api/subscriptions", content=b'{"url": "http://', headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 422 and "invalid request" in r.json()["error"]
    r = client.post("/api/subscriptions", content=b"[1, 2]", headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 422
    big = {"url": HOOK, "description": "x" * 300_000}
    r = client.post("/api/subscriptions", json=big, headers=auth)
    assert r.status_code == 413 and r.json()["error"] == "request body too large"

    def chunks():  # no Content-Length: the limit still holds on the streamed body
        for _ in range(40):
            yield b"x" * 10_000

    r = client.post("/api/subscriptions", content=chunks(), headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413


def test_private_and_self_targets_refused(settings, store, catalog, clock):
    strict = load_settings(env={}, stations_dir=settings.stations_dir, api={"port": 0, "token": TOKEN})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with ApiServer(create_app(strict, store, catalog, clock=clock), "127.0.0.1", 0) as srv:
        for url in ("http://127.0.0.1:8080/x", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/x"):
            r = httpx.post(srv.url + "/api/subscriptions", json={"url": url}, headers=auth)
            assert r.status_code == 422 and "refused" in r.json()["detail"], url


def test_webhook_back_at_the_daemon_is_refused(client, server, auth):
    # private targets are allowed in this app (tests' receivers), but never the daemon itself
    for url in (server.url + "/api/warnings/manual", server.url.replace("127.0.0.1", "localhost") + "/x"):
        r = client.post("/api/subscriptions", json={"url": url}, headers=auth)
        assert r.status_code == 422 and "back at this floodwarn daemon" in r.json()["detail"], url


# -- the forecaster's actions (real warning lifecycle) ------------------------------------------


def _issue(client, auth, **kw):
    body = {"station": "1018683", "level": "wrnwl", "reason": "gauge rising fast", "actor": "forecaster-kim", **kw}
    return client.post("/api/warnings/manual", json=body, headers=auth)


def test_manual_issue_extend_cancel_ack(client, auth):
    r = _issue(client, auth)
    assert r.status_code == 201, r.text
    alert = r.json()
    assert alert["msg_type"] == "Alert" and alert["level"] == 2 and alert["actor"] == "forecaster-kim"
    aid = alert["id"]
    active = client.get("/api/alerts").json()
    assert [a["id"] for a in active] == [aid]
    assert {s["code"]: s["level"] for s in client.get("/api/stations").json()}["1018683"] == 2
    assert client.get(f"/api/alerts/{aid}").json()["id"] == aid

    r = client.post(f"/api/alerts/{aid}/ack", json={"actor": "duty-officer"}, headers=auth)
    assert r.status_code == 200 and r.json()["new"] is True
    assert client.post(f"/api/alerts/{aid}/ack", json={"actor": "duty-officer"}, headers=auth).json()["new"] is False

    r = client.post(f"/api/alerts/{aid}/extend", json={"minutes": 90, "reason": "rain continues"}, headers=auth)
    assert r.status_code == 201, r.text
    upd = r.json()
    assert upd["msg_type"] == "Update" and aid in [ref["id"] for ref in upd["references"]]
    # the old message is no longer the current one
    r = client.post(f"/api/alerts/{aid}/cancel", json={"reason": "x"}, headers=auth)
    assert r.status_code == 409
    r = client.post(f"/api/alerts/{upd['id']}/cancel", json={"reason": "gauge fault confirmed"}, headers=auth)
    assert r.status_code == 201 and r.json()["msg_type"] == "Cancel"
    assert client.get("/api/alerts").json() == []
    history = client.get("/api/alerts", params={"active": "false", "since": "2020-08-01T00:00"}).json()
    assert [h["msg_type"] for h in history] == ["Alert", "Update", "Cancel"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/warnings/manual", {"station": "9999999", "level": 2, "reason": "r"}, 404),
        ("/api/warnings/manual", {"station": "1018683", "level": 9, "reason": "r"}, 422),
        ("/api/warnings/manual", {"station": "1018683", "level": "purple", "reason": "r"}, 422),
        ("/api/warnings/manual", {"station": "1018683", "level": 2, "reason": ""}, 422),
        ("/api/warnings/manual", {"station": "1018683", "level": 2}, 422),
        ("/api/warnings/manual", {"station": "../../etc", "level": 2, "reason": "r"}, 422),
        ("/api/alerts/urn:floodwarn:alert:nope/extend", {"minutes": 10, "reason": "r"}, 404),
        ("/api/alerts/urn:floodwarn:alert:nope/cancel", {"reason": "r"}, 404),
        ("/api/alerts/urn:floodwarn:alert:nope/ack", {}, 404),
        ("/api/alerts/x/extend", {"minutes": 0, "reason": "r"}, 422),
        ("/api/alerts/x/extend", {"minutes": "soon", "reason": "r"}, 422),
    ],
)
def test_action_errors(client, auth, path, body, status):
    r = client.post(path, json=body, headers=auth)
    assert r.status_code == status, r.text


def test_unknown_alert_reads_404(client):
    assert client.get("/api/alerts/urn:floodwarn:alert:none:1.xml").status_code == 404
    assert client.get("/api/alerts/urn:floodwarn:alert:none:1").status_code == 404


def test_products_escape_hostile_text(client, auth):
    reason = '</info><script>alert("x")</script> & "quoted" <b>'
    r = _issue(client, auth, station="1018662", level=3, reason=reason)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    cap = client.get(f"/api/alerts/{aid}.xml")
    assert cap.status_code == 200 and cap.headers["content-type"].startswith("application/cap+xml")
    assert b"<script>" not in cap.content and b"<img" not in cap.content
    root = etree.fromstring(cap.content)  # well-formed despite the hostile name and reason
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert root.findtext("cap:identifier", namespaces=ns) == aid
    texts = " ".join(root.itertext())
    assert "한강" in texts  # the station name is there, as text
    atom = client.get("/api/alerts.atom")
    assert atom.status_code == 200 and b"<script>" not in atom.content
    etree.fromstring(atom.content)
    geo = client.get("/api/warnings.geojson")
    assert geo.status_code == 200 and geo.headers["content-type"].startswith("application/geo+json")
    props = [f["properties"] for f in geo.json()["features"]]
    assert any(p.get("name") == EVIL for p in props)  # verbatim: JSON carries it as a string


# -- end to end: a subscriber receives the manual warning -----------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_manual_warning_reaches_a_subscriber(client, auth, store, settings, clock):
    _Hook.received = []
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{hook.server_address[1]}/floodwarn"
        sub = client.post("/api/subscriptions", json={"url": url, "min_level": "wrnwl", "basins": ["Han"]},
                          headers=auth).json()
        low = _issue(client, auth, station="1018680", level="attwl").json()  # below the filter
        high = _issue(client, auth, level="almwl").json()
        stats = DeliveryWorker(store, settings.dispatch, seed=1).run_once(clock())
        assert stats.delivered == 1
        ((headers, body),) = _Hook.received
        ts = headers["X-Floodwarn-Timestamp"]
        assert verify(body, sub["secret"], headers["X-Floodwarn-Signature"], ts, now=float(ts))
        doc = json.loads(body)
        assert doc["event_id"] == high["id"] != low["id"] and doc["payload"]["level"] == 3
    finally:
        hook.shutdown()
        hook.server_close()


def test_warnings_geojson_follows_every_write(client, auth):
    """The GeoJSON is cached between writes; a manual issue and a cancel must show at once."""

    def level_of(code: str) -> int | None:
        doc = client.get("/api/warnings.geojson").json()
        return {f["properties"].get("station"): f["properties"].get("level")
                for f in doc["features"] if f["id"] == f"station:{code}"}.get(code)

    before = level_of("1018683")
    assert level_of("1018683") == before  # served from the cache, same answer
    aid = _issue(client, auth).json()["id"]
    assert level_of("1018683") == 2
    r = client.post(f"/api/alerts/{aid}/cancel", json={"reason": "gauge fault confirmed"}, headers=auth)
    assert r.status_code == 201
    assert level_of("1018683") in (0, None)


def test_expired_warning_leaves_the_geojson(client, auth, clock):
    """A daemon that stopped renewing: once the message expires the map no longer shows it."""
    from datetime import datetime, timedelta

    def level_of(code: str) -> int | None:
        doc = client.get("/api/warnings.geojson").json()
        return {f["properties"].get("station"): f["properties"].get("level")
                for f in doc["features"] if f["id"] == f"station:{code}"}.get(code)

    alert = _issue(client, auth).json()
    assert level_of("1018683") == 2
    expires = datetime.fromisoformat(alert["expires"])
    clock.t = expires - timedelta(minutes=1)
    assert level_of("1018683") == 2
    clock.t = expires + timedelta(minutes=1)  # no write happened: only the clock moved
    assert level_of("1018683") in (0, None)
