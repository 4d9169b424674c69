"""KST ↔ UTC at the edges; aware UTC inside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from floodwarn.times import (
    KST,
    as_utc,
    floor_step,
    format_hrfco,
    from_epoch,
    parse_hrfco,
    parse_time,
    series_to_utc,
    to_epoch,
)


def test_hrfco_stamp_is_kst() -> None:
    assert parse_hrfco("202208080000") == datetime(2022, 8, 7, 15, 0, tzinfo=UTC)
    assert parse_hrfco("2023010100") == datetime(2022, 12, 31, 15, 0, tzinfo=UTC)
    assert parse_hrfco("20230101") == datetime(2022, 12, 31, 15, 0, tzinfo=UTC)
    assert parse_hrfco(" 202604171330 ") == datetime(2026, 4, 17, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", " ", "2022-08-08", "20220808000", "abcdefghijkl"])
def test_bad_hrfco_stamp_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="HRFCO"):
        parse_hrfco(bad)


def test_iso_without_offset_is_kst_with_offset_is_kept() -> None:
    assert parse_time("2022-08-01T00:00:00+09:00") == datetime(2022, 7, 31, 15, tzinfo=UTC)
    assert parse_time("2022-08-01T00:00:00") == datetime(2022, 7, 31, 15, tzinfo=UTC)
    assert parse_time("2022-08-01 00:00") == datetime(2022, 7, 31, 15, tzinfo=UTC)
    assert parse_time("2022-08-01T00:00:00Z") == datetime(2022, 8, 1, tzinfo=UTC)
    assert parse_time("2022-08-01T00:00:00+00:00") == datetime(2022, 8, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_time("yesterday")


def test_naive_datetime_is_refused_inside() -> None:
    with pytest.raises(ValueError, match="naive"):
        as_utc(datetime(2022, 8, 1))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_roundtrips(t: datetime) -> None:
    t = t.replace(second=0, microsecond=0, minute=t.minute - t.minute % 10)
    assert parse_hrfco(format_hrfco(t)) == t
    assert from_epoch(to_epoch(t)) == t
    assert floor_step(t) == t
    assert floor_step(t + timedelta(minutes=9, seconds=59)) == t


def test_series_parse_mixes_offsets_and_naive() -> None:
    s = pd.Series(["2022-08-01T00:00:00+09:00", "2022-08-01 00:10", "2022-08-01T00:20:00Z", "bad"])
    out = series_to_utc(s)
    assert out[0] == pd.Timestamp("2022-07-31 15:00", tz="UTC")
    assert out[1] == pd.Timestamp("2022-07-31 15:10", tz="UTC")
    assert out[2] == pd.Timestamp("2022-08-01 00:20", tz="UTC")
    assert pd.isna(out[3])


def test_kst_has_no_dst() -> None:
    for month in (1, 7):
        assert datetime(2022, month, 1, tzinfo=KST).utcoffset() == timedelta(hours=9)
    assert KST == timezone(timedelta(hours=9))
