"""Hindcast verification: warning-skill rules on hand-made timelines, then a real replay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from floodwarn.hindcast import (
    PERSISTENCE_MAX_AGE_H,
    flaps,
    forecast_skill,
    hindcast,
    last_known,
    summarise,
    warning_skill,
)
from tests.daemon.cycle_support import run_cli, settings_for, slice_archive

T = pd.Timestamp("2020-08-06T00:00Z")


def _obs(station: str, values: list[float]) -> pd.DataFrame:
    times = pd.date_range(T, periods=len(values), freq="10min", tz="UTC")
    return pd.DataFrame({"station": station, "time": times, "value": values})


def _msg(station, sent_min, msg_type, level, episode="e1", seq=1, expires_min=10_000):
    return {"station": station, "kind": "station", "msg_type": msg_type, "level": level, "seq": seq,
            "episode_start": episode, "sent": (T + pd.Timedelta(minutes=sent_min)).isoformat(),
            "expires": (T + pd.Timedelta(minutes=expires_min)).isoformat()}


def test_flaps_counts_downgrade_then_reupgrade() -> None:
    assert flaps([1, 2, 3, 2, 1, 0]) == 0
    assert flaps([1, 2, 1, 2]) == 1
    assert flaps([1, 2, 1, 2, 1, 2, 0]) == 2
    assert flaps([2, 1, 1, 0]) == 0


def test_hit_with_lead_miss_and_false_alarm() -> None:
    # station A crosses 3.0 at +120 min; warned at +0 → a hit with 120 min lead
    a = _obs("A", [2.0] * 12 + [3.5] * 6 + [2.0] * 6)
    # station B crosses and is never warned → a miss; station C warned, never crosses → false alarm
    b = _obs("B", [2.0] * 6 + [3.2] * 3 + [2.0] * 3)
    c = _obs("C", [1.0] * 60)
    alerts = pd.DataFrame([
        _msg("A", 0, "Alert", 1), _msg("A", 60, "Update", 2, seq=2), _msg("A", 240, "Cancel", 0, seq=3),
        _msg("C", 30, "Alert", 1, episode="c"), _msg("C", 90, "Cancel", 0, episode="c", seq=2),
    ])
    thr = {s: {"attwl": 3.0, "wrnwl": 5.0} for s in "ABC"}
    events, warned = warning_skill(alerts, pd.concat([a, b, c]), thr, T + pd.Timedelta(days=1), {"A", "B", "C"})
    att = events[events["level"] == "attwl"].set_index("station")
    assert att.loc["A", "hit"] and att.loc["A", "lead_min"] == 120
    assert not att.loc["B", "hit"]
    assert "C" not in att.index
    fa = warned[warned["level"] == "attwl"].set_index("station")["false_alarm"]
    assert not fa["A"] and fa["C"]
    # A's 주의보 (wrnwl) warning had no observed 5 m: a false alarm at that level
    assert warned[(warned["level"] == "wrnwl")]["false_alarm"].all()
    s = summarise(events, warned)["levels"]["all stations"]["attwl"]
    assert (s["events"], s["hits"], s["false_alarms"]) == (2, 1, 1)
    assert s["pod"] == 0.5 and s["far"] == 0.5 and s["csi"] == pytest.approx(1 / 3)
    assert s["median_lead_min"] == 120
    assert s["shortest_span_min"] == 60  # C's 관심 from +30 to +90 min
    # pooled over 관심–경보: A's and B's 관심 events plus A's 주의보 (a false alarm) span
    p = summarise(events, warned)["levels"]["all stations"]["attwl-almwl"]
    assert (p["events"], p["hits"], p["warned"], p["false_alarms"]) == (2, 1, 3, 2)
    assert p["far"] == pytest.approx(2 / 3) and p["median_lead_min"] == 120


def test_persistence_of_an_hourly_gauge_is_its_last_report() -> None:
    # hourly gauge H: values at hh:00 only; 10-minute gauge M alongside
    hours = pd.date_range(T, periods=12, freq="h", tz="UTC")
    h = pd.DataFrame({"station": "H", "time": hours, "value": np.arange(12.0)})
    m = _obs("M", list(np.linspace(1.0, 2.0, 72)))
    obs = pd.concat([h, m], ignore_index=True)
    at = pd.Series([T + pd.Timedelta(minutes=k) for k in (0, 20, 50, 60, 130)])
    np.testing.assert_array_equal(last_known(obs, pd.Series(["H"] * 5), at), [0.0, 0.0, 0.0, 1.0, 2.0])
    # a 10-minute gauge: exactly the value at issue time, as before
    np.testing.assert_allclose(last_known(obs, pd.Series(["M"] * 5), at), m["value"].to_numpy()[[0, 2, 5, 6, 13]])
    # older than the age limit, or before the first report: no persistence
    late = pd.Series([T + pd.Timedelta(hours=11 + PERSISTENCE_MAX_AGE_H, minutes=10), T - pd.Timedelta(minutes=10)])
    assert np.isnan(last_known(obs, pd.Series(["H", "H"]), late)).all()
    # and the skill table has a persistence score at every lead of the hourly gauge
    issued = pd.date_range(T, periods=30, freq="10min", tz="UTC")
    fc = pd.DataFrame([{"station": "H", "issued_at": t, "lead_min": lead, "q05": v - 0.5, "q50": v, "q95": v + 0.5}
                       for t in issued for lead in (10, 20, 30, 60)
                       for v in [float(t.hour - T.hour) + lead / 60]])
    sk = forecast_skill(fc, obs)
    assert set(sk["lead_min"]) == {10, 20, 30, 60}
    assert np.isfinite(sk["rmse_persistence_cm"]).all()


def test_a_dip_below_the_line_is_one_event_not_two() -> None:
    a = _obs("A", [2.0] * 6 + [3.5] * 6 + [2.9] * 6 + [3.5] * 6)
    events, _ = warning_skill(pd.DataFrame(), a, {"A": {"attwl": 3.0}}, T + pd.Timedelta(days=1), {"A"})
    assert len(events) == 1 and not events["hit"].iloc[0]


@pytest.fixture(scope="module")
def replay_dir(tmp_path_factory) -> Path:
    from floodwarn.replay import replay

    d = tmp_path_factory.mktemp("hind")
    start, end = datetime(2020, 8, 6, 0, 0, tzinfo=UTC), datetime(2020, 8, 6, 3, 0, tzinfo=UTC)
    archive = slice_archive(d / "a.csv", start - timedelta(hours=27), end + timedelta(hours=3))
    replay(settings_for(d), [archive], start, end, d / "out", progress=False)
    return d


def test_hindcast_report_on_a_real_replay(replay_dir) -> None:
    res = hindcast(replay_dir / "out", settings_for(replay_dir))
    report = (replay_dir / "out" / "hindcast" / "report.md").read_text()
    assert "POD" in report and "![hydrograph_1018683.png]" in report
    assert (replay_dir / "out" / "hindcast" / "hydrograph_1018683.png").stat().st_size > 10_000
    sk = res.skill
    assert set(sk["station"]) >= {"1018683"}
    assert np.isfinite(sk.loc[sk["station"] == "1018683", "rmse_cm"]).all()
    # 1018683 rises through 주의보 8.5 m at 12:00 KST within the span: an observed event exists
    ev = res.events
    assert ((ev["station"] == "1018683") & (ev["level"] == "wrnwl")).any()
    summary = json.loads((replay_dir / "out" / "hindcast" / "summary.json").read_text())
    assert "forecast points" in summary["levels"]


def test_hindcast_cli(replay_dir) -> None:
    env = {"FLOODWARN_MODELS_DIR": str(replay_dir / "models")}
    r = run_cli("hindcast", "--replay", str(replay_dir / "out"), "--report", "--out", str(replay_dir / "h2"), env=env)
    assert r.returncode == 0, r.stderr
    assert "POD" in r.stdout and (replay_dir / "h2" / "report.md").exists()
    bad = run_cli("hindcast", "--replay", str(replay_dir), env=env)
    assert bad.returncode == 1 and "not a replay directory" in bad.stderr
