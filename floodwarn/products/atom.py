"""An Atom (RFC 4287) feed indexing the active alerts, each linking to its CAP 1.2 message.

Entry ids are the CAP identifiers; ``updated`` is the message's ``sent``; the ``alternate``
link points at ``{base_url}/api/alerts/{identifier}.xml`` (type ``application/cap+xml``).
Built with lxml, so every text is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote

from lxml import etree

from floodwarn.products.cap import _clean
from floodwarn.times import as_utc
from floodwarn.warn.levels import LEVELS, level_info
from floodwarn.warn.lifecycle import AlertEvent

__all__ = ["ATOM_NS", "alert_url", "alerts_atom"]

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_ID = "urn:floodwarn:alerts"


def _t(t: datetime) -> str:
    return as_utc(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_url(base_url: str, event_id: str) -> str:
    """Where the CAP XML of a message is served (colons kept, anything else unsafe quoted)."""
    return f"{base_url.rstrip('/')}/api/alerts/{quote(event_id, safe=':')}.xml"


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        el.text = _clean(text)
    return el


def alerts_atom(events: Iterable[AlertEvent], base_url: str) -> bytes:
    """The feed of ``events`` (normally :func:`floodwarn.warn.lifecycle.active_events`).

    Entries are ordered newest first; the feed's ``updated`` is the newest ``sent`` (now when
    there is no active alert).
    """
    evs = sorted(events, key=lambda e: (e.sent, e.event_id), reverse=True)
    base = base_url.rstrip("/")
    root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap={None: ATOM_NS})
    _el(root, "id", FEED_ID)
    _el(root, "title", "floodwarn: active flood alerts (CAP 1.2)")
    _el(root, "updated", _t(evs[0].sent) if evs else _t(datetime.now(UTC)))
    author = _el(root, "author")
    _el(author, "name", "floodwarn")
    _el(root, "link", rel="self", type="application/atom+xml", href=f"{base}/api/alerts.atom")
    _el(root, "link", rel="related", type="application/geo+json", href=f"{base}/api/warnings.geojson")
    for ev in evs:
        info = level_info(ev.severity_level) or LEVELS[0]
        entry = _el(root, "entry")
        _el(entry, "id", ev.event_id)
        name = ev.name or ev.station
        what = f"{name}: {info.ko} / {info.en}" + (f" ({ev.asset_type})" if ev.asset_type else "")
        _el(entry, "title", f"{ev.msg_type} {what}")
        _el(entry, "updated", _t(ev.sent))
        _el(entry, "published", _t(ev.episode_start))
        _el(entry, "link", rel="alternate", type="application/cap+xml", href=alert_url(base, ev.event_id))
        _el(entry, "category", term=info.key, label=info.severity)
        _el(entry, "summary", ev.rule or what)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
