"""Forecast benchmarks (issue 6).

- cycle: :func:`forecast_cycle` for the 223 forecast points (4 LightGBM stations × 7 leads × 3
  quantiles + persistence-trend for the rest) and for 1,417 stations, wall time per cycle
  (target ≤ 100 ms on 2 cores for 223);
- gauge out: the four bridges with 한강대교's gauge out for 6 h (``lgbm-nbr`` + last-known
  offset) against all four reporting (ratio = out / ok);
- tide out: the same with the Ganghwa tide missing from the whole history (the astronomical
  tide stands in, ``forecast/proxies.py``) against the complete inputs;
- batch: LightGBM prediction of one (station, lead) model for a full season, vectorised vs a naive
  per-row loop (ratio = loop / vectorised);
- training: wall time recorded in the shipped model card (not re-run here: minutes).

Uses the promoted version in models/ and real August 2020 data when ``../shared/data`` exists,
otherwise a synthetic river.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import record, timeit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "hanriver"


class _Points:
    def __init__(self, codes: list[str]) -> None:
        self.codes = codes

    def forecast_points(self) -> pd.DataFrame:
        return pd.DataFrame(index=pd.Index(self.codes, name="code"))


def main() -> None:
    from floodwarn.forecast import dataset as D
    from floodwarn.forecast.predict import forecast_cycle
    from floodwarn.forecast.registry import ModelRegistry

    reg = ModelRegistry(ROOT / "models")
    bundle = reg.load_promoted()
    wide = D.read_hanriver(DATA, [2020])
    hist = wide.loc["2020-08-04":"2020-08-06 06:00"]
    at = datetime(2020, 8, 6, 0, 0, tzinfo=UTC)
    rng = np.random.default_rng(0)
    for n in (223, 1417):
        codes = [f"{2000000 + i}" for i in range(n - len(D.BRIDGES))]
        extra = pd.DataFrame({f"wl_{c}": 3 + np.cumsum(rng.normal(0, 0.01, len(hist))) for c in codes},
                             index=hist.index)
        h = pd.concat([hist, extra], axis=1)
        pts = _Points(codes)
        forecast_cycle(at, h, pts, reg)
        t = timeit(lambda h=h, pts=pts: forecast_cycle(at, h, pts, reg), repeat=5)
        record(f"forecast_cycle {n} stations", t * 1000, "ms")

    # one bridge gauge out for 6 h: lgbm-nbr plus the last-known offset, which rebuilds the
    # model inputs over the day before the failure (145 h of history) every cycle
    long = wide.loc["2020-07-29 12:00":"2020-08-06 06:00"]
    out = long.copy()
    out.loc[out.index > pd.Timestamp(at) - pd.Timedelta(hours=6), "wl_1018683"] = np.nan
    pts = _Points([])
    forecast_cycle(at, long, pts, reg)
    forecast_cycle(at, out, pts, reg)
    t_ok = timeit(lambda: forecast_cycle(at, long, pts, reg), repeat=5)
    t_out = timeit(lambda: forecast_cycle(at, out, pts, reg), repeat=5)
    record("forecast_cycle 4 bridges, one gauge out 6 h (nbr + last-known offset)", t_out * 1000, "ms",
           baseline=t_ok * 1000, ratio=t_out / t_ok)
    # the tide feed down for the whole history: the astronomical tide stands in (proxies.py),
    # from its per-day cache after the first cycle
    no_tide = long.copy()
    no_tide[f"tide_{D.TIDE}"] = np.nan
    forecast_cycle(at, no_tide, pts, reg)
    t_tide = timeit(lambda: forecast_cycle(at, no_tide, pts, reg), repeat=5)
    record("forecast_cycle 4 bridges, tide feed down (astronomical tide stand-in)", t_tide * 1000, "ms",
           baseline=t_ok * 1000, ratio=t_tide / t_ok)

    feats = D.base_features(wide)
    est = bundle.estimators[("1018683", "own", 60)]
    X = feats[bundle.features("1018683", "own")].to_numpy(np.float32)
    t_vec = timeit(lambda: est.predict_quantiles(X), repeat=3)
    sub = X[:300]
    t0 = time.perf_counter()
    for row in sub:
        est.predict_quantiles(row[None, :])
    t_loop = (time.perf_counter() - t0) / len(sub) * len(X)
    record("lgbm predict season 1 model vectorised", t_vec, "s", baseline=t_loop, ratio=t_loop / t_vec)
    card = json.loads((ROOT / "models" / bundle.version / "card.json").read_text())
    record(f"training time {bundle.version} (from card)", float(card.get("train_seconds") or 0), "s")


if __name__ == "__main__":
    main()
