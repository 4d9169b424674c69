"""``floodwarn cycle --at T``: run one cycle now (or for a past time) and print its report."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from floodwarn.times import parse_time

NAME = "cycle"
HELP = "run one 10-minute cycle (ingest → forecast → warn → products) and print its report"
DESCRIPTION = """\
Run the pipeline once for cycle time T (floored to the 10-minute grid) and record it in the
cycle ledger. Only observations that arrived at or before T are used, so a past cycle is
reproduced exactly; running the same cycle twice writes nothing twice.

  floodwarn cycle --at 2020-08-02T12:00          # KST when no offset is given
  floodwarn cycle --at 2020-08-02T03:00Z --no-feed --json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--at", help="cycle time, ISO-8601 (no offset means KST); default: now")
    p.add_argument("--no-feed", action="store_true", help="skip ingest; use what is stored")
    p.add_argument("--feed", help="feed to poll (overrides feeds.source: hrfco, archive, synthetic)")
    p.add_argument("--models", help="model directory (default: models/ promoted models)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")


def run(args: argparse.Namespace, settings: Any) -> int:
    from datetime import UTC, datetime

    from floodwarn.cycle import make_context, run_cycle
    from floodwarn.feeds import get_feed
    from floodwarn.times import floor_step

    at = parse_time(args.at) if args.at else floor_step(datetime.now(UTC))
    feed: Any = None
    if not args.no_feed:
        name = args.feed or settings.feeds.source
        feed = get_feed(name).from_settings(settings)
    ctx = make_context(settings, feed=feed, models=args.models)
    try:
        report = run_cycle(at, ctx)
    finally:
        if hasattr(feed, "close"):
            feed.close()
        ctx.store.close()
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=1, default=str, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(format_report(report))
    return 0


def format_report(report: Any) -> str:
    """A few human lines: status, stations, counts and the stage breakdown."""
    s = report.stations
    lines = [
        f"cycle {report.cycle_at.isoformat()} {report.status} in {report.seconds:.2f} s "
        f"({report.mode})",
        f"  stations: {s.get('fresh', 0)} fresh, {s.get('stale', 0)} stale, {s.get('missing', 0)} missing",
        f"  forecasts: {report.forecasts} rows; warnings changed: {report.warnings_changed}; "
        f"messages enqueued: {report.messages_enqueued}",
    ]
    for st in report.stages:
        extra = st.error or st.counts.get("reason", "")
        lines.append(f"  {st.name:<9} {st.status:<7} {st.seconds * 1000:8.1f} ms  {extra}".rstrip())
    if report.flags:
        lines.append(f"  flags: {', '.join(report.flags)}")
    return "\n".join(lines) + "\n"
