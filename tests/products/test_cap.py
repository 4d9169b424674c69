"""CAP 1.2: every message of a lifecycle validates against the OASIS schema; escaping."""

from __future__ import annotations

from typing import Any

from floodwarn.products.cap import cap_xml
from floodwarn.warn import lifecycle
from floodwarn.warn.engine import evaluate
from tests.products.prodfix import NS, lifecycle_run, validate_cap
from tests.warn.warnfix import HANGANG, SETTINGS, STEP, T0, asset, new_store, obs, write_catalog


def test_every_lifecycle_message_validates(store: Any, catalog: Any) -> None:
    events = lifecycle_run(store, catalog)
    events.append(lifecycle.manual_issue(store, catalog, HANGANG, 2, "dyke inspection", "kim", T0 + 20 * STEP))
    events.append(lifecycle.manual_extend(store, events[-1].event_id, 30, "more rain", "kim", T0 + 21 * STEP))
    events.append(lifecycle.manual_cancel(store, events[-1].event_id, "ok", "kim", T0 + 22 * STEP))
    assert {e.msg_type for e in events} == {"Alert", "Update", "Cancel"}
    assert {e.kind for e in events} == {"station", "asset"}
    for ev in events:
        doc = validate_cap(cap_xml(ev, catalog))
        assert doc.findtext("cap:msgType", namespaces=NS) == ev.msg_type
        assert doc.findtext("cap:identifier", namespaces=NS) == ev.event_id
        langs = [i.findtext("cap:language", namespaces=NS) for i in doc.iterfind("cap:info", NS)]
        assert langs == ["ko-KR", "en-US"]
        refs = doc.findtext("cap:references", namespaces=NS)
        assert (refs or "").split() == [f"urn:floodwarn,{i},{_kst(s)}" for i, s in ev.references]
    # the same event renders to the same bytes (stable for caches and replays)
    assert cap_xml(events[0], catalog) == cap_xml(events[0], catalog)
    # also every message as stored and read back
    for ev in lifecycle.history(store):
        validate_cap(cap_xml(ev, catalog))


def _kst(t: Any) -> str:
    from floodwarn.products.cap import cap_time

    return cap_time(t)


def test_severity_urgency_certainty(store: Any, catalog: Any) -> None:
    events = lifecycle_run(store, catalog)
    by = {(e.target, e.seq): e for e in events}
    first = validate_cap(cap_xml(by[(HANGANG, 1)], catalog))
    info = first.find("cap:info", NS)
    assert [info.findtext(f"cap:{k}", namespaces=NS) for k in ("severity", "urgency", "certainty")] == [
        "Moderate", "Immediate", "Observed"]
    assert info.findtext("cap:event", namespaces=NS) == "홍수주의보"
    assert first.findall("cap:info", NS)[1].findtext("cap:event", namespaces=NS) == "Flood Advisory"
    severe = validate_cap(cap_xml(by[(HANGANG, 2)], catalog)).find("cap:info", NS)
    assert severe.findtext("cap:severity", namespaces=NS) == "Severe"
    cancel = next(e for e in events if e.target == HANGANG and e.msg_type == "Cancel")
    ci = validate_cap(cap_xml(cancel, catalog)).find("cap:info", NS)
    assert [ci.findtext(f"cap:{k}", namespaces=NS) for k in ("urgency", "responseType")] == ["Past", "AllClear"]
    # forecast-driven asset impact: expected within the hour → Immediate, Likely; geocode of the district
    impact = next(e for e in events if e.kind == "asset" and e.msg_type == "Alert" and e.target.endswith("deck"))
    doc = validate_cap(cap_xml(impact, catalog))
    ai = doc.find("cap:info", NS)
    assert [ai.findtext(f"cap:{k}", namespaces=NS) for k in ("urgency", "certainty")] == ["Immediate", "Likely"]
    assert ai.findtext("cap:area/cap:geocode/cap:value", namespaces=NS) == "11650"
    assert ai.findtext("cap:onset", namespaces=NS) == "2020-08-06T11:35:00+09:00"  # 35 min to impact


def test_injection_in_names_and_reasons_is_escaped(tmp_path: Any) -> None:
    evil = "</description><script>alert(1)</script>&amp;\x00\x0b"
    cat = write_catalog(tmp_path / "st", hangang=f'"한강{evil}"',
                        assets=[asset("evil", HANGANG, 6.0, name_ko=f"주차장{evil}", name_en=evil)])
    store = new_store(tmp_path / "e.sqlite")
    events = list(evaluate(store, cat, T0, obs({HANGANG: 9.0}, T0), None, SETTINGS).events)
    events.append(lifecycle.manual_cancel(store, events[0].event_id, f"reason {evil}", "kim<b>", T0 + STEP))
    for ev in events:
        xml = cap_xml(ev, cat)
        doc = validate_cap(xml)
        assert b"<script>" not in xml and not doc.xpath("//*[local-name()='script']")
        texts = "".join(doc.itertext())
        assert "</description><script>alert(1)</script>&amp;" in texts  # kept as text, not markup
        assert "\x00" not in texts and "\x0b" not in texts
    note = validate_cap(cap_xml(events[-1], cat)).findtext("cap:note", namespaces=NS)
    assert note == "reason </description><script>alert(1)</script>&amp;"
    store.close()
