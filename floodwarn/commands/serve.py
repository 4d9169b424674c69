"""``floodwarn serve``: the daemon — a cycle every 10 minutes, the HTTP API and webhook delivery."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import Any

NAME = "serve"
HELP = "run the daemon: a cycle every 10 minutes + HTTP API + webhook delivery"
DESCRIPTION = """\
Run cycles on the 10-minute grid (at cycle.offset_s after each mark), with the HTTP API and
the webhook delivery worker in the same process.

On start the daemon completes a cycle left 'running' by a crash, catches up missed cycles
(at most cycle.catchup_max), then goes live. SIGTERM or Ctrl-C lets the running cycle finish
and exits cleanly. A store that cannot be written stops the daemon with exit code 1.

  floodwarn serve                       # live, API on api.host:api.port
  floodwarn serve --once                # recover + catch up, then exit (cron style)
  floodwarn serve --clock-start 2020-08-02T12:00 --once   # drill: act as if it were then
"""

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="recover and catch up, then exit")
    p.add_argument("--port", type=int, help="HTTP API port (default api.port)")
    p.add_argument("--host", help="HTTP API host (default api.host)")
    p.add_argument("--no-api", action="store_true", help="do not start the HTTP API")
    p.add_argument("--no-worker", action="store_true", help="do not start webhook delivery")
    p.add_argument("--models", help="model directory (default: models/)")
    p.add_argument(
        "--clock-start", metavar="T",
        help="drills/tests: run as if the clock read T at start (ISO-8601; no offset = KST)",
    )
    p.add_argument("--clock-speed", type=float, default=1.0, help="with --clock-start: speed-up")


def run(args: argparse.Namespace, settings: Any) -> int:
    from floodwarn.cycle import make_context
    from floodwarn.daemon import Daemon, simulated_clock
    from floodwarn.times import parse_time

    ctx = make_context(settings, mode="live", models=args.models)
    store = ctx.store
    # fail now, clearly, if the store cannot be written (read-only, full)
    store.set_meta("daemon_started_at", datetime.now(UTC).isoformat(timespec="seconds"))
    clock = None
    if args.clock_start:
        clock = simulated_clock(parse_time(args.clock_start), args.clock_speed)
    daemon = Daemon(ctx, clock=clock)
    stopping = {"n": 0}

    def on_signal(signum: int, _frame: Any) -> None:
        stopping["n"] += 1
        if stopping["n"] > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("signal %d: finishing the running cycle, then exiting", signum)
        daemon.stop_event.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    services = []
    try:
        if not args.once:
            services = start_services(args, settings, ctx)
            daemon.start()
            if not daemon.stop_event.is_set():
                daemon.wait()
        else:
            daemon.catch_up()
    finally:
        daemon.stop(wait=True)
        for svc in reversed(services):
            try:
                svc.stop()
            except Exception:  # noqa: BLE001
                log.warning("stopping %s failed", type(svc).__name__, exc_info=True)
        for s, h in old.items():
            signal.signal(s, h)
        if hasattr(ctx.feed, "close"):
            ctx.feed.close()
    if daemon.stats.fatal is not None:
        sys.stderr.write(f"floodwarn serve: error: {daemon.stats.fatal}\n")
        store.close()
        return 1
    st = daemon.stats
    log.info(
        "daemon stopped: %d cycles, %d recovered, %d missed, %d overrun, %d beyond catch-up",
        st.cycles, st.recovered, st.missed, st.overrun, st.skipped_beyond_catchup,
    )
    store.close()
    return 0


def start_services(args: argparse.Namespace, settings: Any, ctx: Any) -> list[Any]:
    """The HTTP API and the delivery worker (unless switched off by ``--no-api``/``--no-worker``)."""
    from floodwarn.dispatch.worker import DeliveryWorker

    services: list[Any] = []
    if not args.no_worker:
        worker = DeliveryWorker(ctx.store, settings.dispatch)
        worker.start()
        services.append(worker)
    if not args.no_api:
        services.append(start_api(settings, ctx, args.host, args.port, clock=_daemon_clock(args)))
    return services


def _daemon_clock(args: argparse.Namespace) -> Any:
    if not args.clock_start:
        return None
    from floodwarn.daemon import simulated_clock
    from floodwarn.times import parse_time

    return simulated_clock(parse_time(args.clock_start), args.clock_speed)


def start_api(settings: Any, ctx: Any, host: str | None, port: int | None, clock: Any = None) -> Any:
    """Start the HTTP API on the context's store."""
    from floodwarn.api.app import create_app
    from floodwarn.api.server import ApiServer

    app = create_app(settings, ctx.store, ctx.catalog, ctx.metrics, **({"clock": clock} if clock else {}))
    server = ApiServer(app, host or settings.api.host, port if port is not None else settings.api.port)
    server.start()
    return server
