"""apply_qc with integer series codes flags exactly like a naive per-series loop over the
rows sorted by the station and variable strings (the order it had before)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from floodwarn.qc import QCLimits, apply_qc, flag_series
from floodwarn.records import obs_frame


def _naive(obs: pd.DataFrame, limits: QCLimits) -> np.ndarray:
    qc = obs["qc"].to_numpy(np.int64).copy()
    keys = sorted(set(zip(obs["station"].astype(str), obs["variable"].astype(str), strict=True)))
    for st, var in keys:
        rows = [i for i in range(len(obs)) if str(obs["station"].iat[i]) == st and str(obs["variable"].iat[i]) == var]
        rows.sort(key=lambda i: (int(obs["valid_time"].iat[i]), int(obs["arrival_time"].iat[i]), i))
        idx = np.array(rows)
        qc[idx] |= flag_series(obs["value"].to_numpy(float)[idx], obs["valid_time"].to_numpy(np.int64)[idx],
                               limits.for_series(st, var))
    return qc


def test_flags_equal_naive_per_series_loop() -> None:
    rng = np.random.default_rng(4)
    rows = []
    for st in ("9", "10", "1018662", "1018680"):  # "10" < "9" as strings
        for var in ("wl", "rf", "tide"):
            t = np.sort(rng.choice(np.arange(0, 600 * 300, 600), 200, replace=False)) + 1_596_000_000
            v = np.cumsum(rng.normal(0, 0.3, len(t)))
            v[rng.random(len(t)) < 0.05] = np.nan
            v[rng.random(len(t)) < 0.03] += 25.0  # spikes and out-of-range values
            rows += [(st, var, int(a), float(b), int(a) + 30) for a, b in zip(t, v, strict=True)]
    rows += [("10", "wl", rows[5][2], 4.0, rows[5][4] + 600)]  # a second version of one key
    df = pd.DataFrame(rows, columns=["station", "variable", "valid_time", "value", "arrival_time"])
    df = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    obs = obs_frame(df["station"], df["variable"], df["valid_time"], df["value"], df["arrival_time"], "t")
    limits = QCLimits(stations={"10": {"wl": {"hi": 5.0}}})
    out = apply_qc(obs, limits)
    np.testing.assert_array_equal(out["qc"].to_numpy(), _naive(obs, limits))
    assert (out["qc"].to_numpy() != obs["qc"].to_numpy()).any()
    pd.testing.assert_frame_equal(out.drop(columns="qc"), obs.drop(columns="qc"))
