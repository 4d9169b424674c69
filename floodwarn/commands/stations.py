"""``floodwarn stations``: list, filter and export the station catalog."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

from floodwarn.catalog import LEVELS, Catalog, load_catalog
from floodwarn.config import Settings, stations_dir
from floodwarn.errors import CatalogError

NAME = "stations"
HELP = "list and filter the station catalog, or write it as GeoJSON"
DESCRIPTION = """\
List the HRFCO station catalog (stations/ in the checkout, or settings.stations_dir).

  floodwarn stations                         all 1,417 water-level stations as a table
  floodwarn stations --forecast-points       the 223 official flood-forecast points
  floodwarn stations --basin Han --name 서울  filter by basin and name substring
  floodwarn stations --code 1018683 --format json
  floodwarn stations --kind rainfall         rain gauges (also: dam, tide, network)
  floodwarn stations --geojson stations.geojson   RFC 7946 FeatureCollection ('-' = stdout)

Filters combine (AND). Thresholds are stages in m above gauge zero (gdt); blank = not set.
"""

_KIND_FRAME = {"waterlevel": "stations", "rainfall": "rainfall", "dam": "dams", "tide": "tide",
               "network": "network"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=sorted(_KIND_FRAME), default="waterlevel",
                   help="which table to list (default: waterlevel)")
    p.add_argument("--forecast-points", action="store_true", help="only official flood-forecast points")
    p.add_argument("--basin", help="basin name (Han, Nakdong, Geum, Seomjin, Yeongsan, Jeju), case-insensitive")
    p.add_argument("--code", action="append", help="station code (repeatable)")
    p.add_argument("--name", help="substring of the station name")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table", help="output format")
    p.add_argument("--geojson", nargs="?", const="-", metavar="PATH|-",
                   help="write the (filtered) water-level stations as GeoJSON to PATH or stdout")


def _filter(frame: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    if args.forecast_points:
        if "forecast_point" not in frame.columns:
            raise CatalogError(f"--forecast-points applies to water-level stations, not --kind {args.kind}")
        frame = frame[frame["forecast_point"]]
    if args.basin:
        if "basin" not in frame.columns:
            raise CatalogError(f"--basin does not apply to --kind {args.kind}")
        frame = frame[frame["basin"].str.lower() == args.basin.lower()]
    if args.code:
        frame = frame[frame.index.isin(args.code)]
    if args.name:
        frame = frame[frame["name"].str.contains(args.name, regex=False)]
    return frame


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def _width(text: str) -> int:
    """Terminal columns: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    rows = [[_cell(v) for v in rec] for rec in frame[columns].itertuples(index=False, name=None)]
    widths = [max([_width(c)] + [_width(r[i]) for r in rows]) for i, c in enumerate(columns)]
    lines = []
    for cells in [columns, *rows]:
        lines.append("  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True)).rstrip())
    lines.append(f"({len(rows)} rows)")
    return "\n".join(lines) + "\n"


def _columns(kind: str) -> tuple[list[str], list[str]]:
    """(all columns for csv/json, the compact set for the table)."""
    if kind == "waterlevel":
        full = ["code", "name", "agency", "addr", "etcaddr", "lon", "lat", "gdt", *LEVELS, "pfh",
                "forecast_point", "basin"]
        return full, ["code", "name", "basin", "forecast_point", "gdt", *LEVELS, "lon", "lat"]
    if kind == "network":
        full = ["code", "kind", "name", "downstream", "reach_km", "basin", "river", "role"]
        return full, full
    full = ["code", "name", "agency", "addr", "lon", "lat"]
    return full, full


def _write_geojson(catalog: Catalog, frame: pd.DataFrame, target: str) -> None:
    doc = catalog.to_geojson(codes=frame.index)
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {len(doc['features'])} stations to {target}\n")


def run(args: argparse.Namespace, settings: Settings) -> int:
    catalog = load_catalog(stations_dir(settings))
    frame = getattr(catalog, _KIND_FRAME[args.kind])
    frame = _filter(frame, args)
    if args.geojson is not None:
        if args.kind != "waterlevel":
            raise CatalogError("--geojson writes water-level stations; drop --kind")
        _write_geojson(catalog, frame, args.geojson)
        return 0
    full, compact = _columns(args.kind)
    full = [c for c in full if c in frame.columns]
    if args.format == "table":
        sys.stdout.write(_table(frame, compact))
    elif args.format == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(full)
        for rec in frame[full].itertuples(index=False, name=None):
            w.writerow([_cell(v) if not isinstance(v, float) else ("" if math.isnan(v) else repr(v)) for v in rec])
        sys.stdout.write(buf.getvalue())
    else:
        records = []
        for rec in frame[full].to_dict(orient="records"):
            records.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()})
        sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=1, default=_json_default) + "\n")
    return 0


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")
