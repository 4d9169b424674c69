"""Cycle benchmarks: one live cycle from a loopback HRFCO server (223 points, 1,417 stations)
and a season replay of the Han reach.

- ``cycle_live_223``: the store holds 26 h of history for the 223 forecast points (synthetic
  series, so it needs no ../shared); each timed cycle polls the loopback HRFCO-format server
  (water level for the 223 points, the three Seoul rain gauges, Paldang dam) and runs every
  stage to products. Median of 5 cycles after 2 warm-up cycles; stage breakdown recorded.
- ``cycle_live_1417``: the same with the server answering for all 1,417 water-level stations.
- ``replay_han_season``: the 2020 season (May–Oct, 26,496 cycles) of the competition data for
  the Han reach from ../shared/data. By default a three-day slice is replayed and the season
  time extrapolated from it as setup + steady per-cycle cost × 26,496 (recorded as such);
  ``FLOODWARN_BENCH_FULL=1`` replays the season.

Run: ``.venv/bin/python -m bench cycle``.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import record

ROOT = Path(__file__).resolve().parent.parent
T = datetime(2020, 8, 6, 3, 0, tzinfo=UTC)
SEASON_CYCLES = 26_496


def _server_module():
    path = ROOT / "tests" / "feeds" / "hrfco_server.py"
    spec = importlib.util.spec_from_file_location("bench_hrfco_server", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _settings(d: Path):
    from floodwarn.config import load_settings

    return load_settings(env={}, data_dir=str(d / "var"), store={"url": f"sqlite:///{d / 's.sqlite'}"},
                         logging={"level": "WARNING"})


def _server_history(srv_mod, stations: dict[str, list[str]]):
    """26 h before the first timed cycle, as the loopback server would have served it."""
    from floodwarn.records import ParseResult, obs_frame

    fields = {"waterlevel": ("wl", "fw"), "rainfall": ("rf",), "dam": ("swl", "inf", "tototf", "sfw", "ecpc")}
    rows: dict[str, list] = {"station": [], "variable": [], "t": [], "value": []}
    t = T - timedelta(hours=26)
    while t < T - timedelta(minutes=20):
        for hydro, codes in stations.items():
            for code in codes:
                vals = srv_mod.default_values(hydro, code, t)
                for var in fields[hydro]:
                    v = str(vals.get(var, "")).strip()
                    rows["station"].append(code)
                    rows["variable"].append(var)
                    rows["t"].append(int(t.timestamp()))
                    rows["value"].append(float(v) if v else float("nan"))
        t += timedelta(minutes=10)
    obs = obs_frame(rows["station"], rows["variable"], rows["t"], rows["value"], rows["t"], "hrfco")
    return ParseResult(obs=obs)


def live_cycle(n_waterlevel: str) -> dict[str, float]:
    """Median wall time of a live cycle and of each stage (seconds)."""
    import logging

    from floodwarn.config import HrfcoConfig
    from floodwarn.cycle import make_context, run_cycle
    from floodwarn.feeds.hrfco import HrfcoClient
    from floodwarn.ingest import ingest_result

    logging.getLogger("floodwarn").setLevel(logging.ERROR)
    srv_mod = _server_module()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        settings = _settings(d)
        ctx = make_context(settings, feed=None)
        cat = ctx.catalog
        points = cat.forecast_points()
        codes = list(cat.stations.index) if n_waterlevel == "1417" else list(points.index)
        stations = {"waterlevel": [str(c) for c in codes],
                    "rainfall": ["10184100", "10184110", "10184140"], "dam": ["1017310"]}
        # 26 h of history from the same deterministic series the loopback server answers with
        ingest_result(ctx.store, _server_history(srv_mod, stations), "hrfco")
        with srv_mod.HrfcoServer(stations=stations, now=T - timedelta(minutes=20)) as srv:
            # the client stamps arrival with the simulated "now" the server answers for (+5 s)
            client = HrfcoClient(HrfcoConfig(base_url=srv.base_url, service_key=srv.key, timeout_s=5),
                                 clock=lambda: srv.now.timestamp() + 5)
            ctx.feed = client
            walls, stages = [], {}
            for i in range(7):
                at = T - timedelta(minutes=20) + i * timedelta(minutes=10)
                srv.now = at
                t0 = time.perf_counter()
                rep = run_cycle(at, ctx)
                wall = time.perf_counter() - t0
                if i >= 2:
                    walls.append(wall)
                    for s in rep.stages:
                        stages.setdefault(s.name, []).append(s.seconds)
            client.close()
        ctx.store.close()
    out = {"wall": statistics.median(walls)}
    out.update({k: statistics.median(v) for k, v in stages.items()})
    out["status_ok"] = float(rep.status == "ok")
    if rep.status != "ok":
        print(f"cycle_live_{n_waterlevel}: last cycle {rep.status}: {rep.flags} {[(s.name, s.error) for s in rep.stages if s.error]}")
    out["forecasts"] = float(rep.forecasts)
    return out


def season_replay(shared: Path) -> None:
    """Replay the 2020 season (or a 3-day slice of it) and record wall time and stage costs.

    The slice's extrapolation separates the one-off setup (imports, archive, models, the first
    cycle's backlog) from the steady per-cycle cost measured between the first and the last
    cycle: ``setup + steady × 26,496``. (``wall / cycles × 26,496`` would charge the setup 61
    times; it is recorded too, as ``..._naive_wall``.) CPU time per cycle is recorded beside the
    wall time because a shared 2-core machine makes wall times noisy.
    """
    from floodwarn.feeds.archive import write_archive
    from floodwarn.feeds.hanriver import read_hanriver
    from floodwarn.replay import replay

    full = os.environ.get("FLOODWARN_BENCH_FULL") == "1"
    stamps: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        obs = read_hanriver(shared / "hanriver", [2020]).obs
        archive = write_archive(obs, d / "han2020.parquet")
        start = datetime(2020, 5, 2, 0, 0, tzinfo=UTC) - timedelta(hours=9)  # 05-02 00:00 KST
        end = datetime(2020, 10, 31, 14, 50, tzinfo=UTC) if full else start + timedelta(days=3) - timedelta(minutes=10)
        t0, c0 = time.perf_counter(), time.process_time()
        res = replay(_settings(d), [archive], start, end, d / "out", progress=False,
                     on_cycle=lambda rep, ctx: stamps.append((time.perf_counter(), time.process_time())))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    per = wall / res.cycles
    steady = (stamps[-1][0] - stamps[0][0]) / max(len(stamps) - 1, 1)
    steady_cpu = (stamps[-1][1] - stamps[0][1]) / max(len(stamps) - 1, 1)
    setup = wall - steady * res.cycles
    if full:
        record("replay_han_season_2020_wall", wall, "s", baseline=600.0, ratio=wall / 600.0)
        record("replay_han_season_2020_cpu", cpu, "s")
    else:
        record("replay_han_3days_per_cycle", per * 1000, "ms")
        est = setup + steady * SEASON_CYCLES
        record("replay_han_season_extrapolated_wall", est, "s", baseline=600.0, ratio=est / 600.0)
        record("replay_han_season_extrapolated_naive_wall", per * SEASON_CYCLES, "s")
        record("replay_han_setup_wall", setup, "s")
    record("replay_han_steady_per_cycle", steady * 1000, "ms")
    record("replay_han_steady_cpu_per_cycle", steady_cpu * 1000, "ms")
    for k, v in res.stage_seconds.items():
        record(f"replay_han_stage_{k}_per_cycle", v / res.cycles * 1000, "ms")


def main() -> None:
    for n in ("223", "1417"):
        r = live_cycle(n)
        record(f"cycle_live_{n}_wall", r["wall"], "s", baseline=1.0, ratio=r["wall"] / 1.0)
        for k, v in r.items():
            if k not in ("wall", "status_ok", "forecasts"):
                record(f"cycle_live_{n}_stage_{k}", v * 1000, "ms")
    shared = Path(os.environ.get("FLOODWARN_SHARED", ROOT.parent / "shared")) / "data"
    if (shared / "hanriver").is_dir():
        season_replay(shared)
    else:
        print(f"replay_han_season skipped: {shared / 'hanriver'} not found")


if __name__ == "__main__":
    main()
