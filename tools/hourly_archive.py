"""Pieces shared by the hourly-archive tools (``make_geum_archive.py``, ``make_wamis_archive.py``).

Both turn a wide hourly table of a public data set into the replay archive; what differs is the
source's columns and stamps, not how runs of gap-filled values are found or how the command line
reads a KST time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def flat_runs(values: np.ndarray, max_len: int) -> np.ndarray:
    """True where a value belongs to a run of > ``max_len`` identical consecutive values
    (NaN equals NaN here; ``max_len <= 0`` finds nothing)."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    out = np.zeros(n, dtype=bool)
    if n == 0 or max_len <= 0:
        return out
    change = np.ones(n, dtype=bool)
    change[1:] = ~((v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1])))
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], n)
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if b - a > max_len:
            out[a:b] = True
    return out


def read_wide(path: Path, time_column: str) -> pd.DataFrame:
    """A wide CSV indexed by its KST time column (``%Y-%m-%d %H:%M:%S``, made tz-aware)."""
    df = pd.read_csv(path)
    idx = pd.DatetimeIndex(pd.to_datetime(df.pop(time_column), format="%Y-%m-%d %H:%M:%S"))
    df.index = idx.tz_localize("Asia/Seoul")
    return df


def kst(text: str | None, day_end: pd.Timedelta | None = None) -> pd.Timestamp | None:
    """A command-line time: naive means KST; a date alone given ``day_end`` is that far into the
    day (the last stamp of the day in the source's convention)."""
    if text is None:
        return None
    ts = pd.Timestamp(text)
    if ts.tzinfo is None:
        ts = ts.tz_localize("Asia/Seoul")
    if day_end is not None and len(text) <= 10:
        ts += day_end
    return ts


def write_archive(rows: pd.DataFrame, left: dict[str, list[str]], out: Path) -> None:
    """Write the archive (Parquet for ``.parquet``/``.pq``, else CSV) and say what went in and
    what was left out, and why."""
    import sys

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        rows.to_parquet(out, index=False)
    else:
        rows.to_csv(out, index=False)
    per = rows.groupby("variable")["station"].nunique().to_dict()
    sys.stdout.write(f"wrote {out}: {len(rows)} rows, stations per variable {per}\n")
    for why, codes in left.items():
        if codes:
            sys.stdout.write(f"  left out ({why}): {', '.join(sorted(codes))}\n")
