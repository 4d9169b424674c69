"""Warning areas shared by the GeoJSON and CAP products.

A forecast point's *affected reach* is the river segment from the station to its downstream
node in ``catalog.network`` buffered by :data:`REACH_HALF_WIDTH_M` either side (a straight
segment: the catalog has nodes, not river centre lines); a station without a downstream node
with coordinates gets a circle of :data:`STATION_RADIUS_M`. An asset's area is its own polygon,
or its point / line buffered by :data:`ASSET_BUFFER_M`. Buffers are made in a local
equirectangular metric frame around the object (error well under 1 % at these sizes), and every
polygon is returned with a counter-clockwise exterior ring (RFC 7946).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

REACH_HALF_WIDTH_M = 400.0
STATION_RADIUS_M = 1000.0
ASSET_BUFFER_M = 60.0
#: arc segments per quarter circle (keeps CAP polygons short)
QUAD_SEGS = 4
_M_PER_DEG_LAT = 110_540.0
_M_PER_DEG_LON = 111_320.0


def _to_local(lon0: float, lat0: float) -> Any:
    scale = np.array([_M_PER_DEG_LON * math.cos(math.radians(lat0)), _M_PER_DEG_LAT])
    return lambda xy: (xy - np.array([lon0, lat0])) * scale


def _to_lonlat(lon0: float, lat0: float) -> Any:
    scale = np.array([_M_PER_DEG_LON * math.cos(math.radians(lat0)), _M_PER_DEG_LAT])
    return lambda xy: xy / scale + np.array([lon0, lat0])


def buffer_m(geom: BaseGeometry, metres: float) -> Polygon:
    """Buffer a lon/lat geometry by ``metres``; returns a lon/lat polygon (CCW exterior)."""
    c = geom.centroid
    local = shapely.transform(geom, _to_local(c.x, c.y))
    poly = shapely.transform(local.buffer(metres, quad_segs=QUAD_SEGS), _to_lonlat(c.x, c.y))
    if poly.geom_type == "MultiPolygon":  # cannot happen for a point or segment; be safe
        poly = max(poly.geoms, key=lambda g: g.area)
    return orient(poly, 1.0)


def _coords_of(catalog: Any, code: str) -> tuple[float, float] | None:
    for frame_name in ("stations", "dams", "rainfall", "tide"):
        frame = getattr(catalog, frame_name, None)
        if frame is not None and code in frame.index:
            lon, lat = frame.at[code, "lon"], frame.at[code, "lat"]
            if lon == lon and lat == lat and lon is not None and lat is not None:
                return float(lon), float(lat)
    return None


def station_point(catalog: Any, code: str) -> Point | None:
    xy = _coords_of(catalog, code)
    return None if xy is None else Point(xy)


def reach_polygon(catalog: Any, code: str) -> Polygon | None:
    """The affected-reach polygon of a forecast point (None without coordinates)."""
    here = _coords_of(catalog, code)
    if here is None:
        return None
    net = getattr(catalog, "network", None)
    down = None
    if net is not None and len(net) and code in net.index:
        nxt = net.at[code, "downstream"]
        if nxt:
            down = _coords_of(catalog, str(nxt))
    if down is not None and down != here:
        return buffer_m(LineString([here, down]), REACH_HALF_WIDTH_M)
    return buffer_m(Point(here), STATION_RADIUS_M)


def asset_polygon(geometry: dict[str, Any]) -> Polygon | None:
    """An asset's area as a polygon (its own polygon, else a small buffer around it)."""
    try:
        geom = shape(geometry)
    except Exception:  # noqa: BLE001 - the catalog validates geometries; never crash a product
        return None
    if geom.is_empty:
        return None
    if geom.geom_type == "Polygon":
        return orient(geom, 1.0)
    if geom.geom_type == "MultiPolygon":
        return orient(max(geom.geoms, key=lambda g: g.area), 1.0)
    return buffer_m(geom, ASSET_BUFFER_M)


def rounded(geom: BaseGeometry, ndigits: int = 7) -> dict[str, Any]:
    """GeoJSON geometry dict with coordinates rounded to ``ndigits`` (ring orientation kept)."""
    if geom.geom_type == "Polygon":
        geom = orient(geom, 1.0)
    doc = mapping(geom)

    def rnd(c: Any) -> Any:
        if isinstance(c, int | float):
            return round(float(c), ndigits)
        return [rnd(x) for x in c]

    return {"type": doc["type"], "coordinates": rnd(doc["coordinates"])}


def cap_polygon(poly: Polygon, ndigits: int = 6) -> str:
    """CAP ``polygon``: space-separated ``lat,lon`` pairs of the exterior ring, first = last."""
    ring = list(orient(poly, 1.0).exterior.coords)
    pairs = [f"{round(lat, ndigits):.{ndigits}f},{round(lon, ndigits):.{ndigits}f}" for lon, lat, *_ in ring]
    # drop consecutive duplicates rounding may create, keep the ring closed
    out: list[str] = []
    for p in pairs:
        if not out or out[-1] != p:
            out.append(p)
    if out[0] != out[-1]:
        out.append(out[0])
    return " ".join(out)
