"""Build the committed station tables in ``stations/`` from the HRFCO metadata dump.

    .venv/bin/python stations/build_catalog.py [--shared ../shared/data] [--out stations]

Reads ``hrfco/waterlevel_info_raw.json`` (verbatim ``waterlevel/info.json``, 1,417 stations)
and, for names/agencies/addresses only, ``hrfco/rainfall_stations_list.json`` and
``hrfco/dam_stations_list.json`` (their coordinates are truncated to whole degrees, so they
are not used). Writes waterlevel.csv, rainfall.csv, dams.csv, tide.csv and exceptions.csv.
``network.csv``, ``assets.geojson`` and ``README.md`` are curated by hand and not touched.

Transformations (nothing else is changed): strings trimmed; a single space means empty;
DMS ``DDD-MM-SS`` -> decimal degrees (6 decimals); thresholds ``attwl/wrnwl/almwl/srswl``
and ``pfh`` equal to 0 -> empty ("not set", per the HRFCO README); ``fstnyn`` -> Y/N;
basin from the first code digit. Rows that break a rule (minutes/seconds >= 60, design flood
level below the 심각 level, alert levels out of order) are written to exceptions.csv, never
silently fixed. The run is deterministic: the same input gives byte-identical output.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import sys
from pathlib import Path

from floodwarn.catalog import (
    EXCEPTION_COLUMNS,
    LEVELS,
    SITE_COLUMNS,
    WATERLEVEL_COLUMNS,
    basin_of,
    dms_to_decimal,
)

log = logging.getLogger("build_catalog")

HERE = Path(__file__).resolve().parent
DEFAULT_SHARED = HERE.parent.parent / "shared" / "data"
RAW = "hrfco/waterlevel_info_raw.json"
RAIN = "hrfco/rainfall_stations_list.json"
DAMS = "hrfco/dam_stations_list.json"
EXPECTED_SHA256 = "d80471a865c25b211a0e2d816907f2b357f6318f7cc60ec915bfec52c7ad357a"

#: Real coordinates for the Seoul-reach rain gauges (the list above truncates them). Source:
#: github.com/ssoyoum/Flood-Disaster-Digital-Twin data/manifests/hrfco-stations.json @ 7b9a96d,
#: an HRFCO rainfall/info re-export with decimal coordinates; they agree with the co-located
#: water-level gauges 1018655 (대곡교) and 1018630 (진관교) of the raw dump to the second.
RAIN_COORDS = {
    "10184100": (127.1225, 37.468889, "HRFCO rainfall/info via ssoyoum/Flood-Disaster-Digital-Twin@7b9a96d"),
    "10184110": (127.151944, 37.65, "HRFCO rainfall/info via ssoyoum/Flood-Disaster-Digital-Twin@7b9a96d"),
    "10184140": (127.055556, 37.552222, "HRFCO rainfall/info via ssoyoum/Flood-Disaster-Digital-Twin@7b9a96d"),
}
#: Dams located by an HRFCO water-level gauge at the dam (same raw dump): dam code -> gauge code
DAM_GAUGE = {"1017310": "1017678"}  # 팔당댐 <- water-level record '팔당댐' (한국수력원자력, 다산로 320)
#: KHOA tide gauge used by the Han River competition data (downstream boundary)
TIDE_ROWS = [
    {
        "code": "DT_0032", "name": "강화대교", "agency": "국립해양조사원(KHOA)",
        "addr": "인천광역시 강화군 강화읍", "lon": 126.522222, "lat": 37.731944,
        "coord_source": "KHOA tide-station list (바다누리 조위관측소), as reproduced in public repositories",
    }
]


def _s(value: object) -> str:
    """Trimmed string; HRFCO's single-space 'missing' becomes ''."""
    return "" if value is None else str(value).strip()


def _num(value: object, zero_is_unset: bool = False) -> str:
    s = _s(value)
    if not s:
        return ""
    v = float(s)
    if zero_is_unset and v == 0.0:
        return ""
    return repr(v)


def _coord(v: float | None) -> str:
    return "" if v is None else repr(round(v, 6))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_waterlevel(records: list[dict]) -> tuple[list[dict], list[dict]]:
    rows, exceptions = [], []
    for rec in records:
        if not isinstance(rec, dict):
            continue
        code = _s(rec["wlobscd"])
        lon_s, lat_s = _s(rec.get("lon")), _s(rec.get("lat"))
        lon, lat = dms_to_decimal(lon_s), dms_to_decimal(lat_s)
        if (lon is None) != (lat is None):  # one half unusable: keep neither, note it
            exceptions.append({"code": code, "rule": "coordinates_incomplete", "field": "lon/lat",
                               "value": f"{lon_s!r} {lat_s!r}", "note": "only one coordinate given; both left empty"})
            lon = lat = None
        elif lon is None:
            exceptions.append({"code": code, "rule": "coordinates_missing", "field": "lon/lat",
                               "value": f"{lon_s!r} {lat_s!r}", "note": "no usable DMS in the dump"})
        for fld, s in (("lon", lon_s), ("lat", lat_s)):
            parts = s.split("-")
            if lon is not None and len(parts) == 3 and (int(parts[1]) >= 60 or float(parts[2]) >= 60):
                exceptions.append({"code": code, "rule": "dms_component_ge_60", "field": fld, "value": s,
                                   "note": "minutes/seconds >= 60 in the source; converted arithmetically "
                                           "(d + m/60 + s/3600), position may be off by up to ~1 km"})
        row = {
            "code": code, "name": _s(rec.get("obsnm")), "agency": _s(rec.get("agcnm")),
            "addr": _s(rec.get("addr")), "etcaddr": _s(rec.get("etcaddr")),
            "lon": _coord(lon), "lat": _coord(lat), "gdt": _num(rec.get("gdt")),
            **{k: _num(rec.get(k), zero_is_unset=True) for k in (*LEVELS, "pfh")},
            "forecast_point": "Y" if _s(rec.get("fstnyn")).upper() == "Y" else "N",
            "basin": basin_of(code),
        }
        levels = [(k, float(row[k])) for k in LEVELS if row[k]]
        for (ka, a), (kb, b) in zip(levels, levels[1:], strict=False):
            if b < a:
                exceptions.append({"code": code, "rule": "threshold_order", "field": kb,
                                   "value": f"{ka}={a} {kb}={b}", "note": "as published by HRFCO; kept unchanged"})
        if row["pfh"] and row["srswl"] and float(row["pfh"]) < float(row["srswl"]):
            exceptions.append({"code": code, "rule": "pfh_below_srswl", "field": "pfh",
                               "value": f"pfh={row['pfh']} srswl={row['srswl']}",
                               "note": "design flood level below the 심각 level; kept unchanged (not validated)"})
        rows.append(row)
    rows.sort(key=lambda r: r["code"])
    return rows, exceptions


def build_sites(records: list[dict], coords: dict[str, tuple[float, float, str]]) -> list[dict]:
    rows = []
    for rec in records:
        if not isinstance(rec, dict):  # dam/info sometimes carries nulls
            continue
        code = _s(rec.get("obs_code"))
        lon, lat, src = coords.get(code, (None, None, ""))
        rows.append({
            "code": code, "name": _s(rec.get("obs_name")), "agency": _s(rec.get("agency")),
            "addr": _s(rec.get("address")), "lon": _coord(lon), "lat": _coord(lat), "coord_source": src,
        })
    rows.sort(key=lambda r: r["code"])
    return rows


def write_csv(path: Path, columns: tuple[str, ...] | list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def build(shared: Path, out: Path) -> dict[str, int]:
    raw_path = shared / RAW
    digest = sha256(raw_path)
    if digest != EXPECTED_SHA256:
        log.warning("%s has SHA-256 %s, expected %s (README origin note will be stale)", raw_path, digest,
                    EXPECTED_SHA256)
    records = json.loads(raw_path.read_text(encoding="utf-8"))["content"]
    stations, exceptions = build_waterlevel(records)
    by_code = {r["code"]: r for r in stations}

    dam_coords = {}
    for dam, gauge in DAM_GAUGE.items():
        g = by_code[gauge]
        dam_coords[dam] = (float(g["lon"]), float(g["lat"]), f"HRFCO water-level record {gauge} at the dam ({RAW})")
    rain = build_sites(json.loads((shared / RAIN).read_text(encoding="utf-8")), RAIN_COORDS)
    dams = build_sites(json.loads((shared / DAMS).read_text(encoding="utf-8")), dam_coords)
    tide = [{**t, "lon": _coord(t["lon"]), "lat": _coord(t["lat"])} for t in TIDE_ROWS]

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "waterlevel.csv", WATERLEVEL_COLUMNS, stations)
    site_cols = [*SITE_COLUMNS, "coord_source"]
    write_csv(out / "rainfall.csv", site_cols, rain)
    write_csv(out / "dams.csv", site_cols, dams)
    write_csv(out / "tide.csv", site_cols, tide)
    exceptions.sort(key=lambda e: (e["code"], e["rule"], e["field"]))
    write_csv(out / "exceptions.csv", EXCEPTION_COLUMNS, exceptions)
    counts = {
        "waterlevel": len(stations),
        "forecast_points": sum(r["forecast_point"] == "Y" for r in stations),
        "with_coordinates": sum(bool(r["lon"]) for r in stations),
        "rainfall": len(rain), "dams": len(dams), "tide": len(tide), "exceptions": len(exceptions),
    }
    log.info("input %s sha256 %s", raw_path, digest)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data directory (../shared/data)")
    p.add_argument("--out", type=Path, default=HERE, help="output directory (default: stations/)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if not (args.shared / RAW).exists():
        log.error("%s not found (pass --shared)", args.shared / RAW)
        return 2
    counts = build(args.shared, args.out)
    log.info("wrote %s: %s", args.out, ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
