"""Ingest benchmarks (issue 3): import ten seasons of the competition data; upsert one cycle.

- parse: ``read_hanriver`` over the ten full seasons 2012–2021 (rows/s), against the floor of
  just reading the same 20 CSV files with ``pandas.read_csv`` (ratio = ours / floor);
- archive: the same observations through the long-archive reader (Parquet), rows/s;
- HRFCO: parse one latest-values JSON response for all 1,417 water-level stations;
- store: upsert one 223-point cycle (wl + fw) into a SQLite store that already holds one day of
  history, new keys and the idempotent repeat; and the full ingest of an HRFCO payload
  (raw payload + quarantine + upsert in one transaction) via ``floodwarn.ingest``;
- bulk: one season (2020, 450k observations) upserted into an empty store, rows/s.

Needs ``../shared/data`` for the parse benchmarks (skipped with a note when absent).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import record, timeit

ROOT = Path(__file__).resolve().parent.parent
HANRIVER = ROOT.parent / "shared" / "data" / "hanriver"
SEASONS = list(range(2012, 2022))  # ten full May–Oct seasons
CYCLE_POINTS = 223


def bench_parse() -> None:
    from floodwarn.feeds.hanriver import read_hanriver

    if not (HANRIVER / "water_data").is_dir():
        print(f"skip parse benchmarks: {HANRIVER} not found")
        return

    def floor() -> None:
        for y in SEASONS:
            pd.read_csv(HANRIVER / "water_data" / f"data_{y}.csv")
            pd.read_csv(HANRIVER / "rf_data" / f"rf_{y}.csv")

    t_floor = timeit(floor, repeat=2)
    res = read_hanriver(HANRIVER, SEASONS)  # warm the page cache and imports
    t = timeit(lambda: read_hanriver(HANRIVER, SEASONS), repeat=2)
    n = len(res.obs)
    record("ingest: read_hanriver 10 seasons (2012-2021)", t, "s", t_floor, t / t_floor)
    record("ingest: read_hanriver rows/s", n / t, "rows/s")

    from floodwarn.feeds.archive import read_archive, write_archive

    with tempfile.TemporaryDirectory() as tmp:
        p = write_archive(res.obs, Path(tmp) / "ten.parquet")
        t_arch = timeit(lambda: read_archive(p), repeat=1)
        record("ingest: read_archive parquet 10 seasons rows/s", n / t_arch, "rows/s")
        sample = res.obs.iloc[: 1_000_000]
        c = write_archive(sample, Path(tmp) / "one.csv")
        t_csv = timeit(lambda: read_archive(c), repeat=1)
        record("ingest: read_archive csv rows/s (1M rows)", len(sample) / t_csv, "rows/s")


def hrfco_payload(n: int, t_kst: str = "202008061420") -> bytes:
    content = [
        {"wlobscd": f"{1000000 + i}", "ymdhm": t_kst, "wl": f"{1 + (i % 50) / 10:.2f}",
         "fw": " " if i % 3 else f"{100 + i:.2f}", "links": []}
        for i in range(n)
    ]
    return json.dumps({"links": [], "content": content}).encode()


def bench_hrfco_parse() -> None:
    from floodwarn.feeds.base import RawPayload
    from floodwarn.feeds.hrfco import parse

    body = hrfco_payload(1417)
    payload = RawPayload("u", 200, body, "application/json", 1596691290)
    t = timeit(lambda: parse(payload, "waterlevel"), repeat=5)
    record("ingest: HRFCO parse latest 1,417 stations (JSON)", t * 1000, "ms")


def cycle_obs(t: int, codes: list[str]) -> pd.DataFrame:
    from floodwarn.records import obs_frame

    n = len(codes)
    wl = obs_frame(codes, "wl", t, np.round(np.linspace(1, 5, n) + (t % 7) / 100, 2), t + 90,
                   "hrfco")
    fw = obs_frame(codes, "fw", t, np.linspace(10, 900, n), t + 90, "hrfco")
    return pd.concat([wl, fw], ignore_index=True)


def bench_store() -> None:
    try:
        from floodwarn.store import open_store
    except ImportError:  # pragma: no cover - the store is the lead's module
        print("skip store benchmarks: floodwarn.store.open_store not available")
        return
    from floodwarn.feeds.base import RawPayload
    from floodwarn.feeds.hrfco import parse
    from floodwarn.ingest import ingest_result

    codes = [f"{1000000 + i}" for i in range(CYCLE_POINTS)]
    t0 = 1596672000  # 2020-08-06 00:00 UTC
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.sqlite")
        try:
            history = pd.concat([cycle_obs(t0 - 600 * k, codes) for k in range(1, 145)])
            store.upsert_observations(history)
            cycles = iter(range(t0, t0 + 600 * 1000, 600))
            t_new = timeit(lambda: store.upsert_observations(cycle_obs(next(cycles), codes)),
                           repeat=10)
            record(f"ingest: upsert one {CYCLE_POINTS}-point cycle (wl+fw, new)", t_new * 1000,
                   "ms")
            same = cycle_obs(t0, codes)
            t_dup = timeit(lambda: store.upsert_observations(same), repeat=10)
            record(f"ingest: upsert one {CYCLE_POINTS}-point cycle (repeat, idempotent)",
                   t_dup * 1000, "ms")

            stamps = iter(pd.date_range("2020-08-10", periods=1000, freq="10min", tz="Asia/Seoul")
                          .strftime("%Y%m%d%H%M"))

            def full() -> None:
                body = hrfco_payload(CYCLE_POINTS, next(stamps))
                payload = RawPayload("u", 200, body, "application/json", 1597100000)
                ingest_result(store, parse(payload, "waterlevel"), "hrfco:waterlevel", payload)

            t_full = timeit(full, repeat=10)
            record(f"ingest: HRFCO payload -> store, {CYCLE_POINTS} points (parse+raw+upsert)",
                   t_full * 1000, "ms")
        finally:
            store.close()

        if (HANRIVER / "water_data").is_dir():
            from floodwarn.feeds.hanriver import read_hanriver

            obs = read_hanriver(HANRIVER, [2020]).obs
            bulk = open_store(f"sqlite:///{tmp}/bulk.sqlite")
            try:
                t = time.perf_counter()
                bulk.upsert_observations(obs)
                dt = time.perf_counter() - t
            finally:
                bulk.close()
            record("ingest: bulk upsert one season (2020) rows/s", len(obs) / dt, "rows/s")


def main() -> None:
    bench_parse()
    bench_hrfco_parse()
    bench_store()


if __name__ == "__main__":
    main()
