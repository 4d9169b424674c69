"""replay: the live cycle over an archive on a simulated clock; identical files when repeated."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from floodwarn.replay import ArchiveIndex, replay
from tests.daemon.cycle_support import run_cli, settings_for, slice_archive

#: 2020-08-06 09:00 .. 12:00 KST: Hangang br. (1018683) rises through 주의보 8.5 m at 12:00 KST
START = datetime(2020, 8, 6, 0, 0, tzinfo=UTC)
END = datetime(2020, 8, 6, 3, 0, tzinfo=UTC)
UNKNOWN_ROWS = [
    {"station": "9999999", "variable": "wl", "time": "2020-08-06T09:00:00+09:00", "value": 1.0},
    {"station": "9999999", "variable": "wl", "time": "2020-08-06T09:10:00+09:00", "value": 1.0},
    {"station": "1018683", "variable": "turbidity", "time": "2020-08-06T09:00:00+09:00", "value": 5.0},
]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("archive")
    return slice_archive(d / "event.csv", START - timedelta(hours=27), END, UNKNOWN_ROWS)


def _digest(d: Path) -> dict[str, str]:
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_file() and not p.name.startswith("replay.sqlite"):
            out[str(p.relative_to(d))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def replayed(archive, tmp_path_factory) -> tuple[Path, Path, object]:
    base = tmp_path_factory.mktemp("replay")
    settings = settings_for(base)
    a, b = base / "a", base / "b"
    ra = replay(settings, [archive], START, END, a, progress=False)
    replay(settings, [archive], START, END, b, progress=False)
    return a, b, ra


def test_replay_writes_the_products(replayed) -> None:
    a, _, result = replayed
    assert result.cycles == 19
    fc = pd.read_parquet(a / "forecasts.parquet")
    assert list(fc.columns[:9]) == ["station", "issued_at", "lead_min", "q05", "q50", "q95",
                                   "method", "model_version", "flags"]
    assert str(fc["issued_at"].dt.tz) == "UTC"
    assert fc["issued_at"].min() == pd.Timestamp(START) and fc["issued_at"].max() == pd.Timestamp(END)
    assert (fc["q05"] <= fc["q50"]).all() and (fc["q50"] <= fc["q95"]).all()
    lines = [json.loads(x) for x in (a / "alerts.jsonl").read_text().splitlines()]
    assert lines, "the 2020 rise through 주의보 at Hangang br. must produce alerts"
    hangang = [x for x in lines if x["station"] == "1018683"]
    assert hangang and hangang[0]["msg_type"] == "Alert"
    xml = sorted((a / "alerts").glob("*.xml"))
    assert len(xml) == len(lines)
    assert {p.stem for p in xml} == {x["event_id"].replace(":", "_") for x in lines}
    manifest = json.loads((a / "replay.json").read_text())
    assert manifest["cycles"] == 19


def test_replaying_twice_gives_identical_files(replayed) -> None:
    a, b, _ = replayed
    da, db = _digest(a), _digest(b)
    assert "forecasts.parquet" in da and "alerts.jsonl" in da
    assert da == db


def test_unknown_stations_and_variables_are_counted_not_fatal(replayed) -> None:
    _, _, result = replayed
    assert result.unknown.get("station:9999999") == 2
    assert result.unknown.get("variable:turbidity") == 1


def test_archive_index_matches_the_store_as_of_view(archive, tmp_path) -> None:
    from floodwarn.feeds.archive import read_archive
    from floodwarn.records import normalise_obs
    from floodwarn.store import open_store

    obs = read_archive(archive).obs
    # a correction of one value that arrives an hour late, as a second version
    fix = obs.iloc[[100]].copy()
    fix["value"] += 1.0
    fix["arrival_time"] += 3600
    allobs = normalise_obs(pd.concat([obs, fix], ignore_index=True))
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.upsert_observations(obs)
    store.upsert_observations(fix)
    idx = ArchiveIndex(allobs)
    t = int(fix["valid_time"].iloc[0])
    for at in (t, t + 3600):
        mine = idx.history(t - 7200, at).sort_values(["station", "variable", "valid_time"])
        ref = store.observations(start=t - 7200, end=at, as_of=at)
        cols = ["station", "variable", "valid_time", "value", "arrival_time"]
        pd.testing.assert_frame_equal(mine[cols].reset_index(drop=True), ref[cols].reset_index(drop=True),
                                      check_dtype=False)


def test_replay_cli_reports_unknowns_and_bad_times(archive, tmp_path) -> None:
    env = {"FLOODWARN_STORE__URL": f"sqlite:///{tmp_path / 'unused.sqlite'}",
           "FLOODWARN_MODELS_DIR": str(tmp_path / "models")}
    r = run_cli("replay", "--archive", str(archive), "--start", "2020-08-06T09:00",
                "--end", "2020-08-06T09:30", "--out", str(tmp_path / "out"), "--no-progress", env=env)
    assert r.returncode == 0, r.stderr
    assert "replayed 4 cycles" in r.stdout
    assert "3 unknown" in r.stdout
    bad = run_cli("replay", "--archive", str(archive), "--start", "yesterday",
                  "--end", "2020-08-06T09:30", "--out", str(tmp_path / "out"), env=env)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    missing = run_cli("replay", "--archive", str(tmp_path / "nope.csv"), "--start", "2020-08-06T09:00",
                      "--end", "2020-08-06T09:30", "--out", str(tmp_path / "out"), env=env)
    assert missing.returncode == 1 and "nope.csv" in missing.stderr


def test_freshness_is_judged_on_the_archive_gauges(archive, tmp_path) -> None:
    """A replay of the Seoul-reach archive does not report the other forecast points missing
    every cycle; a gauge of the archive that goes silent is still reported."""
    df = pd.read_csv(archive, dtype={"station": str})
    t = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    gap = (df["station"] == "1018683") & (df["variable"] == "wl") & (t > pd.Timestamp(START + timedelta(hours=1)))
    silent = tmp_path / "silent.csv"
    df[~gap].to_csv(silent, index=False)
    reports = []
    replay(settings_for(tmp_path), [silent], START, END, tmp_path / "out", progress=False,
           on_cycle=lambda rep, ctx: reports.append(rep))
    missing = {r.cycle_at: r.stations.get("missing", 0) + r.stations.get("stale", 0) for r in reports}
    assert all(n == 0 for at, n in missing.items() if at <= START + timedelta(hours=1, minutes=30))
    assert missing[END] == 1  # 한강대교 (1018683, a forecast point) silent for 2 h: stale, then missing
    assert all(("stale_inputs" in r.flags) == (missing[r.cycle_at] > 0) for r in reports)
