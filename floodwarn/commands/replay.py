"""``floodwarn replay``: run the live cycle over an archive on a simulated clock."""

from __future__ import annotations

import argparse
import sys
from typing import Any

NAME = "replay"
HELP = "replay an archive through the cycle (simulated clock) and write forecasts + alerts"
DESCRIPTION = """\
Run the same run_cycle as the daemon over an archive, one cycle per 10 minutes of simulated
time, honouring arrival times (a cycle at T sees only records that arrived by T).

The archive is long CSV or Parquet with columns station, variable, time, value (HRFCO names,
stage in m, ISO-8601 times; no offset means KST). Unknown stations and variables are counted
and reported, never fatal. --start/--end accept ISO-8601 with or without an offset (none = KST).

Writes to DIR: forecasts.parquet, warnings.geojson (state at the end), alerts/*.xml (every CAP
message), alerts.jsonl (lifecycle log), replay.json (what was replayed) and replay.sqlite
(the replay's own store). Replaying the same span twice writes identical files.

  floodwarn replay --archive floodwarn/data/demo_event_2020.csv.gz \\
      --start 2020-07-28 --end 2020-08-20 --out var/replay-2020
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", action="append", required=True, metavar="PATH",
                   help="long CSV/Parquet archive (repeat for several)")
    p.add_argument("--start", required=True, help="first cycle time (ISO-8601; no offset = KST)")
    p.add_argument("--end", required=True, help="last cycle time (inclusive)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--models", help="model directory to use instead of the promoted models/")
    p.add_argument("--model-version", help="use this registered version instead of the promoted one "
                   "(e.g. an evaluation model that never saw the replayed year)")
    p.add_argument("--speed", type=float, default=0.0,
                   help="simulated seconds per wall second (600 = a cycle per second); 0 = flat out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, settings: Any) -> int:
    from floodwarn.errors import ConfigError
    from floodwarn.replay import replay
    from floodwarn.times import parse_time

    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except ValueError as err:
        raise ConfigError(str(err), field="--start/--end") from None
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}", field="--end")
    result = replay(
        settings, args.archive, start, end, args.out, models=args.models, model_version=args.model_version,
        speed=args.speed or None, progress=not args.no_progress,
    )
    sys.stdout.write(result.summary())
    return 0
