"""``floodwarn`` command line: one sub-command per module in :mod:`floodwarn.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args, settings) -> int``; the CLI discovers them, so adding a command never edits this
file. Expected errors (:class:`floodwarn.errors.FloodwarnError`) print one line, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from floodwarn import commands
from floodwarn.config import load_settings
from floodwarn.errors import FloodwarnError
from floodwarn.logs import setup_logging

log = logging.getLogger(__name__)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="floodwarn",
        description="River flood early warning: ingest feeds, forecast, warn, publish.",
    )
    parser.add_argument("--config", help="TOML settings file (else $FLOODWARN_CONFIG)")
    parser.add_argument("--log-json", action="store_true", help="structured JSON logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules: dict[str, object] = {}
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        except ImportError as err:  # one broken command must not take the others down
            log.warning("command module %s failed to import: %s", info.name, err)
            continue
        p = sub.add_parser(
            mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        modules[mod.NAME] = mod
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.config)
        setup_logging(
            "DEBUG" if args.verbose else settings.logging.level,
            json_logs=args.log_json or settings.logging.json,
        )
        return int(modules[args.command].run(args, settings) or 0)  # type: ignore[attr-defined]
    except FloodwarnError as err:
        sys.stderr.write(f"floodwarn {args.command}: error: {err}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
