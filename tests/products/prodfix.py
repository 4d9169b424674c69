"""Helpers for product tests: the CAP 1.2 validator and a full warning lifecycle."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lxml import etree

from floodwarn.warn.engine import evaluate
from tests.warn.warnfix import HANGANG, JAMSU, SETTINGS, STEP, T0, forecast, obs

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "schema" / "CAP-v1.2.xsd")))
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
_PAIR = re.compile(r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?$")


def validate_cap(xml: bytes) -> etree._Element:
    """Schema-valid CAP 1.2 plus the rules the XSD cannot say (polygon, references, ids)."""
    doc = etree.fromstring(xml)
    if not SCHEMA.validate(doc):
        raise AssertionError(f"CAP schema: {SCHEMA.error_log}")
    ident = doc.findtext("cap:identifier", namespaces=NS)
    assert ident and not re.search(r"[\s,<&]", ident)
    for poly in doc.iterfind(".//cap:polygon", NS):
        pairs = poly.text.split(" ")
        assert len(pairs) >= 4 and pairs[0] == pairs[-1] and all(_PAIR.match(p) for p in pairs)
        for p in pairs:  # lat,lon order: Korea is lat 33..39, lon 124..132
            lat, lon = map(float, p.split(","))
            assert 33 <= lat <= 39 and 124 <= lon <= 132
    refs = doc.findtext("cap:references", namespaces=NS)
    if refs:
        for triple in refs.split(" "):
            sender, rid, sent = triple.split(",")
            assert sender and rid and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", sent)
    return doc


def lifecycle_run(store: Any, catalog: Any) -> list[Any]:
    """Alert → Update(s) → Cancel at 한강대교 plus an asset impact; returns every message."""
    events = []
    series = [8.7, 10.6, 10.2, 10.2, 10.2, 3.0, 3.0, 3.0]
    for i, v in enumerate(series):
        at = T0 + i * STEP
        fc = forecast(JAMSU, at, [5.0 + 0.2 * k for k in range(6)]) if i == 0 else None
        events += evaluate(store, catalog, at, obs({HANGANG: v, JAMSU: 4.9 if i == 0 else 6.0}, at), fc,
                           SETTINGS).events
    return events
