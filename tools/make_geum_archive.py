"""Convert the hourly Geum (below Yongdam dam) series into a ``floodwarn replay`` archive.

Source: ``../shared/data/geum_yongdam_downstream_hourly/yongdam_downstream_hourly_2014-10_2024-09.csv``
(see its PROVENANCE.md: neuralriverops, commit 77249fe, GPL-3.0-bound; hourly, KST, no gaps
because the authors filled them). The archive is the long format of issue 7
(``station, variable, time, value``, ISO-8601 with ``+09:00``) with ``source = geum-hourly``:

- ``wl``: the ``<code>_hwl`` columns whose code is a water-level station of our catalog
  (``stations/waterlevel.csv``; 3004630, 3005667, 3008666 and 9000218 are not HRFCO stations and
  are left out). Stage in m, as in the source.
- ``tototf``: Yongdam dam release ``ydd_hrel`` under HRFCO dam code 3001110 (in
  ``stations/dams.csv``). ``mjd_hrel`` (dam code 3003301) is left out: not in our catalog.
- ``rf``: **none**. The ``<code>_hrf`` columns carry 7-digit K-water rain-gauge codes, not the
  8-digit HRFCO rainfall codes of ``stations/rainfall.csv`` (none of them matches), and they are
  hourly sums, not mm per 10 minutes.

The source stamps (start or end of the hour: undocumented) are taken as valid times; arrival
time = valid time (the archive default), i.e. each hourly value is seen by the first cycle at or
after its stamp. Runs of identical values longer than ``--max-flat-h`` hours (24) are the
authors' gap fills (PROVENANCE.md: e.g. every gauge flat 2017-12-31 .. 2018-02-05) and are left
out, so the replay sees gaps where the gauges had gaps. The data is not committed: write to /tmp.

    .venv/bin/python tools/make_geum_archive.py --out /tmp/geum/geum_2020-08.parquet \\
        --start 2020-08-01 --end 2020-08-14
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
DEFAULT_DIR = ROOT.parent / "shared" / "data" / "geum_yongdam_downstream_hourly"
SOURCE_FILE = "yongdam_downstream_hourly_2014-10_2024-09.csv"
STATIONS = ROOT / "stations"
#: source dam column → HRFCO dam code (dam_code.csv of the source)
DAM_COLUMNS = {"ydd_hrel": "3001110", "mjd_hrel": "3003301"}
SOURCE = "geum-hourly"
MAX_FLAT_H = 24




def read_wide(data_dir: Path) -> pd.DataFrame:
    """The source table indexed by its KST stamps (tz-aware)."""
    return _read_wide(data_dir / SOURCE_FILE, "datetime_kst")


def catalog_codes() -> tuple[set[str], set[str], set[str]]:
    """(water-level, rainfall, dam) codes of our station catalog."""
    def codes(name: str) -> set[str]:
        return set(pd.read_csv(STATIONS / name, dtype=str, usecols=["code"])["code"])

    return codes("waterlevel.csv"), codes("rainfall.csv"), codes("dams.csv")


def build(wide: pd.DataFrame, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
          max_flat_h: int = MAX_FLAT_H) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Long archive rows (station, variable, time, value, source) and what was left out why."""
    wl_codes, rf_codes, dam_codes = catalog_codes()
    series: list[tuple[str, str, str]] = []  # (column, station, variable)
    left: dict[str, list[str]] = {"wl not in catalog": [], "rf not HRFCO codes": [],
                                  "dam not in catalog": []}
    for col in wide.columns:
        if col.endswith("_hwl"):
            code = col[:-4]
            (series.append((col, code, "wl")) if code in wl_codes else left["wl not in catalog"].append(code))
        elif col.endswith("_hrf"):
            code = col[:-4]
            if code in rf_codes:  # never the case for this source (7-digit K-water codes)
                series.append((col, code, "rf"))
            else:
                left["rf not HRFCO codes"].append(code)
        elif col in DAM_COLUMNS:
            code = DAM_COLUMNS[col]
            (series.append((col, code, "tototf")) if code in dam_codes else left["dam not in catalog"].append(code))
    parts = []
    for col, code, var in series:
        v = wide[col].to_numpy(np.float64)
        keep = np.isfinite(v) & ~flat_runs(v, max_flat_h)
        t = wide.index[keep]
        sel = np.ones(len(t), dtype=bool)
        if start is not None:
            sel &= t >= start
        if end is not None:
            sel &= t <= end
        parts.append(pd.DataFrame({"station": code, "variable": var, "time": t[sel],
                                   "value": v[keep][sel]}))
    out = pd.concat(parts, ignore_index=True).sort_values(["time", "variable", "station"], kind="stable")
    out["time"] = out["time"].map(lambda ts: ts.isoformat())
    out["source"] = SOURCE
    return out.reset_index(drop=True), left


def _kst(text: str | None, end: bool = False) -> pd.Timestamp | None:
    return kst(text, pd.Timedelta(hours=23, minutes=59) if end else None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR, help="the shared data directory")
    ap.add_argument("--out", type=Path, required=True, help=".parquet or .csv (under /tmp)")
    ap.add_argument("--start", help="first valid time (naive = KST), default: all")
    ap.add_argument("--end", help="last valid time (naive = KST; a date = the whole day)")
    ap.add_argument("--max-flat-h", type=int, default=MAX_FLAT_H,
                    help="leave out runs of identical values longer than this many hours")
    a = ap.parse_args(argv)
    if not (a.data / SOURCE_FILE).exists():
        sys.stderr.write(f"source not found: {a.data / SOURCE_FILE}\n")
        return 2
    rows, left = build(read_wide(a.data), _kst(a.start), _kst(a.end, end=True), a.max_flat_h)
    write_archive(rows, left, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
