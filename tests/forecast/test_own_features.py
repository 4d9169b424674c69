"""Own-mode inputs that anticipate a rise (issue 6): what they are, and that sim mode never sees them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from floodwarn.forecast import dataset as D


@pytest.fixture(scope="module")
def feats(wide: pd.DataFrame) -> pd.DataFrame:
    return D.base_features(wide)


def _own_only(cols: list[str]) -> list[str]:
    return [c for c in cols if c.startswith("own_") or c.startswith("wl_slope_")
            or c.endswith(("_r30", "_r60", "_a60", "_a180"))]


def test_own_inputs_go_to_own_mode_only(feats: pd.DataFrame) -> None:
    cols = list(feats.columns)
    new = _own_only(cols)
    assert len(new) == 4 * 4 + 3 * 2 + 4 + 5 + 5  # stage means/curvature, slopes, inflow, rain
    own = D.feature_names("1018680", "own", cols)
    sim = D.feature_names("1018680", "sim", cols)
    assert set(new) <= set(own)
    assert not set(new) & set(sim)
    assert len(own) == len(set(own))


def test_own_inputs_are_the_documented_differences(wide: pd.DataFrame, feats: pd.DataFrame) -> None:
    i = 2000
    wl = {s: wide[f"wl_{s}"].to_numpy() for s in D.BRIDGES}
    f = feats.iloc[i]
    tol = {"rel": 1e-5, "abs": 1e-5}  # the inputs are float32
    s = "1018683"
    assert f[f"wl_{s}_r30"] == pytest.approx(wl[s][i] - wl[s][i - 2:i + 1].mean(), **tol)
    assert f[f"wl_{s}_a60"] == pytest.approx(wl[s][i] - 2 * wl[s][i - 6] + wl[s][i - 12], **tol)
    a, b = "1018680", "1018683"
    slope = (wl[a][i - 2:i + 1].mean() + D.GDT[a]) - (wl[b][i - 2:i + 1].mean() + D.GDT[b])
    assert f[f"wl_slope_{a}_{b}"] == pytest.approx(slope, **tol)
    inf = wide[f"inf_{D.DAM}"].to_numpy()
    tot = wide[f"tototf_{D.DAM}"].to_numpy()
    assert f["own_inf_d360"] == pytest.approx(inf[i] - inf[i - 36], **tol)
    assert f["own_inf_m60"] == pytest.approx(inf[i - 5:i + 1].mean(), **tol)
    assert f["own_store_s180"] == pytest.approx((inf - tot)[i - 17:i + 1].mean(), **tol)
    rain = np.vstack([wide[f"rf_{g}"].to_numpy() for g in D.RAIN_GAUGES])
    assert f["own_rf_s30"] == pytest.approx(rain.mean(axis=0)[i - 2:i + 1].sum(), **tol)
    assert f["own_rf_max_s60"] == pytest.approx(rain[:, i - 5:i + 1].sum(axis=1).max(), **tol)


def test_own_inputs_follow_missing_stage(wide: pd.DataFrame) -> None:
    """A gauge that went silent (beyond the carry-forward limit) gives missing inputs, not stale ones."""
    gap = wide.copy()
    gap.iloc[1990:2001, gap.columns.get_loc("wl_1018683")] = np.nan
    f = D.base_features(gap).iloc[2000]
    assert np.isnan(f["wl_1018683_a60"]) and np.isnan(f["wl_slope_1018680_1018683"])
    assert np.isfinite(f["wl_slope_1018662_1018680"])
