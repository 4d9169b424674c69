"""The cycle's per-cycle shortcuts (shared integer codes, hand-built report dict, plain counts)
give exactly what the plain pandas code gives."""

from __future__ import annotations

import json
import types
from dataclasses import asdict
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from floodwarn import cycle as C
from floodwarn.qc import apply_qc
from floodwarn.records import QC, obs_frame

AT = int(datetime(2020, 8, 5, 12, 0, tzinfo=UTC).timestamp())


def _long(seed: int = 0) -> pd.DataFrame:
    """A shuffled 73 h history: several stations and variables, gaps, NaN, rejected values,
    a second version of some keys, and an off-grid time."""
    rng = np.random.default_rng(seed)
    rows = []
    for st in ("1018662", "1018680", "1019630", "1017310", "10184100"):
        for var in ("wl", "fw") if st.startswith("101") and len(st) == 7 else ("rf",):
            t = np.arange(AT - C.HISTORY_MIN * 60, AT + 1, 600)
            t = t[rng.random(len(t)) > 0.05]
            v = 3 + np.cumsum(rng.normal(0, 0.02, len(t)))
            v[rng.random(len(t)) < 0.03] = np.nan
            v[rng.random(len(t)) < 0.01] = 99.0  # out of range for wl → RANGE
            for ti, vi in zip(t, v, strict=True):
                rows.append((st, var, int(ti), float(vi), int(ti) + 60))
    rows.append(("1018662", "wl", AT - 300, 3.0, AT - 200))  # off the 10-minute grid
    df = pd.DataFrame(rows, columns=["station", "variable", "valid_time", "value", "arrival_time"])
    df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return obs_frame(df["station"], df["variable"], df["valid_time"], df["value"], df["arrival_time"], "t")


@pytest.fixture(scope="module")
def ctx():
    from floodwarn.catalog import load_catalog
    from floodwarn.config import load_settings, stations_dir

    settings = load_settings(env={})
    d = stations_dir(settings)
    if not (d / "waterlevel.csv").exists():
        pytest.skip("no station catalog")
    return types.SimpleNamespace(catalog=load_catalog(d), settings=settings, scope=None)


@pytest.mark.parametrize("seed", [0, 1])
def test_shared_codes_equal_the_plain_path(ctx, seed: int) -> None:
    long = apply_qc(_long(seed))
    assert (long["qc"] & int(QC.RANGE)).any()
    codes = C._LongCodes.of(long)
    assert codes is not None
    pd.testing.assert_frame_equal(C._wide(long, AT, codes), C._wide(long, AT))
    fresh = C._freshness(ctx, long, AT, codes)
    plain = C._freshness(ctx, long, AT)
    pd.testing.assert_frame_equal(fresh, plain, check_index_type=True)
    pd.testing.assert_frame_equal(fresh, plain.reset_index(drop=True).set_index("station", drop=False))
    assert C._stations_summary(fresh) == C._stations_summary(plain)
    pd.testing.assert_frame_equal(C._observed_stage(long, codes), C._observed_stage(long),
                                  check_index_type=True)


def test_codes_step_aside_for_missing_labels(ctx) -> None:
    long = apply_qc(_long(2))
    long.loc[3, "station"] = np.nan
    assert C._LongCodes.of(long) is None
    assert C._LongCodes.of(long.iloc[:0]) is None


def test_report_dict_equals_asdict_version() -> None:
    stages = (
        C.StageReport("ingest", "ok", 0.01, None, {"inserted": 3, "unknown_top": {"x": 1}, "errors": []}),
        C.StageReport("warn", "failed", 0.2, "ValueError: x", {"levels": {"attwl": 1}, "t": (1, 2)}),
    )
    rep = C.CycleReport(datetime(2020, 8, 5, 12, 0, tzinfo=UTC), "replay", "ok", 10.0, 10.5, stages,
                        {"fresh": 1, "stale_codes": ["a", "b"]}, 28, 1, 2, ("stale_inputs",))
    doc = asdict(rep)
    doc["cycle_at"] = rep.cycle_at.isoformat()
    doc["seconds"] = round(rep.seconds, 4)
    doc["stages"] = {s.name: {k: v for k, v in asdict(s).items() if k != "name"} for s in rep.stages}
    doc["flags"] = list(rep.flags)
    got = rep.to_dict()
    assert got == doc and list(got) == list(doc)
    assert json.dumps(got, sort_keys=True) == json.dumps(doc, sort_keys=True)
    got["stages"]["ingest"]["counts"]["unknown_top"]["x"] = 9  # a copy, not the report's dict
    assert rep.stages[0].counts["unknown_top"]["x"] == 1


def test_plain_counts_equal_pandas() -> None:
    col = pd.Series(["a", "", None, np.nan, "a,b", "c"], dtype=object)
    assert C._n_unique(col) == col.nunique()
    assert sum(not C._blank(v) for v in col.tolist()) == int((col.fillna("").astype(str) != "").sum())
    s = pd.Series(["x", "y", "x", None], dtype="str")
    assert C._n_unique(s) == s.nunique()


def test_epoch_issued_keeps_the_frame_and_converts() -> None:
    fc = pd.DataFrame({"station": ["a", "b"], "issued_at": pd.to_datetime([AT, AT], unit="s", utc=True),
                       "q50": [1.0, 2.0]})
    out = C._epoch_issued(fc)
    assert out["issued_at"].tolist() == [AT, AT] and out["issued_at"].dtype == np.int64
    assert list(out.columns) == list(fc.columns)
    assert isinstance(fc["issued_at"].dtype, pd.DatetimeTZDtype)  # the input is not modified
    kst = fc.assign(issued_at=fc["issued_at"].dt.tz_convert("Asia/Seoul"))
    assert C._epoch_issued(kst)["issued_at"].tolist() == [AT, AT]
