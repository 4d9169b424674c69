"""``floodwarn demo``: the whole engine on embedded data — no network, no ../shared."""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
import threading
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

NAME = "demo"
HELP = "replay the Aug 2020 Han River flood (+ synthetic points) with the dashboard on 127.0.0.1"
DESCRIPTION = """\
Start the engine on the embedded default: a fresh SQLite store, the shipped August 2020 Han
River flood (real 10-minute data for the Seoul reach) and a clearly labelled SYNTHETIC feed for
the other forecast points, so all 223 points are live. The event is replayed at accelerated
speed through every stage (ingest, QC, forecast, warn, products, outbox) with the HTTP API and
dashboard on http://127.0.0.1:PORT/. Ctrl-C stops cleanly.

  floodwarn demo --port 8765
  floodwarn demo --port 8765 --speed 12000 --cycles 20   # tests: stop after 20 cycles
"""

log = logging.getLogger(__name__)

DEMO_ARCHIVE = "demo_event_2020.csv.gz"
#: the shipped event: 2020-07-25 .. 08-22 KST; cycles start after one day of history
DEMO_START = "2020-07-26T00:00:00+09:00"
DEMO_END = "2020-08-22T23:50:00+09:00"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=None, help="HTTP port on 127.0.0.1 (default api.port)")
    p.add_argument("--speed", type=float, default=3000.0,
                   help="simulated seconds per wall second (default 3000: a cycle every 0.2 s at most)")
    p.add_argument("--cycles", type=int, default=None, help="stop after N cycles (tests)")
    p.add_argument("--start", default=DEMO_START, help="first cycle (ISO-8601; no offset = KST)")
    p.add_argument("--dir", help="keep the demo store and products here (default: a temp dir)")
    p.add_argument("--no-synthetic", action="store_true", help="only the real Seoul-reach event")


def demo_archive() -> Path:
    return Path(str(resources.files("floodwarn.data").joinpath(DEMO_ARCHIVE)))


def run(args: argparse.Namespace, settings: Any) -> int:
    from floodwarn.commands.serve import start_api
    from floodwarn.cycle import load_catalog_or_none, load_metrics
    from floodwarn.feeds.archive import read_archive
    from floodwarn.replay import replay
    from floodwarn.store import open_store
    from floodwarn.times import parse_time

    tmp = None
    if args.dir:
        work = Path(args.dir)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="floodwarn-demo-")
        work = Path(tmp)
    port = args.port if args.port is not None else settings.api.port
    settings = settings.replace(
        data_dir=str(work),
        store=type(settings.store)(url=f"sqlite:///{work / 'demo.sqlite'}"),
        api=type(settings.api)(**{**settings.api.__dict__, "host": "127.0.0.1", "port": port}),
    )
    for suffix in ("", "-wal", "-shm"):
        (work / f"demo.sqlite{suffix}").unlink(missing_ok=True)
    store = open_store(settings.store.url)
    catalog = load_catalog_or_none(settings)
    archive = demo_archive()
    extra = []
    if catalog is not None and not args.no_synthetic:
        from floodwarn.feeds.synthetic import SyntheticFeed

        covered = sorted(set(read_archive(archive).obs["station"]))
        extra.append(SyntheticFeed(catalog.forecast_points(), exclude=covered, first_poll_span_s=26 * 3600))
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping after the running cycle", signum)
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    class _Ctx:  # what start_api needs: the shared store, catalog and metrics
        pass

    shared = _Ctx()
    shared.store, shared.catalog, shared.metrics = store, catalog, load_metrics()  # type: ignore[attr-defined]
    sim = {"now": parse_time(args.start)}  # the API's "now" follows the replayed cycle time

    def clock() -> Any:
        return sim["now"]

    server = start_api(settings, shared, "127.0.0.1", port, clock=clock)
    url = f"http://127.0.0.1:{server.bound_port or port}/"
    sys.stdout.write(f"floodwarn demo: dashboard and API at {url}\n")
    sys.stdout.write(
        f"  replaying the August 2020 Han River flood ({'+ synthetic points, ' if extra else ''}"
        f"speed ×{args.speed:g}); store and products in {work}; Ctrl-C to stop\n"
    )
    sys.stdout.flush()
    try:
        result = replay(
            settings, [archive], parse_time(args.start), parse_time(DEMO_END), work / "products",
            speed=args.speed or None, progress=False, extra_feeds=extra, store=store,
            stop=stop, max_cycles=args.cycles,
            on_cycle=lambda report, _ctx: sim.__setitem__("now", report.cycle_at + timedelta(minutes=5)),
        )
        sys.stdout.write(result.summary())
        sys.stdout.flush()
        if args.cycles is None and not stop.is_set():
            sys.stdout.write(f"replay finished; still serving {url} — Ctrl-C to exit\n")
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        server.stop()
        store.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0
