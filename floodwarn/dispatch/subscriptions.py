"""Webhook subscriptions: who gets which alerts, and where they may be sent.

A subscription is a URL, a signing secret and filters. Every filter that is set must match
(AND); within one filter any listed value matches (OR). ``min_level`` compares the alert level
with the 관심 < 주의보 < 경보 < 심각 order. A target URL may not point at loopback, private,
link-local or otherwise non-public addresses (SSRF) unless ``dispatch.allow_private_targets``,
and never at the daemon itself.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import secrets
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from floodwarn.errors import FloodwarnError

log = logging.getLogger(__name__)

#: level names accepted in filters and alert payloads -> rank (higher is more severe)
LEVEL_RANK: dict[str, int] = {
    "attwl": 1, "관심": 1, "minor": 1, "watch": 1, "attention": 1,
    "wrnwl": 2, "주의보": 2, "moderate": 2, "advisory": 2,
    "almwl": 3, "경보": 3, "severe": 3, "warning": 3,
    "srswl": 4, "심각": 4, "extreme": 4, "critical": 4,
}
ASSET_TYPES = ("parking", "road", "underpass", "trail", "bridge")
MAX_AREA_VERTICES = 10_000


class SubscriptionError(FloodwarnError):
    """A subscription that cannot be accepted (bad URL, refused target, bad filter)."""


def level_rank(level: Any) -> int | None:
    """Rank 0..4 of a level given as a name, a Korean name, a CAP severity or a number."""
    if level is None:
        return None
    if isinstance(level, bool):
        return None
    if isinstance(level, int | float):
        return int(level) if not (isinstance(level, float) and math.isnan(level)) else None
    text = str(level).strip().lower()
    if text.isdigit():
        return int(text)
    if text in ("", "none", "normal", "cancel", "0"):
        return 0
    return LEVEL_RANK.get(text)


@dataclass(frozen=True)
class Filters:
    """What a subscription wants; empty means "everything"."""

    stations: tuple[str, ...] = ()
    basins: tuple[str, ...] = ()
    min_level: str | None = None
    area: dict[str, Any] | None = None
    asset_types: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any] | None) -> Filters:
        doc = dict(doc or {})
        return cls(
            stations=tuple(str(s) for s in doc.get("stations") or ()),
            basins=tuple(str(b) for b in doc.get("basins") or ()),
            min_level=doc.get("min_level"),
            area=doc.get("area"),
            asset_types=tuple(str(a) for a in doc.get("asset_types") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def validate(self) -> Filters:
        """Raise :class:`SubscriptionError` naming the bad field; returns self."""
        if self.min_level is not None and level_rank(self.min_level) is None:
            raise SubscriptionError(
                f"unknown level {self.min_level!r} (use attwl, wrnwl, almwl, srswl)", field="min_level"
            )
        bad = [a for a in self.asset_types if a not in ASSET_TYPES]
        if bad:
            raise SubscriptionError(
                f"unknown asset type {bad[0]!r} (known: {', '.join(ASSET_TYPES)})", field="asset_types"
            )
        if self.area is not None:
            _area_shape(self.area)
        return self


@dataclass(frozen=True)
class Target:
    """What an alert message is about, as far as filters care."""

    station: str | None = None
    basin: str | None = None
    level: int | None = None
    lon: float | None = None
    lat: float | None = None
    asset_type: str | None = None


def _area_shape(area: Mapping[str, Any]) -> Any:
    """A shapely geometry from a GeoJSON Polygon / MultiPolygon (validated)."""
    from shapely.geometry import shape

    if not isinstance(area, Mapping) or area.get("type") not in ("Polygon", "MultiPolygon"):
        raise SubscriptionError("area must be a GeoJSON Polygon or MultiPolygon", field="area")
    coords = area.get("coordinates")
    try:
        flat = list(_flatten(coords, 3 if area["type"] == "Polygon" else 4))
    except (TypeError, ValueError):
        raise SubscriptionError("malformed area coordinates", field="area.coordinates") from None
    if len(flat) > MAX_AREA_VERTICES:
        raise SubscriptionError(f"area has more than {MAX_AREA_VERTICES} vertices", field="area")
    for lon, lat in flat:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise SubscriptionError(
                f"position [{lon}, {lat}] is not WGS84 [lon, lat]", field="area.coordinates"
            )
    try:
        geom = shape(dict(area))
    except Exception as err:  # noqa: BLE001 - shapely raises many types on bad input
        raise SubscriptionError(f"malformed area: {err}", field="area") from None
    if geom.is_empty or not geom.is_valid:
        raise SubscriptionError("area polygon is empty or self-intersecting", field="area")
    return geom


def _flatten(coords: Any, depth: int) -> Iterable[tuple[float, float]]:
    if depth == 1:
        if not isinstance(coords, list | tuple) or len(coords) < 2:
            raise ValueError(coords)
        x, y = float(coords[0]), float(coords[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(coords)
        yield (x, y)
        return
    if not isinstance(coords, list | tuple) or not coords:
        raise ValueError(coords)
    for c in coords:
        yield from _flatten(c, depth - 1)


def matches(filters: Filters, target: Target, area_shape: Any = None) -> bool:
    """Does an alert about ``target`` pass every filter that is set?"""
    if filters.stations and target.station not in filters.stations:
        return False
    if filters.basins:
        wanted = {b.lower() for b in filters.basins}
        if not target.basin or target.basin.lower() not in wanted:
            return False
    if filters.min_level is not None:
        need = level_rank(filters.min_level) or 0
        if target.level is None or target.level < need:
            return False
    if filters.asset_types and target.asset_type not in filters.asset_types:
        return False
    if filters.area is not None:
        if target.lon is None or target.lat is None:
            return False
        from shapely.geometry import Point

        geom = area_shape if area_shape is not None else _area_shape(filters.area)
        if not geom.covers(Point(target.lon, target.lat)):
            return False
    return True


# -- target URLs -----------------------------------------------------------------------


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise SubscriptionError(f"cannot resolve host {host!r}: {err}", field="url") from None
    out = []
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        out.append(addr)
    return out


def _non_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for attr, what in (
        ("is_loopback", "loopback"), ("is_link_local", "link-local"), ("is_private", "private"),
        ("is_multicast", "multicast"), ("is_unspecified", "unspecified"), ("is_reserved", "reserved"),
    ):
        if getattr(addr, attr):
            return what
    return None


def _split(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise SubscriptionError("webhook URL must be http:// or https://", field="url")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise SubscriptionError("webhook URL has an invalid port", field="url") from None
    if not host:
        raise SubscriptionError("webhook URL has no host", field="url")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def check_url(url: str, allow_private: bool = False, self_urls: Sequence[str] = ()) -> str:
    """Refuse a webhook target we must not call; returns the URL unchanged when it is fine.

    ``self_urls`` are the daemon's own API addresses: a subscription pointing there would make
    the daemon call itself (loops, token-less access to its own API) and is always refused.
    """
    if not isinstance(url, str) or len(url) > 2048:
        raise SubscriptionError("webhook URL must be a string of at most 2048 characters", field="url")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise SubscriptionError("webhook URL contains whitespace or control characters", field="url")
    _, host, port = _split(url)
    addrs = _addresses(host, port)
    for own in self_urls:
        if not own:
            continue
        try:
            _, own_host, own_port = _split(own)
            own_addrs = set(_addresses(own_host, own_port))
        except SubscriptionError:
            continue
        unspecified = any(a.is_unspecified for a in own_addrs)
        if port == own_port and (unspecified or own_addrs & set(addrs) or host.lower() == own_host.lower()):
            raise SubscriptionError("webhook URL points back at this floodwarn daemon", field="url")
    if not allow_private:
        for addr in addrs:
            why = _non_public(addr)
            if why:
                raise SubscriptionError(
                    f"webhook URL resolves to a {why} address ({addr}); refused "
                    "(set dispatch.allow_private_targets for an internal receiver)",
                    field="url",
                )
    return url


# -- persistence -------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    secret: str = field(repr=False)
    filters: Filters
    description: str = ""
    active: bool = True
    created_at: int = 0

    def public(self) -> dict[str, Any]:
        """The subscription as shown by the API (never the secret)."""
        return {
            "id": self.id, "url": self.url, "filters": self.filters.to_dict(),
            "description": self.description, "active": self.active, "created_at": self.created_at,
        }


def _row(r: Sequence[Any]) -> Subscription:
    return Subscription(
        id=r[0], url=r[1], secret=r[2], filters=Filters.from_dict(json.loads(r[3])),
        description=r[4], active=bool(r[5]), created_at=int(r[6]),
    )


_COLS = "id, url, secret, filters, description, active, created_at"


def create(
    store: Any,
    url: str,
    filters: Filters | None = None,
    secret: str | None = None,
    description: str = "",
    *,
    allow_private: bool = False,
    self_urls: Sequence[str] = (),
    at: int | None = None,
) -> Subscription:
    """Validate and store a subscription; a secret is generated when none is given."""
    filters = (filters or Filters()).validate()
    check_url(url, allow_private=allow_private, self_urls=self_urls)
    sub = Subscription(
        id=uuid.uuid4().hex, url=url, secret=secret or secrets.token_urlsafe(32), filters=filters,
        description=description, active=True, created_at=int(time.time() if at is None else at),
    )
    with store.tx() as cur:
        cur.execute(
            f"INSERT INTO subscriptions ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sub.id, sub.url, sub.secret, json.dumps(filters.to_dict(), ensure_ascii=False),
             sub.description, 1, sub.created_at),
        )
    log.info("subscription %s created for %s", sub.id, url)
    return sub


def get(store: Any, sub_id: str) -> Subscription | None:
    rows = store.query(f"SELECT {_COLS} FROM subscriptions WHERE id = ?", (sub_id,))
    return _row(rows[0]) if rows else None


def list_subscriptions(store: Any, active_only: bool = True) -> list[Subscription]:
    where = "WHERE active = 1" if active_only else ""
    return [_row(r) for r in store.query(f"SELECT {_COLS} FROM subscriptions {where} ORDER BY created_at, id")]


def active_in(cur: Any) -> list[Subscription]:
    """Active subscriptions read through an open transaction's cursor (the outbox's view)."""
    return [_row(r) for r in cur.execute(f"SELECT {_COLS} FROM subscriptions WHERE active = 1").fetchall()]


def delete(store: Any, sub_id: str, at: int | None = None) -> bool:
    """Deactivate a subscription (kept for the delivery audit); False if it did not exist."""
    with store.tx() as cur:
        cur.execute(
            "UPDATE subscriptions SET active = 0, deleted_at = ? WHERE id = ? AND active = 1",
            (int(time.time() if at is None else at), sub_id),
        )
        n = cur.rowcount
    if n:
        log.info("subscription %s deleted", sub_id)
    return n > 0
