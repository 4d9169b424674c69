"""Long-format archives (CSV or Parquet) of observations: read for replay/ingest, and write.

Format (issue 7, item 4): one row per observation with columns

- ``station`` — HRFCO water-level / rainfall / dam code or KHOA tide station (``DT_0032``);
- ``variable`` — an HRFCO name (``wl`` stage in m, ``fw``, ``rf``, ``swl``, ``inf``, ``tototf``,
  ``sfw``, ``ecpc``, ``tide``);
- ``time`` — ISO-8601 valid time, e.g. ``2022-08-01T00:00:00+09:00``; without an offset it is KST;
- ``value`` — a number; blank = missing (NaN + MISSING, never 0);
- optional ``arrival_time`` (ISO-8601; default = ``time``), ``qc`` (integer QC bits kept from an
  earlier pass, OR-ed with what the reader flags itself) and ``source``.

Reading is chunked so large files never sit in memory as text; a bad row is quarantined with its
row number and reason (row 1 is the first data row, i.e. line 2 of a CSV); unknown stations and
variables are counted (``station:<code>``, ``variable:<name>``) — nothing in a row is fatal.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.errors import FeedError
from floodwarn.feeds import register_feed
from floodwarn.feeds.base import (
    FeedResult,
    FrameFeed,
    Known,
    column_flags,
    count_unknown,
    empty_obs,
    known_mask,
    skew_flags,
)
from floodwarn.records import OBS_COLUMNS, QC, VARIABLES, Quarantined, normalise_obs
from floodwarn.times import KST, series_to_utc

log = logging.getLogger(__name__)

SOURCE = "archive"
REQUIRED = ("station", "variable", "time", "value")
OPTIONAL = ("arrival_time", "qc", "source")
CHUNK_ROWS = 500_000


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _chunks(path: Path, chunksize: int) -> Iterator[pd.DataFrame]:
    """Raw chunks with the archive's columns (strings for CSV; typed columns kept for Parquet)."""
    if _is_parquet(path):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        names = set(pf.schema_arrow.names)
        _check_columns(path, names)
        cols = [c for c in (*REQUIRED, *OPTIONAL) if c in names]
        for batch in pf.iter_batches(batch_size=chunksize, columns=cols):
            yield batch.to_pandas()
        return
    reader = pd.read_csv(
        path, dtype=str, keep_default_na=False, chunksize=chunksize, skipinitialspace=True
    )
    first = True
    for chunk in reader:
        if first:
            _check_columns(path, set(chunk.columns))
            first = False
        yield chunk
    if first:  # header only or empty file
        try:
            cols = set(pd.read_csv(path, nrows=0).columns)
        except pd.errors.EmptyDataError:
            raise FeedError("empty archive (no header)", file=str(path)) from None
        _check_columns(path, cols)


def _check_columns(path: Path, columns: set[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FeedError(
            f"archive lacks column(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})",
            file=str(path), field=missing[0],
        )


def _times(col: pd.Series) -> pd.Series:
    """Valid/arrival times → datetime64 UTC (NaT where unparseable); naive = KST."""
    if pd.api.types.is_datetime64_any_dtype(col):
        s = pd.Series(col)
        if s.dt.tz is None:
            return s.dt.tz_localize(KST).dt.tz_convert("UTC")
        return s.dt.tz_convert("UTC")
    text = col.astype(str).str.strip()
    out = series_to_utc(text.where(text != "", "NaT"))
    return out


def _epoch(t: pd.Series) -> np.ndarray:
    return (pd.DatetimeIndex(t).as_unit("s").asi8).astype(np.int64)


def _text(col: pd.Series) -> pd.Series:
    return col.astype(str).str.strip().where(col.notna(), "")


def parse_chunk(
    raw: pd.DataFrame,
    *,
    first_row: int = 1,
    known: Known = None,
    source: str = SOURCE,
    received_at: int = 0,
) -> FeedResult:
    """Parse one chunk of archive rows (``first_row`` = the row number of its first row)."""
    result = FeedResult(obs=empty_obs())
    n = len(raw)
    result.count("records", n)
    if n == 0:
        return result
    rows = np.arange(first_row, first_row + n)
    station = _text(raw["station"])
    variable = _text(raw["variable"])
    valid = _times(raw["time"])
    if pd.api.types.is_numeric_dtype(raw["value"]):
        value = raw["value"].astype(np.float64)
        bad_value = np.zeros(n, bool)
    else:
        vtext = _text(raw["value"])
        value = pd.to_numeric(vtext.where(vtext != "", "nan"), errors="coerce").astype(np.float64)
        bad_value = (value.isna() & ~vtext.str.lower().isin(["", "nan", "na", "null"])).to_numpy()
    if "arrival_time" in raw:
        acol = raw["arrival_time"]
        arrival = _times(acol)
        blank = acol.isna() if pd.api.types.is_datetime64_any_dtype(acol) else _text(acol) == ""
        bad_arrival = (arrival.isna() & ~blank).to_numpy()
        arrival = arrival.where(~blank, valid)
    else:
        arrival = valid
        bad_arrival = np.zeros(n, bool)
    if "qc" in raw:
        qcol = raw["qc"]
        if pd.api.types.is_numeric_dtype(qcol):
            qnum = qcol.astype(np.float64)
        else:
            qt = _text(qcol)
            qnum = pd.to_numeric(qt.where(qt != "", "0"), errors="coerce")
        bad_qc = (qnum.isna() | (qnum % 1 != 0) | (qnum < 0)).to_numpy()
        qc_in = qnum.where(~bad_qc, 0).astype(np.int64).to_numpy()
    else:
        qc_in = np.zeros(n, np.int64)
        bad_qc = np.zeros(n, bool)
    src = _text(raw["source"]).replace("", source) if "source" in raw else None

    reasons = np.full(n, "", dtype=object)
    checks = [
        (station.eq("").to_numpy(bool), "missing station"),
        (variable.eq("").to_numpy(bool), "missing variable"),
        (valid.isna().to_numpy(), "bad time"),
        (bad_value, "unparseable value"),
        (bad_arrival, "bad arrival_time"),
        (bad_qc, "bad qc"),
    ]
    for mask, why in checks:
        if mask.any():
            reasons[mask] = np.where(reasons[mask] == "", why, reasons[mask] + "; " + why)
    bad = reasons != ""
    if bad.any():
        cols = [c for c in (*REQUIRED, *OPTIONAL) if c in raw]
        sub = raw.loc[bad, cols].astype(str).agg(",".join, axis=1).to_numpy()
        for row, rec, why in zip(rows[bad], sub, reasons[bad], strict=True):
            result.quarantined.append(
                Quarantined(source, rec, f"row {row} (line {row + 1}): {why}", received_at)
            )
    good = ~bad
    unknown_var = good & ~variable.isin(list(VARIABLES)).to_numpy()
    if unknown_var.any():
        count_unknown(result, "variable", variable[unknown_var])
    good &= ~unknown_var
    kmask = known_mask(station[good], known)
    if not kmask.all():
        count_unknown(result, "station", station[good][~kmask])
        idx = np.flatnonzero(good)
        good[idx[~kmask]] = False
    if not good.any():
        return result
    vt = _epoch(valid[good])
    at = _epoch(arrival[good])
    var = variable[good]
    val = value[good].to_numpy()
    qc = qc_in[good] | _var_flags(var, val) | skew_flags(vt, at)
    result.obs = normalise_obs(pd.DataFrame({
        "station": station[good].array,
        "variable": var.array,
        "valid_time": vt,
        "value": val,
        "arrival_time": at,
        "source": src[good].array if src is not None else source,
        "qc": qc,
    }))
    result.count("missing", int(np.isnan(val).sum()))
    return result


def _var_flags(variable: pd.Series, value: np.ndarray) -> np.ndarray:
    """:func:`value_flags` computed per distinct variable (no object array of names)."""
    qc = np.zeros(len(value), np.int64)
    codes, names = pd.factorize(variable)
    for k, name in enumerate(names):
        m = codes == k
        qc[m] = column_flags(str(name), value[m])
    return qc


def iter_archive(
    path: str | Path,
    known: Known = None,
    *,
    chunksize: int = CHUNK_ROWS,
    source: str = SOURCE,
    received_at: int = 0,
) -> Iterator[FeedResult]:
    """Parse an archive chunk by chunk (for files too large to hold at once)."""
    p = Path(path)
    if not p.exists():
        raise FeedError("archive not found", file=str(p))
    row = 1
    for raw in _chunks(p, chunksize):
        yield parse_chunk(raw, first_row=row, known=known, source=source,
                          received_at=received_at)
        row += len(raw)


def read_archive(
    path: str | Path,
    known: Known = None,
    *,
    chunksize: int = CHUNK_ROWS,
    source: str = SOURCE,
    received_at: int = 0,
) -> FeedResult:
    """The whole archive as one result; exact duplicate rows are dropped and counted."""
    result = FeedResult(obs=empty_obs())
    frames = []
    for part in iter_archive(path, known, chunksize=chunksize, source=source,
                             received_at=received_at):
        frames.append(part.obs)
        result.quarantined.extend(part.quarantined)
        for k, v in part.unknown.items():
            result.unknown[k] = result.unknown.get(k, 0) + v
        for k, v in part.counts.items():
            result.count(k, v)
    frames = [f for f in frames if len(f)]
    if frames:
        obs = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        dup = obs.duplicated(["station", "variable", "valid_time", "arrival_time", "value"])
        if dup.any():
            result.count("duplicates", int(dup.sum()))
            obs = obs.loc[~dup].reset_index(drop=True)
        result.obs = obs
    result.count("obs", len(result.obs))
    if result.quarantined or result.unknown:
        log.info("archive %s: %d obs, %d quarantined, unknown %s",
                 path, len(result.obs), len(result.quarantined), result.unknown)
    return result


def _iso(epoch: np.ndarray) -> pd.Series:
    t = pd.to_datetime(np.asarray(epoch, np.int64), unit="s", utc=True).tz_convert(KST)
    return pd.Series(t.strftime("%Y-%m-%dT%H:%M:%S+09:00"))


def write_archive(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    extras: bool | None = None,
) -> Path:
    """Write observations (``OBS_COLUMNS`` frame) as a long archive, CSV or Parquet by suffix.

    Times are written in KST with an explicit ``+09:00``. ``arrival_time``, ``qc`` and
    ``source`` are written when they carry information (arrival ≠ valid time, a flag other than
    MISSING — a blank value says that —, more than one source) or always with ``extras=True``. Output is byte-reproducible
    (gzip without a time stamp), so a committed fixture can be regenerated and compared.
    """
    p = Path(path)
    obs = normalise_obs(frame).sort_values(
        ["valid_time", "station", "variable", "arrival_time"], kind="stable")
    want = {
        "arrival_time": bool((obs.arrival_time != obs.valid_time).any()),
        "qc": bool(((obs.qc & ~int(QC.MISSING)) != 0).any()),  # MISSING = blank value
        "source": obs.source.nunique() > 1,
    }
    if extras is not None:
        want = dict.fromkeys(want, extras)
    out = pd.DataFrame({"station": obs.station.to_numpy(), "variable": obs.variable.to_numpy()})
    if _is_parquet(p):
        out["time"] = pd.to_datetime(obs.valid_time.to_numpy(), unit="s", utc=True).tz_convert(KST)
        out["value"] = obs.value.to_numpy()
        if want["arrival_time"]:
            out["arrival_time"] = pd.to_datetime(
                obs.arrival_time.to_numpy(), unit="s", utc=True).tz_convert(KST)
    else:
        out["time"] = _iso(obs.valid_time.to_numpy()).to_numpy()
        out["value"] = obs.value.to_numpy()
        if want["arrival_time"]:
            out["arrival_time"] = _iso(obs.arrival_time.to_numpy()).to_numpy()
    if want["qc"]:
        out["qc"] = obs.qc.to_numpy()
    if want["source"]:
        out["source"] = obs.source.to_numpy()
    p.parent.mkdir(parents=True, exist_ok=True)
    if _is_parquet(p):
        out.to_parquet(p, index=False)
    elif p.suffix == ".gz":  # no file name or time stamp in the header: byte-reproducible
        data = out.to_csv(index=False, lineterminator="\n").encode()
        with open(p, "wb") as fh, gzip.GzipFile(
            filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9
        ) as gz:
            gz.write(data)
    else:
        out.to_csv(p, index=False, lineterminator="\n")
    return p


@register_feed("archive")
class ArchiveFeed(FrameFeed):
    """A long CSV/Parquet archive as a replayable feed (released by arrival time)."""

    def __init__(self, path: str | Path, *, source: str = SOURCE) -> None:
        super().__init__()
        self.path = Path(path)
        self.source = source

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> ArchiveFeed:
        path = options.pop("path", None) or settings.feeds.archive
        if not path:
            raise FeedError("no archive configured (feeds.archive)", field="feeds.archive")
        return cls(path, **options)

    def read(self, known: Known = None) -> FeedResult:
        return read_archive(self.path, known, source=self.source)


__all__ = [
    "OBS_COLUMNS", "ArchiveFeed", "iter_archive", "parse_chunk", "read_archive", "write_archive",
]
