"""``floodwarn models list | show | promote | retire | shadow | evaluate``: the model registry."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NAME = "models"
HELP = "list, show, promote, retire, shadow-run or re-evaluate model versions"
DESCRIPTION = """\
Model versions live in the models directory (default models/), one folder each, with a registry
index (index.json). Promoting is picked up by a running daemon on its next cycle (hot reload);
a shadow version forecasts alongside the promoted one but never alerts.

  floodwarn models list
  floodwarn models show han-lgbm-eval-2012-2019-v4
  floodwarn models promote han-lgbm-all
  floodwarn models shadow han-lgbm-20240801T1200
  floodwarn models retire han-lgbm-20240801T1200
  floodwarn models evaluate han-lgbm-eval-2012-2019-v4   # re-run the issue-6 protocol, rewrite the card
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "show", "promote", "retire", "shadow", "evaluate"))
    p.add_argument("version", nargs="?", help="model version (all actions but list)")
    p.add_argument("--models", help="models directory (default: settings / models/)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--data", help="evaluate: the competition archive (default ../shared/data/hanriver)")


def run(args: argparse.Namespace, settings: Any) -> int:
    from floodwarn.config import models_dir
    from floodwarn.errors import ConfigError
    from floodwarn.forecast.registry import ModelRegistry

    reg = ModelRegistry(Path(args.models) if args.models else models_dir(settings))
    if args.action == "list":
        rows = reg.list()
        if args.json:
            sys.stdout.write(json.dumps(rows, indent=1) + "\n")
            return 0
        if not rows:
            sys.stdout.write(f"no model versions in {reg.root}\n")
            return 0
        for r in rows:
            mark = "*" if r.get("status") == "promoted" else " "
            sys.stdout.write(f"{mark} {r['version']:<40} {r.get('status', ''):<10} "
                             f"{r.get('created', '')}  {r.get('note', '')}\n")
        return 0
    if not args.version:
        raise ConfigError(f"'models {args.action}' needs a version")
    if args.action == "show":
        info = reg.show(args.version)
        if args.json:
            sys.stdout.write(json.dumps(info, indent=1, default=str) + "\n")
        else:
            card = Path(reg.root / args.version / "card.md")
            sys.stdout.write(f"{args.version}: {info.get('status')}\n")
            if card.exists():
                sys.stdout.write(card.read_text(encoding="utf-8"))
            else:
                sys.stdout.write(json.dumps(info, indent=1, default=str) + "\n")
        return 0
    if args.action == "evaluate":
        return _evaluate(reg, args.version, args.data)
    getattr(reg, args.action)(args.version)
    sys.stdout.write(f"{args.version}: {args.action}d\n" if args.action != "shadow"
                     else f"{args.version}: running in shadow\n")
    return 0


def _evaluate(reg: Any, version: str, data: str | None) -> int:
    """Re-run the evaluation protocol on a registered version with this code and rewrite its
    card (the models are not touched: a version's boosters never change under its name)."""
    from floodwarn.commands.train import archive_dir, write_evaluated_card
    from floodwarn.forecast import dataset as D

    root = archive_dir(data)
    bundle = reg.load(version)
    wide = D.read_hanriver(root)
    write_evaluated_card(bundle, wide, D.base_features(wide), reg.root / version)
    sys.stdout.write(f"{version}: card rewritten\n")
    return 0
