"""Choose the warning rule settings on floods the models never saw, without the 2020 test flood.

For each fold year (the Han River seasons 2012-2018 whose bridges crossed 주의보), an own-mode
model set is trained on the other years of 2012-2019 (calibrated on 2021), the year's flood windows
are cut from ``../shared/data/hanriver`` into replay archives, and every candidate rule setting
replays them through ``floodwarn replay`` + ``floodwarn hindcast``. The table it prints is POD,
FAR and median lead per level, pooled over the years (docs/warnings.md quotes it).

    .venv/bin/python tools/warn_rule_study.py --work /tmp/rules              # all folds, all settings
    .venv/bin/python tools/warn_rule_study.py --work /tmp/rules --settings 0.55/0.65/2,0.45/0.60/1

Hours of CPU for all folds (each fold's training ≈ 6 min on one thread, each replay ≈ 1 min).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_demo_event import build  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "hanriver"
FLOODWARN = [str(Path(sys.executable).with_name("floodwarn"))]
#: KST windows around every 주의보 crossing (Jamsu ≥ 5.5 m) of the training seasons
WINDOWS = {
    2012: [("07-02", "07-10"), ("08-12", "09-03")],
    2013: [("07-08", "07-29")],
    2016: [("07-01", "07-10")],
    2017: [("07-06", "07-28"), ("08-18", "08-28")],
    2018: [("05-14", "05-22"), ("06-28", "07-06"), ("08-25", "09-02")],
}
#: candidate settings exceedance_p / exceedance_p_far / confirm_cycles (the first is the old default)
SETTINGS = ("0.55/0.65/2", "0.50/0.60/2", "0.45/0.60/2", "0.55/0.65/1", "0.50/0.60/1",
            "0.45/0.60/1", "0.40/0.55/1")
LEVELS = ("attwl", "wrnwl", "almwl", "srswl")


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(args: list[str], log: Path) -> None:
    with log.open("w") as fh:
        subprocess.run([*FLOODWARN, *args], check=True, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)


def train_fold(year: int, work: Path) -> Path:
    """Own-mode models trained on 2012-2019 without ``year`` (its registry directory)."""
    models = work / f"models_{year}"
    if not (models / f"fold-{year}").is_dir():
        years = ",".join(str(y) for y in range(2012, 2020) if y != year)
        run(["train", "--threads", "1", "--modes", "own", "--no-evaluate", "--train-years", years,
             "--calib-years", "2021", "--version", f"fold-{year}", "--models", str(models),
             "--purpose", f"warning rule study, {year} held out"], work / f"train_{year}.log")
    return models


def archives(year: int, work: Path) -> list[tuple[Path, str, str]]:
    """(archive, first cycle, last cycle) per flood window; 4 days of lead-in for the inputs.
    Cut and rounded like the demo event (``tools/make_demo_event.build``)."""
    from floodwarn.feeds.archive import write_archive

    out = []
    for i, (a, b) in enumerate(WINDOWS[year]):
        start, end = f"{year}-{a}T00:00", f"{year}-{b}T23:50"
        path = work / "archives" / f"{year}_{i}.csv.gz"
        if not path.exists():
            t0 = datetime.fromisoformat(start + ":00+09:00")
            t1 = datetime.fromisoformat(end + ":00+09:00")
            obs = build(DATA, t0 - timedelta(days=4), t1 + timedelta(hours=7))
            path.parent.mkdir(parents=True, exist_ok=True)
            write_archive(obs, path)
        out.append((path, start, end))
    return out


def replay(setting: str, year: int, models: Path, work: Path) -> list[Path]:
    p, p_far, confirm = setting.split("/")
    cfg = work / f"warn_{setting.replace('/', '_')}.toml"
    cfg.write_text(f"[warn]\nexceedance_p = {p}\nexceedance_p_far = {p_far}\nconfirm_cycles = {confirm}\n")
    dirs = []
    for arch, start, end in archives(year, work):
        out = work / "replays" / setting.replace("/", "_") / arch.name.split(".")[0]
        if not (out / "hindcast" / "warning_events.csv").exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            run(["--config", str(cfg), "replay", "--archive", str(arch), "--start", start, "--end", end,
                 "--models", str(models), "--model-version", f"fold-{year}", "--out", str(out),
                 "--no-progress"], out.with_suffix(".log"))
            run(["--config", str(cfg), "hindcast", "--replay", str(out)], out.with_suffix(".hindcast.log"))
        dirs.append(out)
    return dirs


def summary(dirs: list[Path]) -> dict[str, float]:
    """POD / FAR / median lead per level and pooled over 관심-경보, max flaps per event."""
    ev = pd.concat([pd.read_csv(d / "hindcast" / "warning_events.csv") for d in dirs])
    wi = pd.concat([pd.read_csv(d / "hindcast" / "warned_intervals.csv") for d in dirs])
    row: dict[str, float] = {}
    for lv in LEVELS:
        e, w = ev[ev.level == lv], wi[wi.level == lv]
        row[f"{lv} events"] = len(e)
        row[f"{lv} POD"] = float(e.hit.mean()) if len(e) else np.nan
        row[f"{lv} FAR"] = float(w.false_alarm.mean()) if len(w) else np.nan
        row[f"{lv} lead"] = float(e.lead_min.median()) if len(e) else np.nan
    pooled = ev.level.isin(LEVELS[:3])
    row["pooled FAR"] = float(wi[wi.level.isin(LEVELS[:3])].false_alarm.mean())
    row["pooled lead"] = float(ev[pooled].lead_min.median())
    row["max flaps"] = float(ev.flaps.max())
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="work directory (models, archives, replays)")
    ap.add_argument("--years", default=",".join(str(y) for y in WINDOWS))
    ap.add_argument("--settings", default=",".join(SETTINGS), help="p/p_far/confirm,...")
    a = ap.parse_args(argv)
    if not (DATA / "water_data").is_dir():
        raise SystemExit(f"no Han River archive at {DATA}")
    years = [int(y) for y in a.years.split(",")]
    a.work.mkdir(parents=True, exist_ok=True)
    table = {}
    folds = {y: train_fold(y, a.work) for y in years}
    for s in a.settings.split(","):
        dirs = [d for y in years for d in replay(s, y, folds[y], a.work)]
        table[s] = summary(dirs)
        say(f"{s}: pooled lead {table[s]['pooled lead']:.0f} min, FAR {table[s]['pooled FAR']:.3f}")
    say(pd.DataFrame(table).round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
