"""``floodwarn export``: observations, forecasts, warnings and alerts out of the store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NAME = "export"
HELP = "export observations (replayable archive), forecasts, warnings (GeoJSON) or alerts (CAP)"
DESCRIPTION = """\
  floodwarn export observations --out obs.parquet --start 2020-08-01 --end 2020-08-10
  floodwarn export forecasts --out fc.parquet --station 1018683
  floodwarn export warnings --out warnings.geojson
  floodwarn export alerts --out alerts/          # CAP 1.2 XML per message + alerts.jsonl

Observations are written as a long archive (station, variable, time, value [, arrival_time,
qc, source]) that `floodwarn replay` and `floodwarn ingest` read back. Times without an offset
are KST.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["observations", "forecasts", "warnings", "alerts"])
    p.add_argument("--out", required=True, help="output file (.csv/.parquet/.geojson) or directory")
    p.add_argument("--start", help="from this time (ISO-8601; no offset = KST)")
    p.add_argument("--end", help="up to this time (inclusive)")
    p.add_argument("--station", action="append", help="only these stations (repeatable)")
    p.add_argument("--as-of", help="observations: as they were known at this time")


def run(args: argparse.Namespace, settings: Any) -> int:
    from floodwarn.store import open_store
    from floodwarn.times import parse_time, to_epoch

    def t(x: str | None) -> int | None:
        return None if x is None else to_epoch(parse_time(x))

    store = open_store(settings.store.url)
    out = Path(args.out)
    try:
        if args.what == "observations":
            from floodwarn.feeds.archive import write_archive

            obs = store.observations(args.station, None, t(args.start), t(args.end), t(args.as_of))
            write_archive(obs.drop(columns=["version"], errors="ignore"), out)
            n = len(obs)
        elif args.what == "forecasts":
            import pandas as pd

            fc = store.forecasts(None, t(args.start), t(args.end))
            if args.station:
                fc = fc[fc["station"].isin(args.station)]
            fc["issued_at"] = pd.to_datetime(fc["issued_at"].astype("int64"), unit="s", utc=True)
            fc = fc.drop(columns=["shadow"])
            (fc.to_csv(out, index=False) if out.suffix == ".csv" else fc.to_parquet(out, index=False))
            n = len(fc)
        elif args.what == "warnings":
            from floodwarn.cycle import atomic_write, load_catalog_or_none
            from floodwarn.products.geojson import warnings_geojson

            doc = warnings_geojson(store, load_catalog_or_none(settings))
            text = doc if isinstance(doc, str | bytes) else json.dumps(doc, ensure_ascii=False, indent=1)
            atomic_write(out, text)
            n = len(json.loads(text).get("features", []))
        else:
            n = _export_alerts(store, settings, out, t(args.start), args.station)
    finally:
        store.close()
    sys.stdout.write(f"exported {n} {args.what} to {out}\n")
    return 0


def _export_alerts(store: Any, settings: Any, out: Path, since: int | None, stations: list[str] | None) -> int:
    from floodwarn.cycle import _event_id, atomic_write, load_catalog_or_none
    from floodwarn.products.cap import cap_xml
    from floodwarn.times import from_epoch
    from floodwarn.warn.lifecycle import history

    catalog = load_catalog_or_none(settings)
    events = history(store, since=from_epoch(since) if since is not None else None)
    if stations:
        events = [e for e in events if e.station in stations]
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for ev in events:
        atomic_write(out / f"{_event_id(ev)}.xml", cap_xml(ev, catalog))
        lines.append(json.dumps(ev.to_dict(), ensure_ascii=False, sort_keys=True))
    atomic_write(out / "alerts.jsonl", "".join(x + "\n" for x in lines))
    return len(events)
