"""Warning benchmarks: one cycle of classify + products + enqueue for the 223 forecast points,
and ``/api/warnings.geojson`` under concurrent load on loopback.

- ``warn_*``: the real catalog (223 forecast points, their HRFCO thresholds, the shipped Han
  assets), a fresh SQLite store with three webhook subscriptions (everything; Han basin from
  주의보; parking assets) so every message fans out in the outbox. Inputs: 1 h of 10-minute
  observed stage for all 223 points (about 30 % above 관심, a handful above 경보/심각) and
  6 h quantile forecasts (q05/q50/q95, 36 leads) for every fourth point, some rising through
  the next threshold. Timed: ``evaluate`` on a fresh store (the first cycle: every warning is
  an Alert) and in steady state (the following cycles: values drifting a little and two more
  points rising one band each cycle, so a few Alerts/Updates go out), the
  GeoJSON build (+ serialisation, against ``json.dumps`` of the same dict as the floor), the
  CAP XML of the first cycle's messages (against ``json.dumps`` of their payloads) and the
  whole (evaluate + GeoJSON + CAP).
- ``api_*``: the real API (uvicorn thread, 127.0.0.1, free port) over that store. A load
  generator in a separate process (so it does not share the server's GIL) keeps 1, 8 or 32
  keep-alive HTTP/1.1 connections busy for a fixed number of requests (and at most
  ``LOAD_DEADLINE_S`` each); requests/s and p50/p99 latency for ``/api/warnings.geojson``,
  with ``/healthz`` under the same load as the floor (ratio = geojson rps / healthz rps).

Run: ``.venv/bin/python -m bench warn``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import record, timeit

ROOT = Path(__file__).resolve().parent.parent
T = datetime(2020, 8, 6, 3, 0, tzinfo=UTC)  # 2020-08-06 12:00 KST, the 2020 Han flood
STEP = timedelta(minutes=10)
STEADY_CYCLES = 12
FIRST_REPEATS = 3
CONCURRENCY = (1, 8, 32)
#: requests per load run (fixed count; each run also stops at the deadline)
LOAD_REQUESTS = {"/healthz": 3000, "/api/warnings.geojson": 300}
LOAD_DEADLINE_S = 30.0
#: in each steady-state cycle this many more points rise one band (a flood in progress)
RISING_PER_CYCLE = 2


# ---------------------------------------------------------------------------------------
# inputs


def _levels(catalog: Any) -> pd.DataFrame:
    """Per forecast point: thresholds and the band its stage is put in (0 quiet .. 4 심각)."""
    fp = catalog.forecast_points()[["attwl", "wrnwl", "almwl", "srswl"]].astype(float).copy()
    rng = np.random.default_rng(20200806)
    # 68 % quiet, 16 % 관심, 9 % 주의보, 5 % 경보, 2 % 심각
    fp["band"] = rng.choice(5, size=len(fp), p=[0.68, 0.16, 0.09, 0.05, 0.02])
    fp["pos"] = rng.uniform(0.15, 0.85, size=len(fp))
    fp["order"] = rng.permutation(len(fp))  # who rises first in the steady-state cycles
    return fp


def levels_at(levels: pd.DataFrame, k: int) -> pd.DataFrame:
    """Cycle ``k``: the first ``RISING_PER_CYCLE * k`` points (by ``order``) one band higher."""
    out = levels.copy()
    out["band"] = np.minimum(out["band"] + (out["order"] < RISING_PER_CYCLE * k), 4)
    return out


def _stage(row: pd.Series) -> float:
    """A stage inside the row's band (thresholds are ascending; unset ones skipped)."""
    thr = [v for v in (row.attwl, row.wrnwl, row.almwl, row.srswl) if np.isfinite(v)]
    edges = [0.4 * thr[0]] + thr + [thr[-1] + 1.0]
    b = min(int(row.band), len(edges) - 2)
    return float(edges[b] + row.pos * (edges[b + 1] - edges[b]))


def observed_frame(levels: pd.DataFrame, at: datetime, drift: float) -> pd.DataFrame:
    """1 h of 10-minute stage per point ending at ``at``, rising gently into the band value."""
    from floodwarn.times import to_epoch

    t_end = to_epoch(at)
    times = np.arange(t_end - 3600, t_end + 1, 600)
    base = np.array([_stage(r) for r in levels.itertuples()]) + drift
    n, k = len(levels), len(times)
    ramp = np.linspace(-0.15, 0.0, k)
    values = base[:, None] + ramp[None, :]
    return pd.DataFrame({
        "station": np.repeat(levels.index.to_numpy().astype(str), k),
        "valid_time": np.tile(times, n),
        "value": values.ravel(),
        "arrival_time": np.tile(times + 120, n),
    })


def forecast_frame(levels: pd.DataFrame, at: datetime, drift: float) -> pd.DataFrame:
    """6 h quantile forecasts for every fourth point, issued at ``at``; a third of them rise
    through the next threshold within the horizon."""
    from floodwarn.times import to_epoch

    leads = np.arange(10, 361, 10)
    frames = []
    for i, r in enumerate(levels.iloc[::4].itertuples()):
        now = _stage(r) + drift
        rise = 1.2 * (r.wrnwl - r.attwl) if i % 3 == 0 else 0.2
        q50 = now + rise * np.sin(np.pi * leads / 480.0)
        frames.append(pd.DataFrame({
            "station": str(r.Index), "issued_at": to_epoch(at), "lead_min": leads,
            "q05": q50 - 0.1 - leads / 360 * 0.3, "q50": q50, "q95": q50 + 0.15 + leads / 360 * 0.6,
            "method": "lightgbm", "model_version": "bench-lgbm-1", "flags": "",
        }))
    return pd.concat(frames, ignore_index=True)


def new_store(path: Path) -> Any:
    """A fresh SQLite store with three subscriptions, so every message fans out."""
    from floodwarn.dispatch import subscriptions as subs
    from floodwarn.store import open_store

    store = open_store("sqlite:///" + str(path))
    subs.create(store, "http://127.0.0.1:9/all", allow_private=True, at=0)
    subs.create(store, "http://127.0.0.1:9/han", subs.Filters(basins=("Han",), min_level="wrnwl"),
                allow_private=True, at=0)
    subs.create(store, "http://127.0.0.1:9/parking", subs.Filters(asset_types=("parking",)),
                allow_private=True, at=0)
    return store


def _count(store: Any, sql: str) -> int:
    return int(store.query(sql)[0][0])


# ---------------------------------------------------------------------------------------
# 1. one cycle: classify + products + enqueue


def _run_cycle(store: Any, catalog: Any, settings: Any, levels: pd.DataFrame, k: int) -> tuple[Any, float]:
    from floodwarn.times import to_epoch
    from floodwarn.warn.engine import evaluate

    at = T + k * STEP
    drift = 0.02 * np.sin(k)  # a little noise around the same levels
    now = levels_at(levels, k)
    obs = observed_frame(now, at, drift)
    fc = forecast_frame(now, at, drift)
    fresh = dict.fromkeys(levels.index.astype(str), "fresh")
    t0 = time.perf_counter()
    res = evaluate(store, catalog, at, obs, fc, settings.warn, fresh, {"model_version": "bench-lgbm-1"},
                   as_of=to_epoch(at) + 300)
    wall = time.perf_counter() - t0
    store.cycle_begin(to_epoch(at), to_epoch(at) + 60)
    store.cycle_end(to_epoch(at), to_epoch(at) + 90, "ok", {"cycle_at": to_epoch(at), "stations_missing": []})
    return res, wall


def _geojson_bytes(store: Any, catalog: Any) -> bytes:
    """What the API sends: the dict built, then serialised as Starlette's JSONResponse does."""
    from floodwarn.products.geojson import warnings_geojson

    return _dumps(warnings_geojson(store, catalog))


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


def cycle_bench(d: Path, catalog: Any, settings: Any) -> Any:
    """Time the cycle pieces; returns the store of the last run (active warnings) for the API."""
    from floodwarn.products.cap import cap_xml
    from floodwarn.products.geojson import warnings_geojson

    levels = _levels(catalog)
    # warm-up on a throwaway store: imports, the catalog's threshold table and plan caches
    warm = new_store(d / "warm.sqlite")
    _run_cycle(warm, catalog, settings, levels, 0)
    _geojson_bytes(warm, catalog)
    warm.close()

    firsts, store, first = [], None, None
    for i in range(FIRST_REPEATS):
        if store is not None:
            store.close()
        store = new_store(d / f"first{i}.sqlite")
        first, wall = _run_cycle(store, catalog, settings, levels, 0)
        firsts.append(wall)
    n_msgs = len(first.events)
    n_rows = _count(store, "SELECT COUNT(*) FROM deliveries")
    t_first = min(firsts)

    # products of that cycle (store state right after the first cycle)
    doc = warnings_geojson(store, catalog)
    n_feat = len(doc["features"])
    n_active = sum(1 for f in doc["features"] if f["properties"].get("level"))
    t_build = timeit(lambda: warnings_geojson(store, catalog), repeat=7)
    t_dump = timeit(lambda: _dumps(doc), repeat=7)
    t_geo = timeit(lambda: _geojson_bytes(store, catalog), repeat=7)
    size = len(_geojson_bytes(store, catalog))
    events = list(first.events)
    t_cap = timeit(lambda: [cap_xml(ev, catalog) for ev in events], repeat=5)
    t_capjson = timeit(lambda: [json.dumps(ev.to_dict(), ensure_ascii=False, sort_keys=True) for ev in events],
                       repeat=5)

    steady, steady_msgs = [], []
    for k in range(1, STEADY_CYCLES + 1):
        res, wall = _run_cycle(store, catalog, settings, levels, k)
        steady.append(wall)
        steady_msgs.append(len(res.events))
    t_steady = statistics.median(steady)
    t_geo_steady = timeit(lambda: _geojson_bytes(store, catalog), repeat=7)

    whole_first = t_first + t_geo + t_cap
    # steady products: the GeoJSON plus CAP of the median number of messages of a steady cycle
    per_cap = t_cap / max(n_msgs, 1)
    whole_steady = t_steady + t_geo_steady + per_cap * statistics.median(steady_msgs)

    print(f"cycle: 223 points, {n_msgs} messages in the first cycle -> {n_rows} outbox rows "
          f"(3 subscriptions); steady cycles wrote {steady_msgs} messages; GeoJSON {n_feat} features "
          f"({n_active} with a level), {size / 1024:.0f} KiB")
    ms = 1000.0
    record("warn: messages in the first cycle (223 points)", n_msgs, "count")
    record("warn: outbox rows enqueued in the first cycle (3 subscriptions)", n_rows, "count")
    record("warn: evaluate first cycle, fresh store, 223 points (best of 3)", t_first * ms, "ms")
    record(f"warn: messages per steady-state cycle ({RISING_PER_CYCLE} points rise a band per cycle, median)",
           statistics.median(steady_msgs), "count")
    record(f"warn: evaluate steady-state cycle, 223 points (median of {STEADY_CYCLES})", t_steady * ms, "ms",
           baseline=t_first * ms, ratio=t_steady / t_first)
    record("warn: warnings_geojson build (dict)", t_build * ms, "ms")
    record("warn: warnings_geojson build + serialise vs json.dumps floor", t_geo * ms, "ms",
           baseline=t_dump * ms, ratio=t_geo / t_dump)
    record("warn: GeoJSON size", size / 1024, "KiB")
    record(f"warn: CAP XML for the first cycle's {n_msgs} messages vs json.dumps of the payloads",
           t_cap * ms, "ms", baseline=t_capjson * ms, ratio=t_cap / t_capjson)
    record("warn: CAP XML per message", per_cap * ms, "ms")
    record("warn: whole first cycle (evaluate + GeoJSON + CAP) vs evaluate alone", whole_first * ms, "ms",
           baseline=t_first * ms, ratio=whole_first / t_first)
    record("warn: whole steady cycle (evaluate + GeoJSON + CAP) vs evaluate alone", whole_steady * ms, "ms",
           baseline=t_steady * ms, ratio=whole_steady / t_steady)
    return store


# ---------------------------------------------------------------------------------------
# 2. the API under concurrent load


async def _load(host: str, port: int, path: str, conc: int, total: int, deadline_s: float) -> dict[str, Any]:
    """``conc`` keep-alive connections issue ``total`` GETs between them (or stop at the deadline)."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n\r\n".encode("ascii")
    lat: list[float] = []
    errors: list[str] = []
    issued = 0
    stop_at = time.perf_counter() + deadline_s
    nbytes = 0

    async def worker() -> None:
        nonlocal issued, nbytes
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while issued < total and time.perf_counter() < stop_at:
                issued += 1
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                length = next((int(x.split(":", 1)[1]) for x in lines if x.lower().startswith("content-length:")), None)
                if length is None:
                    raise RuntimeError(f"{path}: no content-length")
                body = await reader.readexactly(length)
                lat.append(time.perf_counter() - t0)
                nbytes += len(body)
                if status != 200:
                    errors.append(f"{status} {body[:200]!r}")
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    wall = time.perf_counter() - t0
    return {"latencies": lat, "wall": wall, "errors": errors[:5], "n_errors": len(errors), "bytes": nbytes,
            "timed_out": len(lat) < total}


def loadgen(argv: list[str]) -> None:
    """Entry of the load-generator process: ``loadgen HOST PORT PATH CONC TOTAL DEADLINE``."""
    host, port, path, conc, total, deadline = argv
    out = asyncio.run(_load(host, int(port), path, int(conc), int(total), float(deadline)))
    sys.stdout.write(json.dumps(out))


def _run_load(url: str, path: str, conc: int, total: int) -> dict[str, Any]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_warn", "loadgen", host, port, path, str(conc), str(total),
         str(LOAD_DEADLINE_S)],
        cwd=ROOT, capture_output=True, text=True, timeout=LOAD_DEADLINE_S + 60, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    lat = np.array(out["latencies"])
    out.update(n=len(lat), rps=len(lat) / out["wall"], p50=float(np.percentile(lat, 50)) * 1000,
               p99=float(np.percentile(lat, 99)) * 1000)
    if out["n_errors"]:
        raise RuntimeError(f"{path}: {out['n_errors']} non-200 responses, e.g. {out['errors']}")
    return out


def api_bench(d: Path, catalog: Any, store: Any) -> None:
    from floodwarn.api.app import create_app
    from floodwarn.api.server import ApiServer
    from floodwarn.config import load_settings
    from floodwarn.metrics import Metrics

    last = store.last_completed_cycle()
    now = datetime.fromtimestamp(int(last["cycle_at"]) + 300, UTC)
    settings = load_settings(env={}, data_dir=str(d / "var"), store={"url": f"sqlite:///{store.path}"},
                             api={"host": "127.0.0.1", "port": 0}, logging={"level": "WARNING"})
    app = create_app(settings, store, catalog, Metrics(), clock=lambda: now)
    srv = ApiServer(app, "127.0.0.1", 0).start()
    try:
        doc = json.loads(_run_once(srv.url + "/api/warnings.geojson"))
        n_active = sum(1 for f in doc["features"] if f["properties"].get("level"))
        print(f"api: {srv.url}, /api/warnings.geojson has {len(doc['features'])} features, {n_active} with a level")
        results: dict[tuple[str, int], dict[str, Any]] = {}
        for conc in CONCURRENCY:
            for path in ("/healthz", "/api/warnings.geojson"):
                _run_load(srv.url, path, conc, 20)  # warm-up: connections, threadpool, caches
                r = results[(path, conc)] = _run_load(srv.url, path, conc, LOAD_REQUESTS[path])
                note = " (stopped at the deadline)" if r["timed_out"] else ""
                print(f"  {path:<24} c={conc:<3} n={r['n']:<5} {r['rps']:8.1f} req/s  p50 {r['p50']:7.2f} ms  "
                      f"p99 {r['p99']:7.2f} ms{note}")
    finally:
        srv.stop()
    for conc in CONCURRENCY:
        h, g = results[("/healthz", conc)], results[("/api/warnings.geojson", conc)]
        record(f"api: /healthz c={conc} requests/s (floor)", h["rps"], "req/s")
        record(f"api: /healthz c={conc} p99 latency", h["p99"], "ms")
        record(f"api: /api/warnings.geojson c={conc} requests/s vs /healthz", g["rps"], "req/s",
               baseline=h["rps"], ratio=g["rps"] / h["rps"])
        record(f"api: /api/warnings.geojson c={conc} p50 latency", g["p50"], "ms")
        record(f"api: /api/warnings.geojson c={conc} p99 latency vs /healthz p99", g["p99"], "ms",
               baseline=h["p99"], ratio=g["p99"] / h["p99"])


def _run_once(url: str) -> bytes:
    import httpx

    with httpx.Client(timeout=30) as c:
        r = c.get(url)
        r.raise_for_status()
        return r.content


def main() -> None:
    from floodwarn.catalog import load_catalog
    from floodwarn.config import load_settings

    logging.getLogger("floodwarn").setLevel(logging.ERROR)
    print(f"machine load average (1/5/15 min): {os.getloadavg()}, {os.cpu_count()} CPUs")
    catalog = load_catalog()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        settings = load_settings(env={}, data_dir=str(d / "var"), logging={"level": "WARNING"})
        store = cycle_bench(d, catalog, settings)
        try:
            api_bench(d, catalog, store)
        finally:
            store.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        loadgen(sys.argv[2:])
    else:
        main()
