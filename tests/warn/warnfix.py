"""Shared builders for warning and product tests: a small real catalog, observations, forecasts.

The catalog is written as real ``stations/`` files into ``tmp_path`` and loaded with the real
:func:`floodwarn.catalog.load_catalog`; thresholds are the HRFCO ones of these gauges.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from floodwarn.catalog import clear_cache, load_catalog
from floodwarn.config import WarnConfig
from floodwarn.store import open_store
from floodwarn.times import to_epoch

T0 = datetime(2020, 8, 6, 2, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
HANGANG = "1018683"  # 서울시(한강대교): attwl 3.9, wrnwl 8.5, almwl 10.5, srswl 13.3
JUNGRANG = "1018675"  # 서울시(중랑교): 2.4, 5.0, 6.5, 7.9
SINDAEBANG = "1018698"  # 서울시(신대방1교), attwl unset here: -, 2.4, 3.2, 4.0
JAMSU = "1018680"  # 서울시(잠수교), not a forecast point: 3.9, 5.5, 6.2, 6.5

WATERLEVEL = """code,name,agency,addr,etcaddr,lon,lat,gdt,attwl,wrnwl,almwl,srswl,pfh,forecast_point,basin
1018683,{hangang},기후에너지환경부,서울특별시,동작구 노량진동 한강대교,126.956667,37.514444,2.07,3.9,8.5,10.5,13.3,13.3,Y,Han
1018675,서울시(중랑교),기후에너지환경부,서울특별시,중랑구 중화동 중랑교,127.070556,37.5925,9.165,2.4,5.0,6.5,7.9,7.9,Y,Han
1018698,서울시(신대방1교),기후에너지환경부,서울특별시 관악구 신림동,신대방1교,126.914444,37.488056,12.586,,2.4,3.2,4.0,4.0,Y,Han
1018680,서울시(잠수교),기후에너지환경부,서울특별시,용산구 서빙고동 잠수교,126.995278,37.517222,-0.068,3.9,5.5,6.2,6.5,15.6,N,Han
"""

NETWORK = """code,kind,name,downstream,reach_km,basin,river,role
1018675,waterlevel,서울시(중랑교),1018680,6.0,Han,중랑천,forecast
1018680,waterlevel,서울시(잠수교),1018683,4.1,Han,한강,gauge
1018683,waterlevel,서울시(한강대교),,0,Han,한강,forecast
"""


def asset(fid: str, station: str, stage: float, name_ko: str = "반포 잠수교 보행로", **props: Any) -> dict[str, Any]:
    geom = props.pop("geometry", {"type": "Point", "coordinates": [126.9952, 37.5165]})
    base = {
        "name_ko": name_ko, "name_en": props.pop("name_en", "Jamsu Bridge lower deck"),
        "asset_type": props.pop("asset_type", "road"), "trigger_station": station,
        "trigger_stage_m": stage, "district": "서초구", "district_code": "11650",
        "source": "test fixture", "trigger_basis": "test fixture",
    }
    base.update(props)
    return {"type": "Feature", "id": fid, "geometry": geom, "properties": base}


DEFAULT_ASSETS = [
    asset("jamsu-deck", JAMSU, 5.5),
    asset("hangang-parking", HANGANG, 6.0, name_ko="노들섬 둔치주차장", name_en="Nodeul riverside parking",
          asset_type="parking", district="용산구", district_code="11170",
          geometry={"type": "Polygon", "coordinates": [[[126.955, 37.516], [126.958, 37.516],
                                                        [126.958, 37.518], [126.955, 37.518],
                                                        [126.955, 37.516]]]}),
]


def write_catalog(directory: Path, assets: list[dict[str, Any]] | None = None, hangang: str = "서울시(한강대교)",
                  network: bool = True) -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "waterlevel.csv").write_text(WATERLEVEL.format(hangang=hangang), encoding="utf-8")
    if network:
        (directory / "network.csv").write_text(NETWORK, encoding="utf-8")
    feats = DEFAULT_ASSETS if assets is None else assets
    (directory / "assets.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), encoding="utf-8")
    clear_cache()
    return load_catalog(directory)


def new_store(path: Path) -> Any:
    return open_store("sqlite:///" + str(path))


def obs(values: dict[str, float], at: datetime, lag_s: int = 120) -> pd.DataFrame:
    """One observation per station valid at ``at``, arriving ``lag_s`` later."""
    t = to_epoch(at)
    return pd.DataFrame({
        "station": list(values), "valid_time": [t] * len(values),
        "value": [float(v) for v in values.values()], "arrival_time": [t + lag_s - 300] * len(values),
    })


def forecast(station: str, issued: datetime, q50: list[float], spread: float = 0.3,
             step_min: int = 10, model_version: str = "lgbm-2024.1", method: str = "lightgbm",
             flags: str = "") -> pd.DataFrame:
    n = len(q50)
    return pd.DataFrame({
        "station": [station] * n, "issued_at": [to_epoch(issued)] * n,
        "lead_min": [step_min * (i + 1) for i in range(n)],
        "q05": [v - spread for v in q50], "q50": q50, "q95": [v + spread * 1.5 for v in q50],
        "method": [method] * n, "model_version": [model_version] * n, "flags": [flags] * n,
    })


# the base rule, one cycle at a time (rules A, B and D of docs/warnings.md off; see test_rules.py)
SETTINGS = WarnConfig(exceedance_p=0.5, margin_m=0.1, dwell_cycles=3, horizon_min=360, expiry_min=60,
                      exceedance_p_far=None, confirm_cycles=1, min_warned_min=0)
