"""Calibrate (and check) the ``persistence-trend`` band on real hourly gauges.

Data: the hourly Geum gauges below Yongdam dam (``../shared/data/geum_yongdam_downstream_hourly``,
see tools/make_geum_archive.py; all 21 stage series, the authors' gap fills — runs of identical
values longer than 24 h — masked). For every hour of the calibration years the q50 of
:func:`floodwarn.forecast.fallback.persistence_trend` is made from the values up to that hour
(the same code as the live forecast) and compared with the stage 1..6 h later; the 5 % and 95 %
error quantiles per rate-of-rise class and lead are the band (:func:`calibrate_band`).

Prints the table (paste into ``BAND_Q05`` / ``BAND_Q95``), the coverage of the shipped table
leave-one-year-out inside the calibration years and out of sample (2020, the Aug 2020 flood,
2021–2024), and the q50 error of the trend variants on fast rises.

    .venv/bin/python tools/calibrate_fallback.py                 # calibrate on 2015-2019
    .venv/bin/python tools/calibrate_fallback.py --write          # rewrite BAND_Q05/Q95 in fallback.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from make_geum_archive import DEFAULT_DIR, MAX_FLAT_H, flat_runs, read_wide  # noqa: E402

from floodwarn.forecast import fallback as F  # noqa: E402

STEP_MIN = 60


def load_stage(data_dir: Path = DEFAULT_DIR) -> pd.DataFrame:
    """The 21 hourly stage series (m), gap fills masked as NaN."""
    wide = read_wide(data_dir)
    wl = wide[[c for c in wide.columns if c.endswith("_hwl")]].copy()
    for c in wl.columns:
        v = wl[c].to_numpy(np.float64)
        wl[c] = np.where(flat_runs(v, MAX_FLAT_H), np.nan, v)
    wl.columns = [c[:-4] for c in wl.columns]
    return wl


def errors_for(wl: pd.DataFrame, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(errors[origin, lead], class[origin], rate m/h [origin]) pooled over the gauges."""
    errs, classes, rates = [], [], []
    for c in wl.columns:
        x = wl[c].to_numpy(np.float64)
        e, cls, origin = F.forecast_errors(x, STEP_MIN, F.BAND_LEADS_MIN, mask=sel)
        errs.append(e)
        classes.append(cls)
        rates.append(x[origin] - x[origin - 1])
    return np.vstack(errs), np.concatenate(classes), np.concatenate(rates)


def years_mask(index: pd.DatetimeIndex, years: list[int], start: str | None = None,
               end: str | None = None) -> np.ndarray:
    m = np.isin(index.year, years)
    if start:
        m &= index >= pd.Timestamp(start, tz=index.tz)
    if end:
        m &= index <= pd.Timestamp(end, tz=index.tz)
    return m


def fmt_table(t: np.ndarray) -> str:
    rows = ",\n".join("    (" + ", ".join(repr(float(v)) for v in row) + ")" for row in t)
    return "(\n" + rows + ",\n)"


def coverage_line(label: str, e: np.ndarray, cls: np.ndarray, q05: np.ndarray, q95: np.ndarray) -> str:
    cov = F.band_coverage(e, cls, q05, q95)
    return f"{label:<34} n={len(e):>7}  " + "  ".join(f"{v:.3f}" for v in cov)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--years", default="2015-2019", help="calibration years, e.g. 2015-2019")
    ap.add_argument("--write", action="store_true",
                    help="write the table into floodwarn/forecast/fallback.py (then re-run to check)")
    a = ap.parse_args(argv)
    y0, y1 = (int(v) for v in a.years.split("-"))
    years = list(range(y0, y1 + 1))
    wl = load_stage(a.data)
    idx = wl.index
    e, cls, _ = errors_for(wl, years_mask(idx, years))
    lo, hi, n = F.calibrate_band(e, cls)
    out = sys.stdout.write
    out(f"calibration {a.years}: {len(e)} forecasts, leads {F.BAND_LEADS_MIN} min\n")
    out("n per class (lead 60 min): " + "; ".join(
        f"{F.class_name(c)} {int(k)}" for c, k in enumerate(n[:, 0])) + "\n")
    text = (f"BAND_Q05: tuple[tuple[float, ...], ...] = {fmt_table(np.round(lo, 3))}\n"
            f"BAND_Q95: tuple[tuple[float, ...], ...] = {fmt_table(np.round(hi, 3))}\n")
    out(text)
    if a.write:
        path = ROOT / "floodwarn" / "forecast" / "fallback.py"
        src = path.read_text(encoding="utf-8")
        i = src.index("BAND_Q05: tuple")
        j = src.index("\n)\n", src.index("BAND_Q95: tuple")) + 3
        path.write_text(src[:i] + text + src[j:], encoding="utf-8")
        out(f"wrote the table into {path}; run again without --write for the checks\n")
        return 0
    shipped = np.asarray(F.BAND_Q05), np.asarray(F.BAND_Q95)
    same = np.allclose(shipped[0], np.round(lo, 3)) and np.allclose(shipped[1], np.round(hi, 3))
    out(f"shipped table {'==' if same else '!='} this calibration\n\n")
    out("90 % band coverage by lead " + " ".join(f"{h:>5}" for h in F.BAND_LEADS_MIN) + "\n")
    out(coverage_line(f"in-sample {a.years}", e, cls, *shipped) + "\n")
    for y in years:  # leave one year out
        rest = [v for v in years if v != y]
        e_r, c_r, _ = errors_for(wl, years_mask(idx, rest))
        lo_r, hi_r, _ = F.calibrate_band(e_r, c_r)
        e_y, c_y, _ = errors_for(wl, years_mask(idx, [y]))
        out(coverage_line(f"LOYO {y} (table without {y})", e_y, c_y, lo_r, hi_r) + "\n")
    checks = [("2020 (all)", [2020], None, None),
              ("2020-08-05..12 (Yongdam flood)", [2020], "2020-08-05", "2020-08-12 23:00"),
              ("2021-2024 (to 2024-09)", [2021, 2022, 2023, 2024], None, None),
              ("2023-07-10..20", [2023], "2023-07-10", "2023-07-20 23:00"),
              ("2024-07-05..15", [2024], "2024-07-05", "2024-07-15 23:00")]
    for label, ys, s, t in checks:
        e_o, c_o, r_o = errors_for(wl, years_mask(idx, ys, s, t))
        out(coverage_line(f"out-of-sample {label}", e_o, c_o, *shipped) + "\n")
        na = len(F.ACTIVITY_CLASS_NAMES)
        rising = c_o // na >= F.RATE_CLASS_NAMES.index("rising")
        if rising.any():
            out(coverage_line("   rising (≥ 0.005 m/h) only", e_o[rising], c_o[rising], *shipped) + "\n")
        flood = c_o % na == na - 1
        if flood.any():
            out(coverage_line("   in flood (6-h range ≥ 0.5 m) only", e_o[flood], c_o[flood], *shipped) + "\n")
        med = np.nanmedian(np.abs(e_o), axis=0)
        out(f"{'   median |error| m':<34} {'':>9}  " + "  ".join(f"{v:.3f}" for v in med) + "\n")
    out("\nq50 mean |error| (m) on fast rises (last-hour rise ≥ 0.10 m/h), hourly: "
        "persistence / full 1-h trend (before) / half trend 1 h (now)\n")
    for label, ys, s, t in [(f"{a.years}", years, None, None),
                            ("2020-08-05..12", [2020], "2020-08-05", "2020-08-12 23:00")]:
        sel = years_mask(idx, ys, s, t)
        acc: dict[str, list[np.ndarray]] = {"P": [], "T1": [], "T½": []}
        for c in wl.columns:
            x = wl[c].to_numpy(np.float64)
            r = x - np.roll(x, 1)
            r[0] = np.nan
            for k, name in ((0.0, "P"), (1.0, "T1"), (0.5, "T½")):
                errs = []
                for h in range(1, 7):
                    fut = np.roll(x, -h)
                    fut[-h:] = np.nan
                    errs.append(np.abs(fut - (x + k * r * min(h, 1))))
                m = sel & (r >= 0.10)
                acc[name].append(np.vstack(errs).T[m])
        parts = {k: np.vstack(v) for k, v in acc.items()}
        out(f"  {label} (n={len(parts['P'])}):\n")
        for name, v in parts.items():
            out(f"    {name:<3} " + "  ".join(f"{m:.3f}" for m in np.nanmean(v, axis=0)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
