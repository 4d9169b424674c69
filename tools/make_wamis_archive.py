"""Convert the hourly WAMIS series (Wangsuk stream, lower Nakdong) into a ``floodwarn replay`` archive.

Source: ``../shared/data/wamis_hourly_hangang_nakdong/merged_hourly_wide.csv`` (see its
PROVENANCE.md: github.com/hyunholee26/Tutorial-Short-time-river-level-prediction-using-LSTM,
commit 2b220d4; the wide table is built from the 210 raw WAMIS half-year files with no value
changes). Columns ``wl_<code>`` (stage, m) and ``rf_<code>`` (rain in the hour, mm), index
``time_end_kst`` = the END of the hour (WAMIS hour 24 = midnight at the end of the day).

The archive is the long format of issue 7 (``station, variable, time, value`` + ``arrival_time``
and ``source = wamis-hourly``; times ISO-8601 with ``+09:00``):

- **codes**: only series whose code is in our catalog (``wl`` in ``stations/waterlevel.csv``,
  ``rf`` in ``stations/rainfall.csv``) are written; the others are counted and reported.
- ``wl``: the stage at the hour's end stamp; valid time = arrival time = ``time_end_kst`` (the
  value is seen by the first cycle at or after the stamp, as in ``make_geum_archive.py``).
- ``rf``: the engine's unit is **mm per 10 minutes** (``floodwarn.records.VARIABLES``; QC range
  0..100 mm; ``routing+ar1`` feeds each 10-minute grid value to the storage function and the
  rain features sum 10-minute values). An hourly total written as one value would be read as
  that much rain in 10 minutes: six times the intensity, and five of six grid steps without
  rain (NaN, i.e. 0 for the routing). With ``--rain spread`` (default) each hourly total ``R``
  becomes six values ``R / 6`` at valid times ``end-50 min .. end`` (uniform intensity within
  the hour: an assumption, the hour's total is exact) that all **arrive at the hour's end**, so
  no cycle sees rain before the hour it fell in is complete. ``--rain hour-end`` writes the
  total once at ``end`` (what a naive conversion does; kept for comparison).
- **datum**: ``wl_2020650`` (청암리) changes gauge zero by +5.99 m at 2020-01-01 01:00 KST
  (PROVENANCE.md); values before that are left out (they are not on the HRFCO thresholds'
  datum). ``wl_2022610`` (삼랑진교) tops out at 8.5 m against 관심 18.79 m: another datum, left
  out by default; ``--samnangjin-el`` keeps it re-based as elevation (stage = value − gdt =
  value + 14.721 m), a hypothesis the source does not confirm.
- **gaps / sentinels**: missing hours are absent rows in the source (no author gap fills, no
  sentinel such as −999; stages below zero at 1018630 are real, its median is −0.18 m), so they
  stay gaps. Unlike the Geum tool, runs of identical values are NOT removed by default: the
  Wangsuk gauges hold one centimetre for days in dry weather (55–70 % of hours are in runs
  > 24 h, the longest 1,500 h, with at most 29 mm of rain during any such run).
  ``--max-flat-h N`` removes runs of identical stage longer than N hours (rain is never cut).

    .venv/bin/python tools/make_wamis_archive.py --out /tmp/wamis/wamis_2020-08.parquet \\
        --start 2020-07-28 --end 2020-08-14
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hourly_archive import flat_runs, kst, write_archive  # noqa: E402
from hourly_archive import read_wide as _read_wide  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT.parent / "shared" / "data" / "wamis_hourly_hangang_nakdong"
SOURCE_FILE = "merged_hourly_wide.csv"
STATIONS = ROOT / "stations"
SOURCE = "wamis-hourly"
#: wl code → first valid KST time on the HRFCO datum (earlier values: another gauge zero)
DATUM_FROM = {"2020650": pd.Timestamp("2020-01-01T01:00+09:00")}
#: wl code whose whole series is on an unknown datum (left out unless re-based)
DATUM_UNKNOWN = "2022610"
RAIN_MODES = ("spread", "hour-end")
STEP = pd.Timedelta(minutes=10)




def read_wide(data_dir: Path) -> pd.DataFrame:
    """The source table indexed by its KST stamps (tz-aware)."""
    return _read_wide(data_dir / SOURCE_FILE, "time_end_kst")


def catalog_codes() -> tuple[set[str], set[str], pd.Series]:
    """(water-level codes, rainfall codes, gdt by water-level code) of our station catalog."""
    wl = pd.read_csv(STATIONS / "waterlevel.csv", dtype={"code": str}, usecols=["code", "gdt"])
    rf = pd.read_csv(STATIONS / "rainfall.csv", dtype=str, usecols=["code"])
    return set(wl["code"]), set(rf["code"]), wl.set_index("code")["gdt"].astype(float)


def _rows(code: str, var: str, valid: pd.DatetimeIndex, arrival: pd.DatetimeIndex,
          value: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"station": code, "variable": var, "time": valid, "value": value,
                         "arrival_time": arrival})


def build(wide: pd.DataFrame, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
          rain: str = "spread", max_flat_h: int = 0, samnangjin_el: bool = False,
          ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Long archive rows and what was left out why (``"code (n values)"`` per reason).

    ``start``/``end`` select by the hour's end stamp (the valid time of ``wl``, the arrival time
    of ``rf``)."""
    if rain not in RAIN_MODES:
        raise ValueError(f"rain must be one of {RAIN_MODES}, got {rain!r}")
    wl_codes, rf_codes, gdt = catalog_codes()
    left: dict[str, list[str]] = {"not in catalog": [], "other datum": [],
                                  "flat run": [], "unknown column": []}
    parts = []
    t_all = wide.index
    sel = np.ones(len(t_all), dtype=bool)
    if start is not None:
        sel &= t_all >= start
    if end is not None:
        sel &= t_all <= end
    for col in wide.columns:
        var, _, code = col.partition("_")
        if var not in ("wl", "rf") or not code:
            left["unknown column"].append(col)
            continue
        if code not in (wl_codes if var == "wl" else rf_codes):
            left["not in catalog"].append(f"{var} {code}")
            continue
        v = wide[col].to_numpy(np.float64).copy()
        keep = np.isfinite(v)
        if var == "wl":
            if code in DATUM_FROM:
                old = keep & (t_all < DATUM_FROM[code])
                if (old & sel).any():
                    left["other datum"].append(f"wl {code} before {DATUM_FROM[code].isoformat()}"
                                               f" ({int((old & sel).sum())} values)")
                keep &= ~old
            if code == DATUM_UNKNOWN:
                if not samnangjin_el:
                    left["other datum"].append(f"wl {code} ({int((keep & sel).sum())} values)")
                    continue
                v = v - float(gdt[code])  # elevation → stage above gauge zero (hypothesis)
            flat = flat_runs(v, max_flat_h) & keep
            if (flat & sel).any():
                left["flat run"].append(f"wl {code} ({int((flat & sel).sum())} values)")
            keep &= ~flat
        m = keep & sel
        t = t_all[m]
        if var == "wl" or rain == "hour-end":
            parts.append(_rows(code, var, t, t, v[m]))
            continue
        for k in range(6):  # end-50 min .. end, each a sixth of the hour, arriving at the end
            parts.append(_rows(code, var, t - (5 - k) * STEP, t, v[m] / 6.0))
    if not parts:
        out = pd.DataFrame(columns=["station", "variable", "time", "value", "arrival_time"])
    else:
        out = pd.concat(parts, ignore_index=True).sort_values(
            ["time", "variable", "station"], kind="stable")
    for c in ("time", "arrival_time"):  # KST has had no daylight saving since 1988
        out[c] = pd.DatetimeIndex(out[c]).strftime("%Y-%m-%dT%H:%M:%S+09:00")
    out["source"] = SOURCE
    return out.reset_index(drop=True), left


def _kst(text: str | None, end: bool = False) -> pd.Timestamp | None:
    return kst(text, pd.Timedelta(hours=24) if end else None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR, help="the shared data directory")
    ap.add_argument("--out", type=Path, required=True, help=".parquet or .csv (under /tmp)")
    ap.add_argument("--start", help="first hour-end stamp (naive = KST), default: all")
    ap.add_argument("--end", help="last hour-end stamp (naive = KST; a date = the whole day)")
    ap.add_argument("--rain", choices=RAIN_MODES, default="spread",
                    help="hourly totals as six 10-minute values (default) or one value")
    ap.add_argument("--max-flat-h", type=int, default=0,
                    help="leave out runs of identical stage longer than this (0 = keep all)")
    ap.add_argument("--samnangjin-el", action="store_true",
                    help="keep wl 2022610 re-based as elevation (value - gdt)")
    a = ap.parse_args(argv)
    if not (a.data / SOURCE_FILE).exists():
        sys.stderr.write(f"source not found: {a.data / SOURCE_FILE}\n")
        return 2
    rows, left = build(read_wide(a.data), _kst(a.start), _kst(a.end, end=True), a.rain,
                       a.max_flat_h, a.samnangjin_el)
    write_archive(rows, left, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
