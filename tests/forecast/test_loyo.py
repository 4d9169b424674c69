"""Leave-one-year-out evaluation on three synthetic seasons (and on the real archive, slow)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from floodwarn import verify
from floodwarn.forecast import dataset as D
from floodwarn.forecast.loyo import (
    aggregate,
    fold_table,
    identical,
    make_folds,
    report_markdown,
    run_loyo,
    write_report,
)
from tests.forecast.conftest import TINY, synthetic_wide

YEARS = (2017, 2018, 2019)
#: small enough for a few seconds per run, large enough to cover both modes and the four bridges
SMALL = dict(years=YEARS, stations=list(D.BRIDGES), horizons=[10, 60], params=TINY, thin=2)


def synthetic_seasons(years=YEARS, n: int = 2500) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One synthetic summer per year (different noise), features built per season."""
    segs = [synthetic_wide(n=n, start=f"{y}-07-01", seed=y) for y in years]
    return pd.concat(segs), pd.concat([D.base_features(s) for s in segs])


@pytest.fixture(scope="module")
def seasons() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_seasons()


@pytest.fixture(scope="module")
def serial(seasons) -> dict:
    return run_loyo(*seasons, **SMALL)


def test_folds_follow_the_documented_split() -> None:
    folds = make_folds(range(2012, 2022))
    assert [f["test_year"] for f in folds] == list(range(2012, 2022))
    for f in folds:
        assert f["test_year"] not in f["train_years"] + f["calib_years"]
        assert not set(f["train_years"]) & set(f["calib_years"])
        assert len(f["train_years"]) == 8
    assert folds[0]["calib_years"] == [2021] and folds[-1]["calib_years"] == [2020]
    with pytest.raises(ValueError, match="at least 3 years"):
        make_folds([2020, 2021])


def test_loyo_scores_every_held_out_season(serial) -> None:
    assert serial["years"] == list(YEARS)
    assert [f["n_models"] for f in serial["folds"]] == [4 * len(D.MODES) * 2] * 3
    assert serial["config"]["params"]["num_threads"] == 1
    tab = fold_table([{"table": serial["table"]}])
    # every (year, mode, station, lead) scored once, on the held-out season's rows only
    assert len(tab) == 3 * len(D.MODES) * 4 * 2
    assert not tab.duplicated(["test_year", "mode", "station", "lead_min"]).any()
    assert (tab["n"] > 2000).all()
    # the own-gauge model beats persistence on the synthetic river at 1 h, in every held-out year
    own60 = tab[(tab["mode"] == "own") & (tab["lead_min"] == 60)]
    assert (own60["skill"] > 0).all(), own60[["test_year", "station", "skill"]]


def test_aggregate_and_competition_metric_come_from_the_fold_scores(serial) -> None:
    tab = pd.DataFrame(serial["table"])
    agg = pd.DataFrame(serial["aggregate"])
    assert len(agg) == len(D.MODES) * 4 * 2
    r = agg[(agg["mode"] == "own") & (agg["station"] == "1018683") & (agg["lead_min"] == 60)].iloc[0]
    g = tab[(tab["mode"] == "own") & (tab["station"] == "1018683") & (tab["lead_min"] == 60)]
    assert r["rmse_cm_mean"] == pytest.approx(g["rmse_cm"].mean())
    assert r["rmse_cm_min"] == g["rmse_cm"].min() and r["rmse_cm_max"] == g["rmse_cm"].max()
    assert r["worst_year"] == int(g.loc[g["rmse_cm"].idxmax(), "test_year"])
    assert r["folds"] == 3
    comp = serial["competition_metric"]["sim"][10]
    for year in YEARS:
        g = tab[(tab["mode"] == "sim") & (tab["lead_min"] == 10) & (tab["test_year"] == year)]
        assert comp["by_year"][year] == pytest.approx(
            verify.competition_metric(g["rmse_cm"], g["r2"]))
    assert comp["min"] <= comp["mean"] <= comp["max"]
    assert aggregate(pd.DataFrame()).empty


def test_thread_pool_loyo_is_identical_to_serial(seasons, serial) -> None:
    with ThreadPoolExecutor(2) as pool:
        threaded = run_loyo(*seasons, executor=pool, **SMALL)
    assert identical(serial, threaded)
    assert threaded["executor"] == "ThreadPoolExecutor"
    # the check can fail: one changed score or one changed model hash is a difference
    changed = json.loads(json.dumps(threaded))
    changed["table"][5]["rmse_cm"] += 1e-12
    assert not identical(serial, changed)
    changed = json.loads(json.dumps(threaded))
    changed["folds"][1]["models_sha256"] = "0" * 64
    assert not identical(serial, changed)


def test_report_json_and_markdown(serial, tmp_path) -> None:
    jpath, mpath = write_report(serial, tmp_path / "rep")
    back = json.loads(jpath.read_text(encoding="utf-8"))
    assert back["folds"][0]["models_sha256"] == serial["folds"][0]["models_sha256"]
    md = mpath.read_text(encoding="utf-8")
    assert md == report_markdown(serial)
    assert "## RMSE over the folds, mode own" in md and "## RMSE over the folds, mode sim" in md
    assert "| 1018683 Hangang | 60 | 3 |" in md
    assert "Competition metric" in md and "| 2017 | 2018 | 2019 |" in md


def write_archive(directory, years=YEARS, n: int = 2000) -> None:
    """Synthetic seasons in the competition's CSV layout (elevations in cm, KST timestamps)."""
    (directory / "water_data").mkdir(parents=True)
    (directory / "rf_data").mkdir()
    for y in years:
        w = synthetic_wide(n=n, start=f"{y}-07-01", seed=y)
        t = w.index.tz_convert("Asia/Seoul").strftime("%Y-%m-%d %H:%M")
        water = pd.DataFrame({"ymdhm": t})
        for v in ("swl", "inf", "sfw", "ecpc", "tototf"):
            water[v] = w[f"{v}_{D.DAM}"].to_numpy()
        water["tide_level"] = w[f"tide_{D.TIDE}"].to_numpy()
        for s in D.BRIDGES:
            water[f"wl_{s}"] = np.round((w[f"wl_{s}"].to_numpy() + D.GDT[s]) * 100, 2)
            water[f"fw_{s}"] = np.nan if s == "1018680" else w[f"fw_{s}"].to_numpy()
        water.to_csv(directory / "water_data" / f"data_{y}.csv", index=False)
        rf = pd.DataFrame({"ymdhm": t, **{f"rf_{g}": w[f"rf_{g}"].to_numpy() for g in D.RAIN_GAUGES}})
        rf.to_csv(directory / "rf_data" / f"rf_{y}.csv", index=False)


def test_cli_writes_a_loyo_report(tmp_path, capsys) -> None:
    from floodwarn.cli import main

    write_archive(tmp_path / "arch")
    out = tmp_path / "report"
    code = main(["train", "--loyo", "--data", str(tmp_path / "arch"), "--loyo-years", "2017-2019",
                 "--stations", "1018680,1018683", "--horizons", "10,60", "--modes", "own",
                 "--thin", "4", "--executor", "threads", "--workers", "2", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "fold 2017" in printed and "leave-one-year-out over [2017, 2018, 2019]" in printed
    rep = json.loads((out / "loyo.json").read_text(encoding="utf-8"))
    assert rep["config"]["stations"] == ["1018680", "1018683"]
    assert rep["executor"] == "ThreadPoolExecutor"
    assert len(rep["aggregate"]) == 2 * 2
    assert rep["competition_metric"] == {}  # two bridges: no competition metric
    assert (out / "loyo.md").is_file()


def test_cli_loyo_needs_an_output_directory(tmp_path) -> None:
    from floodwarn.cli import main

    assert main(["train", "--loyo", "--data", str(tmp_path)]) != 0


@pytest.mark.slow
def test_loyo_on_the_real_archive(shared_data, tmp_path) -> None:
    """A reduced LOYO on the Han archive: every fold verified, scores in a sane range."""
    wide = D.read_hanriver(shared_data / "hanriver")
    feats = D.base_features(wide)
    res = run_loyo(wide, feats, horizons=[60, 360], modes=["own"], thin=12,
                   params={"n_estimators": 60, "q_estimators": 20})
    write_report(res, tmp_path)
    agg = pd.DataFrame(res["aggregate"])
    assert len(res["folds"]) == 10 and len(agg) == 4 * 2
    assert (agg[agg["lead_min"] == 60]["rmse_cm_max"] < 20).all(), agg
    assert (agg["nse_mean"] > 0.8).all(), agg
