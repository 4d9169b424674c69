"""SYNTHETIC stage series for forecast points the demo's real event does not cover.

This is not data. Every value carries ``QC.SYNTHETIC`` and ``source = "synthetic"`` so nothing
downstream (verification, training, exports) can mistake it for an observation. It exists so
that ``make demo`` shows all 223 forecast points live, with a few of them crossing thresholds
during the event window, without network access.

Why deterministic and stateless: a value is a pure function of (seed, station code, valid time)
— a counter-based hash, no random-number-generator state — so any cycle of a replay, in any
order, produces exactly the same numbers, and two replays of one span give identical files.

Shape of a series (stage m above gauge zero, relative to the station's 관심 level ``attwl``,
or to 3 m where no level is set):
- a base level 25–55 % of 관심, a small diurnal swing and sensor noise of a few mm;
- freshets every 3–8 days rising over hours and receding over a day or two (peaks ≤ 30 %);
- for ``crossing`` stations only (default 8, chosen by hash among those with 관심 and 주의보
  set): one flood wave inside the event window peaking between two threshold levels; the
  highest level reached cycles through :data:`SEVERITY_CYCLE` (of 8: four 관심, three 주의보,
  one 경보). All other stations stay below 관심 (peaks ≤ ~0.9 × 관심).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.feeds import register_feed
from floodwarn.feeds.base import (
    Feed,
    FeedBatch,
    FeedResult,
    Known,
    count_unknown,
    empty_obs,
    labels,
)
from floodwarn.records import QC, normalise_obs
from floodwarn.times import STEP_S, as_utc, to_epoch

log = logging.getLogger(__name__)

SOURCE = "synthetic"
LEVELS = ("attwl", "wrnwl", "almwl", "srswl")
#: the demo's event window: the August 2020 Han River flood (UTC)
EVENT_START = datetime.fromisoformat("2020-07-28T00:00:00+09:00")
EVENT_END = datetime.fromisoformat("2020-08-20T00:00:00+09:00")
DEFAULT_LEVEL_M = 3.0

_M64 = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (a good, portable counter-based hash)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def _key(seed: int, code: str, salt: str) -> int:
    return (zlib.crc32(f"{seed}|{code}|{salt}".encode()) << 32) & _M64


def _hash_uniform(keys: np.ndarray, counter: np.ndarray | int) -> np.ndarray:
    """U[0, 1) from uint64 keys and integer counters (broadcast together)."""
    k = np.asarray(keys, dtype=np.uint64)
    c = np.asarray(counter, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = _mix(_mix(k ^ c) + k)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def uniform(seed: int, code: str, salt: str, counter: np.ndarray | int = 0) -> np.ndarray:
    """Deterministic U[0, 1) for (seed, station, purpose, counter) — no RNG state."""
    return _hash_uniform(np.uint64(_key(seed, code, salt)), counter)


def _u(seed: int, code: str, salt: str) -> float:
    return float(uniform(seed, code, salt, 0))


def _wave(tau_h: np.ndarray, rise_h: np.ndarray | float, fall_h: np.ndarray | float
          ) -> np.ndarray:
    """A unit-peak hydrograph: smooth rise over ``rise_h`` hours, then exponential recession."""
    tau_h, rise_h, fall_h = np.broadcast_arrays(tau_h, rise_h, fall_h)
    x = np.clip(tau_h / rise_h, 0.0, 1.0)
    rising = x * x * (3 - 2 * x)  # smoothstep
    with np.errstate(over="ignore"):
        falling = np.exp(-np.maximum(tau_h - rise_h, 0.0) / fall_h)
    return np.where(tau_h <= 0, 0.0, np.where(tau_h <= rise_h, rising, falling))


def _levels(row: Any) -> list[float]:
    """Threshold levels that are set (> 0), in order 관심 < 주의보 < 경보 < 심각."""
    out = []
    for name in LEVELS:
        v = pd.to_numeric(getattr(row, name, np.nan), errors="coerce")
        if pd.notna(v) and v > 0:
            out.append(float(v))
    return out


def _points_frame(points: pd.DataFrame) -> pd.DataFrame:
    df = points.copy()
    if "code" not in df.columns:
        df = df.rename_axis("code").reset_index()
    df["code"] = df["code"].astype(str)
    for name in LEVELS:
        if name not in df.columns:
            df[name] = np.nan
    return df[["code", *LEVELS]].drop_duplicates("code").reset_index(drop=True)


def pick_crossing(points: pd.DataFrame, n: int, seed: int = 0,
                  exclude: Iterable[str] = ()) -> list[str]:
    """The ``n`` stations (관심 and 주의보 set, not excluded) whose hash ranks first."""
    df = _points_frame(points)
    skip = {str(c) for c in exclude}
    eligible = [r.code for r in df.itertuples() if r.code not in skip
                and pd.notna(r.attwl) and r.attwl > 0 and pd.notna(r.wrnwl) and r.wrnwl > 0]
    return sorted(eligible, key=lambda c: _u(seed, c, "crossing"))[: max(0, n)]


#: highest level reached by the k-th crossing station (0 관심, 1 주의보, 2 경보), cycled
SEVERITY_CYCLE = (1, 0, 2, 0, 1, 0, 0, 1)


class SyntheticModel:
    """Per-station parameters drawn once from the hash; ``stage(times)`` is then vectorised
    over stations × times (one 10-minute poll of 223 points costs well under a millisecond)."""

    def __init__(self, points: pd.DataFrame, *, seed: int = 0,
                 flood: Iterable[str] = (), event_start: datetime = EVENT_START,
                 event_end: datetime = EVENT_END) -> None:
        df = _points_frame(points)
        self.codes = list(df["code"])
        flood = [str(c) for c in flood]
        rank = {c: i for i, c in enumerate(flood)}
        es, ee = to_epoch(as_utc(event_start)) / 3600.0, to_epoch(as_utc(event_end)) / 3600.0

        def col(salt: str) -> np.ndarray:
            return np.array([_u(seed, c, salt) for c in self.codes])[:, None]

        levels = [_levels(r) for r in df.itertuples()]
        ref = np.array([lv[0] if lv else DEFAULT_LEVEL_M for lv in levels])[:, None]
        self.ref = ref
        self.base = ref * (0.25 + 0.30 * col("base"))
        self.amp = ref * (0.01 + 0.02 * col("amp"))
        self.phase = col("phase")
        self.period_h = 24.0 * (3 + 5 * col("period"))
        self.offset_h = self.period_h * col("offset")
        self.rise_h = 4 + 8 * col("rise")
        self.fall_h = 18 + 30 * col("fall")
        self.noise_key = np.array([_key(seed, c, "noise") for c in self.codes], np.uint64)[:, None]
        self.fresh_key = np.array([_key(seed, c, "freshet") for c in self.codes],
                                  np.uint64)[:, None]
        # the flood wave of the crossing stations (target 0 elsewhere)
        target = np.zeros(len(self.codes))
        for i, (c, lv) in enumerate(zip(self.codes, levels, strict=True)):
            if c not in rank or len(lv) < 2:
                continue
            top = min(SEVERITY_CYCLE[rank[c] % len(SEVERITY_CYCLE)], len(lv) - 1)
            lo = lv[top]
            hi = lv[top + 1] if top + 1 < len(lv) else lo * 1.15
            target[i] = lo + (hi - lo) * (0.15 + 0.5 * _u(seed, c, "target"))
        self.flood = (target > 0)[:, None]
        self.target = target[:, None]
        self.peak_h = es + (ee - es) * (0.25 + 0.45 * col("peak"))
        self.f_rise = 18 + 30 * col("frise")
        self.f_fall = 24 + 36 * col("ffall")

    def stage(self, times: np.ndarray) -> np.ndarray:
        """Stage (m) at ``times`` (epoch s): an array stations × times, rounded to cm."""
        t = np.asarray(times, dtype=np.int64)[None, :]
        hours = t / 3600.0
        diurnal = self.amp * np.sin(2 * np.pi * (hours / 24.0 + self.phase))
        noise = (_hash_uniform(self.noise_key, t // STEP_S) - 0.5) * 0.01
        k_now = np.floor((hours - self.offset_h) / self.period_h).astype(np.int64)
        fresh = np.zeros(np.broadcast_shapes(k_now.shape, self.ref.shape))
        for back in range(6):  # waves older than ~6 periods have receded
            k = k_now - back
            amp = self.ref * 0.30 * _hash_uniform(self.fresh_key, k) ** 2
            fresh += amp * _wave(hours - (self.offset_h + k * self.period_h), self.rise_h,
                                 self.fall_h)
        stage = self.base + diurnal + noise + fresh
        if self.flood.any():
            w = _wave(hours - (self.peak_h - self.f_rise), self.f_rise, self.f_fall)
            stage = stage + np.where(self.flood, (self.target - self.base) * w, 0.0)
        return np.round(stage, 2)


def synthetic_obs(
    points: pd.DataFrame | SyntheticModel,
    start: datetime | int,
    end: datetime | int,
    *,
    seed: int = 0,
    crossing: int | Iterable[str] = 8,
    exclude: Iterable[str] = (),
    event_start: datetime = EVENT_START,
    event_end: datetime = EVENT_END,
    latency_s: int = 0,
    step_s: int = STEP_S,
) -> FeedResult:
    """Synthetic ``wl`` for every point (minus ``exclude``) on the grid ``[start, end]``.

    ``crossing`` is how many stations get a flood wave in ``[event_start, event_end]`` (picked
    by hash) or an explicit list of codes. Arrival time = valid time + ``latency_s``. Pass a
    prepared :class:`SyntheticModel` as ``points`` to skip the set-up (the other options are
    then ignored).
    """
    lo = start if isinstance(start, int) else to_epoch(start)
    hi = end if isinstance(end, int) else to_epoch(end)
    first = -(-lo // step_s) * step_s
    times = np.arange(first, hi + 1, step_s, dtype=np.int64)
    if isinstance(points, SyntheticModel):
        model = points
    else:
        df = _points_frame(points)
        df = df[~df["code"].isin({str(c) for c in exclude})]
        flood = (pick_crossing(df, crossing, seed) if isinstance(crossing, int)
                 else [str(c) for c in crossing])
        model = SyntheticModel(df, seed=seed, flood=flood, event_start=event_start,
                               event_end=event_end)
    result = FeedResult(obs=empty_obs())
    if not len(times) or not model.codes:
        return result
    values = model.stage(times)
    n_s, n_t = values.shape
    idx = np.repeat(np.arange(n_s), n_t)
    result.obs = normalise_obs(pd.DataFrame({
        "station": labels(model.codes, idx),
        "variable": labels(["wl"], np.zeros(len(idx), np.int32)),
        "valid_time": np.tile(times, n_s),
        "value": values.ravel(),
        "arrival_time": np.tile(times + latency_s, n_s),
        "source": labels([SOURCE], np.zeros(len(idx), np.int32)),
        "qc": int(QC.SYNTHETIC),
    }))
    result.count("obs", len(result.obs))
    result.count("stations", n_s)
    return result


@register_feed("synthetic")
class SyntheticFeed(Feed):
    """Polls synthetic values: each poll returns the grid steps that arrived in ``(since, at]``.

    ``points``: DataFrame with ``code`` (or the code as index) and ``attwl, wrnwl, almwl, srswl``
    (0/NaN = not set), e.g. ``load_catalog().forecast_points()``. ``exclude``: stations the real
    feed covers (the demo excludes the Seoul-reach gauges of the 2020 event).
    """

    def __init__(self, points: pd.DataFrame, *, seed: int = 0, crossing: int | Iterable[str] = 8,
                 exclude: Iterable[str] = (), event_start: datetime = EVENT_START,
                 event_end: datetime = EVENT_END, latency_s: int = 0,
                 first_poll_span_s: int = STEP_S) -> None:
        self.points = _points_frame(points)
        self.seed = seed
        self.exclude = tuple(str(c) for c in exclude)
        self.crossing = crossing if isinstance(crossing, int) else tuple(crossing)
        self.event_start = event_start
        self.event_end = event_end
        self.latency_s = latency_s
        self.first_poll_span_s = first_poll_span_s
        self._last: int | None = None
        kept = self.points[~self.points["code"].isin(set(self.exclude))]
        self.model = SyntheticModel(kept, seed=seed, flood=self.crossing_stations(),
                                    event_start=event_start, event_end=event_end)

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> SyntheticFeed:
        points = options.pop("points", None)
        if points is None:
            from floodwarn.catalog import load_catalog
            from floodwarn.config import stations_dir

            points = load_catalog(stations_dir(settings)).forecast_points()
        return cls(points, **options)

    def crossing_stations(self) -> list[str]:
        if isinstance(self.crossing, int):
            return pick_crossing(self.points, self.crossing, self.seed, self.exclude)
        return list(self.crossing)

    def series(self, start: datetime | int, end: datetime | int) -> FeedResult:
        """Every grid step in ``[start, end]`` (valid time) for every point."""
        return synthetic_obs(self.model, start, end, latency_s=self.latency_s)

    def poll(self, at: datetime, known: Known = None, since: datetime | None = None
             ) -> list[FeedBatch]:
        hi = to_epoch(at) - self.latency_s  # newest valid time that has arrived by `at`
        if since is not None:
            lo = to_epoch(since) - self.latency_s + 1
        elif self._last is not None and self._last < hi:
            lo = self._last + 1
        else:
            lo = hi - self.first_poll_span_s + 1
        self._last = hi
        res = self.series(lo, hi)
        if known is not None and len(res.obs):
            keep = res.obs["station"].map(lambda c: bool(known(c))).to_numpy(bool)
            if not keep.all():
                count_unknown(res, "station", res.obs.loc[~keep, "station"])
                res.obs = res.obs.loc[keep].reset_index(drop=True)
        return [FeedBatch(SOURCE, res, None)]
