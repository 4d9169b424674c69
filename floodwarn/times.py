"""Time conventions: aware UTC inside, KST (UTC+9, no DST) only at the edges.

HRFCO sends ``yyyyMMddHHmm`` in KST without a zone; archives may carry ISO-8601 with or without
an offset (none means KST). Everything is normalised here, in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd

KST = timezone(timedelta(hours=9), "KST")
STEP = timedelta(minutes=10)
STEP_S = 600


def parse_hrfco(stamp: str) -> datetime:
    """Parse an HRFCO ``yyyyMMddHHmm`` / ``yyyyMMddHH`` / ``yyyyMMdd`` KST stamp to aware UTC."""
    s = stamp.strip()
    fmt = {12: "%Y%m%d%H%M", 10: "%Y%m%d%H", 8: "%Y%m%d"}.get(len(s))
    if fmt is None or not s.isdigit():
        raise ValueError(f"not an HRFCO time stamp: {stamp!r}")
    return datetime.strptime(s, fmt).replace(tzinfo=KST).astimezone(UTC)


def format_hrfco(t: datetime, interval: str = "10M") -> str:
    """Format an aware time as an HRFCO KST stamp for the given interval (10M, 1H, 1D)."""
    k = as_utc(t).astimezone(KST)
    return k.strftime({"10M": "%Y%m%d%H%M", "1H": "%Y%m%d%H", "1D": "%Y%m%d"}[interval])


def parse_time(text: str | datetime, default_tz: timezone = KST) -> datetime:
    """Parse ISO-8601 (``2022-08-01T00:00:00+09:00``, ``2022-08-01 00:00``); naive means KST."""
    if isinstance(text, datetime):
        t = text
    else:
        s = str(text).strip()
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        try:
            t = datetime.fromisoformat(s)
        except ValueError as err:
            raise ValueError(f"not an ISO-8601 time: {text!r}") from err
    if t.tzinfo is None:
        t = t.replace(tzinfo=default_tz)
    return t.astimezone(UTC)


def as_utc(t: datetime) -> datetime:
    """Return ``t`` as aware UTC; a naive datetime is refused (it is ambiguous inside)."""
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: times inside floodwarn must be timezone-aware")
    return t.astimezone(UTC)


def floor_step(t: datetime, step_s: int = STEP_S) -> datetime:
    """Floor an aware time to the 10-minute grid."""
    ts = int(as_utc(t).timestamp())
    return datetime.fromtimestamp(ts - ts % step_s, UTC)


def to_epoch(t: datetime) -> int:
    """Aware datetime → integer seconds since the epoch (the store's time representation)."""
    return int(as_utc(t).timestamp())


def from_epoch(s: int | float) -> datetime:
    """Integer epoch seconds → aware UTC datetime."""
    return datetime.fromtimestamp(int(s), UTC)


def series_to_utc(values: pd.Series, default_tz: timezone = KST) -> pd.Series:
    """Vectorised ISO-8601 parse of a column; naive stamps are taken as ``default_tz`` (KST)."""
    s = values.astype(str).str.strip()
    has_offset = s.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        out[has_offset] = pd.to_datetime(s[has_offset], utc=True, errors="coerce", format="ISO8601")
    if (~has_offset).any():
        naive = pd.to_datetime(s[~has_offset], errors="coerce", format="ISO8601")
        out[~has_offset] = naive.dt.tz_localize(default_tz).dt.tz_convert("UTC")
    return out


def epoch_array(index: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    """UTC datetimes → int64 epoch seconds."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is None:
        raise ValueError("naive datetimes: localize before converting to epoch")
    # as_unit: pandas 3 may hold µs or s resolution, so asi8 is not always ns
    return idx.tz_convert("UTC").as_unit("s").asi8.astype(np.int64)
