"""A real HTTP server on 127.0.0.1 that speaks the HRFCO open-API layout, with injectable faults.

Reusable by any test or benchmark (pure stdlib, no pytest needed)::

    from tests.feeds.hrfco_server import HrfcoServer      # under `python -m pytest` from the root

    with HrfcoServer(stations={"waterlevel": ["1018683"]}, now=t) as srv:
        cfg = HrfcoConfig(base_url=srv.base_url, service_key=srv.key, timeout_s=0.2)
        srv.fail("waterlevel/list/10M.*", 500, 500)        # next two matching requests → HTTP 500
        srv.fail("dam/*", "timeout")                       # next dam request sleeps past the timeout
        ...

Paths follow ``/{key}/{hydro}/{list|info}[/{interval}[/{code}[/{start}/{end}]]].{json|xml}``.
Values come from ``values(hydro, code, t) -> {field: str}`` (default: a deterministic diurnal
series); ``set_records(hydro, [...])`` serves exact records for the "latest" request instead
(malformed ones included). Fault modes, consumed one per matching request, in order:

- an int status (``500``, ``503``, ``429``, ``404`` …) — answered with a short body;
- ``"timeout"`` — wait ``slow_s`` seconds before answering normally (client times out first);
- ``"truncate"`` — a well-formed HTTP answer whose body is cut in half (a broken upstream);
- ``"cut"`` — announce the full length, send half, close (a connection error for the client);
- ``"drop"`` — close the connection without answering;
- ``bytes`` — answer 200 with exactly these bytes.

Run standalone for manual tests and benchmarks: ``python tests/feeds/hrfco_server.py --port 8900``.
"""

from __future__ import annotations

import fnmatch
import json
import math
import threading
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

KST = timezone(timedelta(hours=9))
STEP = {"10M": timedelta(minutes=10), "1H": timedelta(hours=1), "1D": timedelta(days=1)}
FMT = {"10M": "%Y%m%d%H%M", "1H": "%Y%m%d%H", "1D": "%Y%m%d"}
TIME_KEY = {"10M": "ymdhm", "1H": "ymdh", "1D": "ymd"}
CODE_KEY = {"waterlevel": "wlobscd", "rainfall": "rfobscd", "dam": "dmobscd"}
ELEMENT = {"waterlevel": "Waterlevel", "rainfall": "Rainfall", "dam": "Dam"}
#: what the real API answers at most for one period request (10M: 15 days)
MAX_ROWS = {"10M": 2160, "1H": 8760, "1D": 366}

DEFAULT_STATIONS = {
    "waterlevel": ["1018662", "1018680", "1018683", "1019630"],
    "rainfall": ["10184100", "10184110", "10184140"],
    "dam": ["1017310"],
}


def default_values(hydro: str, code: str, t: datetime) -> dict[str, str]:
    """Deterministic, plausible values for (hydro, station, time) as HRFCO strings."""
    phase = (zlib.crc32(code.encode()) % 1000) / 1000 * 2 * math.pi
    hours = t.timestamp() / 3600
    s = math.sin(2 * math.pi * hours / 12.42 + phase)  # semi-diurnal, tide-like
    if hydro == "waterlevel":
        return {"wl": f"{1.5 + 0.4 * s:.2f}", "fw": f"{300 + 80 * s:.2f}"}
    if hydro == "rainfall":
        return {"rf": f"{max(0.0, 2 * s - 1.2):.1f}"}
    if hydro == "dam":
        return {
            "swl": f"{25.1 + 0.05 * s:.2f}", "inf": f"{400 + 60 * s:.1f}",
            "tototf": f"{380 + 50 * s:.1f}", "sfw": f"{215.5 + s:.2f}", "ecpc": f"{30.2 - s:.2f}",
        }
    return {}


class HrfcoServer:
    """The HRFCO-format loopback server. Thread-safe; every request path is recorded."""

    def __init__(
        self,
        *,
        key: str = "TESTKEY",
        stations: dict[str, list[str]] | None = None,
        values: Callable[[str, str, datetime], dict[str, str]] = default_values,
        now: datetime | None = None,
        slow_s: float = 2.0,
        info: dict[str, list[dict[str, Any]]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.key = key
        self.stations = {k: list(v) for k, v in (stations or DEFAULT_STATIONS).items()}
        self.values = values
        self.now = now or datetime.now(UTC)
        self.slow_s = slow_s
        self.info = info or {}
        self.requests: list[str] = []
        self._records: dict[str, list[Any]] = {}
        self._faults: list[tuple[str, list[Any]]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HrfcoServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name="hrfco-loopback",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes "timeout" handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HrfcoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, pattern: str, *modes: Any) -> None:
        """Queue fault modes for requests whose path (after the key) matches ``pattern``."""
        with self._lock:
            self._faults.append((pattern, list(modes)))

    def set_records(self, hydro: str, records: list[Any] | None) -> None:
        """Serve exactly ``records`` (dicts of strings, or anything) for ``{hydro}/list/…``."""
        with self._lock:
            if records is None:
                self._records.pop(hydro, None)
            else:
                self._records[hydro] = list(records)

    def hits(self, pattern: str = "*") -> int:
        with self._lock:
            return sum(fnmatch.fnmatch(p, pattern) for p in self.requests)

    # -- content ---------------------------------------------------------------------------

    def _take_fault(self, path: str) -> Any:
        with self._lock:
            for i, (pattern, modes) in enumerate(self._faults):
                if modes and fnmatch.fnmatch(path, pattern):
                    mode = modes.pop(0)
                    if not modes:
                        del self._faults[i]
                    return mode
        return None

    def records_for(self, hydro: str, interval: str, code: str | None,
                    start: str | None, end: str | None) -> list[Any]:
        with self._lock:
            fixed = self._records.get(hydro)
        if fixed is not None and start is None:
            return [r for r in fixed if code is None or (isinstance(r, dict)
                                                         and r.get(CODE_KEY[hydro]) == code)]
        step = STEP[interval]
        if start is None or end is None:
            t = self.now.astimezone(UTC)
            epoch = int(t.timestamp())
            t = datetime.fromtimestamp(epoch - epoch % int(step.total_seconds()), UTC)
            times = [t]
        else:
            t0 = datetime.strptime(start, FMT[interval]).replace(tzinfo=KST)
            t1 = datetime.strptime(end, FMT[interval]).replace(tzinfo=KST)
            times = []
            t = t0
            while t <= t1 and len(times) < MAX_ROWS[interval]:
                times.append(t)
                t += step
        codes = [code] if code else self.stations.get(hydro, [])
        out = []
        for c in codes:
            if code and c not in self.stations.get(hydro, []):
                continue
            for t in times:
                rec = {CODE_KEY[hydro]: c, TIME_KEY[interval]: t.astimezone(KST).strftime(
                    FMT[interval])}
                rec.update(self.values(hydro, c, t))
                out.append(rec)
        return out


def render_json(records: list[Any]) -> bytes:
    content = [dict(r, links=[]) if isinstance(r, dict) else r for r in records]
    return json.dumps({"links": [], "content": content}, ensure_ascii=False).encode()


def render_xml(hydro: str, records: list[Any]) -> bytes:
    el = ELEMENT.get(hydro, "Item")
    lines = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
             '<entities xmlns:atom="http://www.w3.org/2005/Atom">', "    <content>"]
    for r in records:
        if not isinstance(r, dict):
            continue
        lines.append(f"        <{el}>")
        for k in sorted(r):
            v = r[k]
            lines.append(f"            <{k}>{escape('' if v is None else str(v))}</{k}>")
        lines.append(f"        </{el}>")
    lines += ["    </content>", "</entities>", ""]
    return "\n".join(lines).encode()


def _handler_for(server: HrfcoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test): expected

        def _send(self, status: int, body: bytes, ctype: str, length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            if not parts or parts[0] != server.key:
                with server._lock:
                    server.requests.append("/".join(["<badkey>", *parts[1:]]))
                self._send(401, b'{"code":"401","message":"invalid service key"}',
                           "application/json")
                return
            rel = "/".join(parts[1:])
            with server._lock:
                server.requests.append(rel)
            mode = server._take_fault(rel)
            if mode == "timeout":
                server._stopping.wait(server.slow_s)
                mode = None
            if mode == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if isinstance(mode, int):
                self.close_connection = True
                self._send(mode, f'{{"code":"{mode}","message":"injected"}}'.encode(),
                           "application/json")
                return
            if isinstance(mode, bytes):
                self._send(200, mode, "application/octet-stream")
                return
            status, body, ctype = self._answer(rel)
            if mode == "truncate":
                body = body[: len(body) // 2]
            if mode == "cut":
                self.close_connection = True
                self._send(status, body[: len(body) // 2], ctype, length=len(body))
                self.connection.close()
                return
            self._send(status, body, ctype)

        def _answer(self, rel: str) -> tuple[int, bytes, str]:
            stem, dot, fmt = rel.rpartition(".")
            if not dot or fmt not in ("json", "xml"):
                return 404, b"unknown format", "text/plain"
            segs = stem.split("/")
            hydro = segs[0]
            if hydro not in CODE_KEY or len(segs) < 2:
                return 404, b"unknown resource", "text/plain"
            if segs[1] == "info":
                recs: list[Any] = server.info.get(hydro) or [
                    {CODE_KEY[hydro]: c} for c in server.stations.get(hydro, [])]
            elif segs[1] == "list" and len(segs) in (3, 4, 6) and segs[2] in STEP:
                code = segs[3] if len(segs) >= 4 else None
                start, end = (segs[4], segs[5]) if len(segs) == 6 else (None, None)
                try:
                    recs = server.records_for(hydro, segs[2], code, start, end)
                except ValueError:
                    return 400, b'{"code":"400","message":"bad time"}', "application/json"
            else:
                return 404, b"unknown resource", "text/plain"
            if fmt == "json":
                return 200, render_json(recs), "application/json;charset=UTF-8"
            return 200, render_xml(hydro, recs), "application/xml;charset=UTF-8"

    return Handler


def main() -> None:  # pragma: no cover - manual use
    import argparse
    import time

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=8900)
    p.add_argument("--key", default="TESTKEY")
    a = p.parse_args()
    srv = HrfcoServer(key=a.key, port=a.port).start()
    print(f"HRFCO loopback server on {srv.base_url}/{srv.key}/waterlevel/list/10M.json")
    try:
        while True:
            srv.now = datetime.now(UTC)
            time.sleep(1)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
