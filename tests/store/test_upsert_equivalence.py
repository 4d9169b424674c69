"""The list-based observation upsert counts and stores exactly what the DataFrame version did:
exact repeats skipped (NaN = NaN), the last record of a key within a batch wins, a changed
value becomes a new version. The reference below is that DataFrame version's logic."""

from __future__ import annotations

import numpy as np
import pandas as pd

from floodwarn.records import normalise_obs
from floodwarn.store import Store


def _reference(table: dict, obs: pd.DataFrame) -> tuple[int, int, int]:
    df = normalise_obs(obs)
    n0 = len(df)
    df = df.drop_duplicates(["station", "variable", "valid_time", "value"], keep="first")
    df = df.drop_duplicates(["station", "variable", "valid_time"], keep="last")
    dup, ins, cor = n0 - len(df), 0, 0
    for r in df.itertuples(index=False):
        key = (r.station, r.variable, int(r.valid_time))
        versions = table.setdefault(key, [])
        if versions:
            old = versions[-1][1]
            if (np.isnan(old) and np.isnan(r.value)) or abs(old - r.value) <= 1e-9:
                dup += 1
                continue
            cor += 1
        else:
            ins += 1
        versions.append((len(versions) + 1, float(r.value), int(r.arrival_time), int(r.qc)))
    return ins, dup, cor


def test_upsert_matches_the_dataframe_version(store: Store) -> None:
    rng = np.random.default_rng(9)
    table: dict = {}
    for batch in range(6):
        n = 60
        obs = pd.DataFrame({
            "station": rng.choice(["1018662", "1018680", "9"], n),
            "variable": rng.choice(["wl", "fw"], n),
            "valid_time": 1_596_000_000 + 600 * rng.integers(0, 8, n),
            "value": rng.choice([1.0, 1.0 + 1e-12, 2.0, np.nan, 3.5], n),
            "arrival_time": 1_596_100_000 + batch * 600 + rng.integers(0, 5, n),
            "source": "t",
            "qc": rng.choice([0, 2], n),
        })
        if batch == 3:  # not canonical: integer codes, float times (normalised like before)
            obs["station"] = rng.choice([1018662, 9], n)
            obs["valid_time"] = obs["valid_time"].astype(float)
        want = _reference(table, obs)
        got = store.upsert_observations(obs)
        assert (got.inserted, got.duplicates, got.corrected) == want, batch
    rows = store.query("SELECT station, variable, valid_time, version, value, arrival_time, qc FROM observations")
    stored = sorted((s, v, int(t), int(ver), np.nan if x is None else float(x), int(a), int(q))
                    for s, v, t, ver, x, a, q in rows)
    expect = sorted((k[0], k[1], k[2], ver, val, arr, q) for k, vs in table.items() for ver, val, arr, q in vs)
    assert len(stored) == len(expect)
    for a, b in zip(stored, expect, strict=True):
        assert a[:4] == b[:4] and a[5:] == b[5:]
        assert (np.isnan(a[4]) and np.isnan(b[4])) or a[4] == b[4]


def test_version_lookup_seeks_the_time_span_not_the_station_history(tmp_path) -> None:
    """The upsert's lookup must use the primary key down to valid_time: a plan that only
    seeks the station reads its whole history, and a season replay slows down cycle by cycle."""
    from floodwarn.store import open_store
    from floodwarn.store.base import _latest_sql

    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    t = 1_596_000_000 + 600 * np.arange(5000)
    obs = pd.DataFrame({"station": "1018662", "variable": np.where(np.arange(5000) % 2, "wl", "fw"),
                        "valid_time": t, "value": 1.0, "arrival_time": t + 60, "source": "t", "qc": 0})
    store.upsert_observations(obs)
    plan = " ".join(str(r) for r in store.query("EXPLAIN QUERY PLAN " + _latest_sql(1, 2),
                                                 ("1018662", "fw", "wl", int(t[-3]), int(t[-1]))))
    assert "valid_time>" in plan and "variable=" in plan, plan
    store.close()
