"""How far the Han River inputs can take the issue 6 targets: three measurements on the shared data.

1. ``oracle``: own-mode models (the shipped training settings, 2012-2019, the flood weights) are
   given what no forecaster has at issue time — the rain that *will* fall at the three Seoul gauges
   over the lead time and the Paldang release that *will* be made — and scored on the 2020 flood
   window. If even these cannot reach a target, no model on these inputs will.
2. ``years``: median stage of each bridge per season at the same Paldang release. A
   boundary-conditions-only (``sim``) model predicts what the training seasons did at that release;
   a season that sits lower or higher is a bias no input can explain.
3. ``noise``: the 10-minute noise of each bridge's gauge in the 2020 flood (residual against a
   7-step running median; lag-1 autocorrelation of the 10-minute changes: ~0.8 for a smooth
   river, ~0 for white noise). Noise in the verifying observation is error no forecast removes.

    .venv/bin/python tools/forecast_limits.py                 # all three, ~2 min on 2 cores
    .venv/bin/python tools/forecast_limits.py --part noise

Look-ahead is the *point* of part 1: its models are never saved or used to forecast.
docs/forecast-limits.md quotes the output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from floodwarn.forecast import dataset as D  # noqa: E402
from floodwarn.forecast.evaluate import test_sets  # noqa: E402
from floodwarn.forecast.lgbm import QuantileLGBM  # noqa: E402
from floodwarn.forecast.train import DEFAULT_PARAMS, flood_weights, train_rows  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "hanriver"
TRAIN_YEARS = range(2012, 2020)
ORACLE_STATIONS = ("1018680", "1018683")  # the bridges the targets name
ORACLE_LEADS = (60, 180, 360)
RELEASE_BANDS = ((200, 400), (400, 800), (800, 1500))  # Paldang release m³/s, 6-h mean


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def table(df: pd.DataFrame) -> str:
    return "```\n" + df.to_string(index=False) + "\n```\n"


def _flood_mask(index: pd.DatetimeIndex) -> np.ndarray:
    """The issue's 2020 flood window, as the model cards cut it."""
    return test_sets(index)["2020-flood"][1]


def future_inputs(wide: pd.DataFrame, lead_min: int) -> pd.DataFrame:
    """What will happen over (t, t + lead]: gauge-mean rain in thirds of the lead, Paldang
    release mean and end value. Deliberately not causal (part 1 only)."""
    k = lead_min // D.STEP_MIN
    rain = wide[[f"rf_{g}" for g in D.RAIN_GAUGES]].mean(axis=1).fillna(0.0).cumsum()
    out = {}
    for j in (1, 2, 3):
        out[f"future_rain_{j}of3"] = rain.shift(-(k * j) // 3) - rain.shift(-(k * (j - 1)) // 3)
    tot = wide[f"tototf_{D.DAM}"].ffill(limit=D.FFILL_STEPS)
    out["future_release_mean"] = tot[::-1].rolling(k, min_periods=1).mean()[::-1].shift(-1)
    out["future_release_end"] = tot.shift(-k)
    return pd.DataFrame(out, index=wide.index).astype(np.float32)


def oracle(wide: pd.DataFrame, feats: pd.DataFrame) -> pd.DataFrame:
    """Flood-window RMSE (cm) of the central forecast with and without perfect foresight."""
    flood = _flood_mask(feats.index)
    params = {**DEFAULT_PARAMS, "q_estimators": 1}  # only the central booster is scored
    rows = []
    for h in ORACLE_LEADS:
        fut = future_inputs(wide, h)
        variants = {"as shipped": [], "+ future rain": [c for c in fut if "rain" in c],
                    "+ future release": [c for c in fut if "release" in c], "+ both": list(fut)}
        for st in ORACLE_STATIONS:
            cols = D.feature_names(st, "own", list(feats.columns))
            y = D.target(wide, st, h, "own").to_numpy(np.float64)
            w = flood_weights(wide[f"wl_{st}"].to_numpy(np.float64))
            tr = train_rows(feats, y, TRAIN_YEARS, 3)
            te = flood & np.isfinite(y)
            row: dict[str, object] = {"station": D.BRIDGE_NAMES[st], "lead_min": h}
            for name, extra in variants.items():
                X = pd.concat([feats[cols], fut[extra]], axis=1)
                est = QuantileLGBM(**params).fit(X.to_numpy(np.float32)[tr], y[tr], list(X.columns), w[tr])
                err = est.predict(X.to_numpy(np.float32)[te]) - y[te]
                row[name] = round(float(np.sqrt(np.mean(err**2))) * 100, 2)
            rows.append(row)
            say(str(row))
    return pd.DataFrame(rows)


def years(wide: pd.DataFrame) -> pd.DataFrame:
    """Median stage (cm) per season and bridge at the same 6-h mean Paldang release."""
    release = wide[f"tototf_{D.DAM}"].rolling(36, min_periods=1).mean()
    season = wide.index.tz_convert("Asia/Seoul").year
    rows = []
    for lo, hi in RELEASE_BANDS:
        band = (release >= lo) & (release < hi)
        for y in sorted(set(season)):
            m = band & (season == y)
            if m.sum() < 144:
                continue
            row: dict[str, object] = {"release m³/s": f"{lo}-{hi}", "season": y, "hours": int(m.sum()) // 6}
            for st in D.BRIDGES:
                row[D.BRIDGE_NAMES[st]] = round(float(wide.loc[m, f"wl_{st}"].median()) * 100, 1)
            rows.append(row)
    return pd.DataFrame(rows)


def noise(wide: pd.DataFrame) -> pd.DataFrame:
    """Gauge noise in the 2020 flood window (cm) and how white it is."""
    flood = _flood_mask(wide.index)
    rows = []
    for st in D.BRIDGES:
        x = wide[f"wl_{st}"]
        resid = (x - x.rolling(7, center=True, min_periods=7).median())[flood]
        step = x.diff()[flood]
        rows.append({"station": D.BRIDGE_NAMES[st], "residual std cm": round(float(resid.std()) * 100, 2),
                     "10-min change std cm": round(float(step.std()) * 100, 2),
                     "lag-1 autocorr of changes": round(float(step.autocorr(1)), 2)})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("oracle", "years", "noise", "all"), default="all")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        ap.error(f"no Han River data at {args.data} (../shared/data/hanriver)")
    wide = D.read_hanriver(args.data)
    if args.part in ("noise", "all"):
        say("## Gauge noise, 2020 flood window\n\n" + table(noise(wide)))
    if args.part in ("years", "all"):
        say("## Median stage (cm) at the same Paldang release\n\n" + table(years(wide)))
    if args.part in ("oracle", "all"):
        tab = oracle(wide, D.base_features(wide))
        say("## Flood-window RMSE (cm) with perfect foresight of rain and release\n\n"
            + table(tab))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
