"""The HTTP API and the forecaster dashboard (FastAPI, served by the daemon's uvicorn).

Read endpoints are open; write endpoints (subscriptions, a forecaster's manual issue / extend /
cancel / acknowledge) need ``Authorization: Bearer <api.token>`` — 401 without credentials,
403 with a wrong token or when no token is configured (the write API is then off). Tokens are
compared in constant time. Every "now" comes from the injected ``clock`` so a replay or demo
serves a consistent simulated present (``/healthz`` included).

Times in responses are ISO-8601 UTC (``...Z``); query times may carry an offset, naive ones
are KST. Products (GeoJSON, CAP, Atom) come from :mod:`floodwarn.products`, warnings from
:mod:`floodwarn.warn.lifecycle`; both are imported on first use so the API starts (and says
503 for the missing piece) even if one of them is broken.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from floodwarn.api.middleware import BodyLimit, SecurityHeaders
from floodwarn.api.schemas import AckIn, CancelIn, ExtendIn, ManualIssueIn, SubscriptionIn
from floodwarn.dispatch.signing import tokens_equal
from floodwarn.errors import FloodwarnError
from floodwarn.metrics import CONTENT_TYPE_LATEST, METRICS, Metrics
from floodwarn.times import as_utc, from_epoch, parse_time, to_epoch

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
#: the longest span /api/stations/{code}/series serves in one request
MAX_SERIES_DAYS = 31
DEFAULT_SERIES_HOURS = 48
GEOJSON = "application/geo+json"
LEVEL_KEYS = ("attwl", "wrnwl", "almwl", "srswl")

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime | int | float | None) -> str | None:
    """ISO-8601 UTC with a ``Z`` (epoch seconds or aware datetimes)."""
    if t is None:
        return None
    if not isinstance(t, datetime):
        t = from_epoch(t)
    return as_utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _f(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


class ApiContext:
    """What every request handler needs; one per app."""

    def __init__(self, settings: Any, store: Any, catalog: Any, metrics: Metrics, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self._catalog = catalog
        self.metrics = metrics
        self.clock = clock
        self.self_urls: list[str] = [u for u in (settings.api.public_url,
                                                  f"http://{settings.api.host}:{settings.api.port}") if u]

    def now(self) -> datetime:
        return as_utc(self.clock())

    @property
    def catalog(self) -> Any:
        if self._catalog is not None:
            return self._catalog
        from floodwarn.catalog import load_catalog  # cached per directory, reloads on change

        return load_catalog(self.settings.stations_dir or None)

    def thresholds(self, code: str) -> dict[str, float]:
        try:
            return dict(self.catalog.thresholds(code, self.settings.warn.overrides))
        except FloodwarnError:
            return dict(self.catalog.thresholds(code))


def _need(module: str, name: str) -> Any:
    """A function of another stage, or 503 naming what is missing."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise HTTPException(503, f"{module}.{name} is not available: {err}") from None


def _lifecycle() -> Any:
    try:
        return importlib.import_module("floodwarn.warn.lifecycle")
    except ImportError as err:
        raise HTTPException(503, f"warning lifecycle not available: {err}") from None


def _event_doc(ev: Any) -> dict[str, Any]:
    doc = ev.to_dict() if hasattr(ev, "to_dict") else dict(vars(ev))
    eid = getattr(ev, "event_id", None) or getattr(ev, "id", None) or doc.get("event_id") or doc.get("id")
    doc.setdefault("id", eid)
    doc["links"] = {"cap": f"/api/alerts/{quote(str(eid), safe=':')}.xml",
                    "self": f"/api/alerts/{quote(str(eid), safe=':')}"}
    return doc


def _classify(value: float | None, thresholds: dict[str, float]) -> int:
    if value is None:
        return 0
    level = 0
    for i, key in enumerate(LEVEL_KEYS, start=1):
        t = thresholds.get(key)
        if t is not None and value >= t:
            level = i
    return level


def _parse_query_time(name: str, text: str | None, default: datetime) -> datetime:
    if text is None or text == "":
        return default
    if len(text) > 64:
        raise HTTPException(400, f"{name}: not an ISO-8601 time")
    try:
        return parse_time(text)
    except ValueError:
        raise HTTPException(
            400, f"{name}={text!r} is not an ISO-8601 time (e.g. 2020-08-06T12:00:00+09:00; naive means KST)"
        ) from None


_bearer = HTTPBearer(auto_error=False, description="api.token from the floodwarn settings")


def require_token(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """401 without bearer credentials, 403 for a wrong token or when none is configured."""
    if creds is None or not creds.credentials:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    expected = request.app.state.ctx.settings.api.token
    if not expected:
        raise HTTPException(403, "write API disabled: no api.token configured")
    if not tokens_equal(creds.credentials, expected):
        raise HTTPException(403, "invalid token")
    return "token"


Auth = Annotated[str, Depends(require_token)]


def create_app(
    settings: Any,
    store: Any,
    catalog: Any = None,
    metrics: Metrics | None = None,
    *,
    clock: Clock | None = None,
) -> FastAPI:
    """The API + dashboard app. ``clock`` (default: wall clock, UTC) is "now" for every handler."""
    ctx = ApiContext(settings, store, catalog, metrics or METRICS, clock or _utc_now)
    app = FastAPI(
        title="floodwarn",
        version="0.1.0",
        summary="River flood early warning for Korea: warnings, CAP 1.2 alerts, forecasts, webhooks.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx

    # -- errors ----------------------------------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            problems.append({"field": loc, "msg": e.get("msg", "invalid"), "type": e.get("type")})
        summary = "; ".join(f"{p['field']}: {p['msg']}" for p in problems[:5])
        return JSONResponse({"error": f"invalid request: {summary}", "detail": problems}, status_code=422)

    # -- dashboard and docs ----------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _mount_docs(app)

    # -- health and metrics -----------------------------------------------------------------
    @app.get("/healthz", tags=["ops"], summary="fails (503) when the last completed cycle is older than two intervals")
    def healthz() -> JSONResponse:
        now = ctx.now()
        max_age = 2 * int(ctx.settings.cycle.interval_min) * 60
        try:
            last = ctx.store.last_completed_cycle()
        except Exception as err:  # noqa: BLE001 - any store failure means unhealthy
            log.warning("healthz: store unavailable: %s", err)
            return JSONResponse({"status": "store_unavailable", "error": str(err)}, status_code=503)
        doc: dict[str, Any] = {"now": iso(now), "max_age_s": max_age}
        if last is None:
            return JSONResponse({**doc, "status": "no_cycle"}, status_code=503)
        age = to_epoch(now) - int(last["cycle_at"])
        doc.update(last_cycle_at=iso(last["cycle_at"]), last_cycle_status=last["status"], age_s=age)
        if age > max_age:
            return JSONResponse({**doc, "status": "stale"}, status_code=503)
        return JSONResponse({**doc, "status": "ok"})

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    def metrics_text() -> Response:
        _refresh_gauges(ctx)
        return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # -- warnings and alerts -----------------------------------------------------------------
    geojson_cache: dict[str, Any] = {"key": None, "body": b""}

    @app.get("/api/warnings.geojson", tags=["warnings"], summary="current warnings (RFC 7946)")
    def warnings_geojson() -> Response:
        # municipal systems poll this: rebuild only when a warning write happened (every
        # writer — cycle, manual action, acknowledgement — changes this key)
        # … and at least once a minute, so a message that expired (daemon stopped) drops out
        now = ctx.now()
        key = (id(ctx.catalog), int(now.timestamp()) // 60, *ctx.store.query(
            "SELECT (SELECT MAX(cycle_at) FROM warn_cycles), (SELECT COUNT(*) FROM warn_events), "
            "(SELECT MAX(id) FROM warn_actions), (SELECT COUNT(*) FROM warn_acks)")[0])
        if geojson_cache["key"] != key:
            fn = _need("floodwarn.products.geojson", "warnings_geojson")
            body = JSONResponse(fn(ctx.store, ctx.catalog, at=now), media_type=GEOJSON).body
            geojson_cache.update(key=key, body=body)
        return Response(geojson_cache["body"], media_type=GEOJSON)

    @app.get("/api/alerts", tags=["warnings"], summary="alert messages (JSON)")
    def alerts(
        active: bool = True,
        since: Annotated[str | None, Query(description="with active=false: messages sent since (ISO-8601)")] = None,
        target: Annotated[str | None, Query(max_length=100)] = None,
    ) -> list[dict[str, Any]]:
        lc = _lifecycle()
        if active:
            evs = lc.active_events(ctx.store, at=ctx.now())
            if target:
                evs = [e for e in evs if target in (e.target, e.station)]
        else:
            t = _parse_query_time("since", since, ctx.now() - timedelta(days=7))
            evs = lc.history(ctx.store, target=target, since=t)
        return [_event_doc(e) for e in evs]

    @app.get("/api/alerts.atom", tags=["warnings"], summary="Atom feed of the active alerts")
    def alerts_atom(request: Request) -> Response:
        fn = _need("floodwarn.products.atom", "alerts_atom")
        base = ctx.settings.api.public_url or str(request.base_url).rstrip("/")
        body = fn(_lifecycle().active_events(ctx.store, at=ctx.now()), base)
        return Response(body, media_type="application/atom+xml; charset=utf-8")

    def _one(alert_id: str) -> Any:
        if len(alert_id) > 300:
            raise HTTPException(404, "no such alert")
        ev = _lifecycle().event(ctx.store, alert_id)
        if ev is None:
            raise HTTPException(404, f"no alert message {alert_id!r}")
        return ev

    @app.get("/api/alerts/{alert_id}.xml", tags=["warnings"], summary="one message as CAP 1.2 XML")
    def alert_cap(alert_id: str) -> Response:
        ev = _one(alert_id)
        fn = _need("floodwarn.products.cap", "cap_xml")
        return Response(fn(ev, ctx.catalog), media_type="application/cap+xml; charset=utf-8")

    @app.get("/api/alerts/{alert_id}", tags=["warnings"], summary="one message (JSON)")
    def alert_json(alert_id: str) -> dict[str, Any]:
        return _event_doc(_one(alert_id))

    # -- stations ----------------------------------------------------------------------------
    def _levels_by_station() -> dict[str, int]:
        out: dict[str, int] = {}
        try:
            evs = _lifecycle().active_events(ctx.store, at=ctx.now())
        except HTTPException:
            return out
        for e in evs:
            if getattr(e, "kind", "station") == "station":
                out[e.station] = max(out.get(e.station, 0), int(e.level))
        return out

    def _latest_stage(codes: list[str], now: datetime) -> dict[str, tuple[int, float]]:
        t = to_epoch(now)
        obs = ctx.store.observations(variables=["wl"], start=t - 6 * 3600, end=t)
        if obs.empty:
            return {}
        obs = obs[obs["station"].isin(codes) & obs["value"].notna()]
        last = obs.sort_values("valid_time").groupby("station").tail(1)
        return {s: (int(v), float(x)) for s, v, x in zip(last["station"], last["valid_time"], last["value"], strict=True)}

    @app.get("/api/stations", tags=["stations"], summary="forecast points with their current level")
    def stations(all: Annotated[bool, Query(description="every water-level station, not only forecast points")] = False) -> list[dict[str, Any]]:  # noqa: A002
        cat = ctx.catalog
        frame = cat.stations if all else cat.forecast_points()
        now = ctx.now()
        levels = _levels_by_station()
        latest = _latest_stage(list(frame.index), now)
        out = []
        for code, row in frame.iterrows():
            th = ctx.thresholds(code)
            last = latest.get(code)
            stage = last[1] if last else None
            out.append({
                "code": code, "name": row["name"], "basin": row["basin"] or None,
                "lon": _f(row["lon"]), "lat": _f(row["lat"]), "gdt": _f(row["gdt"]),
                "forecast_point": bool(row["forecast_point"]), "thresholds": th,
                "level": levels.get(code, 0), "observed_level": _classify(stage, th),
                "latest": {"time": iso(last[0]), "stage": stage} if last else None,
            })
        return out

    @app.get("/api/stations.geojson", tags=["stations"], summary="stations as RFC 7946 GeoJSON")
    def stations_geojson(all: bool = False) -> Response:  # noqa: A002
        doc = ctx.catalog.to_geojson(forecast_only=not all)
        levels = _levels_by_station()
        for feat in doc["features"]:
            feat["properties"]["level"] = levels.get(feat["id"], 0)
        return JSONResponse(doc, media_type=GEOJSON)

    @app.get("/api/stations/{code}/series", tags=["stations"],
             summary="observed stage, the latest forecast quantiles and the thresholds of a station")
    def series(
        code: str,
        from_: Annotated[str | None, Query(alias="from", description="ISO-8601; naive = KST; default to − 48 h")] = None,
        to: Annotated[str | None, Query(description="ISO-8601; naive = KST; default now")] = None,
    ) -> dict[str, Any]:
        cat = ctx.catalog
        if len(code) > 32 or code not in cat.stations.index:
            raise HTTPException(404, "unknown station code")
        end = _parse_query_time("to", to, ctx.now())
        start = _parse_query_time("from", from_, end - timedelta(hours=DEFAULT_SERIES_HOURS))
        if start >= end:
            raise HTTPException(400, "from must be before to")
        if end - start > timedelta(days=MAX_SERIES_DAYS):
            raise HTTPException(422, f"range too long: at most {MAX_SERIES_DAYS} days per request")
        t0, t1 = to_epoch(start), to_epoch(end)
        obs = ctx.store.observations(stations=[code], variables=["wl"], start=t0, end=t1)
        observed = [
            {"time": iso(t), "stage": _f(v), "qc": int(q)}
            for t, v, q in zip(obs.get("valid_time", []), obs.get("value", []), obs.get("qc", []), strict=True)
        ]
        fc = ctx.store.forecasts(station=code, issued_from=t1 - 86400, issued_to=t1)
        forecast = None
        if not fc.empty:
            issued = int(fc["issued_at"].max())
            one = fc[fc["issued_at"] == issued].sort_values("lead_min")
            first = one.iloc[0]
            forecast = {
                "issued_at": iso(issued), "method": first["method"], "model_version": first["model_version"],
                "flags": first["flags"] or "",
                "points": [
                    {"time": iso(issued + int(m) * 60), "lead_min": int(m), "q05": _f(a), "q50": _f(b), "q95": _f(c)}
                    for m, a, b, c in zip(one["lead_min"], one["q05"], one["q50"], one["q95"], strict=True)
                ],
            }
        row = cat.stations.loc[code]
        return {
            "station": code, "name": row["name"], "basin": row["basin"] or None, "gdt": _f(row["gdt"]),
            "unit": "m above gauge datum (stage)", "from": iso(start), "to": iso(end),
            "thresholds": ctx.thresholds(code), "observed": observed, "forecast": forecast,
        }

    @app.get("/api/cycles", tags=["ops"], summary="the cycle ledger, newest first")
    def cycles(limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[dict[str, Any]]:
        out = []
        for c in ctx.store.cycles(limit=limit):
            out.append({**c, "cycle_at": iso(c["cycle_at"]), "started_at": iso(c["started_at"]),
                        "finished_at": iso(c["finished_at"])})
        return out

    # -- write: subscriptions ------------------------------------------------------------------
    from floodwarn.dispatch import subscriptions as subs

    @app.post("/api/subscriptions", tags=["subscriptions"], status_code=201,
              summary="subscribe a webhook (the signing secret is returned once)")
    def subscribe(body: SubscriptionIn, request: Request, _: Auth) -> dict[str, Any]:
        filters = subs.Filters(
            stations=tuple(body.stations), basins=tuple(body.basins),
            min_level=None if body.min_level is None else str(body.min_level), area=body.area,
            asset_types=tuple(body.asset_types),
        )
        own = [*ctx.self_urls, str(request.base_url)]
        try:
            sub = subs.create(
                ctx.store, body.url, filters, secret=body.secret, description=body.description,
                allow_private=ctx.settings.dispatch.allow_private_targets, self_urls=own,
                at=to_epoch(ctx.now()),
            )
        except subs.SubscriptionError as err:
            raise HTTPException(422, str(err)) from None
        return {**sub.public(), "secret": sub.secret}

    @app.get("/api/subscriptions", tags=["subscriptions"], summary="active subscriptions (no secrets)")
    def list_subs(_: Auth) -> list[dict[str, Any]]:
        return [s.public() for s in subs.list_subscriptions(ctx.store)]

    @app.delete("/api/subscriptions/{sub_id}", tags=["subscriptions"], status_code=204)
    def unsubscribe(sub_id: str, _: Auth) -> Response:
        if len(sub_id) > 64 or not subs.delete(ctx.store, sub_id, at=to_epoch(ctx.now())):
            raise HTTPException(404, "no such subscription")
        return Response(status_code=204)

    # -- write: a forecaster's actions ------------------------------------------------------------
    def _act(fn: Callable[[], Any]) -> Any:
        lc = _lifecycle()
        try:
            return fn()
        except lc.UnknownEventError as err:
            raise HTTPException(404, str(err)) from None
        except lc.NotActiveError as err:
            raise HTTPException(409, str(err)) from None
        except (FloodwarnError, ValueError) as err:
            raise HTTPException(422, str(err)) from None

    @app.post("/api/warnings/manual", tags=["forecaster"], status_code=201,
              summary="issue (or raise) a warning by hand, with a reason")
    def manual_issue(body: ManualIssueIn, _: Auth) -> dict[str, Any]:
        lc = _lifecycle()
        if body.station not in ctx.catalog.stations.index:
            raise HTTPException(404, "unknown station code")
        ev = _act(lambda: lc.manual_issue(ctx.store, ctx.catalog, body.station, body.level, body.reason,
                                          body.actor, ctx.now(), settings=ctx.settings.warn))
        return _event_doc(ev)

    @app.post("/api/alerts/{alert_id}/extend", tags=["forecaster"], status_code=201)
    def extend(alert_id: str, body: ExtendIn, _: Auth) -> dict[str, Any]:
        lc = _lifecycle()
        return _event_doc(_act(lambda: lc.manual_extend(ctx.store, alert_id, body.minutes, body.reason,
                                                        body.actor, ctx.now())))

    @app.post("/api/alerts/{alert_id}/cancel", tags=["forecaster"], status_code=201)
    def cancel(alert_id: str, body: CancelIn, _: Auth) -> dict[str, Any]:
        lc = _lifecycle()
        return _event_doc(_act(lambda: lc.manual_cancel(ctx.store, alert_id, body.reason, body.actor,
                                                        ctx.now(), settings=ctx.settings.warn)))

    @app.post("/api/alerts/{alert_id}/ack", tags=["forecaster"])
    def ack(alert_id: str, _: Auth, body: AckIn | None = None) -> dict[str, Any]:
        lc = _lifecycle()
        actor = body.actor if body else "api"
        done = _act(lambda: lc.acknowledge(ctx.store, alert_id, actor, ctx.now()))
        return {"id": alert_id, "actor": actor, "acknowledged": True, "new": bool(done)}

    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders, metrics=ctx.metrics)
    return app


def _refresh_gauges(ctx: ApiContext) -> None:
    """Gauges read from the store at scrape time (outbox backlog, active warnings)."""
    try:
        from floodwarn.dispatch.outbox import backlog

        for status, n in backlog(ctx.store).items():
            if status != "delivered":
                ctx.metrics.outbox_backlog.labels(status=status).set(n)
    except Exception:  # noqa: BLE001 - a scrape must not fail on a busy store
        log.warning("metrics: outbox backlog unavailable", exc_info=True)
    try:
        lc = importlib.import_module("floodwarn.warn.lifecycle")
        counts: dict[str, int] = {}
        for e in lc.active_events(ctx.store, at=ctx.now()):
            key = LEVEL_KEYS[int(e.level) - 1] if 1 <= int(e.level) <= 4 else str(e.level)
            counts[key] = counts.get(key, 0) + 1
        ctx.metrics.set_warnings(counts)
    except Exception:  # noqa: BLE001
        log.debug("metrics: active warnings unavailable", exc_info=True)


def swagger_assets() -> Path | None:
    """Swagger UI files shipped by the ``swagger-ui-py`` package, if installed (offline /docs)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    return static if (static / "swagger-ui-bundle.js").is_file() else None


def _mount_docs(app: FastAPI) -> None:
    """/docs from local Swagger UI assets when available; FastAPI's CDN page otherwise."""
    assets = swagger_assets()
    if assets is not None:
        app.mount("/docs-static", StaticFiles(directory=assets), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if assets is None:
            log.warning("/docs loads Swagger UI from a CDN: install swagger-ui-py for offline docs")
            return get_swagger_ui_html(openapi_url="/openapi.json", title="floodwarn API")
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="floodwarn API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
        )
