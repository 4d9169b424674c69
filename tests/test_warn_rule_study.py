"""tools/warn_rule_study.py: the held-out flood windows as replay archives, and the summary table."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import warn_rule_study as W  # noqa: E402

sys.path.remove(str(ROOT / "tools"))


@pytest.mark.shared
def test_flood_window_archive_holds_the_crossing_and_its_lead_in(shared_data: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from floodwarn.feeds.archive import read_archive

    monkeypatch.setattr(W, "DATA", shared_data / "hanriver")
    [(path, start, end)] = W.archives(2016, tmp_path)
    assert (start, end) == ("2016-07-01T00:00", "2016-07-10T23:50")
    obs = read_archive(path).obs
    t = pd.to_datetime(obs["valid_time"], unit="s", utc=True).dt.tz_convert("Asia/Seoul")
    assert t.min() == pd.Timestamp("2016-06-27T00:00", tz="Asia/Seoul")  # 4 days of model inputs
    jamsu = obs[(obs["station"] == "1018680") & (obs["variable"] == "wl")]
    assert jamsu["value"].max() >= 5.5  # the window holds a 주의보 crossing
    assert W.archives(2016, tmp_path)[0][0] == path  # built once


def test_summary_pools_levels_and_counts_false_alarms(tmp_path: Path) -> None:
    for name, leads, fa in (("a", [60, 120], [False, True]), ("b", [180, float("nan")], [False, False])):
        d = tmp_path / name / "hindcast"
        d.mkdir(parents=True)
        pd.DataFrame({"level": ["attwl", "wrnwl"], "hit": [True, True], "lead_min": leads,
                      "flaps": [0, 1]}).to_csv(d / "warning_events.csv", index=False)
        pd.DataFrame({"level": ["attwl", "wrnwl"], "false_alarm": fa}).to_csv(d / "warned_intervals.csv", index=False)
    row = W.summary([tmp_path / "a", tmp_path / "b"])
    assert row["attwl events"] == 2 and row["attwl lead"] == 120  # median of 60 and 180
    assert row["wrnwl FAR"] == 0.5 and row["wrnwl lead"] == 120
    assert row["pooled FAR"] == 0.25 and row["pooled lead"] == 120 and row["max flaps"] == 1
