"""A real webhook receiver on 127.0.0.1 that fails in scripted ways, and a fresh store."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from floodwarn.config import DispatchConfig
from floodwarn.dispatch.signing import verify
from floodwarn.store import open_store


class Receiver:
    """Scripted webhook endpoint; dedupes on Idempotency-Key like a well-behaved subscriber.

    ``script[event_id]`` is a list of behaviours consumed one per request (then ``ok``):
    ok, slow (0.1 s, then ok), 500, process_500 (processes, then answers 500), hang (sleeps
    past the client timeout, then processes), drop (closes without answering), 400, 302.
    """

    def __init__(self, hang_s: float = 0.8) -> None:
        self.script: dict[str, list[str]] = defaultdict(list)
        self.secrets: dict[str, str] = {}
        self.hang_s = hang_s
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.processed: dict[str, dict] = {}
        self.process_count: dict[str, int] = defaultdict(int)
        self.duplicates = 0
        self.bad_signatures = 0
        self.inflight = 0
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                with rec.lock:
                    rec.inflight += 1
                try:
                    rec.handle(self)
                finally:
                    with rec.lock:
                        rec.inflight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def _process(self, key: str, doc: dict) -> None:
        with self.lock:
            if key in self.processed:
                self.duplicates += 1
            else:
                self.processed[key] = doc
                self.process_count[key] += 1

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n)
        doc = json.loads(body)
        key = h.headers["Idempotency-Key"]
        event = h.headers["X-Floodwarn-Event"]
        secret = self.secrets.get(doc["subscription_id"], "")
        with self.lock:
            ts = h.headers.get("X-Floodwarn-Timestamp")
            # the worker runs on a simulated clock: freshness is checked against its own stamp
            ok_sig = verify(body, secret, h.headers.get("X-Floodwarn-Signature"), ts,
                            now=float(ts or 0))
            self.bad_signatures += 0 if ok_sig else 1
            steps = self.script.get(event)
            behaviour = steps.pop(0) if steps else "ok"
            self.requests.append({"key": key, "event": event, "behaviour": behaviour,
                                  "timestamp": h.headers.get("X-Floodwarn-Timestamp"), "doc": doc})
        if behaviour == "drop":
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if behaviour == "hang":
            time.sleep(self.hang_s)
            self._process(key, doc)
            return self._answer(h, 200)
        if behaviour == "slow":
            time.sleep(0.1)
        if behaviour in ("ok", "slow", "process_500"):
            self._process(key, doc)
        status = {"ok": 200, "slow": 200, "500": 500, "process_500": 500, "400": 400, "302": 302}[behaviour]
        self._answer(h, status)

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int) -> None:
        try:
            payload = b'{"ok": true}'
            h.send_response(status)
            if status == 302:
                h.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until no request is in flight (hung handlers finished)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.inflight == 0:
                    return
            time.sleep(0.02)
        raise AssertionError("receiver still busy")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.close()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite"


@pytest.fixture
def store(store_path: Path):
    st = open_store("sqlite:///" + str(store_path))
    yield st
    st.close()


@pytest.fixture
def cfg() -> DispatchConfig:
    return DispatchConfig(max_attempts=5, backoff_base_s=2.0, backoff_max_s=60.0, timeout_s=0.4,
                          hmac_secret="global", allow_private_targets=True)


@pytest.fixture
def dead_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
