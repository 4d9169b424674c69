"""The synthetic demo feed: labelled, deterministic, plausible, with a few threshold crossings."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from floodwarn.feeds.synthetic import (
    EVENT_END,
    EVENT_START,
    SyntheticFeed,
    pick_crossing,
    synthetic_obs,
)
from floodwarn.records import QC
from floodwarn.times import KST

START = datetime(2020, 7, 25, tzinfo=KST)
END = datetime(2020, 8, 22, 23, 50, tzinfo=KST)


def make_points(n=60):
    rng = np.random.default_rng(1)
    att = np.round(rng.uniform(1, 8, n), 1)
    pts = pd.DataFrame({
        "code": [f"{1000000 + 37 * i}" for i in range(n)],
        "attwl": att, "wrnwl": att + 1.5, "almwl": att + 2.5, "srswl": att + 3.5,
    })
    pts.loc[3, ["attwl", "wrnwl", "almwl", "srswl"]] = 0.0  # no levels set
    pts.loc[4, ["almwl", "srswl"]] = [0.0, np.nan]
    return pts


def level_reached(obs, pts):
    mx = obs.groupby("station").value.max()
    p = pts.set_index("code").reindex(mx.index)
    lv = np.zeros(len(mx), int)
    for i, name in enumerate(["attwl", "wrnwl", "almwl", "srswl"], start=1):
        thr = p[name].where(p[name] > 0)
        lv = np.where(mx.to_numpy() >= thr.to_numpy(), i, lv)
    return pd.Series(lv, index=mx.index)


def test_every_value_is_labelled_and_on_the_grid():
    res = synthetic_obs(make_points(), START, END)
    o = res.obs
    assert len(o) == 60 * 4176 and (o.qc == int(QC.SYNTHETIC)).all()
    assert set(o.source) == {"synthetic"} and set(o.variable) == {"wl"}
    assert (o.valid_time % 600 == 0).all() and (o.arrival_time == o.valid_time).all()
    assert o.value.notna().all() and (o.value > 0).all()


def test_deterministic_and_independent_of_the_window():
    pts = make_points()
    a = synthetic_obs(pts, START, END).obs
    b = synthetic_obs(pts.iloc[::-1], START + timedelta(days=10), START + timedelta(days=11)).obs
    merged = b.merge(a, on=["station", "valid_time"], suffixes=("_b", "_a"))
    assert len(merged) == len(b) == 60 * 145
    assert (merged.value_a == merged.value_b).all()
    c = synthetic_obs(pts, START, END, seed=1).obs
    assert not (c.value.to_numpy() == a.value.to_numpy()).all()


def test_mostly_below_attention_with_a_few_crossings():
    pts = make_points()
    o = synthetic_obs(pts, START, END, crossing=8).obs
    lv = level_reached(o, pts)
    crossing = set(pick_crossing(pts, 8))
    assert len(crossing) == 8 and "1000111" not in crossing  # station 3 has no levels
    assert set(lv[lv > 0].index) == crossing  # only the chosen ones cross, all of them do
    assert (lv[list(crossing)] >= 2).sum() >= 3  # some reach 주의보
    assert (lv[list(crossing)] >= 3).sum() >= 1  # at least one 경보
    # the crossings happen inside the event window
    top = o.loc[o.groupby("station").value.idxmax()].set_index("station")
    es, ee = EVENT_START.timestamp(), EVENT_END.timestamp()
    assert all(es <= top.loc[c, "valid_time"] <= ee for c in crossing)
    # plausible: a 10-minute step never jumps by more than 0.5 m
    steps = o.sort_values(["station", "valid_time"]).groupby("station").value.diff().abs()
    assert steps.max() < 0.5


def test_explicit_crossing_list_and_exclude():
    pts = make_points()
    o = synthetic_obs(pts, START, END, crossing=["1000000"], exclude=["1000037"]).obs
    assert "1000037" not in set(o.station)
    lv = level_reached(o, pts)
    assert list(lv[lv > 0].index) == ["1000000"]


def test_feed_polls_the_steps_that_arrived():
    feed = SyntheticFeed(make_points(), exclude=["1000000"], latency_s=120)
    at = datetime(2020, 8, 1, 0, 2, tzinfo=KST)
    first = feed.poll(at)[0]
    assert first.source == "synthetic" and first.payload is None
    o = first.result.obs
    assert len(o) == 59 and set(o.valid_time) == {int(at.timestamp()) - 120}
    o2 = feed.poll(at + timedelta(minutes=30))[0].result.obs
    assert len(o2) == 3 * 59 and (o2.arrival_time <= (at + timedelta(minutes=30)).timestamp()).all()
    full = feed.series(START, END).obs
    pd.testing.assert_frame_equal(
        o2.reset_index(drop=True),
        full[full.valid_time.isin(set(o2.valid_time))].reset_index(drop=True))
    known = feed.poll(at + timedelta(minutes=40), known=lambda c: c != "1000037")[0].result
    assert known.unknown == {"station:1000037": 1} and len(known.obs) == 58


def test_catalog_forecast_points_all_live():
    catalog = pytest.importorskip("floodwarn.catalog")
    try:
        pts = catalog.load_catalog().forecast_points()
    except Exception as err:  # the catalog is another helper's work in progress
        pytest.skip(f"catalog not loadable: {err}")
    feed = SyntheticFeed(pts, exclude=["1018683"])
    o = feed.poll(datetime(2020, 8, 6, 14, 20, tzinfo=KST))[0].result.obs
    assert len(pts) == 223 and len(o) == 222 and o.value.notna().all()
    full = feed.series(START, END).obs
    lv = level_reached(full, pts.rename_axis("code").reset_index(drop="code" in pts.columns))
    assert 4 <= (lv > 0).sum() <= 12
