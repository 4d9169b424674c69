"""The committed demo fixture: small, readable, the real 2020 event, rebuildable from its origin."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

import pytest

from floodwarn.feeds.archive import read_archive
from floodwarn.records import QC
from floodwarn.times import KST

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "floodwarn" / "data" / "demo_event_2020.csv.gz"
TOOL = ROOT / "tools" / "make_demo_event.py"


def kst(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=KST).timestamp())


def test_fixture_is_small_enough_to_commit():
    assert FIXTURE.exists(), "run tools/make_demo_event.py"
    assert FIXTURE.stat().st_size < 1_000_000  # "a few MB at most"; it is ~0.3 MB
    assert (FIXTURE.parent / "ORIGIN.md").read_text().count("data_2020.csv") >= 1


def test_fixture_contents():
    res = read_archive(FIXTURE)
    o = res.obs
    assert not res.quarantined and not res.unknown
    series = set(zip(o.station, o.variable, strict=True))
    assert series == {
        *(("1017310", v) for v in ("swl", "inf", "sfw", "ecpc", "tototf")),
        ("DT_0032", "tide"),
        *((s, "wl") for s in ("1018662", "1018680", "1018683", "1019630")),
        *((s, "fw") for s in ("1018662", "1018683", "1019630")),
        *((g, "rf") for g in ("10184100", "10184110", "10184140")),
    }
    assert o.valid_time.min() == kst("2020-07-25 00:00")
    assert o.valid_time.max() == kst("2020-08-22 23:50")
    assert len(o) == 16 * 4176
    wl = o[(o.station == "1018683") & (o.variable == "wl")]
    peak = wl.loc[wl.value.idxmax()]
    assert peak.value == pytest.approx(8.73) and peak.valid_time == kst("2020-08-06 14:20")
    neg = o[(o.station == "1018683") & (o.variable == "fw") & (o.value < 0)]
    assert len(neg) and (neg.qc == int(QC.NEGATIVE)).all()


def test_fixture_rebuilds_from_the_shared_data(shared_data):
    spec = importlib.util.spec_from_file_location("make_demo_event", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--data", str(shared_data / "hanriver"), "--out", str(FIXTURE),
                      "--check"]) == 0
    origin = (FIXTURE.parent / "ORIGIN.md").read_text()
    for name, digest in tool.source_hashes(shared_data / "hanriver").items():
        assert digest in origin, name
    assert tool.content_sha256(FIXTURE) in origin
