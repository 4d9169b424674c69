"""``floodwarn hindcast --replay DIR --report``: verify a replay's forecasts and warnings."""

from __future__ import annotations

import argparse
import sys
from typing import Any

NAME = "hindcast"
HELP = "verify a replay: forecast skill per station/lead, warning POD/FAR/CSI/lead/flapping"
DESCRIPTION = """\
Compare a replay's forecasts and warnings with the observations (as finally known):
forecast skill per station and lead (verify.py: RMSE, NSE, CRPS, 5–95 % coverage, skill vs
persistence) and, per threshold level, POD, FAR, CSI, lead time gained before the observed
crossing and flapping (downgrade-then-re-upgrade) per event.

  floodwarn replay --archive floodwarn/data/demo_event_2020.csv.gz \\
      --start 2020-07-28 --end 2020-08-20T23:50 --out var/replay-2020
  floodwarn hindcast --replay var/replay-2020 --report

--report writes DIR/hindcast/report.md with figures (hydrographs with the forecast fan and
warning bands; skill by lead) plus CSV tables and summary.json.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replay", required=True, metavar="DIR", help="a `floodwarn replay` output directory")
    p.add_argument("--report", action="store_true", help="write report.md with figures")
    p.add_argument("--out", help="report directory (default DIR/hindcast)")


def run(args: argparse.Namespace, settings: Any) -> int:
    from pathlib import Path

    from floodwarn.errors import FloodwarnError
    from floodwarn.hindcast import hindcast

    d = Path(args.replay)
    for name in ("forecasts.parquet", "alerts.jsonl", "replay.json", "replay.sqlite"):
        if not (d / name).exists():
            raise FloodwarnError("not a replay directory (run `floodwarn replay` first)", file=str(d / name))
    result = hindcast(d, settings, args.out, figures=args.report)
    sys.stdout.write(result.text())
    return 0
