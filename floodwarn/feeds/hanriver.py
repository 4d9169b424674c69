"""Importer for the Han River (Seoul reach) competition files in ``../shared/data/hanriver``.

The files are wide tables (one row per 10 minutes, KST) with bridge water levels as elevations
in cm; everything else in floodwarn uses HRFCO conventions (stage in m above the gauge zero
``gdt``, one row per station/variable/time). This module converts, vectorised, and flags — never
drops — the data problems listed in ``../shared/data/hanriver/PROVENANCE.md``:

- ``swl == 0`` rows (83): the dam logger wrote zeros for the whole record, so every dam variable
  of that row is SENTINEL (inflow/outflow/storage 0 there are not measurements either);
- the value −990 (one ``inf``/``tototf`` −990, 2018-07-05 16:40): SENTINEL;
- negative ``inf``/``tototf``/``fw``: NEGATIVE. At Hangang bridge (1018683) negative discharge is
  real tidal backwater (26,942 rows): it gets NEGATIVE only, which is not a reject flag;
- the isolated inflow/outflow spikes of ~25,000 m³/s on 2013-06-05 09:50 and 2021-07-09 11:40,
  not seen by any downstream gauge: KNOWN_ERROR;
- Jamsu bridge (1018680) has no rating curve, its ``fw`` is always 0 or empty: missing (NaN);
- 2022-06-01 00:00 .. 2022-07-18 23:50: the four ``wl_*`` columns are 0.0 because the organisers
  blanked the competition's test labels — they become NaN with MISSING | KNOWN_ERROR, not
  observations of a dry river.

Arrival time = valid time (an archive has no arrival record).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn.feeds import register_feed
from floodwarn.feeds.base import (
    FeedResult,
    FrameFeed,
    Known,
    column_flags,
    count_unknown,
    empty_obs,
    labels,
)
from floodwarn.records import QC, REJECT, normalise_obs
from floodwarn.times import KST, epoch_array

log = logging.getLogger(__name__)

SOURCE = "hanriver"
#: Paldang dam (팔당댐), HRFCO dam code
DAM = "1017310"
DAM_VARIABLES = ("swl", "inf", "sfw", "ecpc", "tototf")
#: KHOA tide gauge at Ganghwa bridge (강화대교); ``tide_level`` is in cm
TIDE = "DT_0032"
#: gauge datum gdt (m El.) of the four bridge gauges, from HRFCO ``waterlevel/info``
#: (``../shared/data/hrfco/waterlevel_info_raw.json``; quoted in hanriver/PROVENANCE.md):
#: the competition's ``wl_*`` = (stage_m + gdt) * 100.
GDT: dict[str, float] = {
    "1018662": 1.747,  # 서울시(청담대교) Cheongdam bridge
    "1018680": -0.068,  # 서울시(잠수교) Jamsu bridge
    "1018683": 2.07,  # 서울시(한강대교) Hangang bridge (flood-forecast point)
    "1019630": 0.803,  # 서울시(행주대교) Haengju bridge
}
#: stations whose ``fw`` column carries no discharge (no rating curve)
NO_RATING = frozenset({"1018680"})
#: stations where negative discharge is physical (tidal backwater), flagged NEGATIVE only
BACKWATER = frozenset({"1018683"})


@dataclass(frozen=True)
class KnownError:
    """A value listed as an error in the data's provenance notes."""

    station: str
    variables: tuple[str, ...]
    first: str  # KST "YYYY-MM-DD HH:MM", inclusive
    last: str  # inclusive
    reason: str
    only_zero: bool = False  # flag only where the value is 0.0 (blanked labels)


KNOWN_ERRORS: tuple[KnownError, ...] = (
    KnownError(DAM, ("inf", "tototf"), "2013-06-05 09:50", "2013-06-05 09:50",
               "isolated ~25,000 m3/s spike not seen downstream"),
    KnownError(DAM, ("inf", "tototf"), "2021-07-09 11:40", "2021-07-09 11:40",
               "isolated ~25,000 m3/s spike not seen downstream"),
    *(KnownError(code, ("wl",), "2022-06-01 00:00", "2022-07-18 23:50",
                 "competition test labels blanked to 0.0", only_zero=True) for code in GDT),
)

_YEAR = re.compile(r"data_(\d{4})\.csv$")
_STEP_NS = 600 * 1_000_000_000


def years_available(directory: str | Path) -> list[int]:
    """Seasons present in ``directory/water_data``."""
    found = (_YEAR.search(p.name) for p in Path(directory, "water_data").glob("data_*.csv"))
    return sorted(int(m.group(1)) for m in found if m)


@dataclass
class _Season:
    """One season as aligned wide arrays: epoch times, values and QC bits per column key."""

    time: np.ndarray  # int64 epoch s UTC
    values: dict[tuple[str, str], np.ndarray]  # (variable, station) -> float64
    qc: dict[tuple[str, str], np.ndarray]  # (variable, station) -> int64
    unknown: list[str]


def _column_key(col: str) -> tuple[str, str] | None:
    if col in DAM_VARIABLES:
        return col, DAM
    if col == "tide_level":
        return "tide", TIDE
    var, sep, code = col.partition("_")
    if sep and var in ("wl", "fw", "rf") and code:
        return var, code
    return None


def _read_season(directory: Path, year: int, gdt: Mapping[str, float]) -> _Season:
    water = pd.read_csv(directory / "water_data" / f"data_{year}.csv", dtype={"ymdhm": str})
    rf_path = directory / "rf_data" / f"rf_{year}.csv"
    if rf_path.exists():
        rain = pd.read_csv(rf_path, dtype={"ymdhm": str})
        if len(rain) == len(water) and (rain["ymdhm"].to_numpy() == water["ymdhm"].to_numpy()).all():
            water = pd.concat([water, rain.drop(columns="ymdhm")], axis=1)
        else:
            water = water.merge(rain, on="ymdhm", how="outer", sort=True)
    else:
        log.warning("hanriver %d: %s missing, no rainfall for this season", year, rf_path)
    stamps = pd.to_datetime(water["ymdhm"], format="%Y-%m-%d %H:%M")
    kst = pd.DatetimeIndex(stamps).tz_localize(KST)
    time = epoch_array(kst)
    hhmm = water["ymdhm"].to_numpy(dtype=object)

    values: dict[tuple[str, str], np.ndarray] = {}
    zero: dict[tuple[str, str], np.ndarray] = {}  # where the file itself says 0.0
    qc: dict[tuple[str, str], np.ndarray] = {}
    unknown: list[str] = []
    for col in water.columns:
        if col == "ymdhm":
            continue
        key = _column_key(col)
        if key is None:
            unknown.append(col)
            continue
        var, code = key
        v = pd.to_numeric(water[col], errors="coerce").to_numpy(np.float64, copy=True)
        zero[key] = v == 0.0
        if var == "wl":
            if code not in gdt:
                unknown.append(col)
                continue
            v = np.round(v / 100.0 - gdt[code], 3)  # El.cm -> stage m (El.cm has 1 mm resolution)
        if var == "fw" and code in NO_RATING:
            v[:] = np.nan
        values[key] = v
        qc[key] = column_flags(var, v)

    # a dam record with swl == 0 is blank as a whole
    if ("swl", DAM) in values:
        dead = values[("swl", DAM)] == 0.0
        for var in DAM_VARIABLES:
            if (var, DAM) in qc:
                qc[(var, DAM)][dead] |= int(QC.SENTINEL)

    for err in KNOWN_ERRORS:
        rows = (hhmm >= err.first) & (hhmm <= err.last)
        if not rows.any():
            continue
        for var in err.variables:
            key = (var, err.station)
            if key not in values:
                continue
            hit = rows & zero[key] if err.only_zero else rows
            qc[key][hit] |= int(QC.KNOWN_ERROR)
            if err.only_zero:  # a blanked label is not an observation: no value at all
                values[key][hit] = np.nan
                qc[key][hit] |= int(QC.MISSING)
    return _Season(time, values, qc, unknown)


def _seasons(directory: str | Path, years: Iterable[int] | None, gdt: Mapping[str, float] | None
             ) -> list[_Season]:
    d = Path(directory)
    if not (d / "water_data").is_dir():
        from floodwarn.errors import FeedError

        raise FeedError("not a Han River competition directory (no water_data/)", file=str(d))
    years = sorted(years) if years is not None else years_available(d)
    g = {**GDT, **(gdt or {})}
    return [_read_season(d, y, g) for y in years]


def read_hanriver(
    directory: str | Path,
    years: Iterable[int] | None = None,
    *,
    gdt: Mapping[str, float] | None = None,
    known: Known = None,
) -> FeedResult:
    """All (or the given) seasons as one long observation frame, flagged, stage in m.

    ``gdt`` overrides the gauge datums per station code (defaults: :data:`GDT`); ``known``
    filters stations (unknown ones are counted as ``station:<code>``). Columns the importer
    does not understand are counted as ``column:<name>``.
    """
    result = FeedResult(obs=empty_obs())
    keys: list[tuple[str, str]] = []
    key_codes, times, vals, flags = [], [], [], []
    for season in _seasons(directory, years, gdt):
        count_unknown(result, "column", season.unknown)
        result.count("records", len(season.time))
        for key, v in season.values.items():
            if key not in keys:
                keys.append(key)
            key_codes.append(np.full(len(v), keys.index(key), np.int32))
            times.append(season.time)
            vals.append(v)
            flags.append(season.qc[key])
    if keys:
        codes = np.concatenate(key_codes)
        t = np.concatenate(times)
        obs = pd.DataFrame({
            "station": labels([k[1] for k in keys], codes),
            "variable": labels([k[0] for k in keys], codes),
            "valid_time": t,
            "value": np.concatenate(vals),
            "arrival_time": t,
            "source": labels([SOURCE], np.zeros(len(codes), np.int32)),
            "qc": np.concatenate(flags),
        })
        if known is not None:
            bad = [i for i, k in enumerate(keys) if not known(k[1])]
            if bad:
                drop = np.isin(codes, bad)
                count_unknown(result, "station", obs.loc[drop, "station"])
                obs = obs.loc[~drop]
        result.obs = normalise_obs(obs)
    result.count("obs", len(result.obs))
    result.count("missing", int(result.obs["value"].isna().sum()))
    return result


def hanriver_wide(
    directory: str | Path,
    years: Iterable[int] | None = None,
    *,
    gdt: Mapping[str, float] | None = None,
    mask_rejected: bool = True,
    with_flags: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """The seasons as one wide frame for modelling: UTC index ``time``, columns ``{var}_{code}``.

    Columns: ``wl_<bridge>`` (stage m), ``fw_<bridge>`` (m³/s; Jamsu's is left out — it has no
    rating and would be all NaN), ``rf_<gauge>`` (mm/10 min), ``swl/inf/sfw/ecpc/tototf_1017310``,
    ``tide_DT_0032`` (cm). With ``mask_rejected`` values carrying a reject flag (sentinels,
    known errors, blanked labels) are NaN; NEGATIVE values are kept. ``with_flags`` also returns
    the QC bits as a second frame of the same shape.
    """
    vals, flags = [], []
    for season in _seasons(directory, years, gdt):
        index = pd.DatetimeIndex(pd.to_datetime(season.time, unit="s", utc=True), name="time")
        cols = {}
        fcols = {}
        for (var, code), v in season.values.items():
            if var == "fw" and code in NO_RATING:
                continue
            q = season.qc[(var, code)]
            if mask_rejected:
                v = np.where(q & int(REJECT), np.nan, v)
            cols[f"{var}_{code}"] = v
            fcols[f"{var}_{code}"] = q
        vals.append(pd.DataFrame(cols, index=index))
        flags.append(pd.DataFrame(fcols, index=index))
    if not vals:
        empty = pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="time"))
        return (empty, empty.copy()) if with_flags else empty
    wide = pd.concat(vals).sort_index()
    if with_flags:
        return wide, pd.concat(flags).sort_index().fillna(0).astype(np.int64)
    return wide


@register_feed("hanriver")
class HanRiverFeed(FrameFeed):
    """The competition seasons as a replayable feed (arrival = valid time)."""

    def __init__(self, directory: str | Path, years: Iterable[int] | None = None,
                 gdt: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.years = list(years) if years is not None else None
        self.gdt = dict(gdt) if gdt else None

    @classmethod
    def from_settings(cls, settings: Any, **options: Any) -> HanRiverFeed:
        directory = options.pop("directory", None) or settings.feeds.archive
        return cls(directory, **options)

    def read(self, known: Known = None) -> FeedResult:
        return read_hanriver(self.directory, self.years, gdt=self.gdt, known=known)
