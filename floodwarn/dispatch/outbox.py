"""The transactional outbox: alert messages become delivery rows in the same transaction.

The warning engine calls :func:`enqueue` with the cursor of the transaction that records the
alert, so an alert is either stored *and* queued for every matching subscription, or neither
— a crash can never lose a webhook or send one for an alert that was rolled back. One row per
(subscription, message) with ``idem_key = sha256(subscription id + event id)`` UNIQUE, so
re-running a cycle queues nothing twice.

``payload`` is the alert message as a JSON-able dict. Filters read these keys when present:
``station``, ``target``, ``level``, ``basin``, ``lon``/``lat`` (or a GeoJSON Point
``geometry``), ``asset_type``, ``references`` (ids of earlier messages of the same event: an
Update or Cancel reaches every subscription that received one of them, even when it no longer
passes the level filter). Missing ``basin``/``lon``/``lat`` are looked up in ``catalog``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from floodwarn.dispatch.signing import idempotency_key
from floodwarn.dispatch.subscriptions import Target, _area_shape, active_in, level_rank, matches

log = logging.getLogger(__name__)

__all__ = ["backlog", "build_body", "enqueue", "target_of"]


def _epoch(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        from floodwarn.times import to_epoch

        return to_epoch(value)
    if isinstance(value, int | float):
        return int(value)
    try:
        from floodwarn.times import parse_time

        return int(parse_time(str(value)).timestamp())
    except ValueError:
        return None


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def target_of(payload: Mapping[str, Any], catalog: Any = None) -> Target:
    """What the message is about (station, basin, level, point, asset type)."""
    station = payload.get("station")
    station = None if station is None else str(station)
    lon, lat = _num(payload.get("lon")), _num(payload.get("lat"))
    geom = payload.get("geometry")
    if (lon is None or lat is None) and isinstance(geom, Mapping) and geom.get("type") == "Point":
        coords = geom.get("coordinates") or ()
        if len(coords) >= 2:
            lon, lat = _num(coords[0]), _num(coords[1])
    basin = payload.get("basin")
    if catalog is not None and station is not None and station in catalog.stations.index:
        row = catalog.stations.loc[station]
        if not basin:
            basin = row.get("basin") or None
        if lon is None or lat is None:
            lon, lat = _num(row.get("lon")), _num(row.get("lat"))
    if not basin and station:
        from floodwarn.catalog import basin_of

        basin = basin_of(station) or None
    return Target(
        station=station,
        basin=None if basin is None else str(basin),
        level=level_rank(payload.get("level")),
        lon=lon,
        lat=lat,
        asset_type=payload.get("asset_type"),
    )


def _reference_ids(refs: Any) -> list[str]:
    """Message ids from ``references``: a list of ids or CAP ``sender,id,sent`` triples."""
    if not refs:
        return []
    if isinstance(refs, str):
        refs = refs.split()
    out = []
    for r in refs:
        if isinstance(r, Mapping):
            r = r.get("id") or r.get("identifier")
        elif isinstance(r, list | tuple):
            r = r[0] if r else None
        if not r:
            continue
        parts = str(r).split(",")
        out.append(parts[1] if len(parts) == 3 else str(r))
    return out


def build_body(event_id: str, kind: str, subscription_id: str, key: str, payload: Mapping[str, Any]) -> str:
    """The exact JSON body POSTed (fixed at enqueue time, so every retry signs the same bytes)."""
    doc = {
        "idempotency_key": key,
        "event_id": event_id,
        "kind": kind,
        "subscription_id": subscription_id,
        "payload": payload,
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))


def enqueue(
    cur: Any,
    event_id: str,
    kind: str,
    payload: dict[str, Any],
    *,
    catalog: Any = None,
    at: int | datetime | None = None,
) -> int:
    """Queue one alert message for every matching active subscription; returns rows added.

    Runs inside the caller's transaction (``cur`` from ``store.tx()``). Re-enqueueing the same
    ``event_id`` adds nothing. ``at`` (default: the payload's ``sent``, else now) is the
    creation time; the rows are due at once.
    """
    created = _epoch(at) if at is not None else _epoch(payload.get("sent"))
    if created is None:
        created = int(time.time())
    target = target_of(payload, catalog)
    refs = _reference_ids(payload.get("references"))
    earlier: set[str] = set()
    if refs:
        marks = ",".join("?" * len(refs))
        earlier = {
            r[0] for r in cur.execute(
                f"SELECT DISTINCT subscription_id FROM deliveries WHERE event_id IN ({marks})", refs
            ).fetchall()
        }
    added = 0
    for sub in active_in(cur):
        try:
            area = _area_shape(sub.filters.area) if sub.filters.area is not None else None
            wanted = sub.id in earlier or matches(sub.filters, target, area)
        except Exception:  # noqa: BLE001 - one broken subscription must not stop an alert
            log.exception("subscription %s: filter failed; skipped for %s", sub.id, event_id)
            continue
        if not wanted:
            continue
        key = idempotency_key(sub.id, event_id)
        body = build_body(event_id, kind, sub.id, key, payload)
        cur.execute(
            "INSERT INTO deliveries (subscription_id, event_id, kind, idem_key, body, status, "
            "attempts, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?) "
            "ON CONFLICT (idem_key) DO NOTHING",
            (sub.id, event_id, kind, key, body, created, created),
        )
        added += max(cur.rowcount, 0)
    if added:
        log.info("outbox: %s %s queued for %d subscription(s)", kind, event_id, added)
    return added


def backlog(store: Any) -> dict[str, int]:
    """Deliveries by status (pending, sending, delivered, dead)."""
    counts = {"pending": 0, "sending": 0, "delivered": 0, "dead": 0}
    for status, n in store.query("SELECT status, COUNT(*) FROM deliveries GROUP BY status"):
        counts[str(status)] = int(n)
    return counts


def deliveries(store: Any, event_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Delivery rows (audit / tests), oldest first."""
    cols = ["id", "subscription_id", "event_id", "kind", "idem_key", "status", "attempts",
            "created_at", "next_attempt_at", "last_attempt_at", "delivered_at", "last_status",
            "last_error"]
    where, params = "", []
    if event_ids is not None:
        ids = list(event_ids)
        if not ids:
            return []
        where = f"WHERE event_id IN ({','.join('?' * len(ids))})"
        params = ids
    rows = store.query(f"SELECT {', '.join(cols)} FROM deliveries {where} ORDER BY id", params)
    return [dict(zip(cols, r, strict=True)) for r in rows]
