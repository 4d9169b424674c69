"""Hindcast lead time: a warning held from an earlier wave gives a hit but no lead."""

from __future__ import annotations

import pandas as pd

from floodwarn.hindcast import warning_skill

T = pd.Timestamp("2020-08-06T00:00Z")


def _msg(sent_min: int, msg_type: str, level: int, seq: int) -> dict:
    return {"station": "A", "kind": "station", "msg_type": msg_type, "level": level, "seq": seq,
            "episode_start": "e1", "sent": (T + pd.Timedelta(minutes=sent_min)).isoformat(),
            "expires": (T + pd.Timedelta(minutes=10_000)).isoformat()}


def test_second_wave_under_a_held_warning_has_no_lead() -> None:
    # hourly gauge: wave 1 above 3.0 at +3..+5 h, wave 2 at +20..+22 h (14 h apart: two events);
    # one warning issued at +2 h and held across both (hysteresis between the waves)
    hours = [2.0] * 3 + [3.5] * 3 + [2.9] * 14 + [3.6] * 3 + [2.0] * 6
    obs = pd.DataFrame({"station": "A", "time": pd.date_range(T, periods=len(hours), freq="1h", tz="UTC"),
                        "value": hours})
    alerts = pd.DataFrame([_msg(120, "Alert", 1, 1), _msg(25 * 60, "Cancel", 0, 2)])
    events, _ = warning_skill(alerts, obs, {"A": {"attwl": 3.0}}, T + pd.Timedelta(days=2), {"A"})
    ev = events.sort_values("onset").reset_index(drop=True)
    assert ev["hit"].tolist() == [True, True]
    assert ev.loc[0, "lead_min"] == 60  # warned at +2 h, crossed at +3 h
    assert pd.isna(ev.loc[1, "lead_min"])  # not 18 h of lead: the warning was for wave 1


def test_new_warning_after_the_previous_event_counts() -> None:
    hours = [2.0] * 3 + [3.5] * 3 + [2.0] * 14 + [3.6] * 3 + [2.0] * 6
    obs = pd.DataFrame({"station": "A", "time": pd.date_range(T, periods=len(hours), freq="1h", tz="UTC"),
                        "value": hours})
    alerts = pd.DataFrame([_msg(120, "Alert", 1, 1), _msg(8 * 60, "Cancel", 0, 2),
                           {**_msg(18 * 60, "Alert", 1, 1), "episode_start": "e2"},
                           {**_msg(26 * 60, "Cancel", 0, 2), "episode_start": "e2"}])
    events, _ = warning_skill(alerts, obs, {"A": {"attwl": 3.0}}, T + pd.Timedelta(days=2), {"A"})
    assert events.sort_values("onset")["lead_min"].tolist() == [60, 120]


def test_false_alarm_cancelled_before_the_rise_gives_no_lead() -> None:
    # a warning at +0 h cancelled at +2 h (the river stayed low), a new one at +10 h, crossing at
    # +12 h: the lead is 120 min from the warning in force, not 720 from the cancelled one
    hours = [2.0] * 12 + [3.5] * 3 + [2.0] * 10
    obs = pd.DataFrame({"station": "A", "time": pd.date_range(T, periods=len(hours), freq="1h", tz="UTC"),
                        "value": hours})
    alerts = pd.DataFrame([_msg(0, "Alert", 1, 1), _msg(120, "Cancel", 0, 2),
                           {**_msg(600, "Alert", 1, 1), "episode_start": "e2"},
                           {**_msg(20 * 60, "Cancel", 0, 2), "episode_start": "e2"}])
    events, warned = warning_skill(alerts, obs, {"A": {"attwl": 3.0}}, T + pd.Timedelta(days=2), {"A"})
    assert events["lead_min"].tolist() == [120]
    assert warned.sort_values("start")["false_alarm"].tolist() == [True, False]


def test_late_warning_has_a_negative_lead() -> None:
    hours = [2.0] * 5 + [3.5] * 4 + [2.0] * 6
    obs = pd.DataFrame({"station": "A", "time": pd.date_range(T, periods=len(hours), freq="1h", tz="UTC"),
                        "value": hours})
    alerts = pd.DataFrame([_msg(6 * 60, "Alert", 1, 1), _msg(12 * 60, "Cancel", 0, 2)])
    events, _ = warning_skill(alerts, obs, {"A": {"attwl": 3.0}}, T + pd.Timedelta(days=2), {"A"})
    assert events["lead_min"].tolist() == [-60]
