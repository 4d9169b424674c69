"""Scheduling logic with fixed aware datetimes: no sleeping, no wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler

from floodwarn.config import load_settings
from floodwarn.cycle import CycleContext
from floodwarn.daemon import JOB_ID, Daemon, due_cycle, first_fire_time, pending_cycles
from floodwarn.metrics import Metrics
from floodwarn.store import open_store

T = datetime(2020, 8, 6, 3, 0, tzinfo=UTC)
M = timedelta(minutes=10)


def test_due_cycle_waits_for_the_data_latency_offset() -> None:
    assert due_cycle(T + timedelta(seconds=119), 10, 120) == T - M  # 12:01:59 → the 11:50 cycle
    assert due_cycle(T + timedelta(seconds=120), 10, 120) == T
    assert due_cycle(T + timedelta(minutes=9, seconds=59), 10, 120) == T


def test_first_fire_time_is_a_ten_minute_mark_plus_offset() -> None:
    assert first_fire_time(T + timedelta(seconds=30), 10, 120) == T + timedelta(seconds=120)
    assert first_fire_time(T + timedelta(seconds=120), 10, 120) == T + timedelta(seconds=120)
    assert first_fire_time(T + timedelta(seconds=121), 10, 120) == T + M + timedelta(seconds=120)


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    yield s
    s.close()


def _done(store, t: datetime, status: str = "ok") -> None:
    store.cycle_begin(int(t.timestamp()), 0)
    if status != "running":
        store.cycle_end(int(t.timestamp()), 1, status, {})


def test_empty_ledger_runs_only_the_due_cycle(store) -> None:
    run, skipped = pending_cycles(store, T + timedelta(seconds=130), 10, 120, 36)
    assert run == [T] and skipped == []


def test_interrupted_and_missed_cycles_are_run_oldest_first(store) -> None:
    _done(store, T - 5 * M)
    _done(store, T - 4 * M, "running")  # kill -9 in the middle of this one
    run, skipped = pending_cycles(store, T + timedelta(seconds=130), 10, 120, 36)
    assert run == [T - 4 * M, T - 3 * M, T - 2 * M, T - M, T]
    assert skipped == []


def test_catch_up_is_bounded_and_says_what_it_skipped(store) -> None:
    _done(store, T - 100 * M)
    run, skipped = pending_cycles(store, T + timedelta(seconds=130), 10, 120, 6)
    assert run == [T - 5 * M + i * M for i in range(6)]
    assert len(skipped) == 94 and skipped[0] == T - 99 * M and skipped[-1] == T - 6 * M


def test_the_job_is_aligned_coalescing_and_single_instance(store) -> None:
    settings = load_settings(env={}, cycle={"interval_min": 10, "offset_s": 120, "misfire_grace_s": 240})
    daemon = Daemon(CycleContext(settings=settings, store=store))
    sched = BackgroundScheduler(timezone=UTC)
    now = T + timedelta(minutes=3, seconds=7)
    job = daemon.add_job(sched, now=now)
    assert job.id == JOB_ID
    assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time == 240
    first = job.trigger.get_next_fire_time(None, now)
    assert first == T + M + timedelta(seconds=120)
    second = job.trigger.get_next_fire_time(first, first)
    assert second - first == M


def test_missed_and_overrunning_runs_are_counted_and_logged(store, caplog) -> None:
    settings = load_settings(env={})
    metrics = Metrics()
    daemon = Daemon(CycleContext(settings=settings, store=store, metrics=metrics))
    daemon._on_event(JobExecutionEvent(EVENT_JOB_MISSED, JOB_ID, None, T))
    daemon._on_event(JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, JOB_ID, None, [T + M]))
    daemon._on_event(JobExecutionEvent(EVENT_JOB_MISSED, JOB_ID, None, T + 2 * M))
    assert daemon.stats.missed == 2 and daemon.stats.overrun == 1
    text = metrics.render().decode()
    assert 'floodwarn_cycles_missed_total{reason="missed"} 2.0' in text
    assert 'floodwarn_cycles_missed_total{reason="overrun"} 1.0' in text
    assert sum("missed" in r.getMessage() for r in caplog.records) == 2
    assert any("overrun" in r.getMessage() for r in caplog.records)


def test_a_store_failure_is_fatal_for_the_daemon(store) -> None:
    from floodwarn.errors import StoreError

    settings = load_settings(env={}, cycle={"offset_s": 0})
    daemon = Daemon(CycleContext(settings=settings, store=store), clock=lambda: T)
    assert [r.cycle_at for r in daemon.catch_up()] == [T]
    store.query("PRAGMA query_only = ON")
    daemon.clock = lambda: T + M
    with pytest.raises(StoreError):
        daemon.catch_up()
    assert daemon.stats.fatal is not None and daemon.stop_event.is_set()
    daemon.tick()  # the scheduled job swallows it (the main loop exits non-zero)
