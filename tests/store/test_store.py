"""The store contract, run on SQLite and PostgreSQL alike."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from floodwarn.records import QC, Quarantined, obs_frame
from floodwarn.store import Store, open_store


def _obs(values, times=(600, 1200, 1800), arrival=None, station="1018683", var="wl"):
    arrival = arrival if arrival is not None else [t + 60 for t in times]
    return obs_frame(station, var, list(times), list(values), list(arrival), "test")


def test_migrations_are_versioned_and_rerunnable(store: Store) -> None:
    v = store.schema_version()
    assert v == max(m[0] for m in Store.migrations())
    assert store.migrate() == v  # nothing pending: a no-op


def test_repeated_batch_never_duplicates(store: Store) -> None:
    first = store.upsert_observations(_obs([1.0, 1.1, 1.2]))
    again = store.upsert_observations(_obs([1.0, 1.1, 1.2]))
    assert (first.inserted, first.duplicates, first.corrected) == (3, 0, 0)
    assert (again.inserted, again.duplicates, again.corrected) == (0, 3, 0)
    assert store.count_observations() == 3


def test_duplicates_inside_one_batch_are_counted(store: Store) -> None:
    df = pd.concat([_obs([1.0, 1.1, 1.2]), _obs([1.0, 1.1, 1.2])])
    c = store.upsert_observations(df)
    assert c.inserted == 3 and c.duplicates == 3


def test_late_record_is_inserted_with_its_arrival_time(store: Store) -> None:
    store.upsert_observations(_obs([1.0, 1.2], times=(600, 1800)))
    late = _obs([1.1], times=(1200,), arrival=[9000])
    assert store.upsert_observations(late).inserted == 1
    before = store.observations(as_of=2000)
    assert list(before["valid_time"]) == [600, 1800]
    after = store.observations(as_of=9000)
    assert list(after["valid_time"]) == [600, 1200, 1800]


def test_correction_is_a_new_version_not_an_overwrite(store: Store) -> None:
    store.upsert_observations(_obs([1.0, 1.1, 1.2]))
    fix = _obs([1.5], times=(1200,), arrival=[5000])
    c = store.upsert_observations(fix)
    assert c.corrected == 1 and c.inserted == 0
    versions = store.observation_versions("1018683", "wl", 1200)
    assert list(versions["version"]) == [1, 2]
    assert list(versions["value"]) == [1.1, 1.5]
    # the honest view of a cycle before the correction arrived still sees the old value
    old = store.observations(as_of=4999).set_index("valid_time")["value"]
    new = store.observations(as_of=5000).set_index("valid_time")["value"]
    assert old[1200] == 1.1 and new[1200] == 1.5


def test_missing_value_is_null_with_flag_never_zero(store: Store) -> None:
    store.upsert_observations(_obs([1.0, np.nan, 1.2]))
    df = store.observations().set_index("valid_time")
    assert math.isnan(df.loc[1200, "value"])
    assert df.loc[1200, "qc"] & QC.MISSING
    # the same blank arriving again is a duplicate, a real value later is a correction
    assert store.upsert_observations(_obs([np.nan], times=(1200,))).duplicates == 1
    assert store.upsert_observations(_obs([1.1], times=(1200,), arrival=[3000])).corrected == 1


def test_filters_by_station_variable_and_window(store: Store) -> None:
    store.upsert_observations(_obs([1.0, 1.1, 1.2]))
    store.upsert_observations(_obs([5.0, 5.0, 5.0], station="1018680"))
    store.upsert_observations(_obs([0.0, 2.0, 1.0], station="10184100", var="rf"))
    assert len(store.observations(stations=["1018680"])) == 3
    assert len(store.observations(variables=["rf"])) == 3
    assert len(store.observations(start=1200, end=1200)) == 3
    assert store.observations(stations=[]).empty


def test_set_qc_flags_latest_version(store: Store) -> None:
    store.upsert_observations(_obs([1.0, 1.1, 1.2]))
    flags = pd.DataFrame({"station": ["1018683"], "variable": ["wl"], "valid_time": [1200], "qc": [int(QC.SPIKE)]})
    assert store.set_qc(flags) == 1
    df = store.observations().set_index("valid_time")
    assert df.loc[1200, "qc"] & QC.SPIKE and not df.loc[600, "qc"] & QC.SPIKE


def test_raw_payload_kept_as_received_and_quarantine(store: Store) -> None:
    body = '{"content": [{"wlobscd": "1018683", "wl": " "}]}\x00\xff'.encode("utf-8", "surrogatepass")
    pid = store.save_raw("hrfco", body, 1000, url="http://x/waterlevel/list/10M.json", status=200)
    assert store.raw_payload(pid)["body"] == body
    n = store.quarantine([Quarantined("hrfco", '{"wl": "abc"}', "wl: not a number 'abc'", 1000)], pid)
    assert n == 1
    q = store.quarantined()
    assert list(q["reason"]) == ["wl: not a number 'abc'"] and int(q["payload_id"][0]) == pid


def test_forecasts_rerun_replaces_not_duplicates(store: Store) -> None:
    fc = pd.DataFrame({
        "station": ["1018683"] * 2, "issued_at": [6000, 6000], "lead_min": [10, 60],
        "q05": [1.0, 1.1], "q50": [1.1, 1.3], "q95": [1.2, 1.6], "method": "lgbm",
        "model_version": "v1", "flags": "",
    })
    store.save_forecasts(fc)
    store.save_forecasts(fc.assign(q50=[1.15, 1.35]))
    got = store.forecasts(station="1018683")
    assert len(got) == 2 and list(got["q50"]) == [1.15, 1.35]
    store.save_forecasts(fc, shadow=True)
    assert len(store.forecasts(shadow=True)) == 2 and len(store.forecasts()) == 2


def test_cycle_ledger_records_interrupted_and_completed(store: Store) -> None:
    store.cycle_begin(6000, 6010)
    assert store.cycle(6000)["status"] == "running"
    assert store.last_completed_cycle() is None
    store.cycle_end(6000, 6020, "ok", {"forecasts": 3})
    assert store.last_completed_cycle()["report"] == {"forecasts": 3}
    store.cycle_begin(6600, 6610)
    assert [c["cycle_at"] for c in store.cycles(status="running")] == [6600]


def test_meta_roundtrip(store: Store) -> None:
    assert store.get_meta("k") is None
    store.set_meta("k", "1")
    store.set_meta("k", "2")
    assert store.get_meta("k") == "2"


def test_failed_transaction_loses_nothing_already_stored(store: Store) -> None:
    store.upsert_observations(_obs([1.0, 1.1, 1.2]))
    with pytest.raises(RuntimeError):
        with store.tx() as cur:
            cur.execute("DELETE FROM observations")
            raise RuntimeError("crash mid-transaction")
    assert store.count_observations() == 3


def test_sqlite_is_wal(tmp_path) -> None:
    s = open_store(f"sqlite:///{tmp_path / 'w.sqlite'}")
    assert s.query("PRAGMA journal_mode")[0][0] == "wal"


def test_read_only_store_gives_a_clear_error(tmp_path) -> None:
    import os

    from floodwarn.errors import StoreError

    path = tmp_path / "ro.sqlite"
    s = open_store(f"sqlite:///{path}")
    s.upsert_observations(_obs([1.0, 1.1, 1.2]))
    s.close()
    os.chmod(tmp_path, 0o500)
    os.chmod(path, 0o400)
    try:
        ro = open_store(f"sqlite:///{path}", migrate=False)
        if os.geteuid() == 0:
            # root ignores file modes; use SQLite's own read-only switch for the same failure
            ro.query("PRAGMA query_only = ON")
        with pytest.raises(StoreError):
            ro.upsert_observations(_obs([2.0], times=(9000,)))
            ro.query("INSERT INTO meta (key, value) VALUES ('a', 'b')")
    finally:
        os.chmod(tmp_path, 0o700)
        os.chmod(path, 0o600)
    assert open_store(f"sqlite:///{path}").count_observations() == 3


def test_full_store_gives_a_clear_error_and_keeps_data(tmp_path) -> None:
    from floodwarn.errors import StoreError

    path = tmp_path / "full.sqlite"
    s = open_store(f"sqlite:///{path}")
    s.upsert_observations(_obs([1.0, 1.1, 1.2]))
    pages = s.query("PRAGMA page_count")[0][0]
    s.query(f"PRAGMA max_page_count = {pages + 2}")
    big = obs_frame("X", "wl", np.arange(50_000) * 600, np.random.default_rng(0).random(50_000), np.arange(50_000) * 600, "t")
    with pytest.raises(StoreError, match="full"):
        s.upsert_observations(big)
    s.close()
    assert open_store(f"sqlite:///{path}").count_observations() == 3


@pytest.mark.postgres
def test_postgres_leader_lock_is_exclusive(pg_url: str) -> None:
    from floodwarn.store.postgres import PostgresStore

    a, b = open_store(pg_url), open_store(pg_url)
    assert isinstance(a, PostgresStore) and isinstance(b, PostgresStore)
    assert a.try_leader_lock(42) is True
    assert b.try_leader_lock(42) is False  # a hot standby
    a.close()  # the leader's session ends: its lock is released
    assert b.try_leader_lock(42) is True
    b.close()
