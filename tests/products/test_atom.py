"""The Atom feed that indexes the active alerts."""

from __future__ import annotations

from typing import Any

from lxml import etree

from floodwarn.products.atom import alerts_atom
from floodwarn.warn.engine import evaluate
from floodwarn.warn.lifecycle import active_events
from tests.products.prodfix import lifecycle_run
from tests.warn.warnfix import HANGANG, SETTINGS, T0, asset, new_store, obs, write_catalog

A = {"a": "http://www.w3.org/2005/Atom"}


def test_feed_lists_active_alerts_with_cap_links(store: Any, catalog: Any) -> None:
    lifecycle_run(store, catalog)
    active = active_events(store)
    assert active and all(e.msg_type != "Cancel" for e in active)
    doc = etree.fromstring(alerts_atom(active, "https://flood.example.kr/"))
    assert doc.tag == "{http://www.w3.org/2005/Atom}feed"
    for tag in ("id", "title", "updated", "author/a:name"):
        assert doc.findtext(f"a:{tag}", namespaces=A)
    entries = doc.findall("a:entry", A)
    assert sorted(e.findtext("a:id", namespaces=A) for e in entries) == sorted(e.event_id for e in active)
    for entry in entries:
        link = entry.find("a:link[@rel='alternate']", A)
        eid = entry.findtext("a:id", namespaces=A)
        assert link.get("type") == "application/cap+xml"
        assert link.get("href") == f"https://flood.example.kr/api/alerts/{eid}.xml"
        assert entry.findtext("a:updated", namespaces=A).endswith("Z")
    empty = etree.fromstring(alerts_atom([], "http://x"))
    assert empty.findall("a:entry", A) == [] and empty.findtext("a:updated", namespaces=A)


def test_feed_escapes_names(tmp_path: Any) -> None:
    evil = "<script>alert(1)</script> & co"
    cat = write_catalog(tmp_path / "st", assets=[asset("evil", HANGANG, 6.0, name_ko=evil)])
    store = new_store(tmp_path / "a.sqlite")
    evaluate(store, cat, T0, obs({HANGANG: 9.0}, T0), None, SETTINGS)
    xml = alerts_atom(active_events(store), "http://x")
    assert b"<script>" not in xml
    doc = etree.fromstring(xml)
    assert any(evil in (t.text or "") for t in doc.iterfind(".//a:title", A))
    store.close()
