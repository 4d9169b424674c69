"""Long CSV/Parquet archives: parsing, quarantine with row numbers, unknowns, round trips."""

from __future__ import annotations

import gzip
import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from floodwarn.errors import FeedError
from floodwarn.feeds.archive import ArchiveFeed, iter_archive, read_archive, write_archive
from floodwarn.records import QC, obs_frame

T0 = int(datetime(2022, 8, 7, 15, 0, tzinfo=UTC).timestamp())  # 2022-08-08 00:00 KST

CSV = """station,variable,time,value
1018683,wl,2022-08-08T00:00:00+09:00,3.5
1018683,wl,2022-08-08 00:10,3.6
1018683,fw,2022-08-07T15:20:00Z,-12.5
1017310,swl,2022-08-08T00:00:00+09:00,0
1017310,inf,2022-08-08T00:00:00+09:00,-990
10184110,rf,2022-08-08T00:00,
DT_0032,tide,2022-08-08T00:00:00+09:00,512
1018683,wl,yesterday,3.7
1018683,wl,2022-08-08T00:30:00+09:00,abc
,wl,2022-08-08T00:30:00+09:00,1.0
1018683,depth,2022-08-08T00:30:00+09:00,1.0
9999999,wl,2022-08-08T00:30:00+09:00,1.0
1018683,wl,2022-08-08T00:00:00+09:00,3.5
"""

KNOWN = {"1018683", "1017310", "10184110", "DT_0032"}.__contains__


def test_csv_rows_flags_quarantine_and_unknowns(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text(CSV)
    res = read_archive(p, KNOWN)
    o = res.obs
    assert len(o) == 7 and res.counts["duplicates"] == 1 and res.counts["records"] == 13
    rows = {(r.station, r.variable, r.valid_time): r for r in o.itertuples()}
    assert rows[("1018683", "wl", T0)].value == 3.5
    assert rows[("1018683", "wl", T0 + 600)].value == 3.6  # no offset = KST
    assert rows[("1018683", "fw", T0 + 1200)].qc == QC.NEGATIVE  # Z offset honoured
    assert rows[("1017310", "swl", T0)].qc == QC.SENTINEL
    assert rows[("1017310", "inf", T0)].qc == QC.SENTINEL
    rf = rows[("10184110", "rf", T0)]
    assert math.isnan(rf.value) and rf.qc == QC.MISSING  # blank is missing, not 0
    assert rows[("DT_0032", "tide", T0)].value == 512
    assert (o.arrival_time == o.valid_time).all() and set(o.source) == {"archive"}
    reasons = [q.reason for q in res.quarantined]
    assert reasons == [
        "row 8 (line 9): bad time",
        "row 9 (line 10): unparseable value",
        "row 10 (line 11): missing station",
    ]
    assert res.quarantined[0].record == "1018683,wl,yesterday,3.7"
    assert res.unknown == {"variable:depth": 1, "station:9999999": 1}


def test_optional_columns_and_clock_skew(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text(
        "station,variable,time,value,arrival_time,qc,source\n"
        "1018683,wl,2022-08-08T00:00:00+09:00,3.5,2022-08-08T00:07:00+09:00,0,hrfco\n"
        "1018683,wl,2022-08-08T00:10:00+09:00,3.6,,128,\n"
        "1018683,wl,2022-08-08T01:00:00+09:00,3.6,2022-08-08T00:10:00+09:00,0,x\n"
        "1018683,wl,2022-08-08T00:20:00+09:00,3.6,later,0,x\n"
        "1018683,wl,2022-08-08T00:30:00+09:00,3.6,,1.5,x\n"
    )
    res = read_archive(p, source="replay")
    o = res.obs.set_index("valid_time")
    assert o.loc[T0, "arrival_time"] == T0 + 420 and o.loc[T0, "source"] == "hrfco"
    assert o.loc[T0 + 600, "arrival_time"] == T0 + 600  # blank arrival = valid time
    assert o.loc[T0 + 600, "qc"] == QC.KNOWN_ERROR and o.loc[T0 + 600, "source"] == "replay"
    assert o.loc[T0 + 3600, "qc"] == QC.CLOCK_SKEW
    assert [q.reason for q in res.quarantined] == [
        "row 4 (line 5): bad arrival_time", "row 5 (line 6): bad qc"]


def test_chunks_number_rows_across_chunk_boundaries(tmp_path):
    lines = ["station,variable,time,value"]
    for i in range(25):
        value = "x" if i in (3, 17, 24) else str(i)
        lines.append(f"1018683,wl,2022-08-08T{i // 6:02d}:{i % 6 * 10:02d}:00+09:00,{value}")
    p = tmp_path / "c.csv"
    p.write_text("\n".join(lines) + "\n")
    parts = list(iter_archive(p, chunksize=10))
    assert [len(x.obs) for x in parts] == [9, 9, 4]
    res = read_archive(p, chunksize=10)
    assert [q.reason.split(":")[0] for q in res.quarantined] == [
        "row 4 (line 5)", "row 18 (line 19)", "row 25 (line 26)"]
    assert len(res.obs) == 22


def test_missing_columns_and_missing_file_are_clear_errors(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("station,variable,when,value\n1,wl,2022-01-01,1\n")
    with pytest.raises(FeedError, match="lacks column.*time") as err:
        read_archive(p)
    assert err.value.file == str(p)
    p.write_text("station,variable,time,value\n")
    assert read_archive(p).obs.empty
    with pytest.raises(FeedError, match="not found"):
        read_archive(tmp_path / "nope.csv")


def sample_obs():
    t = T0 + 600 * np.arange(4)
    return pd.concat([
        obs_frame("1018683", "wl", t, [3.5, np.nan, 3.61, 3.7], t + 60, "hrfco", [0, 1, 0, 128]),
        obs_frame("1017310", "inf", t, [100.0, -5.0, 0.0, 1e4], t, "hanriver", [0, 64, 0, 0]),
        obs_frame("DT_0032", "tide", t, [512.0, 500.5, 480.0, 470.0], t, "hanriver"),
    ], ignore_index=True)


def canon(df):
    return df.sort_values(["station", "variable", "valid_time"]).reset_index(drop=True)


@pytest.mark.parametrize("name", ["r.csv", "r.csv.gz", "r.parquet"])
def test_write_read_round_trip(tmp_path, name):
    obs = sample_obs()
    p = write_archive(obs, tmp_path / name)
    back = read_archive(p)
    assert not back.quarantined
    pd.testing.assert_frame_equal(canon(back.obs), canon(obs))


def test_written_csv_uses_kst_offsets_and_is_reproducible(tmp_path):
    a = write_archive(sample_obs(), tmp_path / "a.csv.gz")
    b = write_archive(sample_obs().iloc[::-1], tmp_path / "b.csv.gz")
    assert a.read_bytes() == b.read_bytes()  # row order and gzip mtime don't leak in
    text = gzip.decompress(a.read_bytes()).decode().splitlines()
    assert text[0] == "station,variable,time,value,arrival_time,qc,source"
    assert text[1] == "1017310,inf,2022-08-08T00:00:00+09:00,100.0,2022-08-08T00:00:00+09:00,0,hanriver"
    assert ",," in [ln for ln in text if ln.startswith("1018683")][1]  # NaN written blank
    plain = write_archive(sample_obs().assign(qc=0, source="x", arrival_time=lambda d: d.valid_time),
                          tmp_path / "p.csv")
    assert plain.read_text().splitlines()[0] == "station,variable,time,value"


def test_parquet_with_typed_and_naive_columns(tmp_path):
    df = pd.DataFrame({
        "station": ["1018683", "1018683"],
        "variable": ["wl", "wl"],
        "time": pd.to_datetime(["2022-08-08 00:00", "2022-08-08 00:10"]),  # naive = KST
        "value": [3.5, np.nan],
    })
    p = tmp_path / "t.parquet"
    df.to_parquet(p)
    o = read_archive(p).obs
    assert list(o.valid_time) == [T0, T0 + 600] and o.qc.tolist() == [0, int(QC.MISSING)]


def test_archive_feed_releases_by_arrival_time(tmp_path):
    p = write_archive(sample_obs(), tmp_path / "f.csv")
    feed = ArchiveFeed(p)
    at = datetime.fromtimestamp(T0 + 600, UTC)
    first = feed.poll(at)[0].result.obs
    assert len(first) == 5 and (first.arrival_time <= T0 + 600).all()
    second = feed.poll(datetime.fromtimestamp(T0 + 3000, UTC))[0].result.obs
    assert len(second) == 7 and (second.arrival_time > T0 + 600).all()
    assert feed.poll(datetime.fromtimestamp(T0 + 3000, UTC))[0].result.obs.empty
