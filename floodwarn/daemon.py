"""The daemon: ``run_cycle`` every 10 minutes on APScheduler 3.x, restart-safe, never silently skipping.

Why it is built this way:

- The schedule is an interval trigger anchored on a 10-minute mark plus ``cycle.offset_s``
  (data latency: the 12:00 values are fetched at 12:02), with ``max_instances=1`` (a cycle never
  overlaps itself), ``coalesce=True`` (a backlog becomes one run, not a burst) and an explicit
  ``misfire_grace_time``. Coalescing or a late wake-up would skip cycle times, so every run
  first catches up the cycle times between the last completed one and now (bounded by
  ``cycle.catchup_max``); what is beyond the bound is logged and counted, never silently lost.
- Missed and overrunning runs (``EVENT_JOB_MISSED``, ``EVENT_JOB_MAX_INSTANCES``) are logged and
  counted in Prometheus.
- On start, a cycle left ``running`` in the ledger (``kill -9``, power loss) is completed first,
  then missed cycles are caught up, then the daemon goes live. A cycle is idempotent, so
  re-running an interrupted one duplicates nothing.
- A store that cannot be written (read-only, full) is fatal: the daemon stops with a clear
  message and a non-zero exit instead of pretending to forecast.
- APScheduler is imported in this module only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from floodwarn.cycle import CycleContext, CycleReport, run_cycle
from floodwarn.errors import StoreError
from floodwarn.times import as_utc, from_epoch, to_epoch

log = logging.getLogger(__name__)

JOB_ID = "floodwarn-cycle"


def due_cycle(now: datetime, interval_min: int = 10, offset_s: int = 0) -> datetime:
    """The newest cycle time whose data is due at ``now``: floor(now − offset) to the grid."""
    step = interval_min * 60
    t = to_epoch(now) - int(offset_s)
    return from_epoch(t - t % step)


def first_fire_time(now: datetime, interval_min: int = 10, offset_s: int = 0) -> datetime:
    """The next wall time ≥ ``now`` that is a 10-minute mark plus the offset."""
    step = interval_min * 60
    t = to_epoch(now) - int(offset_s)
    nxt = t - t % step
    if nxt < t:
        nxt += step
    return from_epoch(nxt + int(offset_s))


def pending_cycles(
    store: Any, now: datetime, interval_min: int, offset_s: int, catchup_max: int
) -> tuple[list[datetime], list[datetime]]:
    """(cycles to run, oldest first; cycles skipped beyond the catch-up bound).

    Runs: every cycle left ``running`` in the ledger, then every grid time after the last
    completed cycle up to the due one. With an empty ledger only the due cycle runs.
    """
    step = interval_min * 60
    due = to_epoch(due_cycle(now, interval_min, offset_s))
    interrupted = sorted(int(c["cycle_at"]) for c in store.cycles(limit=10_000, status="running"))
    interrupted = [t for t in interrupted if t <= due]
    last = store.last_completed_cycle()
    if last is None:
        wanted = [due]
    else:
        start = int(last["cycle_at"]) + step
        wanted = list(range(start, due + 1, step))
    skipped: list[int] = []
    if len(wanted) > catchup_max:
        skipped, wanted = wanted[: len(wanted) - catchup_max], wanted[len(wanted) - catchup_max :]
    run = sorted(set(interrupted) | set(wanted))
    return [from_epoch(t) for t in run], [from_epoch(t) for t in skipped]


@dataclass
class DaemonStats:
    cycles: int = 0
    missed: int = 0
    overrun: int = 0
    skipped_beyond_catchup: int = 0
    recovered: int = 0
    errors: int = 0
    last: CycleReport | None = None
    fatal: BaseException | None = None
    reports: list[CycleReport] = field(default_factory=list)


class Daemon:
    """Runs cycles on a schedule (or on demand) over one :class:`CycleContext`.

    ``clock`` returns the current aware UTC time; tests and drills pass a simulated one.
    """

    def __init__(
        self,
        ctx: CycleContext,
        clock: Callable[[], datetime] | None = None,
        keep_reports: int = 0,
    ) -> None:
        self.ctx = ctx
        cfg = ctx.settings.cycle
        self.interval_min = int(cfg.interval_min)
        self.offset_s = int(cfg.offset_s)
        self.grace_s = int(cfg.misfire_grace_s)
        self.catchup_max = int(cfg.catchup_max)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stats = DaemonStats()
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._keep = keep_reports
        self._scheduler: Any = None

    # -- running cycles ---------------------------------------------------------------------
    def _run(self, at: datetime) -> CycleReport | None:
        with self._lock:
            try:
                report = run_cycle(at, self.ctx)
            except StoreError as err:
                self._fatal(err)
                raise
            except Exception:  # noqa: BLE001 - run_cycle degrades; this is a bug: keep serving
                self.stats.errors += 1
                log.exception("cycle %s crashed", at.isoformat())
                return None
        self.stats.cycles += 1
        self.stats.last = report
        if self._keep:
            self.stats.reports.append(report)
            del self.stats.reports[: -self._keep]
        return report

    def _fatal(self, err: StoreError) -> None:
        self.stats.fatal = err
        log.critical("store failure, stopping the daemon: %s", err)
        self.stop_event.set()

    def catch_up(self, now: datetime | None = None) -> list[CycleReport]:
        """Complete interrupted cycles and run missed ones (bounded), oldest first.

        Stops early (after the running cycle) when the stop event is set, e.g. on SIGTERM.
        """
        now = as_utc(now or self.clock())
        try:
            todo, skipped = pending_cycles(
                self.ctx.store, now, self.interval_min, self.offset_s, self.catchup_max
            )
        except StoreError as err:
            self._fatal(err)
            raise
        if skipped:
            self.stats.skipped_beyond_catchup += len(skipped)
            self._count_missed("beyond_catchup", len(skipped))
            log.warning(
                "%d missed cycle(s) %s .. %s are beyond catchup_max=%d and are not run",
                len(skipped), skipped[0].isoformat(), skipped[-1].isoformat(), self.catchup_max,
            )
        due = due_cycle(now, self.interval_min, self.offset_s)
        if len(todo) > 1 or (todo and todo[0] != due):
            log.info("catching up %d cycle(s): %s .. %s", len(todo), todo[0].isoformat(), todo[-1].isoformat())
        done = []
        for at in todo:
            if self.stop_event.is_set():
                break
            try:
                was = self.ctx.store.cycle(to_epoch(at))
            except StoreError as err:
                self._fatal(err)
                raise
            if was is not None and was["status"] == "running":
                self.stats.recovered += 1
                log.warning("completing interrupted cycle %s", at.isoformat())
            elif at != due:
                self._count_missed("caught_up", 1)
            report = self._run(at)
            if report is not None:
                done.append(report)
        return done

    def tick(self) -> None:
        """The scheduled job: catch up anything missed, then run the due cycle."""
        try:
            self.catch_up()
        except StoreError:
            pass  # already recorded as fatal; the main loop exits non-zero

    # -- APScheduler ------------------------------------------------------------------------
    def _count_missed(self, reason: str, n: int) -> None:
        metrics = self.ctx.metrics
        if metrics is not None and hasattr(metrics, "cycles_missed"):
            try:
                metrics.cycles_missed.labels(reason=reason).inc(n)
            except Exception:  # noqa: BLE001
                pass

    def _on_event(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        when = getattr(event, "scheduled_run_time", None) or (
            getattr(event, "scheduled_run_times", None) or [None]
        )[-1]
        if event.code == EVENT_JOB_MISSED:
            self.stats.missed += 1
            self._count_missed("missed", 1)
            log.warning(
                "cycle run scheduled for %s was missed (more than %d s late); it is caught up next run",
                when, self.grace_s,
            )
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            self.stats.overrun += 1
            self._count_missed("overrun", 1)
            log.warning(
                "cycle run at %s skipped: the previous cycle is still running (overrun); "
                "it is caught up next run", when,
            )
        elif event.code == EVENT_JOB_ERROR:
            self.stats.errors += 1
            log.error("cycle job failed: %s", event.exception)

    def add_job(self, scheduler: Any, now: datetime | None = None) -> Any:
        """Put the cycle job on ``scheduler`` (any APScheduler 3.x scheduler)."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.triggers.interval import IntervalTrigger

        now = as_utc(now or datetime.now(UTC))
        trigger = IntervalTrigger(
            minutes=self.interval_min,
            start_date=first_fire_time(now, self.interval_min, self.offset_s),
            timezone=UTC,
        )
        scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )
        return scheduler.add_job(
            self.tick,
            trigger,
            id=JOB_ID,
            name="floodwarn cycle",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=self.grace_s,
            replace_existing=True,
        )

    def start(self) -> None:
        """Recover and catch up (synchronously), then schedule live cycles in the background."""
        from apscheduler.schedulers.background import BackgroundScheduler

        self.catch_up()
        if self.stop_event.is_set():
            return
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self.add_job(self._scheduler)
        self._scheduler.start()
        job = self._scheduler.get_job(JOB_ID)
        log.info("daemon live: next cycle run at %s", getattr(job, "next_run_time", None))

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; with ``wait`` the running cycle finishes first (SIGTERM path)."""
        self.stop_event.set()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        self._scheduler = None

    def wait(self, poll_s: float = 0.5) -> None:
        """Block until :meth:`stop` is requested (signal handlers set the stop event)."""
        while not self.stop_event.wait(poll_s):
            pass

    def next_run_time(self) -> datetime | None:
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(JOB_ID)
        return None if job is None else job.next_run_time


def simulated_clock(start: datetime, speed: float = 1.0) -> Callable[[], datetime]:
    """A clock that reads ``start`` now and runs ``speed`` times faster than the wall clock."""
    start = as_utc(start)
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=(time.monotonic() - t0) * speed)
