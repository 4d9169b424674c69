"""Model inputs: strictly causal, aligned targets, units from the archive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from floodwarn.forecast import dataset as D
from tests.forecast.conftest import synthetic_wide


def test_no_input_at_t_uses_a_value_after_t(wide: pd.DataFrame) -> None:
    """Poison everything after t (valid time > t): the inputs at every row <= t are unchanged."""
    full = D.base_features(wide)
    for cut in (200, 1500, 3999):
        t = wide.index[cut]
        poisoned = wide.copy()
        poisoned.loc[poisoned.index > t] = 1e6
        got = D.base_features(poisoned)
        pd.testing.assert_frame_equal(got.loc[:t], full.loc[:t])
        # and a history that simply ends at t gives the same last row (the live cycle's view)
        short = D.base_features(wide.loc[:t])
        pd.testing.assert_series_equal(short.iloc[-1], full.loc[t], check_names=False)


def test_arrival_after_t_is_invisible(wide: pd.DataFrame) -> None:
    """A value that arrives late (valid <= t, arrival > t) is missing at t: carried forward
    from earlier values for at most FFILL_STEPS, then the input is NaN, never the late value."""
    t = wide.index[3000]
    late = wide.copy()
    col, inf = f"tototf_{D.DAM}", f"inf_{D.DAM}"
    # the last 10 values of the release and of its stand-in, the inflow, have not arrived yet
    late.loc[late.index > wide.index[2990], [col, inf]] = np.nan
    f = D.base_features(late.loc[:t])
    assert np.isnan(f["tototf"].iloc[-1])
    assert f["tototf"].iloc[-8] == pytest.approx(wide[col].iloc[2990])  # carried 3 steps only
    assert np.isnan(f["tototf"].iloc[-7])
    # with the inflow on time, the release's gap is the inflow (proxies.py), never the late value
    late[inf] = wide[inf]
    f = D.base_features(late.loc[:t])
    assert f["tototf"].iloc[-1] == pytest.approx(wide[inf].iloc[3000])


def test_targets_are_future_minus_now(wide: pd.DataFrame) -> None:
    y = D.target(wide, "1018683", 60, "own")
    wl = wide["wl_1018683"]
    assert y.iloc[100] == pytest.approx(wl.iloc[106] - wl.iloc[100])
    assert D.target(wide, "1018683", 60, "sim").iloc[100] == pytest.approx(wl.iloc[106])
    assert np.isnan(y.iloc[-1])


def test_sim_features_never_see_stage_or_discharge(wide: pd.DataFrame) -> None:
    cols = D.feature_names("1018683", "sim", list(D.base_features(wide.iloc[:50]).columns))
    assert cols and not [c for c in cols if c.startswith(("wl_", "fw_"))]
    own = D.feature_names("1018683", "own", list(D.base_features(wide.iloc[:50]).columns))
    assert "wl_1018683" in own and "fw_1018683" in own
    assert not [c for c in cols if c.startswith("doy_")]


@pytest.mark.parametrize("station", D.BRIDGES)
def test_nbr_features_see_the_other_bridges_but_nothing_of_the_station(wide: pd.DataFrame,
                                                                       station: str) -> None:
    """Own gauge missing: its stage cannot leak in through its discharge or a slope to it."""
    avail = list(D.base_features(wide.iloc[:50]).columns)
    nbr = D.feature_names(station, "nbr", avail)
    sim = D.feature_names(station, "sim", avail)
    assert nbr[: len(sim)] == sim
    extra = nbr[len(sim):]
    assert extra and all(c.startswith(("wl_", "fw_")) for c in extra)
    assert not [c for c in nbr if station in c]
    for other in set(D.BRIDGES) - {station}:
        assert f"wl_{other}" in extra
    # relative to the nearest bridge now (an absolute stage cannot exceed the training years)
    ref = D.NBR_REFERENCE[station]
    assert ref != station and f"wl_{ref}" in extra
    y = D.target(wide, station, 60, "nbr")
    assert y.iloc[100] == pytest.approx(wide[f"wl_{station}"].iloc[106] - wide[f"wl_{ref}"].iloc[100])


def test_regularise_fills_the_grid() -> None:
    w = synthetic_wide(50).drop(index=synthetic_wide(50).index[10:20])
    r = D.regularise(w)
    assert len(r) == 50 and r.iloc[10:20].isna().all().all()
    with pytest.raises(ValueError, match="timezone-aware"):
        D.regularise(w.tz_localize(None))


def test_xarray_dataset_carries_units(wide: pd.DataFrame) -> None:
    ds = D.to_xarray(wide.iloc[:100])
    assert ds["wl"].attrs["units"] == "m"
    assert ds["tide"].attrs["units"] == "cm"
    assert set(ds["wl"].station.values) >= set(D.BRIDGES)
    assert ds["wl"].sel(station="1018683").values[5] == pytest.approx(wide["wl_1018683"].iloc[5])


@pytest.mark.shared
def test_archive_is_read_as_stage_in_metres(shared_data) -> None:
    w = D.read_hanriver(shared_data / "hanriver", [2020])
    # provenance: Jamsu El.cm 1146.2 on 2020-08-06 14:30 KST is stage 11.53 m (gdt -0.068)
    t = pd.Timestamp("2020-08-06 14:30", tz="Asia/Seoul").tz_convert("UTC")
    assert w.loc[t, "wl_1018680"] == pytest.approx(11.53, abs=1e-6)
    assert w.index.tz is not None and (w.index.to_series().diff().dropna() == pd.Timedelta("10min")).all()
    assert w[f"tototf_{D.DAM}"].max() < 20000  # the provenance's error spikes are removed


def test_solo_inputs_are_the_own_inputs_without_other_bridges(wide: pd.DataFrame) -> None:
    cols = list(D.base_features(wide.iloc[:50]).columns)
    for st in D.BRIDGES:
        own, solo = D.feature_names(st, "own", cols), D.feature_names(st, "solo", cols)
        others = [b for b in D.BRIDGES if b != st]
        assert solo == [c for c in own if not any(b in c for b in others)]
        assert f"wl_{st}" in solo and f"wl_{st}_d60" in solo and "tide" in solo and "tototf" in solo
        assert D.anchor_station(st, "solo") == st
    assert D.target(wide, "1018683", 60, "solo").equals(D.target(wide, "1018683", 60, "own"))
