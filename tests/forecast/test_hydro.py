"""routing+ar1: travel time and volume on a synthetic network, bias removal, causality, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from floodwarn.kernels import rating_h

from floodwarn.forecast import dataset as D
from floodwarn.forecast import hydro as H
from floodwarn.forecast.predict import forecast_cycle
from floodwarn.forecast.registry import ModelRegistry

# dam D --10 km--> gauge A --20 km--> gauge B --> outlet; rain gauge R on tributary T into B
NET = pd.DataFrame(
    {
        "code": ["D", "A", "B", "T", "R"],
        "kind": ["dam", "waterlevel", "waterlevel", "waterlevel", "rainfall"],
        "downstream": ["A", "B", "", "B", "B"],
        "reach_km": [10.0, 20.0, np.nan, 4.0, np.nan],
        "river": ["main", "main", "main", "trib", "trib"],
    }
).set_index("code", drop=False)
STEP_S = 600.0
RATING = (50.0, -1.0, 1.8)  # Q = 50 (h + 1)^1.8


class NetCatalog:
    """A catalog with one forecast point and a river network (what forecast_cycle reads)."""

    def __init__(self, network: pd.DataFrame, points: list[str]) -> None:
        self.network = network
        self.points = points

    def forecast_points(self) -> pd.DataFrame:
        return pd.DataFrame(index=pd.Index(self.points, name="code"))


def _stage(q: np.ndarray, rating: tuple[float, float, float] = RATING) -> np.ndarray:
    a, h0, b = rating
    one = np.ones((1, 1))
    return rating_h(np.atleast_2d(q).astype(np.float64), a * one, h0 * one, b * one,
                    np.full((1, 1), np.nan))[0]


def test_step_arrives_after_travel_time_and_a_pulse_keeps_its_volume() -> None:
    plan = H.plan_from_network(NET)
    nt = 400
    step = np.full((1, nt), 1000.0)
    step[0, 50:] = 2000.0
    rain = np.zeros((1, nt))
    flows = plan.route(step, rain, STEP_S)
    b = flows[plan.index["B"]]
    base_b = b[0]  # dam + the tributary's base flow
    half = np.flatnonzero(b - base_b >= 500.0)[0]
    travel = 30_000.0 / H.CELERITY_MS / STEP_S  # 30 km at the default celerity, in steps
    assert abs((half - 50) - travel) <= 2, (half - 50, travel)
    a = flows[plan.index["A"]]
    assert abs((np.flatnonzero(a - a[0] >= 500.0)[0] - 50) - 10_000 / H.CELERITY_MS / STEP_S) <= 1.5
    assert b[-1] == pytest.approx(base_b + 1000.0, rel=1e-6)
    pulse = np.full((1, nt), 1000.0)
    pulse[0, 50:56] = 3000.0
    b = plan.route(pulse, rain, STEP_S)[plan.index["B"]]
    assert (b - base_b).sum() == pytest.approx(6 * 2000.0, rel=1e-9)  # volume in = volume out
    # rain on the tributary reaches B through the storage function, and is conserved too
    wet = np.zeros((1, nt))
    wet[0, 20:32] = 5.0  # 60 mm in 2 h
    b_wet = plan.route(np.full((1, nt), 1000.0), wet, STEP_S)[plan.index["B"]]
    assert b_wet.max() > base_b + 10
    assert plan.rains[0][0] == plan.index["T"]  # enters at the tributary's gauge


def _history(n: int, bias: float, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A dam release that rises then falls, B's stage from its true rating (+ a bias)."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2020-08-01", periods=n, freq="10min", tz="UTC", name="time")
    t = np.arange(n)
    release = 1500 + 1200 * np.sin(t / 60.0) ** 2
    plan = H.plan_from_network(NET)
    q_b = plan.route(release[None, :], np.zeros((1, n)), STEP_S)[plan.index["B"]]
    wide = pd.DataFrame(index=idx)
    wide["tototf_D"] = release
    wide["rf_R"] = 0.0
    wide["wl_B"] = _stage(q_b) + bias + rng.normal(0, 0.002, n)
    wide["wl_T"] = 1.0 + rng.normal(0, 0.002, n)
    return wide, _stage(q_b)


def test_ar1_removes_a_constant_bias_at_short_lead() -> None:
    n, at = 600, 438
    wide, true_stage = _history(n, bias=0.30)
    plan = H.plan_from_network(NET)
    win = wide.iloc[at - 437:at + 1]
    horizons = [10, 30, 60, 360]
    fc = H.routing_ar1(win, ["B"], plan, horizons, ratings={"B": RATING})["B"]
    truth = true_stage[at + np.array(horizons) // 10] + 0.30
    err = np.abs(fc.q[:, 1] - truth)
    assert err[0] < 0.03 and err[1] < 0.05  # the 30 cm bias is gone at short lead
    raw = np.abs(true_stage[at + np.array(horizons) // 10] - truth)
    assert (raw > 0.29).all()  # what the uncorrected simulation would have said
    assert err[-1] > err[0]  # the correction decays with lead
    assert (fc.q[:, 0] <= fc.q[:, 1]).all() and (fc.q[:, 1] <= fc.q[:, 2]).all()
    width = fc.q[:, 2] - fc.q[:, 0]
    assert (np.diff(width) >= 0).all() and width[0] > 0
    assert {"fallback", "uncalibrated-params"} <= set(fc.flags)  # the rain subcatchment is default


def test_rating_is_fitted_from_wl_fw_pairs() -> None:
    h = np.linspace(1.0, 6.0, 200)
    a, h0, b = RATING
    q = a * (h - h0) ** b
    fa, fh0, fb = H.fit_rating(h, q)
    np.testing.assert_allclose(_stage(q, (fa, fh0, fb)), h, atol=0.02)
    assert H.fit_rating(np.full(100, 2.0), np.full(100, 300.0)) is None  # no range: no fit


def test_forecast_cycle_uses_it_and_flags_defaults_and_stale_inputs(tmp_path: Path) -> None:
    wide, _ = _history(500, bias=0.0)
    wide.loc[wide.index[-6:], "tototf_D"] = np.nan  # release 60 min old: stale, held
    cat = NetCatalog(NET, ["B", "X"])
    wide["wl_X"] = 2.0  # a forecast point off the network: persistence-trend
    at = wide.index[-1].to_pydatetime()
    df = forecast_cycle(at, wide, cat, ModelRegistry(tmp_path))  # no model at all
    m = df.groupby("station")["method"].first()
    assert m["B"] == "routing+ar1" and m["T"] == "routing+ar1"  # T: a network gauge, not a point
    assert "A" not in m  # no stage reported for A: nothing to forecast from
    assert m["X"] == "persistence-trend"
    fb = df.loc[df.station == "B", "flags"].iloc[0].split(",")
    assert {"model-unavailable", "fallback", "uncalibrated-params", "stale-input:tototf_D"} <= set(fb)
    assert (df.loc[df.station == "B", "model_version"] == "builtin").all()
    # no release at all in the window: B cannot be routed honestly, falls back to persistence
    dry = wide.assign(tototf_D=np.nan)
    df = forecast_cycle(at, dry, cat, ModelRegistry(tmp_path))
    assert df.loc[df.station == "B", "method"].eq("persistence-trend").all()
    assert "A" not in set(df.station)  # not a forecast point: only served when routable


def test_no_input_after_issue_time_is_read(tmp_path: Path) -> None:
    wide, _ = _history(600, bias=0.1)
    cat = NetCatalog(NET, ["B"])
    at = wide.index[450]
    a = forecast_cycle(at.to_pydatetime(), wide, cat, ModelRegistry(tmp_path))
    poisoned = wide.copy()
    poisoned.loc[poisoned.index > at] = 99.0
    b = forecast_cycle(at.to_pydatetime(), poisoned, cat, ModelRegistry(tmp_path))
    assert (a["method"] == "routing+ar1").any()
    pd.testing.assert_frame_equal(a, b)


def test_real_flood_august_2020_against_persistence(shared_data: Path) -> None:
    """Cheongdam and Jamsu, hourly issues 2020-07-28 .. 08-20 (the flood window), leads 1 h/3 h.

    Records the skill; asserts only that the method is sane (within 1.5x persistence RMSE,
    band coverage near nominal), since its parameters are uncalibrated defaults.
    """
    from floodwarn.catalog import load_catalog

    wide = D.read_hanriver(shared_data / "hanriver", [2020])
    plan = H.network_plan(load_catalog())
    assert plan is not None
    stations = ["1018662", "1018680"]
    times = pd.date_range("2020-07-28", "2020-08-20", freq="1h", tz="UTC")
    obs = {s: wide[f"wl_{s}"].to_numpy() for s in stations}
    err: dict[tuple[str, int], list[float]] = {}
    pers: dict[tuple[str, int], list[float]] = {}
    inside = []
    for t in times:
        i = wide.index.get_loc(t)
        out = H.routing_ar1(wide.iloc[i - 437:i + 1], stations, plan, [60, 180])
        for s in stations:
            for j, h in enumerate((60, 180)):
                o = obs[s][i + h // 10]
                err.setdefault((s, h), []).append(out[s].q[j, 1] - o)
                pers.setdefault((s, h), []).append(obs[s][i] - o)
                inside.append(out[s].q[j, 0] <= o <= out[s].q[j, 2])

    def rmse(x: list[float]) -> float:
        return float(np.sqrt(np.nanmean(np.square(x))))

    for key in err:
        assert rmse(err[key]) < 1.5 * rmse(pers[key]), (key, rmse(err[key]), rmse(pers[key]))
    assert 0.75 <= np.mean(inside) <= 0.98


# --- hourly gauges, flow-dependent celerity, prior ratings (the Geum below Yongdam dam) --------

GEUM = pd.DataFrame(
    {
        "code": ["D", "A", "B", "T"],
        "kind": ["dam", "waterlevel", "waterlevel", "waterlevel"],
        "downstream": ["A", "B", "", "B"],
        "reach_km": [12.0, 24.0, np.nan, 6.0],
        "river": ["main", "main", "main", "trib"],
        "basin": ["Geum"] * 4,
    }
).set_index("code", drop=False)


def test_celerity_follows_the_release_in_a_flow_dependent_basin() -> None:
    plan = H.plan_from_network(GEUM)
    p = H.BASIN_PARAMS["Geum"]
    nt = 600

    def arrival(base: float) -> int:
        step = np.full((1, nt), base)
        step[0, 50:] = 2 * base
        b = plan.route(step, np.zeros((0, nt)), STEP_S)[plan.index["B"]]
        return int(np.flatnonzero(b - base >= 0.5 * base)[0]) - 50

    slow, fast = arrival(p.q_ref_m3s / 2), arrival(5 * p.q_ref_m3s)  # the step's top: q_ref, 10 q_ref
    c_slow = p.celerity_ms  # step to 2 x q_ref/2 = q_ref: the celerity at q_ref
    c_fast = p.celerity_ms * 10**p.celerity_exp
    assert abs(slow - 36_000 / c_slow / STEP_S) <= 2, slow
    assert abs(fast - 36_000 / c_fast / STEP_S) <= 2, fast
    # the Han (no basin column, or another basin) keeps its constant celerity
    assert (H.plan_from_network(NET).celerities(np.array([1e5])) == H.CELERITY_MS).all()


def _hourly(x: np.ndarray) -> np.ndarray:
    """An hourly gauge on the 10-minute grid: values on the hour only."""
    out = np.full(len(x), np.nan)
    out[::6] = x[::6]
    return out


def _geum_history(n: int, release: np.ndarray, lateral: np.ndarray, rating: tuple[float, float, float]
                  ) -> tuple[pd.DataFrame, np.ndarray]:
    """Hourly release and hourly stage at B = rating(routed release + lateral)."""
    idx = pd.date_range("2018-09-01", periods=n, freq="10min", tz="UTC", name="time")
    plan = H.plan_from_network(GEUM)
    q_b = plan.route(release[None, :], np.zeros((0, n)), STEP_S, np.array([release.max()]))[plan.index["B"]]
    stage = _stage(q_b + lateral, rating)
    wide = pd.DataFrame(index=idx)
    wide["tototf_D"] = _hourly(release)
    wide["wl_B"] = _hourly(stage)
    wide["wl_T"] = _hourly(np.full(n, 1.0))
    return wide, stage


def test_prior_rating_carries_the_routed_release_onto_a_larger_river(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 270 m³/s release step on a river already carrying 600 m³/s: the prior rating raises B by
    what 270 m³/s more does at that stage; the anchored default (routed flow = all the flow) would
    read a 30-fold flow increase."""
    n, at = 700, 467  # issue at the hour, the step (at 420) not yet at B
    rating = (100.0, -0.5, H.RATING_B)
    release = np.full(n, 9.0)
    release[420:] = 279.0
    wide, stage = _geum_history(n, release, np.full(n, 600.0), rating)
    win = wide.iloc[at - 437:at + 1]
    horizons = [60, 180, 360]
    plan = H.plan_from_network(GEUM)
    monkeypatch.setitem(H.PRIOR_RATINGS, "B", rating)
    fc = H.routing_ar1(win, ["B", "T"], plan, horizons)
    assert set(fc) == {"B"}  # T has no upstream release: left to persistence-trend
    truth = stage[at + np.array(horizons) // 10]
    assert truth[-1] - truth[0] > 0.3  # the wave arrives within the horizon
    np.testing.assert_allclose(fc["B"].q[:, 1], truth, atol=0.05)
    assert fc["B"].rating == "prior" and "uncalibrated-params" in fc["B"].flags
    monkeypatch.delitem(H.PRIOR_RATINGS, "B")
    anchored = H.routing_ar1(win, ["B"], plan, horizons)["B"]
    assert anchored.rating == "default"
    assert anchored.q[-1, 1] - truth[-1] > 2.0  # what the prior rating is for


def test_prior_rating_extrapolates_the_rest_of_the_catchment_like_persistence_trend(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Steady release, rain-driven rise at B: the lateral flow gets half its last-hour trend
    for an hour, then is held (the persistence-trend rule, in flow)."""
    n, at = 600, 498
    rating = (100.0, -0.5, H.RATING_B)
    lateral = 300.0 + np.clip(np.arange(n) - 400, 0, None) * 5.0  # +30 m³/s per hour from 400
    wide, _ = _geum_history(n, np.full(n, 9.0), lateral, rating)
    monkeypatch.setitem(H.PRIOR_RATINGS, "B", rating)
    win = wide.iloc[at - 437:at + 1]
    fc = H.routing_ar1(win, ["B"], H.plan_from_network(GEUM), [60, 120, 360])["B"]
    q_now = 9.0 + lateral[at]
    expect = _stage(np.array([q_now + 15.0]), rating)[0]  # half of 30 m³/s/h for one hour
    np.testing.assert_allclose(fc.q[:, 1], expect, atol=0.01)


def test_hourly_inputs_are_on_time_between_reports_and_band_is_finite(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 700
    rating = (100.0, -0.5, H.RATING_B)
    release = 9.0 + 270.0 * (np.arange(n) >= 300)
    lateral = 400.0 + 100.0 * np.sin(np.arange(n) / 40.0)
    wide, _ = _geum_history(n, release, lateral, rating)
    monkeypatch.setitem(H.PRIOR_RATINGS, "B", rating)
    plan = H.plan_from_network(GEUM)
    late = wide.copy()
    late.iloc[601:] = np.nan  # nothing reported after 600
    for at, stale in ((600, False), (604, False), (605, False), (624, True)):  # hh:00, hh:40, hh:50, 4 h
        win = late.iloc[at - 437:at + 1]
        fc = H.routing_ar1(win, ["B"], plan, list(D.HORIZONS))["B"]
        bad = {f for f in fc.flags if f.startswith("stale-input")}
        assert bool(bad) == stale, (at, fc.flags)
        if stale:
            assert bad == {"stale-input:tototf_D", "stale-input:wl_B"}
        width = fc.q[:, 2] - fc.q[:, 0]
        assert np.isfinite(fc.q).all() and (width > 0).all() and (np.diff(width) >= -1e-12).all()
    # a 40-minute lead of an hourly gauge uses its 60-minute errors, not the sqrt-scaled guess
    err = np.full(200, np.nan)
    err[::6] = np.random.default_rng(1).normal(0.0, 0.1, len(err[::6]))
    sig = H._spread(err, np.array([4.0, 6.0, 12.0]), 1.0, every=6)
    assert sig[0] == sig[1] and sig[1] > 0.1 and sig[2] >= sig[1]


def test_geum_network_routes_the_main_stem_and_leaves_tributaries_to_persistence(tmp_path: Path) -> None:
    from floodwarn.catalog import load_catalog

    cat = load_catalog()
    plan = H.network_plan(cat)
    assert plan is not None
    main = ["3002655", "3004620", "3004650", "3004690", "3006680"]
    tribs = ["3003680", "3008670", "3005690", "3004670", "3007620", "3007660"]
    assert all(H.routable(plan, s) for s in main)
    assert not any(H.routable(plan, s) for s in tribs)
    assert set(main) <= set(H.PRIOR_RATINGS)
    n = 500
    idx = pd.date_range("2021-08-28", periods=n, freq="10min", tz="UTC", name="time")
    wide = pd.DataFrame(index=idx)
    wide["tototf_3001110"] = _hourly(np.where(np.arange(n) >= 486, 280.0, 10.0))  # 90 min before
    for s in main + tribs:
        wide[f"wl_{s}"] = _hourly(np.full(n, 1.5))
    at = idx[-1 - 4]  # hh:40
    df = forecast_cycle(at.to_pydatetime(), wide, cat, ModelRegistry(tmp_path))
    m = df.groupby("station")["method"].first()
    assert (m[main] == "routing+ar1").all()
    assert (m[["3003680", "3008670", "3007620", "3007660"]] == "persistence-trend").all()
    fl = df.loc[df.station.isin(main), "flags"].str.split(",")
    assert fl.map(lambda f: "uncalibrated-params" in f and not any(x.startswith("stale") for x in f)).all()
    # the release step reaches 대티교 (10 km below the dam) within hours, 이원대교 much later
    q = df.set_index(["station", "lead_min"])["q50"]
    assert q["3002655", 180] > 2.0
    assert q["3006680", 60] == pytest.approx(1.5, abs=0.01)


def test_real_geum_release_2018_beats_persistence_trend(shared_data: Path) -> None:
    """The 2018-09-05 ≈270 m³/s Yongdam release (a calibration event), issues every hour: at the
    main-stem gauges the routed forecast's 3 h / 6 h RMSE is below persistence-trend's."""
    import importlib.util

    from floodwarn.catalog import load_catalog
    from floodwarn.forecast.fallback import persistence_trend

    spec = importlib.util.spec_from_file_location("mga", Path(__file__).parents[2] / "tools" / "make_geum_archive.py")
    mga = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mga)  # type: ignore[union-attr]
    src = shared_data / "geum_yongdam_downstream_hourly"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    raw = mga.read_wide(src).loc["2018-08-25":"2018-09-12"]
    raw.index = raw.index.tz_convert("UTC")
    main = ["3002655", "3004620", "3004650", "3004690", "3006680"]
    hw = pd.DataFrame({f"wl_{s}": raw[f"{s}_hwl"] for s in main})
    hw["tototf_3001110"] = raw["ydd_hrel"]
    wide = hw.reindex(pd.date_range(hw.index[0], hw.index[-1], freq="10min", name="time"))
    plan = H.network_plan(load_catalog())
    errs: dict[str, list[float]] = {"route": [], "pt": []}
    for t in pd.date_range("2018-09-05 00:00", "2018-09-08 12:00", freq="1h", tz="UTC"):
        i = wide.index.get_loc(t)
        win = wide.iloc[i - 437:i + 1]
        out = H.routing_ar1(win, main, plan, [180, 360])
        qp, _, _ = persistence_trend(win[[f"wl_{s}" for s in main]].to_numpy().T, [180, 360])
        for k, s in enumerate(main):
            for j, lead in enumerate((180, 360)):
                o = wide[f"wl_{s}"].iloc[i + lead // 10]
                errs["route"].append(out[s].q[j, 1] - o)
                errs["pt"].append(qp[k, j, 1] - o)
    rmse = {k: float(np.sqrt(np.nanmean(np.square(v)))) for k, v in errs.items()}
    assert rmse["route"] < 0.8 * rmse["pt"], rmse
