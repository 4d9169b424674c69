"""Test data shared by the API and browser tests (a tiny catalog, a seeded store, a clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from floodwarn.times import to_epoch

TOKEN = "test-token-0123456789abcdef"
EVIL = '<img src=x onerror="alert(1)">한강<script>alert(2)</script>&amp;'
NOW = datetime(2020, 8, 6, 3, 0, tzinfo=UTC)  # 2020-08-06 12:00 KST, the 2020 Han flood

WATERLEVEL = """code,name,agency,addr,etcaddr,lon,lat,gdt,attwl,wrnwl,almwl,srswl,pfh,forecast_point,basin
1018683,서울시(한강대교),한강홍수통제소,서울특별시 용산구,한강대교,126.958056,37.516944,-0.78,5.5,8.5,10.5,11.5,,Y,Han
1018680,서울시(잠수교),한강홍수통제소,서울특별시 서초구,잠수교,126.996389,37.516111,0.0,5.5,6.2,7.0,,,Y,Han
1018662,"{evil}",한강홍수통제소,서울특별시 광진구,,127.091667,37.541111,1.0,4.0,5.0,6.0,7.0,,Y,Han
1018640,서울시(팔당대교),한강홍수통제소,경기도 남양주시,,127.2,37.55,5.0,,,,,,N,Han
"""


class SimClock:
    """A settable "now" (aware UTC) — the injected clock of the app."""

    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def write_stations(d: Path) -> Path:
    """A ``stations/`` directory with the four stations above (the real catalog loader reads it)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "waterlevel.csv").write_text(WATERLEVEL.replace("{evil}", EVIL.replace('"', '""')), encoding="utf-8")
    return d


def seed(store) -> None:
    """48 h of 10-minute stage at two stations, one forecast, a few cycles."""
    t_end = to_epoch(NOW)
    times = np.arange(t_end - 48 * 3600, t_end + 1, 600)
    rise = np.linspace(3.0, 9.0, len(times))  # 한강대교 rises past 관심 and 주의보
    frames = []
    for code, values in (("1018683", rise), ("1018680", rise * 0.6)):
        frames.append(pd.DataFrame({
            "station": code, "variable": "wl", "valid_time": times, "value": values,
            "arrival_time": times + 120, "source": "test", "qc": 0,
        }))
    store.upsert_observations(pd.concat(frames))
    leads = np.arange(10, 361, 10)
    store.save_forecasts(pd.DataFrame({
        "station": "1018683", "issued_at": t_end, "lead_min": leads,
        "q05": 9.0 + leads / 360 * 0.5, "q50": 9.0 + leads / 360 * 1.5, "q95": 9.0 + leads / 360 * 3.0,
        "method": "lgbm", "model_version": "test-1", "flags": "",
    }))
    for k in range(3):
        at = t_end - (2 - k) * 600
        store.cycle_begin(at, at + 100)
        store.cycle_end(at, at + 101, "ok", {"cycle_at": at, "stations_missing": []})
