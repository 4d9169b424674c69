"""run_cycle: the one pipeline — ledger, honest time, idempotency, degrade-not-fail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from floodwarn.cycle import make_context, run_cycle
from floodwarn.errors import StoreError
from floodwarn.feeds.archive import ArchiveFeed
from floodwarn.feeds.base import Feed
from tests.daemon.cycle_support import (
    STEP,
    T0,
    hrfco_server_module,
    settings_for,
    slice_archive,
    snapshot,
)


def _ctx(tmp_path: Path, feed=None, **kw):
    settings = settings_for(tmp_path)
    return make_context(settings, feed=feed, **kw)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return slice_archive(tmp_path / "a.csv", T0 - timedelta(hours=26), T0 + 12 * STEP)


def test_cycle_records_the_ledger_and_stage_timings(tmp_path, archive) -> None:
    ctx = _ctx(tmp_path, ArchiveFeed(archive))
    report = run_cycle(T0 + timedelta(minutes=3), ctx)  # floored to the grid
    assert report.cycle_at == T0
    assert report.status == "ok", report.to_dict()
    names = [s.name for s in report.stages]
    assert names == ["ingest", "history", "qc", "forecast", "warn", "products", "outbox"]
    assert report.stage("ingest").counts["inserted"] > 1000
    assert report.forecasts > 0
    assert report.stations["fresh"] >= 1 and report.stations["missing"] > 0
    row = ctx.store.cycle(int(T0.timestamp()))
    assert row["status"] == "ok" and row["finished_at"] >= row["started_at"]
    assert set(row["report"]["stages"]) == set(names)
    assert ctx.store.last_completed_cycle()["cycle_at"] == int(T0.timestamp())


def test_cycle_sees_only_what_arrived_by_its_time(tmp_path, archive) -> None:
    ctx = _ctx(tmp_path, ArchiveFeed(archive))
    run_cycle(T0, ctx)
    wide = ctx.last_frames["wide"]
    assert wide.index.max() == pd.Timestamp(T0)
    # the archive holds two more hours (arrival = valid time): none of it may leak in
    assert ctx.store.observations(start=int(T0.timestamp()) + 1).empty
    late = ctx.store.observations(start=int(T0.timestamp()) - 600, end=int(T0.timestamp()))
    assert (late["arrival_time"] <= int(T0.timestamp())).all()
    # a later correction (new version, arrives later) is invisible to a re-run of the old cycle
    from floodwarn.records import obs_frame

    ctx.store.upsert_observations(obs_frame(["1018683"], "wl", [int(T0.timestamp())], [99.0],
                                            [int(T0.timestamp()) + 1800], "test"))
    ctx.feed = None
    run_cycle(T0, ctx)
    assert ctx.last_frames["wide"]["wl_1018683"].iloc[-1] < 20


def test_rerunning_cycles_duplicates_nothing(tmp_path, archive) -> None:
    ctx = _ctx(tmp_path, ArchiveFeed(archive))
    times = [T0 + i * STEP for i in range(6)]
    for t in times:
        run_cycle(t, ctx)
    first = snapshot(tmp_path / "store.sqlite")
    assert first["forecasts"]
    # a fresh process (new feed state) re-running the same cycles writes nothing new
    ctx2 = _ctx(tmp_path, ArchiveFeed(archive))
    for t in times:
        run_cycle(t, ctx2)
    again = snapshot(tmp_path / "store.sqlite")
    assert again == first


class _BrokenFeed(Feed):
    """An upstream that raises (a bug or an unexpected library error), not a polite HTTP 500."""

    @classmethod
    def from_settings(cls, settings, **options):  # pragma: no cover
        return cls()

    def poll(self, at, known=None):
        raise ConnectionResetError("peer reset")


def test_a_failing_stage_degrades_the_cycle_and_the_rest_runs(tmp_path, archive) -> None:
    ctx = _ctx(tmp_path, ArchiveFeed(archive))
    run_cycle(T0, ctx)
    ctx.feed = _BrokenFeed()
    report = run_cycle(T0 + STEP, ctx)
    assert report.status == "degraded"
    assert report.stage("ingest").status == "failed"
    assert "ConnectionResetError" in report.stage("ingest").error
    assert "stage_failed:ingest" in report.flags
    assert report.stage("forecast").status == "ok" and report.forecasts > 0
    assert ctx.store.cycle(int((T0 + STEP).timestamp()))["status"] == "degraded"


@pytest.mark.parametrize("fault", [500, "timeout"])
def test_hrfco_down_or_slow_degrades_not_fails(tmp_path, fault) -> None:
    from floodwarn.config import HrfcoConfig
    from floodwarn.feeds.hrfco import HrfcoClient

    srvmod = hrfco_server_module()
    with srvmod.HrfcoServer(now=T0, slow_s=1.0) as srv:
        cfg = HrfcoConfig(base_url=srv.base_url, service_key=srv.key, timeout_s=0.3, retries=0)
        client = HrfcoClient(cfg, sleep=lambda s: None)
        ctx = _ctx(tmp_path, client)
        ok = run_cycle(T0, ctx)
        assert ok.stage("ingest").counts["inserted"] > 0
        assert ok.stage("ingest").counts["fetch_errors"] == 0
        srv.fail("*", *([fault] * 3))
        bad = run_cycle(T0 + STEP, ctx)
        client.close()
    assert bad.status == "degraded"
    assert "feed_error" in bad.flags
    assert bad.stage("ingest").status == "ok"  # the stage itself coped
    assert bad.stage("ingest").counts["fetch_errors"] == 3
    assert bad.stage("forecast").status == "ok"
    # the failed payloads are kept for the audit trail
    raw = ctx.store.query("SELECT COUNT(*) FROM raw_payloads WHERE error IS NOT NULL")[0][0]
    assert raw == 3


def test_a_read_only_store_stops_the_cycle_with_a_store_error(tmp_path, archive) -> None:
    ctx = _ctx(tmp_path, ArchiveFeed(archive))
    run_cycle(T0, ctx)
    ctx.store.query("PRAGMA query_only = ON")
    with pytest.raises(StoreError):
        run_cycle(T0 + STEP, ctx)


def test_a_full_store_stops_the_cycle_and_loses_nothing(tmp_path, archive) -> None:
    ctx = _ctx(tmp_path, ArchiveFeed(archive))
    run_cycle(T0, ctx)
    before = ctx.store.count_observations()
    pages = ctx.store.query("PRAGMA page_count")[0][0]
    ctx.store.query(f"PRAGMA max_page_count = {pages}")
    big = slice_archive(tmp_path / "big.csv", T0 - timedelta(days=6), T0 + 12 * STEP)
    ctx.feed = ArchiveFeed(big)
    with pytest.raises(StoreError, match="full"):
        run_cycle(T0 + STEP, ctx)
    ctx.store.close()
    from floodwarn.store import open_store

    again = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    assert again.count_observations() == before
    assert again.cycle(int(T0.timestamp()))["status"] == "ok"


def test_cycle_history_covers_what_the_models_need() -> None:
    from floodwarn import cycle
    from floodwarn.forecast import predict

    assert cycle.HISTORY_MIN >= predict.OFFSET_HISTORY_MIN >= predict.HISTORY_MIN


def test_live_history_read_seeks_the_time_span_not_the_station_history(tmp_path, archive) -> None:
    """The live path's store reads must use the primary key down to valid_time (a plan that
    seeks the station only reads months of history every cycle of a long-running daemon)."""
    ctx = _ctx(tmp_path, ArchiveFeed(archive))
    seen: list[tuple[str, tuple]] = []
    real_query = ctx.store.query

    def spy(sql, params=(), write=False):  # the real query runs; we only keep its text
        seen.append((sql, tuple(params)))
        return real_query(sql, params, write)

    ctx.store.query = spy
    try:
        run_cycle(T0, ctx)
    finally:
        del ctx.store.query
    reads = [(q, p) for q, p in seen if q.lstrip().upper().startswith("SELECT") and "FROM observations" in q
             and "station IN" in q]
    assert reads, "the cycle read no observation history"
    for sql, params in reads:
        plan = " ".join(str(r) for r in ctx.store.query("EXPLAIN QUERY PLAN " + sql, params))
        assert "valid_time>" in plan, plan
