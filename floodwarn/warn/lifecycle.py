"""The lifecycle of a warning: Alert → Update(s) → Cancel, persisted in the store.

A *target* is a forecast point (its station code) or an impact asset (``asset:<id>``). A
warning *episode* starts with an Alert when the target leaves level 0 and ends with a Cancel
when it returns to 0. Every message has a stable identifier built from the target, the
episode start and a sequence number (``urn:floodwarn:alert:1018683:20200806T0200Z:3``), lists
all earlier messages of the episode in ``references`` and is written in the same transaction
as its outbox rows, so a message is either stored *and* queued for delivery, or neither.
Identifiers are deterministic and every insert is checked first, so re-running a cycle or
repeating a forecaster's action writes nothing twice.

A forecaster acts through :func:`manual_issue`, :func:`manual_extend`, :func:`manual_cancel`
and :func:`acknowledge`; each action is recorded in ``warn_actions`` with the actor and reason.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from floodwarn.config import WarnConfig
from floodwarn.errors import FloodwarnError
from floodwarn.times import as_utc, from_epoch, to_epoch
from floodwarn.warn.levels import LEVELS, level_index, level_info

log = logging.getLogger(__name__)

__all__ = [
    "AlertEvent",
    "LifecycleError",
    "NotActiveError",
    "TargetState",
    "UnknownEventError",
    "acknowledge",
    "acknowledgements",
    "active_events",
    "event",
    "event_identifier",
    "history",
    "manual_cancel",
    "manual_extend",
    "manual_issue",
]

#: CAP ``sender`` of every message (no spaces, commas, ``<`` or ``&``)
SENDER = "urn:floodwarn"
ID_PREFIX = "urn:floodwarn:alert"
MSG_TYPES = ("Alert", "Update", "Cancel")


class LifecycleError(FloodwarnError):
    """A forecaster action that cannot be applied."""


class UnknownEventError(LifecycleError):
    """No message with this identifier (the API answers 404)."""


class NotActiveError(LifecycleError):
    """The message is not the current one of an active warning (the API answers 409)."""


# ---------------------------------------------------------------------------------------
# the message


@dataclass(frozen=True)
class AlertEvent:
    """One lifecycle message (Alert, Update or Cancel) with everything needed to explain it.

    Times are aware UTC datetimes; ``time_to`` maps each set level key to the minutes until the
    decision trajectory reaches it (0 = already above, None = not within the horizon).
    ``references`` lists (identifier, sent) of every earlier message of the same episode.
    """

    event_id: str
    msg_type: str
    target: str
    kind: str  # "station" or "asset"
    station: str
    seq: int
    episode_start: datetime
    sent: datetime
    expires: datetime
    level: int  # 0..4; for a Cancel the level after it (0)
    prev_level: int
    cycle_at: datetime | None = None
    references: tuple[tuple[str, datetime], ...] = ()
    source: str = "engine"  # engine | manual
    actor: str | None = None
    reason: str | None = None
    rule: str = ""
    name: str = ""
    name_en: str = ""
    basin: str | None = None
    lon: float | None = None
    lat: float | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    observed_value: float | None = None
    observed_time: datetime | None = None
    forecast_peak: float | None = None
    forecast_peak_time: datetime | None = None
    time_to: dict[str, float | None] = field(default_factory=dict)
    exceedance_p: float | None = None
    decision_quantile: float | None = None
    model_version: str | None = None
    method: str | None = None
    freshness: str | None = None
    flags: tuple[str, ...] = ()
    #: station messages: True for an official flood-forecast point (홍수예보지점, ``fstnyn = Y``),
    #: False for another gauge's own alert levels (target ``gauge:<code>``); None for assets
    forecast_point: bool | None = None
    # impact assets
    asset_id: str | None = None
    asset_type: str | None = None
    trigger_stage_m: float | None = None
    time_to_impact: float | None = None
    district: str | None = None
    district_code: str | None = None

    # -- derived --------------------------------------------------------------------------
    @property
    def identifier(self) -> str:
        """The CAP identifier (same as ``event_id``)."""
        return self.event_id

    @property
    def level_key(self) -> str | None:
        info = level_info(self.level)
        return info.key if info else None

    @property
    def severity_level(self) -> int:
        """The level that sets CAP severity: a Cancel keeps the level it cancels."""
        return self.prev_level if self.msg_type == "Cancel" else self.level

    @property
    def active(self) -> bool:
        return self.msg_type != "Cancel"

    # -- (de)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (ISO-8601 UTC times); also the outbox payload."""
        doc = {f: getattr(self, f) for f in self.__dataclass_fields__}
        doc["thresholds"], doc["time_to"] = dict(self.thresholds), dict(self.time_to)
        for key, value in list(doc.items()):
            if isinstance(value, datetime):
                doc[key] = _iso(value)
        doc["references"] = [{"id": i, "sent": _iso(s)} for i, s in self.references]
        doc["flags"] = list(self.flags)
        info = level_info(self.level)
        doc["level_key"] = info.key if info else None
        doc["level_name"] = info.ko if info else None
        doc["level_name_en"] = info.en if info else None
        doc["severity"] = (level_info(self.severity_level) or LEVELS[0]).severity
        doc["sender"] = SENDER
        return _json_safe(doc)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AlertEvent:
        names = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in doc.items() if k in names}
        for key in ("episode_start", "sent", "expires", "cycle_at", "observed_time", "forecast_peak_time"):
            if kw.get(key) is not None:
                kw[key] = _parse_iso(kw[key])
        kw["references"] = tuple((r["id"], _parse_iso(r["sent"])) for r in doc.get("references") or ())
        kw["flags"] = tuple(doc.get("flags") or ())
        return cls(**kw)


def _iso(t: datetime) -> str:
    return as_utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str | datetime) -> datetime:
    if isinstance(text, datetime):
        return as_utc(text)
    return as_utc(datetime.fromisoformat(str(text).replace("Z", "+00:00")))


def _json_safe(value: Any) -> Any:
    """NaN → None (JSON has no NaN), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def event_identifier(target: str, episode_start: datetime, seq: int) -> str:
    """``urn:floodwarn:alert:<target>:<YYYYmmddTHHMMZ>:<seq>`` — stable and CAP-safe.

    An asset target ``asset:<id>`` becomes ``asset-<id>``; characters CAP forbids in an
    identifier (space, comma, ``<``, ``&``) and any other non ``[A-Za-z0-9._-]`` become ``-``.
    """
    slug = _UNSAFE.sub("-", target.replace(":", "-", 1) if target.startswith("asset:") else target)
    return f"{ID_PREFIX}:{slug}:{as_utc(episode_start):%Y%m%dT%H%MZ}:{int(seq)}"


# ---------------------------------------------------------------------------------------
# per-target state


@dataclass(frozen=True)
class TargetState:
    """Where a target stands after a cycle: hysteresis state and the current episode."""

    target: str
    kind: str
    station: str
    level: int = 0
    below: int = 0
    down_to: int = 0
    value: float | None = None
    episode_start: int | None = None
    seq: int = 0
    last_event: str | None = None
    expires_at: int | None = None
    manual_level: int = 0
    manual_until: int | None = None
    suppress_level: int = 0
    suppress_until: int | None = None
    cycle_at: int | None = None
    updated_at: int = 0


_STATE_COLS = [f for f in TargetState.__dataclass_fields__]


def load_states(cur: Any, targets: Sequence[str] | None = None) -> dict[str, TargetState]:
    """All stored target states (or those of ``targets``)."""
    sql = f"SELECT {', '.join(_STATE_COLS)} FROM warn_state"
    params: list[Any] = []
    if targets is not None:
        if not targets:
            return {}
        sql += f" WHERE target IN ({','.join('?' * len(targets))})"
        params = list(targets)
    out = {}
    for row in cur.execute(sql, params).fetchall():
        doc = dict(zip(_STATE_COLS, row, strict=True))
        doc["value"] = None if doc["value"] is None else float(doc["value"])
        out[doc["target"]] = TargetState(**doc)
    return out


def save_state(cur: Any, st: TargetState) -> None:
    cur.execute("DELETE FROM warn_state WHERE target = ?", (st.target,))
    cur.execute(
        f"INSERT INTO warn_state ({', '.join(_STATE_COLS)}) VALUES ({', '.join('?' * len(_STATE_COLS))})",
        [getattr(st, c) for c in _STATE_COLS],
    )


# ---------------------------------------------------------------------------------------
# writing messages


def write_event(cur: Any, ev: AlertEvent, catalog: Any = None) -> bool:
    """Insert one message and queue it in the outbox, unless it is already stored.

    Returns True when written. The outbox is the dispatch helper's
    :func:`floodwarn.dispatch.outbox.enqueue`, called with this transaction's cursor.
    """
    if cur.execute("SELECT 1 FROM warn_events WHERE event_id = ?", (ev.event_id,)).fetchone():
        return False
    payload = ev.to_dict()
    cur.execute(
        "INSERT INTO warn_events (event_id, target, kind, station, msg_type, level, seq, episode_start, "
        "sent, expires, cycle_at, source, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ev.event_id, ev.target, ev.kind, ev.station, ev.msg_type, ev.level, ev.seq,
            to_epoch(ev.episode_start), to_epoch(ev.sent), to_epoch(ev.expires),
            None if ev.cycle_at is None else to_epoch(ev.cycle_at), ev.source,
            json.dumps(payload, ensure_ascii=False, sort_keys=True),
        ),
    )
    from floodwarn.dispatch.outbox import enqueue

    enqueue(cur, ev.event_id, "warning", payload, catalog=catalog)
    log.info("warning %s %s level %d (%s)", ev.msg_type, ev.event_id, ev.severity_level, ev.rule)
    return True


def episode_references(cur: Any, target: str, episode_start: int) -> tuple[tuple[str, datetime], ...]:
    """(identifier, sent) of every message already written in this episode, in order."""
    rows = cur.execute(
        "SELECT event_id, sent FROM warn_events WHERE target = ? AND episode_start = ? ORDER BY seq",
        (target, int(episode_start)),
    ).fetchall()
    return tuple((r[0], from_epoch(r[1])) for r in rows)


def _record_action(cur: Any, action: str, target: str, event_id: str | None, actor: str, reason: str,
                   at: int) -> None:
    cur.execute(
        "INSERT INTO warn_actions (action, target, event_id, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
        (action, target, event_id, actor, reason, at),
    )


# ---------------------------------------------------------------------------------------
# reading


_EVENT_SQL = "SELECT payload FROM warn_events"


def _events(rows: list[tuple[Any, ...]]) -> list[AlertEvent]:
    return [AlertEvent.from_dict(json.loads(r[0])) for r in rows]


def event(store: Any, event_id: str) -> AlertEvent | None:
    """One message by identifier, or None."""
    return next(iter(_events(store.query(f"{_EVENT_SQL} WHERE event_id = ?", (event_id,)))), None)


def active_events(store: Any, at: datetime | None = None) -> list[AlertEvent]:
    """The current message of every target with an open episode (no Cancel yet).

    With ``at``, messages that expired before ``at`` (a daemon that stopped renewing) are left
    out. Ordered by level (highest first), then target.
    """
    rows = store.query(
        "SELECT e.payload FROM warn_state s JOIN warn_events e ON e.event_id = s.last_event "
        "WHERE e.msg_type <> 'Cancel'"
    )
    evs = _events(rows)
    if at is not None:
        t = as_utc(at)
        evs = [e for e in evs if e.expires > t]
    return sorted(evs, key=lambda e: (-e.level, e.target))


def history(store: Any, target: str | None = None, since: datetime | None = None) -> list[AlertEvent]:
    """Every message (optionally of one target, sent at or after ``since``), oldest first.

    ``target`` is a station code, ``gauge:<code>`` or ``asset:<id>``; a bare asset id or gauge
    code is accepted too.
    """
    where, params = ["1=1"], []
    if target is not None:
        where.append("(target = ? OR target = ? OR target = ?)")
        params += [str(target), f"asset:{target}", f"gauge:{target}"]
    if since is not None:
        where.append("sent >= ?")
        params.append(to_epoch(since))
    rows = store.query(f"{_EVENT_SQL} WHERE {' AND '.join(where)} ORDER BY sent, target, seq", params)
    return _events(rows)


def acknowledgements(store: Any, event_id: str) -> list[tuple[str, datetime]]:
    """(actor, at) of everyone who acknowledged a message."""
    rows = store.query("SELECT actor, at FROM warn_acks WHERE event_id = ? ORDER BY at, actor", (event_id,))
    return [(r[0], from_epoch(r[1])) for r in rows]


# ---------------------------------------------------------------------------------------
# a forecaster's actions


def _check_text(name: str, value: str, limit: int = 2000) -> str:
    text = str(value or "").strip()
    if not text:
        raise LifecycleError(f"{name} is required")
    if len(text) > limit:
        raise LifecycleError(f"{name} longer than {limit} characters")
    return text


def _current(cur: Any, event_id: str) -> tuple[AlertEvent, TargetState]:
    row = cur.execute("SELECT payload FROM warn_events WHERE event_id = ?", (event_id,)).fetchone()
    if row is None:
        raise UnknownEventError(f"no warning message {event_id!r}")
    ev = AlertEvent.from_dict(json.loads(row[0]))
    st = load_states(cur, [ev.target]).get(ev.target)
    if st is None or st.last_event != event_id or ev.msg_type == "Cancel":
        latest = st.last_event if st else None
        raise NotActiveError(
            f"{event_id} is not the current message of an active warning (current: {latest})"
        )
    return ev, st


def _station_facts(catalog: Any, station: str) -> dict[str, Any]:
    if station not in catalog.stations.index:
        raise LifecycleError("unknown station", station=station)
    row = catalog.stations.loc[station]
    lon, lat = row.get("lon"), row.get("lat")
    return {
        "name": str(row.get("name") or station),
        "name_en": f"gauge {station}",
        "basin": str(row.get("basin") or "") or None,
        "lon": None if lon is None or lon != lon else float(lon),
        "lat": None if lat is None or lat != lat else float(lat),
        "thresholds": dict(catalog.thresholds(station)),
    }


def manual_issue(
    store: Any,
    catalog: Any,
    station: str,
    level: int | str,
    reason: str,
    actor: str,
    at: datetime,
    settings: WarnConfig | None = None,
) -> AlertEvent:
    """A forecaster issues (or changes) the warning level of a forecast point.

    Opens an episode (Alert) or updates the open one (Update). The engine holds at least this
    level until the message expires (``settings.expiry_min``), then normal hysteresis resumes.
    """
    settings = settings or WarnConfig()
    lvl = level_index(level)
    reason = _check_text("reason", reason)
    actor = _check_text("actor", actor, 200)
    t = to_epoch(at)
    t -= t % 60
    station = str(station)
    facts = _station_facts(catalog, station)
    official = bool(catalog.stations.loc[station].get("forecast_point", True))
    target = station if official else f"gauge:{station}"
    info = LEVELS[lvl - 1]
    with store.tx() as cur:
        st = load_states(cur, [target]).get(target) or TargetState(target, "station", station)
        open_episode = st.level > 0 and st.episode_start is not None and st.last_event is not None
        if open_episode:
            start, seq, msg = int(st.episode_start or t), st.seq + 1, "Update"
        else:
            start, seq, msg = t, 1, "Alert"
        expires = t + settings.expiry_min * 60
        ev = AlertEvent(
            event_id=event_identifier(target, from_epoch(start), seq),
            msg_type=msg, target=target, kind="station", station=station, seq=seq,
            episode_start=from_epoch(start), sent=from_epoch(t), expires=from_epoch(expires),
            level=lvl, prev_level=st.level, references=episode_references(cur, target, start),
            source="manual", actor=actor, reason=reason, forecast_point=official,
            rule=f"manual {info.ko} ({info.en}) by {actor}: {reason}",
            **facts,
        )
        if write_event(cur, ev, catalog):
            save_state(cur, replace(
                st, level=lvl, below=0, down_to=0, episode_start=start, seq=seq, last_event=ev.event_id,
                expires_at=expires, manual_level=lvl, manual_until=expires, suppress_level=0,
                suppress_until=None, updated_at=t,
            ))
            _record_action(cur, "issue", target, ev.event_id, actor, reason, t)
    return ev


def manual_extend(
    store: Any, event_id: str, minutes: int, reason: str, actor: str, at: datetime
) -> AlertEvent:
    """Extend the current message of an active warning by ``minutes`` (an Update).

    The new expiry is ``max(old expiry, at) + minutes``; the engine holds the level until then.
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 7 * 24 * 60:
        raise LifecycleError(f"minutes must be an integer 1..10080, got {minutes!r}")
    reason = _check_text("reason", reason)
    actor = _check_text("actor", actor, 200)
    t = to_epoch(at)
    with store.tx() as cur:
        ev, st = _current(cur, event_id)
        expires = max(to_epoch(ev.expires), t) + minutes * 60
        seq = st.seq + 1
        new = replace(
            ev,
            event_id=event_identifier(ev.target, ev.episode_start, seq), msg_type="Update", seq=seq,
            sent=from_epoch(t), expires=from_epoch(expires), prev_level=ev.level, cycle_at=None,
            references=episode_references(cur, ev.target, to_epoch(ev.episode_start)),
            source="manual", actor=actor, reason=reason,
            rule=f"extended by {minutes} min by {actor}: {reason}",
        )
        if write_event(cur, new):
            save_state(cur, replace(
                st, seq=seq, last_event=new.event_id, expires_at=expires,
                manual_level=max(st.level, 1), manual_until=expires, updated_at=t,
            ))
            _record_action(cur, "extend", ev.target, new.event_id, actor, reason, t)
    return new


def manual_cancel(
    store: Any, event_id: str, reason: str, actor: str, at: datetime, settings: WarnConfig | None = None
) -> AlertEvent:
    """Cancel an active warning (a Cancel message), e.g. a faulty gauge.

    For ``settings.expiry_min`` afterwards the engine does not re-issue the same or a lower
    level for this target; a higher level still goes out at once.
    """
    settings = settings or WarnConfig()
    reason = _check_text("reason", reason)
    actor = _check_text("actor", actor, 200)
    t = to_epoch(at)
    with store.tx() as cur:
        ev, st = _current(cur, event_id)
        seq = st.seq + 1
        new = replace(
            ev,
            event_id=event_identifier(ev.target, ev.episode_start, seq), msg_type="Cancel", seq=seq,
            sent=from_epoch(t), expires=from_epoch(t + settings.expiry_min * 60), level=0,
            prev_level=ev.level, cycle_at=None,
            references=episode_references(cur, ev.target, to_epoch(ev.episode_start)),
            source="manual", actor=actor, reason=reason, rule=f"cancelled by {actor}: {reason}",
            time_to_impact=None,
        )
        if write_event(cur, new):
            save_state(cur, replace(
                st, level=0, below=0, down_to=0, episode_start=None, seq=seq, last_event=new.event_id,
                expires_at=None, manual_level=0, manual_until=None, suppress_level=ev.level,
                suppress_until=t + settings.expiry_min * 60, updated_at=t,
            ))
            _record_action(cur, "cancel", ev.target, new.event_id, actor, reason, t)
    return new


def acknowledge(store: Any, event_id: str, actor: str, at: datetime) -> bool:
    """Record that ``actor`` has seen a message (queued as an ``ack`` to the outbox).

    Returns False when this actor had already acknowledged it (nothing written twice).
    """
    actor = _check_text("actor", actor, 200)
    t = to_epoch(at)
    with store.tx() as cur:
        row = cur.execute("SELECT payload FROM warn_events WHERE event_id = ?", (event_id,)).fetchone()
        if row is None:
            raise UnknownEventError(f"no warning message {event_id!r}")
        if cur.execute("SELECT 1 FROM warn_acks WHERE event_id = ? AND actor = ?", (event_id, actor)).fetchone():
            return False
        cur.execute("INSERT INTO warn_acks (event_id, actor, at) VALUES (?, ?, ?)", (event_id, actor, t))
        ev = AlertEvent.from_dict(json.loads(row[0]))
        _record_action(cur, "ack", ev.target, event_id, actor, "acknowledged", t)
        from floodwarn.dispatch.outbox import enqueue

        payload = {
            "event_id": event_id, "acknowledged_by": actor, "at": _iso(from_epoch(t)),
            "station": ev.station, "target": ev.target, "level": ev.level, "basin": ev.basin,
            "lon": ev.lon, "lat": ev.lat, "asset_type": ev.asset_type,
            "references": [event_id],
        }
        enqueue(cur, f"{event_id}#ack:{actor}", "ack", payload)
    return True


def expiry_after(t: datetime, settings: WarnConfig) -> datetime:
    return as_utc(t) + timedelta(minutes=settings.expiry_min)
