"""What every feed shares: the raw payload record, the result shape, the feed interface, flags.

Kept apart from ``floodwarn/feeds/__init__.py`` so feed modules can import it without a cycle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from floodwarn.records import OBS_COLUMNS, QC, ParseResult, normalise_obs

#: a predicate "is this station code in the catalog?"; ``None`` means every code is known
Known = Callable[[str], bool] | None

#: variables that are flows (m³/s): a negative value is flagged NEGATIVE
FLOW_VARIABLES = ("fw", "inf", "tototf")
#: loggers' "no data" codes, not measurements. Exact values only: a threshold such as "≤ −990"
#: would catch real tidal backwater at Hangang bridge (fw down to −3,523 m³/s).
SENTINELS = (-990.0, -999.0, -9999.0)
#: a valid time this far past the arrival time means the sender's clock (or stamp) is wrong
CLOCK_SKEW_TOLERANCE_S = 600


@dataclass(frozen=True)
class RawPayload:
    """One HTTP response (or failure) exactly as received, for audit and replay.

    ``url`` has the service key replaced by ``***`` so payloads can be stored and shown safely.
    ``error`` is set when the fetch failed after its retries; ``body`` may then be empty.
    """

    url: str
    status: int | None
    body: bytes
    content_type: str
    received_at: int  # epoch s UTC
    error: str | None = None
    attempts: int = 1
    hydro: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class FeedResult(ParseResult):
    """A :class:`ParseResult` plus bookkeeping counts (records read, duplicates dropped, …).

    ``counts`` keys used by the built-in feeds: ``records`` (records/rows seen), ``obs``
    (observations returned), ``duplicates`` (dropped as exact repeats), ``conflicts`` (same key,
    different value: first kept, others quarantined), ``missing`` (blank values kept as NaN).
    """

    counts: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + int(n)


@dataclass(frozen=True)
class FeedBatch:
    """What one poll of a feed produced: the parse result and the raw payload (if any)."""

    source: str
    result: ParseResult
    payload: RawPayload | None = None


class Feed(ABC):
    """A source of observations. ``poll(at)`` returns what arrived up to cycle time ``at``."""

    name: ClassVar[str] = ""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Any, **options: Any) -> Feed:
        """Build the feed from :class:`floodwarn.config.Settings` (plus feed-specific options)."""

    @abstractmethod
    def poll(self, at: datetime, known: Known = None) -> list[FeedBatch]:
        """Observations that became available up to ``at`` (aware UTC) since the last poll."""


def empty_obs() -> pd.DataFrame:
    """An observation frame with no rows and the canonical dtypes."""
    return normalise_obs(pd.DataFrame({c: [] for c in OBS_COLUMNS}))


def value_flags(variable: np.ndarray | pd.Series, value: np.ndarray | pd.Series) -> np.ndarray:
    """QC bits that follow from a single value: sentinels and negative flows (vectorised).

    ``swl == 0`` (a reservoir level of 0 m El. is the logger's blank) and −990/−999/−9999 are
    SENTINEL; a negative flow (fw, inf, tototf) that is not a sentinel is NEGATIVE. NaN gets
    nothing here (``normalise_obs`` adds MISSING).
    """
    var = np.asarray(variable, dtype=object)
    val = np.asarray(value, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        sentinel = np.isin(val, SENTINELS) | ((var == "swl") & (val == 0.0))
        negative = np.isin(var, FLOW_VARIABLES) & (val < 0.0) & ~sentinel
    qc = np.zeros(len(val), dtype=np.int64)
    qc[sentinel] |= int(QC.SENTINEL)
    qc[negative] |= int(QC.NEGATIVE)
    return qc


def column_flags(variable: str, value: np.ndarray) -> np.ndarray:
    """:func:`value_flags` for a column holding one variable (no per-row variable array)."""
    val = np.asarray(value, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        sentinel = np.isin(val, SENTINELS)
        if variable == "swl":
            sentinel |= val == 0.0
        negative = (val < 0.0) & ~sentinel if variable in FLOW_VARIABLES else None
    qc = np.where(sentinel, int(QC.SENTINEL), 0).astype(np.int64)
    if negative is not None:
        qc[negative] |= int(QC.NEGATIVE)
    return qc


def skew_flags(valid_time: np.ndarray, arrival_time: np.ndarray) -> np.ndarray:
    """CLOCK_SKEW where a value claims to describe a time well after it arrived."""
    skew = np.asarray(valid_time, np.int64) > np.asarray(arrival_time, np.int64) + (
        CLOCK_SKEW_TOLERANCE_S
    )
    return np.where(skew, int(QC.CLOCK_SKEW), 0).astype(np.int64)


def count_unknown(result: ParseResult, kind: str, names: pd.Series | list[str]) -> None:
    """Add ``kind:name`` counts to ``result.unknown`` (e.g. ``station:1001602``)."""
    vc = pd.Series(names, dtype=object).value_counts()
    for name, n in vc.items():
        key = f"{kind}:{name}"
        result.unknown[key] = result.unknown.get(key, 0) + int(n)


def known_mask(stations: pd.Series, known: Known) -> np.ndarray:
    """Boolean mask of rows whose station is known; ``known`` is called once per distinct code."""
    if known is None:
        return np.ones(len(stations), dtype=bool)
    uniq = pd.unique(stations)
    ok = {code: bool(known(code)) for code in uniq}
    return stations.map(ok).to_numpy(dtype=bool)


class FrameFeed(Feed):
    """A feed over a file read once, released by arrival time: what a replay cycle at ``at``
    would have received. ``read()`` does the parsing; ``poll(at)`` hands out the observations
    whose ``arrival_time`` lies in ``(since, at]`` (``since`` defaults to the previous poll).
    Quarantined records and unknown counts travel with the first poll."""

    def __init__(self) -> None:
        self._obs: pd.DataFrame | None = None
        self._arrival: np.ndarray | None = None
        self._pending: ParseResult | None = None
        self._last: int | None = None

    @abstractmethod
    def read(self, known: Known = None) -> ParseResult:
        """Parse the whole source."""

    def poll(self, at: datetime, known: Known = None, since: datetime | None = None
             ) -> list[FeedBatch]:
        from floodwarn.times import to_epoch

        if self._obs is None:
            res = self.read(known)
            self._obs = res.obs.sort_values(["arrival_time", "valid_time"], kind="stable")
            self._obs = self._obs.reset_index(drop=True)
            self._arrival = self._obs["arrival_time"].to_numpy(np.int64)
            self._pending = res
        assert self._arrival is not None
        hi = to_epoch(at)
        lo = to_epoch(since) if since is not None else self._last
        i = 0 if lo is None else int(np.searchsorted(self._arrival, lo, side="right"))
        j = int(np.searchsorted(self._arrival, hi, side="right"))
        self._last = hi
        out = FeedResult(obs=self._obs.iloc[i:max(i, j)].reset_index(drop=True))
        if self._pending is not None:
            out.quarantined = list(self._pending.quarantined)
            out.unknown = dict(self._pending.unknown)
            out.counts = dict(getattr(self._pending, "counts", {}))
            self._pending = None
        return [FeedBatch(self.name, out, None)]


def labels(categories: list[str] | np.ndarray, codes: np.ndarray) -> Any:
    """A string column ``categories[codes]`` built in Arrow (millions of rows in milliseconds;
    an object array of Python strings costs ~0.1 s per million when pandas converts it)."""
    import pyarrow as pa

    dictionary = pa.array([str(c) for c in categories], pa.large_string())
    arr = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, np.int32)), dictionary)
    return pd.arrays.ArrowStringArray(arr.dictionary_decode())
