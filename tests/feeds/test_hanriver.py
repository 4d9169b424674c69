"""The Han River competition importer on the real files in ../shared/data/hanriver."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from floodwarn.feeds.hanriver import GDT, HanRiverFeed, hanriver_wide, read_hanriver
from floodwarn.records import QC, REJECT
from floodwarn.times import KST

Q = {f.name: int(f) for f in QC if f.name}


def kst(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=KST).timestamp())


@pytest.fixture(scope="module")
def han(shared_data):
    return shared_data / "hanriver"


@pytest.fixture(scope="module")
def all_seasons(han):
    t = time.perf_counter()
    res = read_hanriver(han)
    return res, time.perf_counter() - t


def at(obs, station, variable, when):
    row = obs[(obs.station == station) & (obs.variable == variable) & (obs.valid_time == kst(when))]
    assert len(row) == 1, (station, variable, when)
    return row.iloc[0]


def test_ten_seasons_fast_and_complete(all_seasons):
    res, seconds = all_seasons
    obs = res.obs
    assert seconds < 20  # a few seconds on a laptop; generous for a loaded CI box
    assert res.counts["records"] == 276_336 and not res.quarantined and not res.unknown
    # 17 series per row: 5 dam + tide + 4 wl + 4 fw + 3 rf
    assert len(obs) == 276_336 * 17
    assert (obs.arrival_time == obs.valid_time).all() and set(obs.source) == {"hanriver"}
    assert obs.valid_time.min() == kst("2012-05-01 00:00")
    assert obs.valid_time.max() == kst("2022-07-18 23:50")


def test_stage_conversion_matches_provenance(all_seasons):
    obs = all_seasons[0].obs
    # Hangang bridge 2020 maximum: 1080.0 El.cm at 08-06 14:20 KST = 8.73 m stage
    assert at(obs, "1018683", "wl", "2020-08-06 14:20").value == pytest.approx(8.73)
    # Jamsu 1146.2 El.cm at 14:30 -> 11.53 m (the PROVENANCE example)
    assert at(obs, "1018680", "wl", "2020-08-06 14:30").value == pytest.approx(11.53)
    wl = obs[obs.variable == "wl"]
    peak = wl.loc[wl.groupby("station").value.idxmax()].set_index("station")
    # annual-maxima table in PROVENANCE.md: 1287.7 / 843.3 El.cm in 2020
    assert peak.loc["1018662", "value"] == pytest.approx(12.877 - GDT["1018662"])
    assert peak.loc["1019630", "value"] == pytest.approx(8.433 - GDT["1019630"])
    assert peak.loc["1018662", "valid_time"] == kst("2020-08-06 14:10")


def test_custom_gdt_mapping(han):
    res = read_hanriver(han, [2020], gdt={"1018683": 0.0})
    assert at(res.obs, "1018683", "wl", "2020-08-06 14:20").value == pytest.approx(10.80)


def test_sentinels_spikes_and_negatives_are_flagged_not_dropped(all_seasons):
    obs = all_seasons[0].obs
    # swl == 0 blanks the whole dam record
    dead = obs[(obs.station == "1017310") & (obs.variable == "swl") & (obs.value == 0)]
    assert len(dead) == 83 and (dead.qc & Q["SENTINEL"]).all()
    rec = obs[(obs.station == "1017310") & (obs.valid_time == kst("2012-07-02 21:00"))]
    assert len(rec) == 5 and (rec.qc & Q["SENTINEL"]).all()
    # -990 inflow/outflow
    r = at(obs, "1017310", "inf", "2018-07-05 16:40")
    assert r.value == -990 and r.qc & Q["SENTINEL"] and not r.qc & Q["NEGATIVE"]
    # known spikes
    for when, var in [("2013-06-05 09:50", "inf"), ("2013-06-05 09:50", "tototf"),
                      ("2021-07-09 11:40", "inf"), ("2021-07-09 11:40", "tototf")]:
        r = at(obs, "1017310", var, when)
        assert r.value > 24_000 and r.qc & Q["KNOWN_ERROR"]
    assert not at(obs, "1017310", "inf", "2013-06-05 10:00").qc & Q["KNOWN_ERROR"]
    # the real 2020 flood inflow is NOT an error
    assert at(obs, "1017310", "inf", "2020-08-06 11:00").qc == 0
    # negative flows
    neg_inf = obs[(obs.variable == "inf") & (obs.value < 0)]
    assert len(neg_inf) == 8994 and (neg_inf.qc & (Q["NEGATIVE"] | Q["SENTINEL"])).all()
    r = at(obs, "1017310", "tototf", "2020-08-22 18:50")
    assert r.value == -404 and r.qc == Q["NEGATIVE"]
    # Hangang bridge backwater: NEGATIVE only, not a reject flag, value kept
    back = obs[(obs.station == "1018683") & (obs.variable == "fw") & (obs.value < 0)]
    assert len(back) > 26_000 and (back.qc == Q["NEGATIVE"]).all()
    assert not Q["NEGATIVE"] & int(REJECT)


def test_jamsu_discharge_and_blanked_labels_are_missing(all_seasons):
    obs = all_seasons[0].obs
    jf = obs[(obs.station == "1018680") & (obs.variable == "fw")]
    assert len(jf) == 276_336 and jf.value.isna().all() and (jf.qc & Q["MISSING"]).all()
    blank = obs[(obs.variable == "wl") & (obs.valid_time >= kst("2022-06-01 00:00"))]
    assert len(blank) == 4 * 6912
    assert blank.value.isna().all()
    assert (blank.qc == Q["MISSING"] | Q["KNOWN_ERROR"]).all()
    assert at(obs, "1018683", "wl", "2022-05-31 23:50").value == pytest.approx(0.68)
    assert (obs[(obs.variable == "wl")].value.dropna() > -1).all()


def test_known_filter_counts_unknown_stations(han):
    res = read_hanriver(han, [2021], known=lambda c: c != "DT_0032")
    assert res.unknown == {"station:DT_0032": 26_496}
    assert "DT_0032" not in set(res.obs.station)


def test_wide_loader(han):
    wide = hanriver_wide(han, [2020, 2021])
    assert isinstance(wide.index, pd.DatetimeIndex) and str(wide.index.tz) == "UTC"
    assert wide.index.name == "time" and wide.index.is_monotonic_increasing
    assert len(wide) == 2 * 26_496
    assert "fw_1018680" not in wide.columns  # no rating curve
    assert {"wl_1018683", "fw_1018683", "rf_10184110", "swl_1017310", "tide_DT_0032"} <= set(
        wide.columns)
    t = pd.Timestamp("2020-08-06 14:20", tz=KST)
    assert wide.loc[t, "wl_1018683"] == pytest.approx(8.73)
    # masked: the 2021 spike is NaN; negative backwater flows are kept
    assert math.isnan(wide.loc[pd.Timestamp("2021-07-09 11:40", tz=KST), "inf_1017310"])
    assert (wide["fw_1018683"] < 0).sum() > 1000
    raw, flags = hanriver_wide(han, [2021], mask_rejected=False, with_flags=True)
    assert raw.loc[pd.Timestamp("2021-07-09 11:40", tz=KST), "inf_1017310"] > 24_000
    assert flags.shape == raw.shape and flags.dtypes.eq(np.int64).all()


def test_feed_replays_by_arrival(han):
    feed = HanRiverFeed(han, [2020])
    t = datetime(2020, 8, 6, 14, 20, tzinfo=KST)
    first = feed.poll(t)[0].result.obs
    assert first.valid_time.max() == kst("2020-08-06 14:20")
    nxt = feed.poll(t + timedelta(minutes=10))[0].result.obs
    assert len(nxt) == 17 and set(nxt.valid_time) == {kst("2020-08-06 14:30")}
