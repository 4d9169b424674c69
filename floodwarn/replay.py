"""Replay an archive through :func:`floodwarn.cycle.run_cycle` on a simulated clock.

Why a replay is honest and fast at once: the archive is parsed once and kept in memory; each
cycle at ``T`` is fed the records whose arrival time lies in ``(previous T, T]`` (the same
ingest stage as live) and reads its model inputs from an in-memory index that applies the
same ``arrival ≤ T`` rule as :meth:`Store.observations` — the only shortcut is skipping the
SQLite read, which is the bottleneck over 26,496 cycles. Everything else (QC, forecast, warn,
products, ledger) is the live code.

Outputs in ``DIR`` (a replay starts from an empty ``DIR/replay.sqlite`` so that replaying the
same span twice writes identical files):

- ``forecasts.parquet``  station, issued_at (UTC), lead_min, q05, q50, q95, method, model_version, flags
- ``warnings.geojson``   the warning state at the end
- ``alerts/*.xml``       every CAP message issued; ``alerts.jsonl`` the lifecycle log
- ``replay.json``        what was replayed: archive, span, cycles, unknown records, models
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.cycle import (
    CycleContext,
    CycleReport,
    atomic_write,
    cycle_times,
    load_catalog_or_none,
    load_registry,
    make_context,
    run_cycle,
)
from floodwarn.errors import FeedError
from floodwarn.feeds.base import Feed, FeedBatch, FrameFeed, Known
from floodwarn.records import ParseResult
from floodwarn.times import to_epoch

log = logging.getLogger(__name__)

FORECAST_FILE = "forecasts.parquet"
WARNINGS_FILE = "warnings.geojson"
ALERTS_DIR = "alerts"
ALERTS_LOG = "alerts.jsonl"
MANIFEST = "replay.json"
STORE_FILE = "replay.sqlite"
FORECAST_COLUMNS = ["station", "issued_at", "lead_min", "q05", "q50", "q95", "method",
                    "model_version", "flags"]


# ---------------------------------------------------------------------------------------------
# the archive in memory


class ArchiveIndex:
    """Observations sorted by valid time; ``history(start, end)`` = the store's as-of view.

    Returns the latest version (by arrival) of each key with ``start ≤ valid ≤ end`` among the
    records that arrived by ``as_of`` (default ``end``) — exactly what
    ``Store.observations(start, end, as_of=as_of)`` returns after the same records were ingested.
    """

    def __init__(self, obs: pd.DataFrame) -> None:
        df = obs.sort_values(["valid_time", "arrival_time"], kind="stable").reset_index(drop=True)
        self.obs = df
        self._valid = df["valid_time"].to_numpy(np.int64)
        self._arrival = df["arrival_time"].to_numpy(np.int64)
        self._dups = bool(df.duplicated(["station", "variable", "valid_time"]).any())

    def history(self, start: int, end: int, as_of: int | None = None) -> pd.DataFrame:
        as_of = end if as_of is None else as_of
        i = int(np.searchsorted(self._valid, start, side="left"))
        j = int(np.searchsorted(self._valid, end, side="right"))
        arrived = self._arrival[i:j] <= as_of
        part = self.obs.iloc[i:j]
        if not arrived.all():
            part = part.loc[arrived]
        if self._dups:
            part = part.drop_duplicates(["station", "variable", "valid_time"], keep="last")
        return part.reset_index(drop=True)


class PreparsedFeed(FrameFeed):
    """A :class:`FrameFeed` over a parse result already in memory (read once, polled by time)."""

    def __init__(self, result: ParseResult, name: str = "archive") -> None:
        super().__init__()
        self._result = result
        self.name = name  # type: ignore[misc]

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> PreparsedFeed:  # pragma: no cover
        raise NotImplementedError("built by the replay from a parsed archive")

    def read(self, known: Known = None) -> ParseResult:
        return self._result


class CompositeFeed(Feed):
    """Several feeds polled in order as one (the demo: the Aug 2020 archive + synthetic points)."""

    name = "composite"

    def __init__(self, feeds: Sequence[Feed]) -> None:
        self.feeds = list(feeds)

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> CompositeFeed:  # pragma: no cover
        raise NotImplementedError("compose feeds explicitly")

    def poll(self, at: datetime, known: Known = None) -> list[FeedBatch]:
        out: list[FeedBatch] = []
        for f in self.feeds:
            out += f.poll(at, known=known)
        return out


def read_archive(paths: Iterable[str | Path], known: Known = None) -> ParseResult:
    """Parse one or more long CSV/Parquet archives into one result (unknowns counted)."""
    from floodwarn.feeds import archive as archive_mod

    results = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise FeedError("archive not found", file=str(p))
        results.append(archive_mod.read_archive(p, known=known))
    if len(results) == 1:
        return results[0]
    merged = ParseResult(obs=pd.concat([r.obs for r in results], ignore_index=True))
    for r in results:
        merged.quarantined += r.quarantined
        for k, v in r.unknown.items():
            merged.unknown[k] = merged.unknown.get(k, 0) + v
    return merged


# ---------------------------------------------------------------------------------------------
# the replay


@dataclass
class ReplayResult:
    out_dir: Path
    cycles: int = 0
    status: dict[str, int] = field(default_factory=dict)
    records: int = 0
    unknown: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    forecasts: int = 0
    alerts: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stopped: bool = False

    def summary(self) -> str:
        unk = sum(self.unknown.values())
        top = ", ".join(f"{k} ×{v}" for k, v in sorted(self.unknown.items(), key=lambda kv: -kv[1])[:5])
        per = self.seconds / self.cycles * 1000 if self.cycles else 0.0
        lines = [
            f"replayed {self.cycles} cycles in {self.seconds:.1f} s ({per:.1f} ms/cycle): "
            + ", ".join(f"{n} {s}" for s, n in sorted(self.status.items())),
            f"  records: {self.records} stored, {self.quarantined} quarantined, {unk} unknown"
            + (f" ({top})" if top else ""),
            f"  forecasts: {self.forecasts} rows; alerts: {self.alerts} CAP messages",
            "  stage time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.stage_seconds.items()),
            f"  wrote {self.out_dir}",
        ]
        return "\n".join(lines) + "\n"


def prepare_out_dir(out: Path) -> None:
    """Remove the outputs of an earlier replay (never anything else in DIR)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in (FORECAST_FILE, WARNINGS_FILE, ALERTS_LOG, MANIFEST):
        (out / name).unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (out / f"{STORE_FILE}{suffix}").unlink(missing_ok=True)
    if (out / ALERTS_DIR).is_dir():
        shutil.rmtree(out / ALERTS_DIR)


def replay(
    settings: Any,
    archives: Sequence[str | Path],
    start: datetime,
    end: datetime,
    out_dir: str | Path,
    *,
    models: str | Path | None = None,
    model_version: str | None = None,
    speed: float | None = None,
    progress: bool = True,
    extra_feeds: Sequence[Feed] = (),
    store: Any = None,
    stop: threading.Event | None = None,
    on_cycle: Callable[[CycleReport, CycleContext], None] | None = None,
    max_cycles: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayResult:
    """Replay ``archives`` over the cycles ``start..end`` and write the products to ``out_dir``.

    ``speed`` paces the simulated clock (600 = one 10-minute cycle per wall second); None runs
    as fast as possible. ``store`` defaults to a fresh ``DIR/replay.sqlite``; ``stop`` ends the
    replay after the running cycle (Ctrl-C in the demo).
    """
    from floodwarn.config import models_dir
    from floodwarn.store import open_store

    t_wall = time.perf_counter()
    out = Path(out_dir)
    prepare_out_dir(out)
    own_store = store is None
    if store is None:
        store = open_store(f"sqlite:///{out / STORE_FILE}")
    catalog = load_catalog_or_none(settings)
    known = (lambda code: catalog.known(code) is not None) if catalog is not None else None
    parsed = read_archive(archives, known=known) if archives else ParseResult(obs=pd.DataFrame())
    result = ReplayResult(out_dir=out, quarantined=parsed.n_quarantined, unknown=dict(parsed.unknown))
    feeds: list[Feed] = []
    index = None
    if archives:
        feeds.append(PreparsedFeed(parsed, "archive"))
        index = ArchiveIndex(parsed.obs)
    feeds += list(extra_feeds)
    registry = load_registry(models or models_dir(settings), model_version)
    ctx = make_context(
        settings, store, mode="replay", feed=CompositeFeed(feeds), catalog=catalog,
        registry=registry, products_dir=out, keep_raw=False, shadow=False,
        history=None if extra_feeds or index is None else index.history,
        geojson_each_cycle=False,
        # with only archives, freshness is judged on the gauges they hold (a live-format feed
        # replayed alongside may hold any station: all forecast points count then)
        scope=_archive_gauges(parsed.obs) if archives and not extra_feeds else None,
    )
    times = cycle_times(start, end, settings.cycle.interval_min)
    if max_cycles is not None:
        times = times[:max_cycles]
    bar = _progress(len(times), progress)
    t0 = time.monotonic()
    try:
        for k, at in enumerate(times):
            if stop is not None and stop.is_set():
                result.stopped = True
                break
            if speed:
                due = t0 + (to_epoch(at) - to_epoch(times[0])) / speed
                wait = due - time.monotonic()
                if wait > 0:
                    sleep(wait)
            report = run_cycle(at, ctx)
            result.cycles += 1
            result.status[report.status] = result.status.get(report.status, 0) + 1
            ing = report.stage("ingest")
            if ing is not None:
                result.records += int(ing.counts.get("inserted", 0)) + int(ing.counts.get("corrected", 0))
            for s in report.stages:
                result.stage_seconds[s.name] = result.stage_seconds.get(s.name, 0.0) + s.seconds
            result.alerts += int(getattr(report.stage("products"), "counts", {}).get("cap", 0))
            if on_cycle is not None:
                on_cycle(report, ctx)
            if bar is not None:
                bar.update(1)
                if k % 36 == 0:
                    bar.set_postfix_str(f"{at:%Y-%m-%d %H:%M}Z {report.status}")
    finally:
        if bar is not None:
            bar.close()
        result.forecasts = write_outputs(ctx, out)
        _write_manifest(out, archives, start, end, result, registry)
        result.seconds = time.perf_counter() - t_wall
        if own_store:
            store.close()
    return result


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="cycle", desc="replay", dynamic_ncols=True, leave=False)


def _archive_gauges(obs: pd.DataFrame) -> frozenset[str]:
    """Codes of the stations with a stage (``wl``) anywhere in the archive."""
    if not len(obs):
        return frozenset()
    return frozenset(obs.loc[obs["variable"] == "wl", "station"].astype(str).unique().tolist())


def write_outputs(ctx: CycleContext, out: Path) -> int:
    """forecasts.parquet, warnings.geojson and alerts.jsonl from the replay's store."""
    store = ctx.store
    fc = store.forecasts()
    fc = fc[[c for c in FORECAST_COLUMNS if c in fc]].copy()
    fc["issued_at"] = pd.to_datetime(fc["issued_at"].astype("int64"), unit="s", utc=True)
    fc["lead_min"] = fc["lead_min"].astype("int32")
    fc["flags"] = fc["flags"].fillna("").astype(str)
    fc["model_version"] = fc["model_version"].fillna("").astype(str)
    fc = fc.sort_values(["station", "issued_at", "lead_min"]).reset_index(drop=True)
    fc.to_parquet(out / FORECAST_FILE, index=False)
    if ctx.catalog is not None:
        from floodwarn.products.geojson import warnings_geojson

        try:
            doc = warnings_geojson(store, ctx.catalog)
        except Exception:  # noqa: BLE001 - the other outputs are still worth writing
            log.exception("replay: warnings.geojson not written")
        else:
            text = doc if isinstance(doc, str | bytes) else json.dumps(
                doc, ensure_ascii=False, sort_keys=True, indent=1
            )
            atomic_write(out / WARNINGS_FILE, text)
    lines = lifecycle_lines(store)
    atomic_write(out / ALERTS_LOG, "".join(json.dumps(d, ensure_ascii=False, sort_keys=True, default=str) + "\n" for d in lines))
    return len(fc)


def lifecycle_lines(store: Any) -> list[dict[str, Any]]:
    """The warning lifecycle log (one dict per transition), oldest first."""
    from floodwarn.warn.lifecycle import history

    rows = history(store)
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict("records")
    return [_plain(r) for r in rows]


def _plain(row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        d = dict(row)
    elif hasattr(row, "to_dict"):
        d = row.to_dict()
    elif hasattr(row, "__dataclass_fields__"):
        from dataclasses import asdict

        d = asdict(row)
    else:
        d = dict(vars(row))
    for k, v in list(d.items()):
        if isinstance(v, datetime | pd.Timestamp):
            d[k] = v.isoformat()
        elif isinstance(v, np.integer):
            d[k] = int(v)
        elif isinstance(v, np.floating):
            d[k] = None if np.isnan(v) else float(v)
    return d


def _write_manifest(
    out: Path, archives: Sequence[str | Path], start: datetime, end: datetime,
    result: ReplayResult, registry: Any,
) -> None:
    version = None
    if registry is not None and hasattr(registry, "promoted"):
        try:
            version = registry.promoted()
        except Exception:  # noqa: BLE001
            version = None
    doc = {
        "archives": [str(Path(a).resolve()) for a in archives],
        "start": start.isoformat(),
        "end": end.isoformat(),
        "cycles": result.cycles,
        "status": dict(sorted(result.status.items())),
        "records": result.records,
        "quarantined": result.quarantined,
        "unknown": dict(sorted(result.unknown.items())),
        "forecast_rows": result.forecasts,
        "alerts": result.alerts,
        "model_version": version,
        "stopped": result.stopped,
    }
    atomic_write(out / MANIFEST, json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
