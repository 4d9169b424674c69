"""apply_qc over observation frames: per-series grouping, limits per variable and station."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from floodwarn.errors import ConfigError
from floodwarn.qc import QCLimits, apply_qc
from floodwarn.records import OBS_COLUMNS, QC, REJECT, obs_frame


def frame() -> pd.DataFrame:
    t = np.arange(8) * 600
    wl = obs_frame("S1", "wl", t, [1.0, 1.0, 1.1, 9.0, 1.1, 1.2, np.nan, 45.0], t + 30, "test")
    rf = obs_frame("S1", "rf", t, [0.0, 0.0, 30.0, 0.0, -1.0, 0.0, 0.0, 0.0], t + 30, "test")
    wl2 = obs_frame("S2", "wl", t, [1.0, 1.0, 1.1, 9.0, 1.1, 1.2, 1.3, 45.0], t + 30, "test")
    df = pd.concat([wl, rf, wl2], ignore_index=True)
    return df.sample(frac=1.0, random_state=0)  # order must not matter


def flags(out: pd.DataFrame, station: str, variable: str) -> list[int]:
    sel = out[(out.station == station) & (out.variable == variable)].sort_values("valid_time")
    return sel["qc"].tolist()


def test_flags_per_series_and_rows_unchanged():
    df = frame()
    out = apply_qc(df)
    assert list(out.columns) == OBS_COLUMNS and out.index.equals(df.index)
    pd.testing.assert_series_equal(out["value"], df["value"])
    assert flags(out, "S1", "wl") == [0, 0, 0, QC.SPIKE, 0, 0, QC.MISSING, QC.RANGE]
    # rain is never a spike; negative rain is out of range
    assert flags(out, "S1", "rf") == [0, 0, 0, 0, QC.RANGE, 0, 0, 0]


def test_existing_flags_are_kept():
    df = frame()
    df["qc"] = int(QC.LATE)
    assert (apply_qc(df)["qc"] & int(QC.LATE)).all()


def test_station_override_changes_only_that_station():
    lim = QCLimits.from_mapping({"stations": {"S2": {"wl": {"hi": 50.0}}}})
    out = apply_qc(frame(), lim)
    assert flags(out, "S2", "wl")[-1] == QC.SPIKE  # in range now, but a jump from 1.3 m
    assert flags(out, "S1", "wl")[-1] == QC.RANGE


def test_unknown_limit_is_named():
    with pytest.raises(ConfigError, match=r"qc.stations.S2.wl.hight"):
        QCLimits.from_mapping({"stations": {"S2": {"wl": {"hight": 50.0}}}})
    with pytest.raises(ConfigError, match=r"qc.variables.wl.bogus"):
        QCLimits.from_mapping({"variables": {"wl": {"bogus": 1}}})


def test_empty_frame_and_missing_column():
    empty = obs_frame([], [], [], [], [], "x")
    assert apply_qc(empty).empty
    with pytest.raises(ValueError, match="qc"):
        apply_qc(frame().drop(columns="qc"))


@pytest.mark.parametrize("year", [2020])
def test_real_han_river_season_few_spikes(shared_data, year):
    """Hangang bridge, a flood year: the rise must not be rejected as spikes (El.cm -> stage m)."""
    path = shared_data / "hanriver" / "water_data" / f"data_{year}.csv"
    raw = pd.read_csv(path, usecols=["ymdhm", "wl_1018683"])
    stage = raw["wl_1018683"].to_numpy(float) / 100.0 - 2.07
    t = np.arange(len(raw), dtype=np.int64) * 600
    out = apply_qc(obs_frame("1018683", "wl", t, stage, t, "test"))
    q = out["qc"].to_numpy()
    spikes = np.count_nonzero(q & int(QC.SPIKE))
    assert spikes <= 5, f"{spikes} spikes in data_{year}.csv"
    top = int(np.nanargmax(stage))  # the flood peak itself is accepted
    assert not (q[top - 36 : top + 1] & int(REJECT)).any()
