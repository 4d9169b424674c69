"""uvicorn in a background thread of the daemon's process, with the real bound address.

``ApiServer(app, host, port).start()`` returns once the socket listens (port 0 picks a free
one; :attr:`url` tells which); :meth:`stop` finishes in-flight requests and joins the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import uvicorn

log = logging.getLogger(__name__)


class ApiServer:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning") -> None:
        self.app = app
        self.host = host
        self.port = int(port)
        self.config = uvicorn.Config(
            app, host=host, port=self.port, log_level=log_level, access_log=False, lifespan="off",
            server_header=False, timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(self.config)
        self._thread: threading.Thread | None = None
        self.bound_port: int | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` actually listening (after :meth:`start`)."""
        if self.bound_port is None:
            raise RuntimeError("server not started")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.bound_port}"

    def start(self, timeout: float = 15.0) -> ApiServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self.server.run, name="floodwarn-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"HTTP API failed to start on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"HTTP API did not start within {timeout} s")
            time.sleep(0.01)
        sockets = [s for srv in self.server.servers for s in srv.sockets]
        self.bound_port = int(sockets[0].getsockname()[1]) if sockets else self.port
        ctx = getattr(getattr(self.app, "state", None), "ctx", None)
        if ctx is not None and hasattr(ctx, "self_urls"):
            ctx.self_urls.append(self.url)  # so a webhook pointing back here is refused
        log.info("HTTP API listening on %s", self.url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self.server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(2)
        self._thread = None
        log.info("HTTP API stopped")

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
