"""``floodwarn ingest``: load archives, the Han River competition set or one HRFCO poll into the store."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

NAME = "ingest"
HELP = "store observations from archives, the Han River set or one HRFCO poll"
DESCRIPTION = """\
Store observations (idempotent: repeats are skipped, corrections kept as new versions, bad
records quarantined with their reason, unknown stations counted).

  floodwarn ingest --archive obs.parquet --archive more.csv
  floodwarn ingest --hanriver ../shared/data/hanriver --years 2019 2020
  floodwarn ingest --feed hrfco              # one poll of the configured live feed
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--archive", action="append", metavar="PATH", help="long CSV/Parquet archive")
    src.add_argument("--hanriver", metavar="DIR", help="the Han River competition directory")
    src.add_argument("--feed", help="poll a configured feed once (hrfco, synthetic, archive)")
    p.add_argument("--years", type=int, nargs="*", help="with --hanriver: seasons to import")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, settings: Any) -> int:
    from tqdm import tqdm

    from floodwarn.cycle import load_catalog_or_none
    from floodwarn.ingest import IngestCounts, ingest_batches, ingest_result
    from floodwarn.store import open_store

    store = open_store(settings.store.url)
    catalog = load_catalog_or_none(settings)
    known = (lambda c: catalog.known(c) is not None) if catalog is not None else None
    total = IngestCounts()
    try:
        if args.archive:
            from floodwarn.feeds.archive import read_archive

            for path in tqdm(args.archive, unit="file", disable=args.no_progress or None):
                total = total + ingest_result(store, read_archive(path, known), "archive")
        elif args.hanriver:
            from floodwarn.feeds.hanriver import read_hanriver, years_available

            years = args.years or years_available(args.hanriver)
            for year in tqdm(years, unit="season", disable=args.no_progress or None):
                total = total + ingest_result(
                    store, read_hanriver(args.hanriver, [year], known=known), "hanriver"
                )
        else:
            from floodwarn.feeds import get_feed

            feed = get_feed(args.feed).from_settings(settings)
            try:
                total = ingest_batches(store, feed.poll(datetime.now(UTC), known=known))
            finally:
                if hasattr(feed, "close"):
                    feed.close()
    finally:
        store.close()
    s = total.summary()
    sys.stdout.write(
        f"ingested: {s['inserted']} new, {s['corrected']} corrected, {s['duplicates']} repeats "
        f"skipped, {s['quarantined']} quarantined, {s['unknown']} unknown"
        + (f" ({', '.join(f'{k} ×{v}' for k, v in s['unknown_top'].items())})" if s["unknown"] else "")
        + (f"; {s['fetch_errors']} fetch error(s): {'; '.join(s['errors'])}" if s["fetch_errors"] else "")
        + "\n"
    )
    return 1 if s["fetch_errors"] and not s["inserted"] and args.feed else 0
