"""tools/make_wamis_archive.py: hourly WAMIS series as a replay archive the reader accepts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_wamis_archive as M  # noqa: E402

sys.path.remove(str(ROOT / "tools"))


def _read(rows: pd.DataFrame, tmp_path: Path):
    from floodwarn.catalog import load_catalog
    from floodwarn.feeds.archive import read_archive

    out = tmp_path / "wamis.csv"
    rows.to_csv(out, index=False)
    cat = load_catalog(ROOT / "stations")
    return read_archive(out, known=lambda c: cat.known(c) is not None)


def _synthetic() -> pd.DataFrame:
    idx = pd.date_range("2019-12-31T22:00", periods=6, freq="h", tz="Asia/Seoul")
    return pd.DataFrame({
        "rf_10184110": [0.0, 12.0, 6.0, np.nan, 0.0, 3.0],
        "rf_12345678": [1.0] * 6,                       # not a catalog rain gauge
        "wl_1018630": [0.1, 0.1, 0.1, 0.1, 0.4, np.nan],
        "wl_2020650": [-1.2, -1.2, -1.2, 4.8, 4.8, 4.9],  # datum change at 2020-01-01 01:00
        "wl_2022610": [1.6] * 6,
        "wl_1234567": [1.0] * 6,                        # not a catalog gauge
    }, index=idx)


def test_synthetic_rain_spread_arrives_at_hour_end(tmp_path: Path) -> None:
    rows, left = M.build(_synthetic())
    assert left["not in catalog"] == ["rf 12345678", "wl 1234567"]
    assert any(s.startswith("wl 2020650 before") and "(3 values)" in s for s in left["other datum"])
    assert "wl 2022610 (6 values)" in left["other datum"]
    rf = rows[rows["variable"] == "rf"]
    assert len(rf) == 5 * 6  # the NaN hour is a gap, not zeros
    first = rf[rf["arrival_time"] == "2019-12-31T23:00:00+09:00"]
    assert first["time"].tolist()[0] == "2019-12-31T22:10:00+09:00"
    assert first["time"].tolist()[-1] == "2019-12-31T23:00:00+09:00"
    assert first["value"].tolist() == pytest.approx([2.0] * 6)  # 12 mm in the hour = 2 mm / 10 min
    assert rf["value"].sum() == pytest.approx(21.0)  # hourly totals conserved
    parsed = _read(rows, tmp_path)
    assert not parsed.unknown and parsed.n_quarantined == 0
    obs = parsed.obs
    r = obs[obs["variable"] == "rf"]
    assert (r["arrival_time"] >= r["valid_time"]).all()
    assert int((r["arrival_time"] - r["valid_time"]).max()) == 50 * 60
    wl = obs[(obs["station"] == "2020650")]
    assert wl["value"].tolist() == pytest.approx([4.8, 4.8, 4.9])
    assert (wl["arrival_time"] == wl["valid_time"]).all()


def test_synthetic_hour_end_rain_and_rebased_samnangjin() -> None:
    rows, left = M.build(_synthetic(), rain="hour-end", samnangjin_el=True)
    rf = rows[rows["variable"] == "rf"]
    assert len(rf) == 5 and rf["value"].max() == 12.0
    assert (rf["time"] == rf["arrival_time"]).all()
    sam = rows[rows["station"] == "2022610"]
    assert sam["value"].tolist() == pytest.approx([1.6 + 14.721] * 6)
    assert not any("2022610" in s for s in left["other datum"])


def test_time_window_and_flat_runs() -> None:
    start = pd.Timestamp("2020-01-01T00:00+09:00")
    rows, _ = M.build(_synthetic(), start=start, max_flat_h=3)
    assert (pd.to_datetime(rows.loc[rows["variable"] == "wl", "time"]) >= start).all()
    # 1018630 holds 0.1 m for 4 hours: cut with --max-flat-h 3, rain never cut
    j = rows[rows["station"] == "1018630"]
    assert j["value"].tolist() == [0.4]
    assert (rows["variable"] == "rf").sum() == 3 * 6
    assert M.flat_runs(np.array([1.0, 1.0, 1.0, 2.0]), 0).sum() == 0


def test_aug_2020_archive_reads_back(shared_data: Path, tmp_path: Path) -> None:
    d = shared_data / "wamis_hourly_hangang_nakdong"
    if not (d / M.SOURCE_FILE).is_file():
        pytest.skip(f"{d / M.SOURCE_FILE} not found")
    wide = M.read_wide(d)
    assert wide.index[0] == pd.Timestamp("2014-01-01T01:00+09:00") and len(wide) == 65712
    rows, left = M.build(wide, pd.Timestamp("2020-08-03T00:00+09:00"),
                         pd.Timestamp("2020-08-03T23:00+09:00"))
    assert left["not in catalog"] == []  # all 14 codes are HRFCO stations of our catalog
    assert left["other datum"] == ["wl 2022610 (24 values)"]
    parsed = _read(rows, tmp_path)
    assert not parsed.unknown and parsed.n_quarantined == 0
    obs = parsed.obs
    jg = obs[(obs["station"] == "1018630") & (obs["variable"] == "wl")]
    peak = jg.loc[jg["value"].idxmax()]
    assert peak["value"] == pytest.approx(3.43)  # PROVENANCE: Jingwan 3.43 m, 08-03 11 h
    assert int(peak["valid_time"]) == int(pd.Timestamp("2020-08-03T02:00Z").timestamp())
    rain = obs[(obs["station"] == "10184110") & (obs["variable"] == "rf")]
    src = wide.loc["2020-08-03T00:00+09:00":"2020-08-03T23:00+09:00", "rf_10184110"]
    assert rain["value"].sum() == pytest.approx(src.sum())
    assert rain["value"].max() <= src.max() / 6 + 1e-9
