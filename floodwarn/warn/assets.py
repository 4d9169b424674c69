"""Impact assets: things that flood (둔치주차장, underpasses, riverside roads and trails).

Each asset in ``stations/assets.geojson`` names a trigger station and a trigger stage (m above
that gauge's zero). The engine treats an asset as a one-level target: it is *impacted* when the
observed stage, or the forecast decision trajectory within the horizon, reaches the trigger
stage, with the same hysteresis and dwell as a forecast point. Its messages carry the time to
impact. Their CAP severity is the station level the trigger stage lies in (at least 관심/Minor).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from floodwarn.warn.levels import LEVELS, classify, threshold_vector


@dataclass(frozen=True)
class Asset:
    """One impact asset as the engine sees it."""

    id: str
    name_ko: str
    name_en: str
    asset_type: str
    station: str
    trigger_stage_m: float
    district: str | None
    district_code: str | None
    lon: float | None
    lat: float | None
    geometry: dict[str, Any]

    @property
    def target(self) -> str:
        return f"asset:{self.id}"


def _representative(geometry: dict[str, Any]) -> tuple[float | None, float | None]:
    try:
        from shapely.geometry import shape

        pt = shape(geometry).representative_point()
        return float(pt.x), float(pt.y)
    except Exception:  # noqa: BLE001 - a bad geometry is the catalog's to report
        return None, None


def assets_of(catalog: Any) -> list[Asset]:
    """The catalog's assets (GeoJSON features) as :class:`Asset`, in file order."""
    out = []
    for feat in getattr(catalog, "assets", ()) or ():
        props = feat.get("properties") or {}
        geom = feat.get("geometry") or {}
        lon, lat = _representative(geom)
        code = props.get("district_code")
        out.append(Asset(
            id=str(feat["id"]),
            name_ko=str(props.get("name_ko") or feat["id"]),
            name_en=str(props.get("name_en") or props.get("name_ko") or feat["id"]),
            asset_type=str(props.get("asset_type") or ""),
            station=str(props["trigger_station"]),
            trigger_stage_m=float(props["trigger_stage_m"]),
            district=(str(props["district"]) if props.get("district") else None),
            district_code=(str(code) if code not in (None, "") else None),
            lon=lon,
            lat=lat,
            geometry=geom,
        ))
    return out


def trigger_stations(assets: Iterable[Asset]) -> set[str]:
    return {a.station for a in assets}


def severity_level(asset: Asset, station_thresholds: dict[str, float]) -> int:
    """The station level the trigger stage falls in (1..4), at least 1 (관심 / Minor)."""
    return max(1, classify(asset.trigger_stage_m, threshold_vector(station_thresholds)))


def impact_vector(asset: Asset) -> np.ndarray:
    """The asset's single "threshold" in the shape the hysteresis kernel takes."""
    return np.array([asset.trigger_stage_m], dtype=float)


def impact_rule(
    asset: Asset,
    observed: float | None,
    time_to_impact: float | None,
    probability: float | None,
    quantile_label: str,
) -> str:
    """Why the asset is impacted, in one line (observed first, then forecast)."""
    h = asset.trigger_stage_m
    if observed is not None and math.isfinite(observed) and observed >= h:
        return (f"observed wl {observed:.2f} m at {asset.station} ≥ trigger {h:.2f} m "
                f"of {asset.name_ko}")
    if time_to_impact is not None:
        p = "" if probability is None else f", P={probability:.2f}"
        return (f"forecast {quantile_label} at {asset.station} reaches trigger {h:.2f} m of "
                f"{asset.name_ko} in {time_to_impact:.0f} min{p}")
    return f"holding impact on {asset.name_ko} (hysteresis: not yet below {h:.2f} m − margin long enough)"


LEVEL_NAMES = {i: lv for i, lv in enumerate(LEVELS, start=1)}
