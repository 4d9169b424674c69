"""``run_cycle(at, ctx)``: the one 10-minute pipeline that live, catch-up, replay and hindcast share.

ingest → store → qc → history (as of ``at``) → forecast → warn → products → outbox.

Why it looks like this:

- **Honest time.** Every read of observations is ``as_of=at`` (arrival time ≤ cycle time), so a
  replayed or re-run cycle sees exactly what the live one saw.
- **Degrade, never fail.** Each stage runs in :class:`_Stage`; an exception in a stage is logged,
  recorded in the report and the cycle ends ``degraded`` with what the other stages produced. Only
  a store that cannot be written (:class:`~floodwarn.errors.StoreError`) stops the cycle: writing
  on would corrupt nothing but would report work that was never saved.
- **Idempotent.** Observations are upserted (repeats skipped), forecasts replace the cycle's own
  rows, the warning engine writes lifecycle and outbox rows idempotently per cycle; the ledger
  row is ``running`` until the end, so a restart after ``kill -9`` re-runs exactly that cycle.
- **Stages that don't exist yet are skipped**, not faked: the report says ``skipped`` with the
  reason, so the demo shows whatever the tree can do today.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.errors import StoreError
from floodwarn.ingest import IngestCounts, ingest_batches
from floodwarn.records import REJECT, VARIABLES
from floodwarn.times import STEP_S, as_utc, from_epoch, to_epoch

log = logging.getLogger(__name__)

#: history handed to the forecast stage: the models' 3-day windows (rain sums, release means)
#: plus lags (73 h), and the two days before that in which a failed gauge's last-known offset is
#: measured (floodwarn.forecast.offset); tests/test_cycle.py checks it covers
#: floodwarn.forecast.predict.OFFSET_HISTORY_MIN
HISTORY_MIN = 145 * 60
#: history for stations the models only need recent stage of (every other forecast point)
SHORT_HISTORY_MIN = 6 * 60
#: how many station codes a report lists by name (counts are always complete)
REPORT_LIST_MAX = 50


# ---------------------------------------------------------------------------------------------
# context and report


@dataclass
class CycleContext:
    """Everything a cycle needs, built once per process (daemon, replay, CLI) and reused.

    ``history`` replaces the store read for the forecast inputs (replay keeps its archive in
    memory); it must honour ``as_of`` exactly like :meth:`Store.observations`.
    ``products_dir`` receives ``warnings.geojson`` and ``alerts/*.xml`` (None: not written).
    """

    settings: Any
    store: Any
    catalog: Any = None
    feed: Any = None
    registry: Any = None
    metrics: Any = None
    mode: str = "live"
    clock: Callable[[], float] = time.time
    history: Callable[[int, int, int], pd.DataFrame] | None = None
    products_dir: Path | None = None
    keep_raw: bool = True
    #: stage names to skip on purpose (e.g. ``{"ingest"}`` when data was stored beforehand)
    skip: frozenset[str] = frozenset()
    #: rewrite ``warnings.geojson`` every cycle (replay writes it once at the end)
    geojson_each_cycle: bool = True
    #: shadow forecasts for registry candidates (off in replay unless asked)
    shadow: bool = True
    #: filled by the cycle for callers that want the frames (replay writes them to files)
    last_frames: dict[str, Any] = field(default_factory=dict)
    #: QC limits with the settings' stuck-gauge floors, built on the first cycle (cycle._qc_limits)
    qc_limits: Any = None
    #: the stations this run's data can ever hold (a replay archive's gauges); input freshness
    #: (fresh / stale / missing, the ``stale_inputs`` flag) is judged on these only, so a replay
    #: of a 4-gauge archive does not report the other 219 forecast points missing every cycle
    scope: frozenset[str] | None = None


@dataclass(frozen=True)
class StageReport:
    name: str
    status: str  # ok | failed | skipped
    seconds: float
    error: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did; stored as JSON in the cycle ledger."""

    cycle_at: datetime
    mode: str
    status: str  # ok | degraded
    started_at: float
    finished_at: float
    stages: tuple[StageReport, ...]
    stations: dict[str, Any]
    forecasts: int
    warnings_changed: int
    messages_enqueued: int
    flags: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at

    def stage(self, name: str) -> StageReport | None:
        return next((s for s in self.stages if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (the same as ``asdict`` with the stages keyed by
        name, built by hand: ``asdict`` walked every stage twice, ~1 ms a cycle)."""
        stages = {
            s.name: {"status": s.status, "seconds": s.seconds, "error": s.error,
                     "counts": _plain_copy(s.counts)}
            for s in self.stages
        }
        return {
            "cycle_at": self.cycle_at.isoformat(),
            "mode": self.mode,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "stages": stages,
            "stations": _plain_copy(self.stations),
            "forecasts": self.forecasts,
            "warnings_changed": self.warnings_changed,
            "messages_enqueued": self.messages_enqueued,
            "flags": list(self.flags),
            "seconds": round(self.seconds, 4),
        }


_ATOMS = (str, int, float, bool, type(None))


def _plain_copy(obj: Any) -> Any:
    """What :func:`dataclasses.asdict` makes of a field value: containers rebuilt, dataclasses
    turned into dicts, other leaves deep-copied (immutable atoms are kept as they are)."""
    if type(obj) in _ATOMS:
        return obj
    if isinstance(obj, dict):
        return type(obj)((_plain_copy(k), _plain_copy(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple) and not hasattr(obj, "_fields"):
        return type(obj)(_plain_copy(v) for v in obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return copy.deepcopy(obj)


class _Stage:
    """Times one stage and turns its exception into a ``failed`` record (StoreError passes)."""

    def __init__(self, name: str, reports: list[StageReport], flags: list[str]) -> None:
        self.name = name
        self.counts: dict[str, Any] = {}
        self._reports = reports
        self._flags = flags
        self.ok = False
        self.skipped: str | None = None

    def skip(self, reason: str) -> None:
        self.skipped = reason

    def needs(self, requirement: object, reason: str) -> bool:
        """Whether the stage should run: not skipped by the caller and ``requirement`` present
        (otherwise it is skipped with ``reason``)."""
        if self.skipped:
            return False
        if requirement is None:
            self.skip(reason)
            return False
        return True

    @contextmanager
    def run(self) -> Iterator[_Stage]:
        t0 = time.perf_counter()
        error = None
        try:
            yield self
            self.ok = self.skipped is None
        except StoreError:
            raise
        except Exception as err:  # noqa: BLE001 - a failing stage degrades the cycle
            error = f"{type(err).__name__}: {err}"
            log.exception("cycle stage %s failed", self.name)
            self._flags.append(f"stage_failed:{self.name}")
        dt = time.perf_counter() - t0
        status = "failed" if error else ("skipped" if self.skipped else "ok")
        if self.skipped and not error:
            self.counts.setdefault("reason", self.skipped)
        self._reports.append(StageReport(self.name, status, round(dt, 6), error, self.counts))


# ---------------------------------------------------------------------------------------------
# stage modules are imported inside the stages (lazily: importing the cycle must not load
# LightGBM); a stage that raises is recorded as failed and the cycle degrades


def _record_metrics(metrics: Any, report: CycleReport, ingested: IngestCounts, fc: pd.DataFrame) -> None:
    """Feed the Prometheus metrics (:class:`floodwarn.metrics.Metrics`); never raises."""
    if metrics is None:
        return
    try:
        metrics.record_cycle(
            {
                "duration_s": report.seconds,
                "status": report.status,
                "stages": {s.name: s.seconds for s in report.stages},
                "stations_missing": report.stations.get("missing", 0),
                "cycle_at": to_epoch(report.cycle_at),
            },
            mode=report.mode,
        )
        for state in ("fresh", "stale", "missing"):
            metrics.stations.labels(state=state).set(report.stations.get(state, 0))
        if ingested.quarantined:
            metrics.qc_rejections.labels(reason="quarantined").inc(ingested.quarantined)
        qc = report.stage("qc")
        if qc is not None and qc.counts.get("rejected"):
            metrics.qc_rejections.labels(reason="flagged").inc(qc.counts["rejected"])
        if len(fc) and "method" in fc:
            # the method of each station's first row, counted (drop_duplicates + value_counts
            # cost ~1 ms a cycle for a few dozen rows)
            first: dict[Any, Any] = {}
            for code, method in zip(fc["station"].tolist(), fc["method"].tolist(), strict=True):
                first.setdefault(code, method)
            per_method: dict[str, int] = {}
            for method in first.values():
                if method == method:  # value_counts leaves NaN out
                    per_method[str(method)] = per_method.get(str(method), 0) + 1
            for method, n in per_method.items():
                metrics.forecasts.labels(method=method).inc(n)
        warn = report.stage("warn")
        if warn is not None and "levels" in warn.counts:
            metrics.set_warnings({k: v for k, v in warn.counts["levels"].items() if k != "none"})
        outbox = report.stage("outbox")
        if outbox is not None and "backlog" in outbox.counts:
            metrics.outbox_backlog.labels(status="pending").set(outbox.counts["backlog"])
    except Exception:  # noqa: BLE001 - metrics never break a cycle
        log.warning("cycle metrics not recorded", exc_info=True)


# ---------------------------------------------------------------------------------------------
# the pipeline


def run_cycle(at: datetime, ctx: CycleContext) -> CycleReport:
    """Run the cycle for time ``at`` (aware; floored to the 10-minute grid) and record it."""
    at = as_utc(at)
    at_s = to_epoch(at)
    at_s -= at_s % STEP_S
    at = from_epoch(at_s)
    store, settings = ctx.store, ctx.settings
    # the data cut-off: the cycle for 12:00 runs at 12:00 + offset (data latency) and sees what
    # arrived by then; extended below to what this cycle itself fetched (never past the next cycle)
    cutoff_s = at_s + int(settings.cycle.offset_s)
    limit_s = at_s + int(settings.cycle.interval_min) * 60 - 1
    started = ctx.clock()
    store.cycle_begin(at_s, int(started), ctx.mode)
    stages: list[StageReport] = []
    flags: list[str] = []
    frames = ctx.last_frames
    frames.clear()
    n_forecasts = n_changed = n_enqueued = 0

    def stage(name: str) -> _Stage:
        st = _Stage(name, stages, flags)
        if name in ctx.skip:
            st.skip("skipped by the caller")
        return st

    # 1. ingest -------------------------------------------------------------------------------
    ingested = IngestCounts()
    st = stage("ingest")
    with st.run():
        if st.needs(ctx.feed, "no feed configured"):
            known = _known(ctx.catalog)
            batches = ctx.feed.poll(from_epoch(cutoff_s), known=known)
            ingested = ingest_batches(store, batches, keep_raw=ctx.keep_raw)
            received = [int(b.payload.received_at) for b in batches
                        if getattr(b, "payload", None) is not None and b.payload.ok]
            if received and ctx.mode == "live":
                cutoff_s = max(cutoff_s, min(max(received), limit_s))
            st.counts.update(ingested.summary())
            if ingested.fetch_errors:
                flags.append("feed_error")

    # 2. history as of ``at`` (+ QC) ------------------------------------------------------------
    long = pd.DataFrame()
    wide = pd.DataFrame()
    st = stage("history")
    with st.run():
        long = _read_history(ctx, at_s, cutoff_s)
        st.counts["observations"] = len(long)
        st.counts["as_of"] = from_epoch(cutoff_s).isoformat()
    st = stage("qc")
    with st.run():
        from floodwarn.qc import apply_qc

        if len(long):
            before = long["qc"].to_numpy(copy=True)
            long = apply_qc(long, _qc_limits(ctx))
            new = (long["qc"].to_numpy() & ~before) != 0
            fresh = new & (long["arrival_time"].to_numpy() > cutoff_s - STEP_S)
            st.counts["flagged"] = int(new.sum())
            if fresh.any():  # persist flags on what arrived this cycle (the audit trail)
                store.set_qc(long.loc[fresh, ["station", "variable", "valid_time", "qc"]])
        if len(long):
            rejected = (long["qc"].to_numpy() & int(REJECT)) != 0
            st.counts["rejected"] = int(rejected.sum())
    # 3. model inputs and freshness (guarded like a stage: a bug here degrades, never aborts)
    codes = None
    try:
        codes = _LongCodes.of(long)
        wide = _wide(long, at_s, codes)
        freshness = _freshness(ctx, long, at_s, codes)
    except Exception:  # noqa: BLE001
        log.exception("cycle inputs could not be built")
        flags.append("stage_failed:inputs")
        codes = None
        wide = _wide(pd.DataFrame(), at_s)
        freshness = _freshness(ctx, pd.DataFrame(), at_s)
    frames["wide"] = wide
    # plain NumPy over the status column (each pandas string comparison costs ~0.2 ms)
    fresh_states = freshness["status"].to_numpy(dtype=object) if len(freshness) else np.array([], dtype=object)
    n_stale = int((fresh_states == "stale").sum())
    n_missing = int((fresh_states == "missing").sum())
    if n_stale or n_missing:
        flags.append("stale_inputs")

    # 4. forecast -----------------------------------------------------------------------------
    forecasts = pd.DataFrame()
    model_info: dict[str, Any] = {}
    st = stage("forecast")
    with st.run():
        if st.needs(ctx.catalog, "no station catalog"):
            from floodwarn.forecast.predict import forecast_cycle

            registry = ctx.registry
            if registry is not None and hasattr(registry, "changed") and registry.changed():
                promoted = getattr(registry, "promoted", lambda: None)()
                log.info("model registry: promoted version is %s", promoted)
            forecasts = _epoch_issued(forecast_cycle(at, wide, ctx.catalog, registry, shadow=False))
            n_forecasts = store.save_forecasts(forecasts, shadow=False)
            model_info = _model_info(registry, forecasts)
            st.counts["rows"] = n_forecasts
            st.counts["stations"] = _n_unique(forecasts["station"]) if len(forecasts) else 0
            if len(forecasts) and "flags" in forecasts:
                st.counts["flagged_rows"] = sum(not _blank(f) for f in forecasts["flags"].tolist())
            if ctx.shadow and registry is not None and _has_shadow(registry):
                shadow = _epoch_issued(forecast_cycle(at, wide, ctx.catalog, registry, shadow=True))
                st.counts["shadow_rows"] = store.save_forecasts(shadow, shadow=True)
    frames["forecasts"] = forecasts

    # 5. warn -------------------------------------------------------------------------------
    result = None
    st = stage("warn")
    with st.run():
        if st.needs(ctx.catalog, "no station catalog"):
            from floodwarn.warn.engine import evaluate

            observed = _observed_stage(long, codes)
            result = evaluate(
                store, ctx.catalog, at, observed, forecasts, settings.warn, freshness, model_info,
                as_of=cutoff_s,
            )
            changed = list(getattr(result, "changed", []) or [])
            events = list(getattr(result, "events", []) or [])
            n_changed = len(changed)
            n_enqueued = int(getattr(result, "enqueued", len(events)))
            st.counts.update(changed=n_changed, events=len(events), enqueued=n_enqueued)
            states = getattr(result, "states", None)
            if states is not None:
                levels = _levels_count(states)
                st.counts["levels"] = levels
    frames["warn"] = result

    # 6. products ---------------------------------------------------------------------------
    st = stage("products")
    with st.run():
        if st.needs(ctx.products_dir, "no products directory") and st.needs(
                ctx.catalog, "no station catalog"):
            st.counts.update(write_products(ctx, result))

    # 7. outbox -----------------------------------------------------------------------------
    st = stage("outbox")
    with st.run():
        st.counts["backlog"] = _outbox_backlog(store)

    # degraded: a stage failed, a feed failed, or not one forecast point has fresh data
    status = "degraded" if any(f.startswith(("stage_failed", "feed_error")) for f in flags) else "ok"
    if len(freshness) and not (fresh_states == "fresh").any():
        status = "degraded"
        flags.append("no_fresh_inputs")
    finished = ctx.clock()
    report = CycleReport(
        cycle_at=at,
        mode=ctx.mode,
        status=status,
        started_at=started,
        finished_at=finished,
        stages=tuple(stages),
        stations=_stations_summary(freshness),
        forecasts=n_forecasts,
        warnings_changed=n_changed,
        messages_enqueued=n_enqueued,
        flags=tuple(dict.fromkeys(flags)),
    )
    store.cycle_end(at_s, int(finished), status, report.to_dict())
    _record_metrics(ctx.metrics, report, ingested, forecasts)
    level = logging.WARNING if status != "ok" else logging.INFO
    log.log(
        level,
        "cycle %s %s in %.2f s: %d forecasts, %d warnings changed, %d stale, %d missing%s",
        at.isoformat(), status, finished - started, n_forecasts, n_changed, n_stale, n_missing,
        f" [{', '.join(report.flags)}]" if report.flags else "",
    )
    return report


# ---------------------------------------------------------------------------------------------
# helpers


def _is_na(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and v != v)


def _n_unique(col: pd.Series) -> int:
    """``col.nunique()`` (missing values not counted) for a short column, without pandas."""
    return len({v for v in col.tolist() if not _is_na(v)})


def _blank(v: Any) -> bool:
    """What ``fillna("").astype(str) == ""`` calls blank: missing or the empty string."""
    return _is_na(v) or str(v) == ""


def _known(catalog: Any) -> Callable[[str], bool] | None:
    if catalog is None:
        return None
    return lambda code: catalog.known(code) is not None


#: catalog → (its stations table, forecast point codes): filtering the 1,417-row table costs
#: ~1 ms, and a cycle asks twice; a reloaded catalog (or stations table) is a new key
_FP_CODES: weakref.WeakKeyDictionary[Any, tuple[Any, list[str]]] = weakref.WeakKeyDictionary()


def _qc_limits(ctx: CycleContext) -> Any:
    """QC limits of this run, built on its first cycle: the defaults, with the stuck test on at
    ``qc.stuck_stations``, each floored at its 관심 level from the catalog (None: defaults)."""
    if ctx.qc_limits is not None or not ctx.settings.qc.stuck_stations:
        return ctx.qc_limits
    from floodwarn.errors import CatalogError
    from floodwarn.qc import QCLimits

    floors = {}
    for code in ctx.settings.qc.stuck_stations:
        try:
            floor = ctx.catalog.thresholds(code).get("attwl") if ctx.catalog is not None else None
        except CatalogError:
            floor = None
        if floor is None:
            log.warning("qc.stuck_stations: %s has no 관심 level in the catalog; stuck test off", code)
        floors[code] = float("nan") if floor is None else floor
    ctx.qc_limits = QCLimits().with_stuck_floors(floors, stuck_n=int(ctx.settings.qc.stuck_n))
    return ctx.qc_limits


def _forecast_codes(catalog: Any) -> list[str]:
    if catalog is None:
        return []
    stations = getattr(catalog, "stations", None)
    try:
        hit = _FP_CODES.get(catalog)
    except TypeError:  # not weak-referenceable / hashable
        hit = None
    if hit is not None and stations is not None and hit[0] is stations:
        return list(hit[1])
    codes = [str(c) for c in catalog.forecast_points().index]
    try:
        _FP_CODES[catalog] = (stations, codes)
    except TypeError:
        pass
    return list(codes)


def _long_codes(catalog: Any) -> list[str]:
    """Stations whose full 26 h history the models read: the river-network nodes."""
    if catalog is None:
        return []
    net = getattr(catalog, "network", None)
    return [str(c) for c in net.index] if net is not None and len(net) else []


def _read_history(ctx: CycleContext, at_s: int, as_of: int) -> pd.DataFrame:
    """Observations valid up to ``at`` that arrived by the cut-off (latest version per key)."""
    if ctx.history is not None:
        return ctx.history(at_s - HISTORY_MIN * 60, at_s, as_of)
    if ctx.catalog is None:
        return ctx.store.observations(start=at_s - HISTORY_MIN * 60, end=at_s, as_of=as_of)
    long_codes = _long_codes(ctx.catalog)
    warned = ctx.catalog.warned_codes() if hasattr(ctx.catalog, "warned_codes") else []
    short = sorted((set(_forecast_codes(ctx.catalog)) | set(warned)) - set(long_codes))
    parts = []
    if long_codes:
        # naming the variables lets the primary key (station, variable, valid_time) seek the
        # history span; with the station alone the planner reads the station's whole history,
        # and a daemon that has run for a season slows down cycle by cycle
        parts.append(
            ctx.store.observations(long_codes, variables=list(VARIABLES), start=at_s - HISTORY_MIN * 60,
                                   end=at_s, as_of=as_of)
        )
    if short:
        parts.append(
            ctx.store.observations(
                short, variables=["wl", "fw"], start=at_s - SHORT_HISTORY_MIN * 60, end=at_s, as_of=as_of
            )
        )
    parts = [p for p in parts if len(p)]
    if not parts:
        return ctx.store.observations([], start=at_s, end=at_s)
    return pd.concat(parts, ignore_index=True)


class _LongCodes:
    """Integer codes of one cycle's observation frame, computed once and shared by the model
    inputs, the freshness table and the warning engine's stage rows (each factorized the Arrow
    string columns again, ~1 ms a cycle). None when a label is missing: callers then take
    their plain path."""

    def __init__(self, long: pd.DataFrame, scodes: np.ndarray, suniq: Any, vcodes: np.ndarray,
                 vuniq: Any) -> None:
        self.scodes, self.suniq, self.vcodes, self.vuniq = scodes, suniq, vcodes, vuniq
        self.n = len(long)
        vals = long["value"].to_numpy(np.float64)
        #: a present value not rejected by QC
        self.usable = ~np.isnan(vals) & ((long["qc"].to_numpy() & int(REJECT)) == 0)
        wl = [i for i, v in enumerate(vuniq) if v == "wl"]
        self.is_wl = vcodes == wl[0] if wl else np.zeros(len(long), dtype=bool)

    @classmethod
    def of(cls, long: pd.DataFrame | None) -> _LongCodes | None:
        if long is None or not len(long):
            return None
        vcodes, vuniq = pd.factorize(long["variable"])
        scodes, suniq = pd.factorize(long["station"])
        if (vcodes < 0).any() or (scodes < 0).any():
            return None
        return cls(long, scodes, suniq, vcodes, vuniq)

    def fits(self, long: pd.DataFrame | None) -> bool:
        return long is not None and len(long) == self.n


def _wide(long: pd.DataFrame, at_s: int, codes: _LongCodes | None = None) -> pd.DataFrame:
    """Long observations → UTC 10-minute wide frame ``{variable}_{code}``; rejected values NaN.

    Built with NumPy (one scatter into a preallocated array): this runs every cycle of a
    26,496-cycle season replay, where ``pivot_table`` was the largest cost of the cycle itself.
    """
    n = HISTORY_MIN // 10 + 1
    first = at_s - (n - 1) * STEP_S
    index = pd.DatetimeIndex(pd.to_datetime(np.arange(first, at_s + 1, STEP_S), unit="s", utc=True), name="time")
    if long is None or not len(long):
        return pd.DataFrame(index=index)
    vt = long["valid_time"].to_numpy(np.int64)
    val = long["value"].to_numpy(np.float64)
    ok = ((long["qc"].to_numpy() & int(REJECT)) == 0) & np.isfinite(val)
    ok &= (vt % STEP_S == 0) & (vt >= first) & (vt <= at_s)
    if not ok.any():
        return pd.DataFrame(index=index)
    cols, uniq = _column_codes(long, ok, codes)
    out = np.full((n, len(uniq)), np.nan)
    out[(vt[ok] - first) // STEP_S, cols] = val[ok]  # one row per key (latest version) upstream
    return pd.DataFrame(out, index=index, columns=[str(u) for u in uniq])


def _column_codes(long: pd.DataFrame, ok: np.ndarray, codes: _LongCodes | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Column code per kept row and the sorted ``{variable}_{code}`` names.

    Same result as ``pd.factorize(variable + "_" + station, sort=True)``, but the strings are
    joined once per distinct (variable, station) pair instead of once per row (~1.4 ms a cycle).
    """
    if codes is not None and codes.fits(long):
        vcodes, vuniq, scodes, suniq = codes.vcodes, codes.vuniq, codes.scodes, codes.suniq
    else:
        vcodes, vuniq = pd.factorize(long["variable"])
        scodes, suniq = pd.factorize(long["station"])
    if (vcodes < 0).any() or (scodes < 0).any():  # a missing label: the plain way
        names = (long["variable"].astype(str) + "_" + long["station"].astype(str)).to_numpy()[ok]
        return pd.factorize(names, sort=True)
    ns = len(suniq)
    pcodes, puniq = pd.factorize(vcodes[ok].astype(np.int64) * ns + scodes[ok])
    pnames = np.array([f"{vuniq[p // ns]}_{suniq[p % ns]}" for p in puniq], dtype=object)
    order = np.argsort(pnames, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[pcodes], pnames[order]


def _freshness(ctx: CycleContext, long: pd.DataFrame, at_s: int,
               lc: _LongCodes | None = None) -> pd.DataFrame:
    """fresh / stale / missing per forecast point from its newest usable stage value."""
    codes = _forecast_codes(ctx.catalog)
    if ctx.scope is not None:
        codes = [c for c in codes if c in ctx.scope]
    stale_s = int(ctx.settings.cycle.stale_after_min) * 60
    cols = ["station", "status", "last_valid", "age_min"]
    if not codes:
        return pd.DataFrame(columns=cols)
    last: dict[str, int] = {}
    if lc is not None and lc.fits(long):
        ok = lc.usable & lc.is_wl
        if ok.any():
            # newest valid time per station code: what the lexsort below finds, by a max
            vt = long["valid_time"].to_numpy(np.int64)[ok]
            sc = lc.scodes[ok]
            newest = np.full(len(lc.suniq), np.iinfo(np.int64).min, dtype=np.int64)
            np.maximum.at(newest, sc, vt)
            seen = np.zeros(len(lc.suniq), dtype=bool)
            seen[sc] = True
            last = {str(lc.suniq[k]): int(newest[k]) for k in np.flatnonzero(seen).tolist()}
    elif long is not None and len(long):
        ok = long["value"].notna().to_numpy() & ((long["qc"].to_numpy() & int(REJECT)) == 0)
        ok &= (long["variable"] == "wl").to_numpy()
        if ok.any():
            st = long["station"].to_numpy()[ok]
            vt = long["valid_time"].to_numpy(np.int64)[ok]
            # integer codes ranked like the codes themselves: the order of lexsort((vt, st))
            # without comparing Python strings pair by pair
            sc, su = pd.factorize(st)
            if (sc >= 0).all():
                rank = np.empty(len(su), dtype=np.int64)
                rank[np.argsort(np.asarray(su, dtype=object), kind="stable")] = np.arange(len(su))
                key = rank[sc]
                order = np.lexsort((vt, key))
                key = key[order]
                tail = np.append(key[1:] != key[:-1], True)
            else:
                order = np.lexsort((vt, st))
                tail = np.append(st[order][1:] != st[order][:-1], True)
            st, vt = st[order], vt[order]
            # tail: last row of each station = its newest
            last = dict(zip(st[tail].tolist(), vt[tail].tolist(), strict=True))
    lv = np.array([last.get(c, -1) for c in codes], dtype=np.int64)
    have = lv >= 0
    age = np.where(have, (at_s - lv) / 60.0, np.nan)
    limit = np.full(len(codes), stale_s, dtype=np.int64)
    if (have & (at_s - lv > limit)).any() and long is not None and len(long):
        # only a gauge late by the 10-minute rule can be an hourly gauge on time: the
        # reporting intervals (a scan of the whole history) are needed for those cycles only
        from floodwarn.warn.engine import observed_intervals, stale_after_s

        every = observed_intervals(long, at_s, np.iinfo(np.int64).max)
        limit = np.array([max(stale_s, stale_after_s(every.get(c, STEP_S))) for c in codes], dtype=np.int64)
    status = np.where(~have, "missing", np.where(at_s - lv > limit, "stale", "fresh"))
    frame = pd.DataFrame(
        {
            "station": codes,
            "status": status,
            "last_valid": np.where(have, lv, 0).astype(np.int64),
            "age_min": age,
        }
    )
    frame.index = pd.Index(frame["station"], name="station")  # = set_index(drop=False), cheaper
    return frame


def _stations_summary(freshness: pd.DataFrame) -> dict[str, Any]:
    if not len(freshness):
        return {"fresh": 0, "stale": 0, "missing": 0}
    out: dict[str, Any] = {}
    states = freshness["status"].to_numpy()
    labels = freshness.index.to_numpy()
    for status in ("fresh", "stale", "missing"):
        codes = sorted(labels[states == status].tolist())
        out[status] = len(codes)
        if status != "fresh" and codes:
            out[f"{status}_codes"] = codes[:REPORT_LIST_MAX]
    return out


def _epoch_issued(fc: pd.DataFrame) -> pd.DataFrame:
    """``issued_at`` as int64 epoch seconds (the store's and the warning engine's time type).

    ``forecast_cycle`` returns tz-aware timestamps; the consumers test ``np.issubdtype`` on the
    column, which refuses pandas' tz-aware dtype, so the cycle converts once here.
    """
    if not len(fc) or "issued_at" not in fc:
        return fc
    col = fc["issued_at"]
    if pd.api.types.is_integer_dtype(col.dtype):
        return fc
    # as_unit("s"): pandas 3 keeps microseconds, so ``asi8 // 10**9`` would be wrong
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        idx = pd.DatetimeIndex(col)  # already aware: to_datetime(utc=True) adds only its cost
    else:
        idx = pd.DatetimeIndex(pd.to_datetime(col, utc=True))
    # assign: a new frame without a deep copy of the other columns (nothing is modified)
    return fc.assign(issued_at=idx.as_unit("s").asi8.astype(np.int64))


def _observed_stage(long: pd.DataFrame, codes: _LongCodes | None = None) -> pd.DataFrame:
    """Stage observations for the warning engine: station, valid_time, value, arrival_time.

    Everything here arrived by the cycle's cut-off (``at`` + data latency), which the cycle
    passes to the engine as ``as_of``.
    """
    cols = ["station", "valid_time", "value", "arrival_time"]
    if long is None or not len(long):
        return pd.DataFrame(columns=cols)
    if codes is not None and codes.fits(long):
        # the same rows, columns, dtypes and index labels as the ``.loc`` below, built from
        # the arrays (``.loc`` with a mask over Arrow strings cost ~0.6 ms a cycle)
        rows = np.flatnonzero(codes.usable & codes.is_wl)
        return pd.DataFrame(
            {
                "station": long["station"].array.take(rows),
                "valid_time": long["valid_time"].to_numpy()[rows],
                "value": long["value"].to_numpy()[rows],
                "arrival_time": long["arrival_time"].to_numpy()[rows],
            },
            index=long.index[rows],
        )
    ok = long["value"].notna().to_numpy() & ((long["qc"].to_numpy() & int(REJECT)) == 0)
    return long.loc[ok & (long["variable"] == "wl").to_numpy(), cols]


def _has_shadow(registry: Any) -> bool:
    for name in ("shadow_candidates", "shadows", "candidates"):
        attr = getattr(registry, name, None)
        if attr is not None:
            try:
                return bool(attr() if callable(attr) else attr)
            except Exception:  # noqa: BLE001
                return False
    return False


def _model_info(registry: Any, forecasts: pd.DataFrame) -> dict[str, Any]:
    """Which model made each station's forecast (for explainable alerts)."""
    info: dict[str, Any] = {}
    if len(forecasts) and "method" in forecasts and "model_version" in forecasts:
        # the first row of each station, as drop_duplicates("station") would keep it
        for code, method, version in zip(forecasts["station"].tolist(), forecasts["method"].tolist(),
                                         forecasts["model_version"].tolist(), strict=True):
            if str(code) not in info:
                info[str(code)] = {"method": method, "model_version": version}
    elif len(forecasts):
        first = forecasts.drop_duplicates("station")
        for code, method, version in zip(
            first["station"], first.get("method", ""), first.get("model_version", ""), strict=False
        ):
            info[str(code)] = {"method": method, "model_version": version}
    return info


#: warning level number → threshold key (0 = no warning)
LEVEL_KEYS = {0: "none", 1: "attwl", 2: "wrnwl", 3: "almwl", 4: "srswl"}


def _levels_count(states: Any) -> dict[str, int]:
    """Targets per warning level (``attwl`` … ``srswl``, ``none``) from the engine's states."""
    out: dict[str, int] = {}
    values = states.values() if isinstance(states, dict) else []
    for s in values:
        lvl = s.get("level") if isinstance(s, dict) else getattr(s, "level", 0)
        key = LEVEL_KEYS.get(int(lvl or 0), str(lvl))
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def _outbox_backlog(store: Any) -> int:
    """Undelivered webhook deliveries."""
    from floodwarn.dispatch.outbox import backlog

    counts = backlog(store)
    return int(counts.get("pending", 0)) + int(counts.get("sending", 0))


def write_products(ctx: CycleContext, result: Any) -> dict[str, int]:
    """Write ``warnings.geojson`` and the CAP XML of every event this cycle issued.

    Files are written to a temporary name and renamed, so a reader (or a crash) never sees
    half a file; an alert file's name is its stable identifier, so re-running a cycle
    rewrites the same bytes instead of adding a copy.
    """
    out = Path(ctx.products_dir)  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    counts = {"geojson": 0, "cap": 0}
    from floodwarn.products.cap import cap_xml
    from floodwarn.products.geojson import warnings_geojson

    if ctx.geojson_each_cycle:
        doc = warnings_geojson(ctx.store, ctx.catalog)
        text = doc if isinstance(doc, str | bytes) else json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1)
        atomic_write(out / "warnings.geojson", text)
        counts["geojson"] = 1
    events = list(getattr(result, "events", []) or []) if result is not None else []
    if events:
        (out / "alerts").mkdir(exist_ok=True)
        for ev in events:
            xml = cap_xml(ev, ctx.catalog)
            atomic_write(out / "alerts" / f"{_event_id(ev)}.xml", xml)
            counts["cap"] += 1
    return counts


def _event_id(ev: Any) -> str:
    for name in ("identifier", "event_id", "id"):
        v = ev.get(name) if isinstance(ev, dict) else getattr(ev, name, None)
        if v:
            return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(v))
    raise ValueError(f"alert event without an identifier: {ev!r}")


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write via a temporary file and rename (a crash leaves the old file or the new one)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(raw)
    os.replace(tmp, path)


def cycle_times(start: datetime, end: datetime, interval_min: int = 10) -> list[datetime]:
    """Cycle times on the grid from ``start`` to ``end`` inclusive (both floored)."""
    step = interval_min * 60
    a = to_epoch(start)
    a += (-a) % step
    b = to_epoch(end)
    return [from_epoch(t) for t in range(a, b - b % step + 1, step)]


def previous_cycle(at: datetime, interval_min: int = 10) -> datetime:
    return as_utc(at) - timedelta(minutes=interval_min)


# ---------------------------------------------------------------------------------------------
# building a context from settings


def load_catalog_or_none(settings: Any) -> Any:
    """The station catalog, or None while ``stations/`` is not built (cycle stages then skip)."""
    from floodwarn.catalog import load_catalog
    from floodwarn.config import stations_dir

    d = stations_dir(settings)
    if not (d / "waterlevel.csv").exists():
        log.warning("no station catalog in %s: forecast and warn stages are skipped", d)
        return None
    return load_catalog(d)


def load_registry(models: Path | str | None, version: str | None = None) -> Any:
    """The model registry with its promoted (or the pinned ``version``) models loaded."""
    from floodwarn.forecast.registry import ModelRegistry

    if models is None:
        return None
    reg = ModelRegistry(Path(models), pin=version)
    try:
        reg.load_promoted()
    except Exception as err:  # noqa: BLE001 - forecasts fall back to the hydrological method
        log.warning("no promoted model in %s (%s): forecasts use the fallback until one is", models, err)
    return reg


def load_metrics() -> Any:
    """The process's Prometheus metrics."""
    from floodwarn.metrics import METRICS

    return METRICS


def make_context(
    settings: Any,
    store: Any = None,
    *,
    mode: str = "live",
    feed: Any = "auto",
    catalog: Any = "auto",
    registry: Any = "auto",
    models: Path | str | None = None,
    products_dir: Path | None | str = "auto",
    **kw: Any,
) -> CycleContext:
    """A :class:`CycleContext` from settings: store, catalog, model registry, feed, metrics."""
    from floodwarn.config import models_dir

    if store is None:
        from floodwarn.store import open_store

        store = open_store(settings.store.url)
    if catalog == "auto":
        catalog = load_catalog_or_none(settings)
    if registry == "auto":
        registry = load_registry(models or models_dir(settings))
    if feed == "auto":
        from floodwarn.feeds import get_feed

        feed = get_feed(settings.feeds.source).from_settings(settings)
    if products_dir == "auto":
        products_dir = Path(settings.data_dir) / "products"
    return CycleContext(
        settings=settings,
        store=store,
        catalog=catalog,
        feed=feed,
        registry=registry,
        metrics=kw.pop("metrics", load_metrics()),
        mode=mode,
        products_dir=Path(products_dir) if products_dir is not None else None,
        **kw,
    )
