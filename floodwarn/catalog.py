"""The station catalog: ``stations/`` loaded, validated and cached.

Stations, thresholds, the river network and impact assets are committed data (see
``stations/README.md``), so the engine runs without ``../shared``. Loading validates every
row and raises one :class:`~floodwarn.errors.CatalogError` naming the file, row and field —
a broken catalog must stop start-up, never silently drop a forecast point. Loading sits on
the 10-minute hot path, so catalogs are cached per directory and reloaded only when a file
changes (size or mtime).
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import re
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from floodwarn import config
from floodwarn.errors import CatalogError, ConfigError

log = logging.getLogger(__name__)

#: the four official alert levels, lowest first (관심, 주의보, 경보, 심각)
LEVELS: tuple[str, ...] = ("attwl", "wrnwl", "almwl", "srswl")
#: WGS84 bounding box that every catalog coordinate must fall in (South Korea incl. Jeju)
KOREA_LON = (124.0, 132.0)
KOREA_LAT = (33.0, 39.0)
#: first digit of an HRFCO water-level code -> basin (HRFCO flood-control regions)
BASINS = {"1": "Han", "2": "Nakdong", "3": "Geum", "4": "Seomjin", "5": "Yeongsan", "6": "Jeju"}
#: kinds of station a code can be, in the order :meth:`Catalog.known` looks them up
KINDS = ("waterlevel", "rainfall", "dam", "tide")
NETWORK_ROLES = ("boundary", "forecast", "gauge", "lateral")
ASSET_TYPES = ("parking", "road", "underpass", "trail", "bridge")
#: rules an ``exceptions.csv`` row may waive for one code; others are notes only
WAIVABLE_RULES = ("threshold_order", "coordinates_outside_korea")

WATERLEVEL_COLUMNS = (
    "code", "name", "agency", "addr", "etcaddr", "lon", "lat",
    "gdt", "attwl", "wrnwl", "almwl", "srswl", "pfh", "forecast_point", "basin",
)
SITE_COLUMNS = ("code", "name", "agency", "addr", "lon", "lat")
NETWORK_COLUMNS = ("code", "kind", "name", "downstream", "reach_km", "basin", "river", "role")
EXCEPTION_COLUMNS = ("code", "rule", "field", "value", "note")
HYSTERESIS_COLUMNS = ("code", "margin_m", "dwell_cycles", "reason")

FILES = {
    "stations": "waterlevel.csv",
    "rainfall": "rainfall.csv",
    "dams": "dams.csv",
    "tide": "tide.csv",
    "network": "network.csv",
    "exceptions": "exceptions.csv",
    "assets": "assets.geojson",
    "hysteresis": "hysteresis.csv",
}

_DMS = re.compile(r"^(\d{1,3})-(\d{1,2})-(\d{1,2}(?:\.\d+)?)$")


def dms_to_decimal(text: str | None, ndigits: int = 6) -> float | None:
    """HRFCO ``DDD-MM-SS`` string -> decimal degrees; blank, ``-`` or ``--`` -> None.

    Trailing spaces are tolerated. Minutes or seconds of 60 or more occur in the real dump
    (e.g. ``37-20-91``); they are converted arithmetically (d + m/60 + s/3600), like the
    flattened copy in ``../shared``, and listed in ``stations/exceptions.csv``.
    """
    if text is None:
        return None
    s = str(text).strip()
    if not s or set(s) <= {"-", " "}:
        return None
    m = _DMS.match(s)
    if not m:
        raise ValueError(f"not a DDD-MM-SS coordinate: {text!r}")
    deg, minutes, seconds = int(m.group(1)), int(m.group(2)), float(m.group(3))
    return round(deg + minutes / 60.0 + seconds / 3600.0, ndigits)


def basin_of(code: str) -> str:
    """Basin name from the first digit of a water-level / dam code ('' if unassigned)."""
    return BASINS.get(str(code)[:1], "")


# ---------------------------------------------------------------------------------------
# the catalog


@dataclass(frozen=True, eq=False)
class Catalog:
    """Stations, thresholds, network and assets; treat the frames as read-only (cached)."""

    directory: Path
    stations: pd.DataFrame
    rainfall: pd.DataFrame
    dams: pd.DataFrame
    tide: pd.DataFrame
    network: pd.DataFrame
    exceptions: pd.DataFrame = field(repr=False)
    assets: tuple[dict[str, Any], ...] = field(repr=False, default=())
    #: per-station warning hysteresis (code, margin_m, dwell_cycles, reason); optional file
    hysteresis: pd.DataFrame = field(repr=False, default_factory=lambda: pd.DataFrame(columns=HYSTERESIS_COLUMNS))

    def __repr__(self) -> str:
        return (
            f"Catalog({str(self.directory)!r}, stations={len(self.stations)}, "
            f"forecast_points={int(self.stations['forecast_point'].sum())}, "
            f"network={len(self.network)}, assets={len(self.assets)})"
        )

    # -- stations -------------------------------------------------------------------------

    def forecast_points(self) -> pd.DataFrame:
        """The official flood-forecast points (``fstnyn = Y``)."""
        return self.stations[self.stations["forecast_point"]]

    def warned_codes(self) -> list[str]:
        """Gauges the engine warns for: the forecast points and every gauge with an alert level
        set (those are warned as gauge alert levels, so they are forecast and read too)."""
        return list(self._warned)

    @cached_property
    def _warned(self) -> tuple[str, ...]:
        # once per catalog (it is frozen): the live cycle asks every 10 minutes
        st = self.stations
        levels = [c for c in LEVELS if c in st]
        lv = st[levels].apply(pd.to_numeric, errors="coerce").fillna(0) if levels else None
        has = (lv > 0).any(axis=1).to_numpy() if lv is not None else np.zeros(len(st), bool)
        return tuple(str(c) for c in st.index[st["forecast_point"].to_numpy(bool) | has])

    def _station(self, code: str) -> pd.Series:
        code = str(code)
        if code not in self.stations.index:
            raise CatalogError("unknown water-level station", station=code)
        return self.stations.loc[code]

    def known(self, code: str) -> str | None:
        """Which kind of station ``code`` is (waterlevel, rainfall, dam, tide), or None.

        Two HRFCO codes are both a water-level station and a dam; the water-level one wins
        here (the network table's ``kind`` column disambiguates).
        """
        code = str(code)
        for kind, frame in zip(KINDS, (self.stations, self.rainfall, self.dams, self.tide), strict=True):
            if code in frame.index:
                return kind
        return None

    def gdt(self, code: str) -> float | None:
        """Gauge datum (EL.m) of a water-level station; None where HRFCO gives none."""
        value = self._station(code)["gdt"]
        return None if pd.isna(value) else float(value)

    def thresholds(
        self, code: str, overrides: Mapping[str, Any] | None = None
    ) -> dict[str, float]:
        """The alert levels that are set for ``code``, lowest first; config overrides win.

        ``overrides`` is either the ``warn.overrides`` table of the settings
        (``{"1018683": {"wrnwl": 8.4}}``) or one station's mapping (``{"wrnwl": 8.4}``).
        An override of 0 or NaN unsets that level. The result must still be ordered.
        """
        code = str(code)
        row = self._station(code)
        levels = {k: float(row[k]) for k in LEVELS if not pd.isna(row[k])}
        over: Mapping[str, Any] = {}
        if overrides:
            if code in overrides and isinstance(overrides[code], Mapping):
                over = overrides[code]
            elif all(k in LEVELS for k in overrides):
                over = overrides
        for key, value in over.items():
            if key not in LEVELS:
                raise ConfigError(
                    f"unknown level (known: {', '.join(LEVELS)})",
                    field=f"warn.overrides.{code}.{key}", station=code,
                )
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"expected a number, got {value!r}",
                    field=f"warn.overrides.{code}.{key}", station=code,
                ) from None
            if math.isnan(v) or v == 0.0:
                levels.pop(key, None)
            else:
                levels[key] = v
        ordered = {k: levels[k] for k in LEVELS if k in levels}
        vals = list(ordered.values())
        if any(a > b for a, b in zip(vals, vals[1:], strict=False)) and not self._waived(code, "threshold_order"):
            raise ConfigError(
                f"levels out of order after overrides: {ordered}", field="warn.overrides", station=code
            )
        return ordered

    def _waived(self, code: str, rule: str) -> bool:
        ex = self.exceptions
        return bool(((ex["code"] == code) & (ex["rule"] == rule)).any())

    # -- network --------------------------------------------------------------------------

    def upstream(self, code: str, recursive: bool = False) -> list[str]:
        """Nodes draining directly into ``code`` (or all of them, upstream-first, if recursive)."""
        code = str(code)
        net = self.network
        if code not in net.index:
            raise CatalogError("not a node of the river network", file=FILES["network"], station=code)
        direct = sorted(net.index[net["downstream"] == code])
        if not recursive:
            return direct
        seen: set[str] = set()
        stack = list(direct)
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(net.index[net["downstream"] == node])
        return [c for c in self.topological_order() if c in seen]

    def downstream_path(self, code: str) -> list[str]:
        """``code`` and every node below it down to the outlet / boundary."""
        code = str(code)
        if code not in self.network.index:
            raise CatalogError("not a node of the river network", file=FILES["network"], station=code)
        path = [code]
        while nxt := self.network.at[path[-1], "downstream"]:
            path.append(nxt)
        return path

    def topological_order(self, basin: str | None = None) -> list[str]:
        """Network nodes so that every node comes after all nodes upstream of it.

        Deterministic (ties broken by code), so a cycle processes stations in a stable order.
        """
        net = self.network if basin is None else self.network[self.network["basin"] == basin]
        nodes = set(net.index)
        indeg = {c: 0 for c in nodes}
        for down in net["downstream"]:
            if down in nodes:
                indeg[down] += 1
        heap = [c for c, d in indeg.items() if d == 0]
        heapq.heapify(heap)
        order: list[str] = []
        while heap:
            c = heapq.heappop(heap)
            order.append(c)
            down = net.at[c, "downstream"]
            if down in nodes:
                indeg[down] -= 1
                if indeg[down] == 0:
                    heapq.heappush(heap, down)
        return order

    # -- GeoJSON --------------------------------------------------------------------------

    def to_geojson(
        self, forecast_only: bool = False, codes: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Water-level stations as an RFC 7946 FeatureCollection (stations without coordinates skipped)."""
        frame = self.forecast_points() if forecast_only else self.stations
        if codes is not None:
            frame = frame[frame.index.isin([str(c) for c in codes])]
        features = []
        for code, row in frame.iterrows():
            if pd.isna(row["lon"]) or pd.isna(row["lat"]):
                continue
            features.append(
                {
                    "type": "Feature",
                    "id": str(code),
                    "geometry": {
                        "type": "Point",
                        "coordinates": [round(float(row["lon"]), 6), round(float(row["lat"]), 6)],
                    },
                    "properties": {
                        "code": str(code),
                        "name": row["name"],
                        "agency": row["agency"],
                        "basin": row["basin"] or None,
                        "forecast_point": bool(row["forecast_point"]),
                        "gdt": None if pd.isna(row["gdt"]) else float(row["gdt"]),
                        "thresholds": {k: float(row[k]) for k in LEVELS if not pd.isna(row[k])},
                    },
                }
            )
        return {"type": "FeatureCollection", "features": features}


# ---------------------------------------------------------------------------------------
# loading and validation

_cache: dict[Path, tuple[tuple[Any, ...], Catalog]] = {}
_cache_lock = threading.Lock()


def _signature(directory: Path) -> tuple[Any, ...]:
    sig = []
    for name in sorted(FILES.values()):
        try:
            st = (directory / name).stat()
        except FileNotFoundError:
            sig.append((name, None))
        else:
            sig.append((name, st.st_mtime_ns, st.st_size))
    return tuple(sig)


def load_catalog(stations_dir: Path | str | None = None) -> Catalog:
    """Load and validate ``stations_dir`` (default: the checkout's ``stations/``), cached."""
    directory = Path(stations_dir) if stations_dir else config.project_root() / "stations"
    directory = directory.resolve()
    sig = _signature(directory)
    with _cache_lock:
        hit = _cache.get(directory)
        if hit is not None and hit[0] == sig:
            return hit[1]
        try:
            catalog = _load(directory)
        except CatalogError as err:  # name the full path: stations_dir may be a municipality's own
            if err.file and not Path(err.file).is_absolute():
                err.file = str(directory / err.file)
                err.args = (str(err),)
            raise
        _cache[directory] = (sig, catalog)
    log.debug("catalog loaded from %s: %s", directory, catalog)
    return catalog


def clear_cache() -> None:
    """Forget cached catalogs (tests, hot reload)."""
    with _cache_lock:
        _cache.clear()


def _read_csv(directory: Path, key: str, columns: tuple[str, ...], required: bool) -> pd.DataFrame:
    name = FILES[key]
    path = directory / name
    if not path.exists():
        if required:
            raise CatalogError("file missing", file=str(path))
        return pd.DataFrame({c: pd.Series(dtype=str) for c in columns})
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise CatalogError(f"cannot parse CSV: {err}", file=name) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CatalogError(f"missing required column(s): {', '.join(missing)}", file=name, field=missing[0])
    frame = frame.apply(lambda s: s.str.strip())
    return frame


def _numeric(frame: pd.DataFrame, name: str, col: str, codes: pd.Series) -> pd.Series:
    raw = frame[col]
    values = pd.to_numeric(raw.where(raw != "", None), errors="coerce").astype(float)
    bad = (raw != "") & values.isna()
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise CatalogError(
            f"not a number: {raw.iloc[i]!r}", file=name, row=i + 1, field=col, station=codes.iloc[i] or None
        )
    return values


def _check_codes(frame: pd.DataFrame, name: str) -> None:
    codes = frame["code"]
    empty = codes == ""
    if empty.any():
        raise CatalogError("empty code", file=name, row=int(empty.to_numpy().nonzero()[0][0]) + 1, field="code")
    dup = codes.duplicated()
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        first = int((codes == codes.iloc[i]).to_numpy().nonzero()[0][0])
        raise CatalogError(
            f"duplicate code (first at row {first + 1})", file=name, row=i + 1, field="code",
            station=codes.iloc[i],
        )


def _check_coords(
    frame: pd.DataFrame, name: str, lon: pd.Series, lat: pd.Series, waived: set[str]
) -> None:
    codes = frame["code"]
    half = lon.isna() != lat.isna()
    if half.any():
        i = int(half.to_numpy().nonzero()[0][0])
        fld = "lat" if lat.isna().iloc[i] else "lon"
        raise CatalogError("lon and lat must both be set or both empty", file=name, row=i + 1, field=fld,
                           station=codes.iloc[i])
    for col, values, (lo, hi) in (("lon", lon, KOREA_LON), ("lat", lat, KOREA_LAT)):
        out = values.notna() & ((values < lo) | (values > hi)) & ~codes.isin(waived)
        if out.any():
            i = int(out.to_numpy().nonzero()[0][0])
            raise CatalogError(
                f"{values.iloc[i]} is outside Korea ({lo}..{hi})", file=name, row=i + 1, field=col,
                station=codes.iloc[i],
            )


def _sites(frame: pd.DataFrame, name: str, columns: tuple[str, ...], waived: set[str]) -> pd.DataFrame:
    _check_codes(frame, name)
    lon = _numeric(frame, name, "lon", frame["code"])
    lat = _numeric(frame, name, "lat", frame["code"])
    _check_coords(frame, name, lon, lat, waived)
    out = frame.copy()
    out["lon"], out["lat"] = lon, lat
    extra = [c for c in out.columns if c not in columns]
    return out[list(columns) + extra].set_index("code", drop=False).rename_axis(None)


def _load(directory: Path) -> Catalog:
    exceptions = _read_csv(directory, "exceptions", EXCEPTION_COLUMNS, required=False)
    ex_name = FILES["exceptions"]
    for i, rule in enumerate(exceptions["rule"]):
        if not rule:
            raise CatalogError("empty rule", file=ex_name, row=i + 1, field="rule")
    waived = {
        rule: set(exceptions.loc[exceptions["rule"] == rule, "code"]) for rule in WAIVABLE_RULES
    }

    # water-level stations
    name = FILES["stations"]
    wl = _read_csv(directory, "stations", WATERLEVEL_COLUMNS, required=True)
    stations = _sites(wl, name, WATERLEVEL_COLUMNS, waived["coordinates_outside_korea"])
    codes = wl["code"]
    for col in ("gdt", "pfh", *LEVELS):
        stations[col] = _numeric(wl, name, col, codes).to_numpy()
    fp = wl["forecast_point"].str.upper()
    bad = ~fp.isin(["Y", "N"])
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise CatalogError(f"expected Y or N, got {wl['forecast_point'].iloc[i]!r}", file=name, row=i + 1,
                           field="forecast_point", station=codes.iloc[i])
    stations["forecast_point"] = (fp == "Y").to_numpy()
    levels = stations[list(LEVELS)].to_numpy()
    for i, row in enumerate(levels):
        code = codes.iloc[i]
        if code in waived["threshold_order"]:
            continue
        prev_name, prev = None, None
        for lvl, v in zip(LEVELS, row, strict=True):
            if math.isnan(v):
                continue
            if prev is not None and v < prev:
                raise CatalogError(
                    f"threshold out of order: {lvl} {v} < {prev_name} {prev} "
                    "(0 or blank means 'not set'; list a real exception in exceptions.csv)",
                    file=name, row=i + 1, field=lvl, station=code,
                )
            prev_name, prev = lvl, v

    # other station kinds
    rainfall = _sites(_read_csv(directory, "rainfall", SITE_COLUMNS, False), FILES["rainfall"], SITE_COLUMNS,
                      waived["coordinates_outside_korea"])
    dams = _sites(_read_csv(directory, "dams", SITE_COLUMNS, False), FILES["dams"], SITE_COLUMNS,
                  waived["coordinates_outside_korea"])
    tide = _sites(_read_csv(directory, "tide", SITE_COLUMNS, False), FILES["tide"], SITE_COLUMNS,
                  waived["coordinates_outside_korea"])
    frames = {"waterlevel": stations, "rainfall": rainfall, "dam": dams, "tide": tide}

    # exceptions must name real stations
    all_codes = set().union(*(set(f.index) for f in frames.values()))
    for i, code in enumerate(exceptions["code"]):
        if code not in all_codes:
            raise CatalogError("exception for an unknown station", file=ex_name, row=i + 1, field="code",
                               station=code or None)

    network = _network(_read_csv(directory, "network", NETWORK_COLUMNS, False), frames)
    assets = _assets(directory, frames)
    hysteresis = _hysteresis(_read_csv(directory, "hysteresis", HYSTERESIS_COLUMNS, False), stations)
    return Catalog(directory, stations, rainfall, dams, tide, network, exceptions, assets, hysteresis)


def _hysteresis(frame: pd.DataFrame, stations: pd.DataFrame) -> pd.DataFrame:
    """Validate per-station hysteresis: a known water-level code, margin ≥ 0, dwell ≥ 1 cycle."""
    name = FILES["hysteresis"]
    _check_codes(frame, name)
    codes = frame["code"]
    margin = _numeric(frame, name, "margin_m", codes)
    dwell = _numeric(frame, name, "dwell_cycles", codes)
    for i, code in enumerate(codes):
        if code not in stations.index:
            raise CatalogError("not a water-level station of the catalog", file=name, row=i + 1,
                               field="code", station=code)
        if not margin.iloc[i] >= 0:
            raise CatalogError("margin_m must be a number ≥ 0", file=name, row=i + 1, field="margin_m",
                               station=code)
        d = dwell.iloc[i]
        if not (d >= 1 and float(d).is_integer()):
            raise CatalogError("dwell_cycles must be a whole number ≥ 1", file=name, row=i + 1,
                               field="dwell_cycles", station=code)
    out = frame.copy()
    out["margin_m"] = margin.to_numpy()
    out["dwell_cycles"] = dwell.to_numpy().astype(int) if len(out) else dwell.to_numpy()
    return out.set_index("code", drop=False).rename_axis(None)


def _network(frame: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    name = FILES["network"]
    _check_codes(frame, name)
    codes = frame["code"]
    kinds = frame["kind"].replace({"rain": "rainfall"})
    for i, (code, kind) in enumerate(zip(codes, kinds, strict=True)):
        if kind not in frames:
            raise CatalogError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})", file=name, row=i + 1,
                               field="kind", station=code)
        if code not in frames[kind].index:
            raise CatalogError(f"no {kind} station with this code in the catalog", file=name, row=i + 1,
                               field="code", station=code)
    for i, (code, role) in enumerate(zip(codes, frame["role"], strict=True)):
        if role not in NETWORK_ROLES:
            raise CatalogError(f"unknown role {role!r} (known: {', '.join(NETWORK_ROLES)})", file=name,
                               row=i + 1, field="role", station=code)
    known = set(codes)
    for i, (code, down) in enumerate(zip(codes, frame["downstream"], strict=True)):
        if down and down not in known:
            raise CatalogError(f"unknown downstream code {down!r}", file=name, row=i + 1, field="downstream",
                               station=code)
        if down == code:
            raise CatalogError("node drains into itself", file=name, row=i + 1, field="downstream", station=code)
    reach = _numeric(frame, name, "reach_km", codes)
    neg = reach < 0
    if neg.any():
        i = int(neg.to_numpy().nonzero()[0][0])
        raise CatalogError("negative reach length", file=name, row=i + 1, field="reach_km", station=codes.iloc[i])
    out = frame.copy()
    out["kind"] = kinds
    out["reach_km"] = reach
    out = out.set_index("code", drop=False).rename_axis(None)
    # the downstream links must form a forest (no cycles)
    for start in out.index:
        seen = {start}
        node = out.at[start, "downstream"]
        while node:
            if node in seen:
                row = int((codes == start).to_numpy().nonzero()[0][0]) + 1
                raise CatalogError("downstream links form a cycle", file=name, row=row, field="downstream",
                                   station=start)
            seen.add(node)
            node = out.at[node, "downstream"]
    return out


def _ring_area2(ring: list[list[float]]) -> float:
    """Twice the signed (shoelace) area in lon/lat; > 0 means counter-clockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in zip(ring, ring[1:], strict=False))


def _positions(geom: dict[str, Any]) -> Iterable[Any]:
    kind, coords = geom.get("type"), geom.get("coordinates")
    if kind == "Point":
        yield coords
    elif kind == "LineString":
        yield from coords
    elif kind == "Polygon":
        for ring in coords:
            yield from ring
    elif kind == "MultiPolygon":
        for poly in coords:
            for ring in poly:
                yield from ring


def _check_geometry(geom: Any, where: dict[str, Any]) -> None:
    if not isinstance(geom, dict) or geom.get("type") not in ("Point", "LineString", "Polygon", "MultiPolygon"):
        raise CatalogError("geometry must be a Point, LineString, Polygon or MultiPolygon", field="geometry",
                           **where)
    try:
        positions = list(_positions(geom))
        for pos in positions:
            lon, lat = float(pos[0]), float(pos[1])
            if not (KOREA_LON[0] <= lon <= KOREA_LON[1] and KOREA_LAT[0] <= lat <= KOREA_LAT[1]):
                raise CatalogError(f"position [{lon}, {lat}] is outside Korea (GeoJSON order is [lon, lat])",
                                   field="geometry.coordinates", **where)
    except (TypeError, ValueError, IndexError):
        raise CatalogError("malformed coordinates", field="geometry.coordinates", **where) from None
    polys = [geom["coordinates"]] if geom["type"] == "Polygon" else (
        geom["coordinates"] if geom["type"] == "MultiPolygon" else [])
    for poly in polys:
        for k, ring in enumerate(poly):
            if len(ring) < 4 or list(ring[0]) != list(ring[-1]):
                raise CatalogError("polygon ring must be closed with at least 4 positions",
                                   field="geometry.coordinates", **where)
            ccw = _ring_area2(ring) > 0
            if ccw != (k == 0):
                raise CatalogError(
                    "RFC 7946 ring orientation: exterior counter-clockwise, holes clockwise",
                    field="geometry.coordinates", **where)


def _assets(directory: Path, frames: dict[str, pd.DataFrame]) -> tuple[dict[str, Any], ...]:
    name = FILES["assets"]
    path = directory / name
    if not path.exists():
        return ()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise CatalogError(f"invalid JSON: {err}", file=name) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
        doc.get("features"), list
    ):
        raise CatalogError("expected a GeoJSON FeatureCollection", file=name, field="type")
    if "crs" in doc:
        raise CatalogError("RFC 7946 GeoJSON has no 'crs' member (coordinates are WGS84)", file=name, field="crs")
    seen: dict[str, int] = {}
    out = []
    for i, feat in enumerate(doc["features"], start=1):
        fid = feat.get("id") if isinstance(feat, dict) else None
        where: dict[str, Any] = {"file": name, "row": f"{i} (id {fid})" if fid else i}
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise CatalogError("not a GeoJSON Feature", field="type", **where)
        if not isinstance(fid, str) or not fid.strip():
            raise CatalogError("every asset needs a stable string id", field="id", **where)
        if fid in seen:
            raise CatalogError(f"duplicate id (first at feature {seen[fid]})", field="id", **where)
        seen[fid] = i
        _check_geometry(feat.get("geometry"), where)
        props = feat.get("properties")
        if not isinstance(props, dict):
            raise CatalogError("missing properties", field="properties", **where)
        for key in ("name_ko", "asset_type", "trigger_station", "trigger_basis", "source"):
            if not str(props.get(key) or "").strip():
                raise CatalogError("required property missing", field=f"properties.{key}", **where)
        if props["asset_type"] not in ASSET_TYPES:
            raise CatalogError(f"unknown asset_type {props['asset_type']!r} (known: {', '.join(ASSET_TYPES)})",
                               field="properties.asset_type", **where)
        station = str(props["trigger_station"])
        if station not in frames["waterlevel"].index:
            raise CatalogError(f"unknown trigger station {station!r} (must be a water-level code)",
                               field="properties.trigger_station", **where)
        stage = props.get("trigger_stage_m")
        if isinstance(stage, bool) or not isinstance(stage, int | float) or not math.isfinite(stage):
            raise CatalogError(f"trigger_stage_m must be a number (stage in m above gauge zero), got {stage!r}",
                               field="properties.trigger_stage_m", **where)
        code = props.get("district_code")
        if code not in (None, "") and not re.fullmatch(r"\d{5}|\d{10}", str(code)):
            raise CatalogError(f"district_code must be a 5- or 10-digit administrative code, got {code!r}",
                               field="properties.district_code", **where)
        out.append(feat)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# thresholds as one array (the warning engine's hot path)


@dataclass(frozen=True, eq=False)
class ThresholdTable:
    """Every water-level station's alert levels at once, with the config overrides applied.

    ``matrix[i]`` holds the four levels of ``codes[i]`` lowest first, NaN where unset (0 is
    "unset" too); ``dicts[code]`` is exactly :meth:`Catalog.thresholds` for that code.
    ``thresholded`` holds the codes with at least one set level.
    """

    codes: tuple[str, ...]
    index: dict[str, int]
    matrix: Any  # np.ndarray f8[n, 4]
    dicts: dict[str, dict[str, float]]
    thresholded: frozenset[str]

    def vector(self, code: str) -> Any:
        return self.matrix[self.index[code]]


_tables: weakref.WeakKeyDictionary[Catalog, dict[str, ThresholdTable]] = weakref.WeakKeyDictionary()
_tables_lock = threading.Lock()


def threshold_table(catalog: Catalog, overrides: Mapping[str, Any] | None = None) -> ThresholdTable:
    """The :class:`ThresholdTable` of ``catalog`` under ``overrides``, built once and cached.

    :meth:`Catalog.thresholds` costs a pandas row lookup per call; the engine needs all of
    them every cycle, so they are computed once per (catalog, overrides). Overridden codes go
    through :meth:`Catalog.thresholds` itself, so its validation (order, unknown keys) holds.
    """
    import numpy as np

    key = json.dumps(overrides or {}, sort_keys=True, default=str)
    with _tables_lock:
        hit = _tables.get(catalog, {}).get(key)
    if hit is not None:
        return hit
    st = catalog.stations
    codes = tuple(str(c) for c in st.index)
    raw = st[list(LEVELS)].to_numpy(dtype=float)
    dicts: dict[str, dict[str, float]] = {}
    for code, row in zip(codes, raw.tolist(), strict=True):
        dicts[code] = {k: v for k, v in zip(LEVELS, row, strict=True) if not math.isnan(v)}
    if overrides:
        if all(k in LEVELS for k in overrides):  # one station's mapping: applies to every code
            touched: Iterable[str] = codes
        else:
            touched = [str(c) for c in overrides if str(c) in dicts]
        for code in touched:
            dicts[code] = catalog.thresholds(code, overrides)
    matrix = np.full((len(codes), len(LEVELS)), np.nan)
    for i, code in enumerate(codes):
        for j, k in enumerate(LEVELS):
            v = dicts[code].get(k)
            if v is not None and v != 0.0:
                matrix[i, j] = v
    has = ~np.isnan(matrix).all(axis=1) if len(codes) else np.zeros(0, dtype=bool)
    table = ThresholdTable(
        codes=codes, index={c: i for i, c in enumerate(codes)}, matrix=matrix, dicts=dicts,
        thresholded=frozenset(c for c, h in zip(codes, has.tolist(), strict=True) if h),
    )
    with _tables_lock:
        _tables.setdefault(catalog, {})[key] = table
    return table
