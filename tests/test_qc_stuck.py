"""Near-flat (stuck sensor with last-digit dither) QC: opt-in per station, above a floor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from floodwarn.errors import ConfigError
from floodwarn.qc import STUCK_N, QCLimits, VarLimits, apply_qc, flag_series
from floodwarn.records import QC, obs_frame

FL = int(QC.FLATLINE)


def dither(n: int, level: float = 5.71) -> np.ndarray:
    """A stuck gauge whose last digit toggles: never the same value twice in a row."""
    return np.round(level + 0.01 * (np.arange(n) % 2), 2)


def t10(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * 600


def test_dither_escapes_flatline_but_not_stuck():
    v = dither(300)
    plain = VarLimits(flat_n=72)
    assert not (flag_series(v, t10(300), plain) & FL).any()
    stuck = VarLimits(flat_n=72, stuck_n=144, stuck_band=0.01)
    f = flag_series(v, t10(300), stuck) & FL
    assert not f[:143].any() and f[143:].all()  # the first stuck_n - 1 values are not flagged


def test_band_gap_nan_and_floor():
    lim = VarLimits(stuck_n=4, stuck_band=0.01)
    v = np.array([1.0, 1.01, 1.0, 1.01, 1.03, 1.02, 1.03, 1.02, np.nan, 1.03])
    assert list(flag_series(v, t10(10), lim) & FL) == [0, 0, 0, FL, 0, 0, 0, FL, 0, FL]
    t = t10(10)
    t[6:] += 7200  # a gap before value 6 restarts the run
    assert list(flag_series(v, t, lim) & FL) == [0, 0, 0, FL, 0, 0, 0, 0, 0, 0]
    floored = VarLimits(stuck_n=4, stuck_band=0.01, stuck_min=1.02)
    assert list(flag_series(v, t10(10), floored) & FL) == [0] * 7 + [FL, 0, FL]
    # a 2 cm swing is not within a 1 cm band; float rounding of 1.03 - 1.02 is not a swing
    assert not (flag_series(np.array([1.0, 1.02] * 4), t10(8), lim) & FL).any()


def test_default_wl_limits_leave_low_flow_dither_alone():
    """Low flows hold a stage within 1 cm for days at most gauges: the test is opt-in."""
    obs = obs_frame("S1", "wl", t10(1000), dither(1000, 0.43), t10(1000), "test")
    assert not (apply_qc(obs)["qc"].to_numpy() & FL).any()


def test_with_stuck_floors_enables_only_those_stations():
    t = t10(400)
    obs = pd.concat([obs_frame(s, "wl", t, dither(400), t, "test") for s in ("A", "B", "C", "D")],
                    ignore_index=True)
    base = QCLimits(stations={"A": {"wl": {"hi": 30.0}}})
    lim = base.with_stuck_floors({"A": 1.4, "B": 6.0, "C": float("nan")})
    assert lim.for_series("A", "wl").hi == 30.0  # existing override kept
    assert lim.for_series("A", "wl").stuck_n == STUCK_N
    assert lim.for_series("D", "wl").stuck_n == 0
    out = apply_qc(obs, lim)
    hits = {s: int(np.count_nonzero(out.loc[out.station == s, "qc"].to_numpy() & FL))
            for s in "ABCD"}
    assert hits == {"A": 400 - STUCK_N + 1, "B": 0, "C": 0, "D": 0}  # B: below its floor
    assert base.stations == {"A": {"wl": {"hi": 30.0}}}  # not mutated


def test_stuck_limits_are_validated_like_the_others():
    lim = QCLimits.from_mapping({"stations": {"X": {"wl": {"stuck_n": "36", "stuck_min": 2}}}})
    assert lim.for_series("X", "wl").stuck_n == 36
    assert lim.for_series("X", "wl").stuck_min == 2.0
    with pytest.raises(ConfigError, match=r"qc.stations.X.wl.stuck_band"):
        QCLimits.from_mapping({"stations": {"X": {"wl": {"stuck_band": "one cm"}}}})


# --- real data -----------------------------------------------------------------------------------


def _attwl(shared_data) -> dict[str, float]:
    info = pd.read_csv(shared_data / "hrfco" / "waterlevel_info_flat.csv", dtype={"wlobscd": str})
    return dict(zip(info["wlobscd"], info["attwl"].astype(float), strict=True))


def _kst_s(stamps) -> np.ndarray:
    return pd.DatetimeIndex(stamps).to_numpy().astype("datetime64[s]").astype(np.int64) - 9 * 3600


def _new_stuck(obs: pd.DataFrame, lim: QCLimits) -> np.ndarray:
    """FLATLINE bits that the near-flat test adds over the plain flatline test."""
    plain = apply_qc(obs)["qc"].to_numpy() & FL
    return ((apply_qc(obs, lim)["qc"].to_numpy() & FL) != 0) & (plain == 0)


def test_real_geum_stuck_gauge_caught(shared_data):
    """3007610 stuck at 5.71 m / 7.04-7.05 m in 2021; hourly data, so one day is 24 values."""
    path = (shared_data / "geum_yongdam_downstream_hourly"
            / "yongdam_downstream_hourly_2014-10_2024-09.csv")
    raw = pd.read_csv(path, usecols=["datetime_kst", "3007610_hwl"])
    t = _kst_s(raw["datetime_kst"])
    obs = obs_frame("3007610", "wl", t, raw["3007610_hwl"].to_numpy(float), t, "test")
    lim = QCLimits().with_stuck_floors({"3007610": _attwl(shared_data)["3007610"]}, stuck_n=24)
    new = _new_stuck(obs, lim)
    when = pd.to_datetime(t[new] + 9 * 3600, unit="s")
    fault = (when >= "2021-04-22 11:00") & (when <= "2021-05-20 09:00")
    assert fault.sum() >= 150, fault.sum()
    assert when[fault].min() == pd.Timestamp("2021-04-23 11:00")  # a day into the stuck value
    # the only other stretch: Dec 2014 - Mar 2015 at 2.0-2.2 m (관심 1.4 m) for three months in
    # winter with the neighbours at their base flow -- suspect, see docs/qc-stuck-gauges.md
    other = when[~fault]
    assert ((other >= "2014-12-01") & (other < "2015-03-15")).all(), other.min()


def test_real_han_river_bridges_never_flagged_above_attention_level(shared_data):
    """Seoul reach 2012-2022 (10-minute, regulated by weirs and tide): no near-flat flags."""
    from floodwarn.forecast.dataset import read_hanriver

    han = read_hanriver(shared_data / "hanriver")
    t = han.index.tz_convert(None).to_numpy().astype("datetime64[s]").astype(np.int64)
    codes = [c.removeprefix("wl_") for c in han.columns if c.startswith("wl_")]
    obs = pd.concat([obs_frame(c, "wl", t, han[f"wl_{c}"].to_numpy(float), t, "test")
                     for c in codes], ignore_index=True)
    obs = obs[obs["value"].notna()]
    attwl = _attwl(shared_data)
    lim = QCLimits().with_stuck_floors({c: attwl[c] for c in codes})
    assert not _new_stuck(obs, lim).any()


def test_the_cycle_turns_the_stuck_test_on_from_settings_and_catalog_levels(tmp_path):
    """``[qc] stuck_stations`` switches the test on with each gauge's 관심 level as the floor:
    a day of dither at 6.34 m (제원교 3008670, 관심 2.8 m) is flagged, the same at 2.0 m is not,
    and without the setting nothing is."""
    from floodwarn.catalog import load_catalog
    from floodwarn.config import load_settings, project_root
    from floodwarn.cycle import CycleContext, _qc_limits

    catalog = load_catalog(project_root() / "stations")
    n = 200
    later = 30 * 86400  # a second stretch a month later (after a gap, so a new run)
    obs = pd.concat([obs_frame("3008670", "wl", t10(n) + start, dither(n, level), t10(n) + start + 60, "test")
                     for start, level in ((0, 6.34), (later, 2.0))], ignore_index=True)
    on = load_settings(env={}, data_dir=str(tmp_path), qc={"stuck_stations": ["3008670"]})
    off = load_settings(env={}, data_dir=str(tmp_path))
    ctx_on = CycleContext(settings=on, store=None, catalog=catalog)
    ctx_off = CycleContext(settings=off, store=None, catalog=catalog)
    assert _qc_limits(ctx_off) is None
    limits = _qc_limits(ctx_on)
    assert limits.for_series("3008670", "wl").stuck_min == pytest.approx(2.8)
    assert _qc_limits(ctx_on) is limits  # built once per run
    flagged = apply_qc(obs, limits)
    high = flagged["value"].to_numpy() > 5
    stuck = (flagged["qc"].to_numpy() & FL) != 0
    assert stuck[high].sum() == n - STUCK_N + 1 and not stuck[~high].any()
    assert not (apply_qc(obs)["qc"].to_numpy() & FL).any()
