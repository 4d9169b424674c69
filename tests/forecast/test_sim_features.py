"""The sim-mode-only inputs (``sim_*``): gap-filled tide and slow boundary state, causal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from floodwarn.forecast import dataset as D


def test_tide_gap_is_filled_from_two_tidal_cycles_earlier(wide: pd.DataFrame) -> None:
    tide = wide[f"tide_{D.TIDE}"].to_numpy(np.float64)  # synthetic M2 tide, period 74.5 steps
    gappy = tide.copy()
    gappy[1000:1030] = np.nan  # 5 hours missing
    filled = D.fill_tide(gappy)
    np.testing.assert_allclose(filled[1000:1030], tide[1000:1030], atol=1e-6)
    np.testing.assert_array_equal(filled[:1000], tide[:1000])


def test_tide_fill_stops_after_three_days_and_needs_history() -> None:
    n = 2000
    tide = 300 + 250 * np.sin(2 * np.pi * np.arange(n) / 74.5)
    gappy = tide.copy()
    gappy[500:] = np.nan
    filled = D.fill_tide(gappy)
    end = 500 + D.SIM_TIDE_FILL_MAX_STEPS - 1  # last filled index: 3 days after the last value
    assert np.isfinite(filled[500:end + 1]).all()
    assert np.isnan(filled[end + 1:]).all()
    early = tide.copy()
    early[50:60] = np.nan  # less than two cycles of history: nothing to copy from
    assert np.isnan(D.fill_tide(early)[50:60]).all()
    assert np.isnan(D.fill_tide(np.full(10, np.nan))).all()


def test_sim_inputs_are_causal_across_a_tide_gap(wide: pd.DataFrame) -> None:
    """Poison everything after t while the tide is missing around t: no sim_ input at <= t moves."""
    gappy = wide.copy()
    gappy.iloc[2950:3100, gappy.columns.get_loc(f"tide_{D.TIDE}")] = np.nan
    full = D.base_features(gappy)
    sim = [c for c in full.columns if c.startswith("sim_")]
    assert len(sim) > 20
    t = gappy.index[3000]
    poisoned = gappy.copy()
    poisoned.loc[poisoned.index > t] = 1e6
    got = D.base_features(poisoned)
    pd.testing.assert_frame_equal(got.loc[:t, sim], full.loc[:t, sim])
    assert np.isfinite(full.loc[t, "sim_tide"]) and full.loc[t, "sim_tide_missing"] == 1.0
    # every model reads the same gap-filled tide (forecast/proxies.py), causal like the sim_ ones
    assert full.loc[t, "tide"] == full.loc[t, "sim_tide"]
    tide = [c for c in full.columns if c.startswith("tide")]
    pd.testing.assert_frame_equal(got.loc[:t, tide], full.loc[:t, tide])


def test_sim_slow_state_values(wide: pd.DataFrame) -> None:
    f = D.base_features(wide)
    tot = wide[f"tototf_{D.DAM}"]
    i = 1000
    assert f["sim_tototf_m360"].iloc[i] == pytest.approx(tot.iloc[i - 35:i + 1].mean(), rel=1e-5)
    assert f["sim_tototf_max1440"].iloc[i] == pytest.approx(tot.iloc[i - 143:i + 1].max(), rel=1e-6)
    tide = wide[f"tide_{D.TIDE}"]
    assert f["sim_tide_range150"].iloc[i] == pytest.approx(
        tide.iloc[i - 149:i + 1].max() - tide.iloc[i - 149:i + 1].min(), rel=1e-5)
    assert f["sim_tide_l60"].iloc[i] == pytest.approx(tide.iloc[i - 6], rel=1e-6)


def test_sim_inputs_only_in_sim_mode(wide: pd.DataFrame) -> None:
    cols = list(D.base_features(wide.iloc[:50]).columns)
    own = D.feature_names("1018683", "own", cols)
    sim = D.feature_names("1018683", "sim", cols)
    assert not [c for c in own if c.startswith("sim_")]
    assert own == D.feature_names("1018683", "own", [c for c in cols if not c.startswith("sim_")])
    assert "sim_tide_mean150" in sim and "sim_tototf_m2880" in sim
    assert not [c for c in sim if c.startswith(("ecpc", "doy_", "wl_", "fw_"))]
