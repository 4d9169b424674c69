"""``floodwarn train``: train, calibrate, evaluate and register a Han River model version."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

NAME = "train"
HELP = "train + calibrate the Han River LightGBM models, evaluate them, register a version"
DESCRIPTION = """\
Train one LightGBM model per (station, mode, lead) on the competition archive, conformalise its
90 % band on the calibration years, verify it on the issue-6 test sets (years it did not train on)
and register it under the models directory as a candidate (or promote it).

  floodwarn train --purpose evaluation                       # train 2012-2019, calibrate 2021
  floodwarn train --train-years 2012-2020,2022 --purpose operational --promote
  floodwarn train --stations 1018683 --horizons 60 --thin 12 --version quick   # a small run
  floodwarn train --executor dask --workers 2                # fit the models on a LocalCluster
  floodwarn train --modes solo --add-to han-lgbm-eval-2012-2019-v4   # add a mode to a version

Leave-one-year-out evaluation (nothing is registered; writes loyo.json + loyo.md into --out):

  floodwarn train --loyo --out loyo-report --executor dask --workers 2
  floodwarn train --loyo --out loyo-quick --thin 6 --horizons 60,180,360 --executor threads

Each held-out season trains on the others (the latest remaining year calibrates the band).
Results are identical for every executor at equal --threads (LightGBM threads per model).
"""


def _years(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="hanriver archive dir (default: ../shared/data/hanriver)")
    p.add_argument("--train-years", default="2012-2019", help="e.g. 2012-2019 or 2012-2020,2022")
    p.add_argument("--calib-years", default="2021", help="conformal calibration years")
    p.add_argument("--stations", help="comma-separated station codes (default: the four bridges)")
    p.add_argument("--horizons", help="comma-separated leads in minutes (default: 10..360)")
    p.add_argument("--modes", default="own,nbr,sim,solo",
                   help="comma-separated: own (own gauge), nbr (own gauge missing, other bridges "
                        "reporting), sim (boundary conditions only), solo (own gauge, another "
                        "bridge missing)")
    p.add_argument("--add-to", metavar="VERSION",
                   help="train --modes the registered VERSION lacks, with its years, stations, "
                        "leads and settings, and add them to it (its other models are untouched)")
    p.add_argument("--thin", type=int, default=3, help="train on every N-th 10-min row")
    p.add_argument("--version", help="version name (default: han-lgbm-<UTC time>)")
    p.add_argument("--purpose", default="", help="free text recorded in the model card")
    p.add_argument("--models", help="models directory (default: settings / models/)")
    p.add_argument("--no-evaluate", action="store_true", help="skip the test-set evaluation")
    p.add_argument("--promote", action="store_true", help="promote the new version")
    p.add_argument("--executor", choices=("serial", "threads", "dask"), default="serial",
                   help="where models (or LOYO folds) run: serial, a thread pool, or a Dask "
                        "LocalCluster (one thread per worker)")
    p.add_argument("--workers", type=int, default=2, help="threads / Dask workers (default 2)")
    p.add_argument("--threads", type=int,
                   help="LightGBM threads per model (default: 2 for training, 1 for --loyo)")
    p.add_argument("--loyo", action="store_true",
                   help="leave-one-year-out evaluation instead of training a version")
    p.add_argument("--loyo-years", default="2012-2021", help="seasons to hold out in turn")
    p.add_argument("--out", help="directory for the LOYO report (loyo.json, loyo.md)")


def run(args: argparse.Namespace, settings: Any) -> int:
    from floodwarn.config import models_dir
    from floodwarn.errors import ConfigError
    from floodwarn.forecast import dataset as D
    from floodwarn.forecast.distributed import executor_for
    from floodwarn.forecast.registry import ModelRegistry
    from floodwarn.forecast.train import new_version, save_and_register, train_bundle

    if args.loyo and not args.out:
        raise ConfigError("--loyo needs --out DIR for the report")
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    data = archive_dir(args.data)
    root = Path(args.models) if args.models else models_dir(settings)
    # a LOYO run reads only the seasons it holds out (the others are not needed)
    wide = D.read_hanriver(data, _years(args.loyo_years) if args.loyo else None)
    feats = D.base_features(wide)
    stations = args.stations.split(",") if args.stations else list(D.BRIDGES)
    horizons = [int(h) for h in args.horizons.split(",")] if args.horizons else list(D.HORIZONS)

    def progress(msg: str) -> None:
        sys.stdout.write(msg + "\n")
        sys.stdout.flush()

    params = {"num_threads": args.threads} if args.threads else None
    if args.loyo:
        return _run_loyo(args, wide, feats, stations, horizons, params, progress)
    if args.add_to:
        return _run_add(args, root, wide, feats, progress)
    with executor_for(args.executor, args.workers) as executor:
        bundle = train_bundle(
            wide, feats, version=args.version or new_version(),
            train_years=_years(args.train_years), calib_years=_years(args.calib_years),
            stations=stations, horizons=horizons, modes=args.modes.split(","), thin=args.thin,
            purpose=args.purpose, progress=progress, params=params, executor=executor,
        )
    path = save_and_register(bundle, root, note=args.purpose)
    sys.stdout.write(f"registered {bundle.version} in {root}\n")
    write_evaluated_card(bundle, wide, feats, path, evaluate=not args.no_evaluate)
    if args.promote:
        ModelRegistry(root).promote(bundle.version)
        sys.stdout.write(f"promoted {bundle.version}\n")
    return 0


def _run_add(args: argparse.Namespace, root: Path, wide: Any, feats: Any, progress: Any) -> int:
    """``--add-to VERSION``: fit the missing modes exactly as VERSION was trained and add them.

    Only the new models' files and the manifest are written, so the version's existing models
    stay byte-identical; the manifest's ``added`` list records when and with which code."""
    import json

    from floodwarn.cycle import atomic_write
    from floodwarn.errors import ConfigError
    from floodwarn.forecast.bundle import MANIFEST
    from floodwarn.forecast.registry import ModelRegistry
    from floodwarn.forecast.train import train_bundle

    bundle = ModelRegistry(root).load(args.add_to)
    m = bundle.manifest
    modes = args.modes.split(",")
    have = [md for md in modes if any(bundle.has(st, md) for st in bundle.stations)]
    if have:
        raise ConfigError(f"{args.add_to} already has mode(s) {have}")
    params = {**m["params"], **({"num_threads": args.threads} if args.threads else {})}
    new = train_bundle(wide, feats, version=bundle.version, train_years=m["train_years"],
                       calib_years=m["calib_years"], stations=bundle.stations, horizons=bundle.horizons,
                       modes=modes, params=params, thin=int(m["thin"]), progress=progress)
    path = Path(bundle.path or root / bundle.version)
    offsets = new.write_models(path)  # new file names only: the existing ones are not rewritten
    bundle.estimators.update(new.estimators)
    m["modes"] = [*m["modes"], *modes]
    m["features"].update(new.manifest["features"])
    m["target"].update({md: new.manifest["target"][md] for md in modes})
    m["offsets"] = {**m["offsets"], **offsets}
    m.setdefault("added", []).append({"modes": modes, "created": new.manifest["created"],
                                      "code_version": new.manifest["code_version"],
                                      "train_seconds": new.manifest["train_seconds"]})
    atomic_write(path / MANIFEST, json.dumps(m, indent=1))  # last: loaders see old or new
    sys.stdout.write(f"added {modes} to {bundle.version} in {root}\n")
    write_evaluated_card(bundle, wide, feats, path, evaluate=not args.no_evaluate)
    return 0


def _run_loyo(args: argparse.Namespace, wide: Any, feats: Any, stations: list[str],
              horizons: list[int], params: dict[str, Any] | None, progress: Any) -> int:
    from floodwarn.forecast.distributed import executor_for
    from floodwarn.forecast.loyo import run_loyo, write_report

    with executor_for(args.executor, args.workers) as executor:
        result = run_loyo(wide, feats, years=_years(args.loyo_years), stations=stations,
                          horizons=horizons, modes=args.modes.split(","), params=params,
                          thin=args.thin, executor=executor, progress=progress)
    jpath, mpath = write_report(result, Path(args.out))
    sys.stdout.write(f"leave-one-year-out over {result['years']} in {result['wall_seconds']:.0f} s "
                     f"({result['executor']}): {jpath}, {mpath}\n")
    for mode, by_lead in result["competition_metric"].items():
        sys.stdout.write(f"  competition metric ({mode}), mean over folds: " + ", ".join(
            f"{lead} min {d['mean']:.2f}" for lead, d in sorted(by_lead.items())) + "\n")
    return 0


def archive_dir(arg: str | None) -> Path:
    """The competition archive: ``--data`` or ``../shared/data/hanriver``; a clear error if absent."""
    from floodwarn.config import project_root
    from floodwarn.errors import ConfigError

    data = Path(arg) if arg else project_root().parent / "shared" / "data" / "hanriver"
    if not (data / "water_data").is_dir():
        raise ConfigError("no water_data/ in the archive directory", file=str(data))
    return data


def write_evaluated_card(bundle: Any, wide: Any, feats: Any, path: Path, evaluate: bool = True) -> Any:
    """Run the issue-6 protocol on ``bundle`` with this code (unless ``evaluate`` is false), write
    its card into ``path`` and print the targets; returns the evaluation (or None)."""
    from floodwarn.forecast.evaluate import evaluate_bundle, write_card

    result = evaluate_bundle(bundle, wide, feats) if evaluate else None
    write_card(bundle, result, path)
    if result:
        write_targets(result)
    return result


def write_targets(result: dict[str, Any]) -> None:
    """One line per issue-6 target of an evaluation: ok / MISS, value and limit."""
    for t in result["targets"]:
        sys.stdout.write(f"  {'ok ' if t['met'] else 'MISS'} {t['target']} {t['station']}: "
                         f"{t['value']:.3f} (limit {t['limit']})\n")
