"""CAP 1.2 (OASIS Common Alerting Protocol) messages for navigation providers and alert hubs.

One message per lifecycle event: ``msgType`` Alert / Update / Cancel, ``references`` listing
every earlier message of the episode as ``sender,identifier,sent`` triples, two ``info`` blocks
(ko-KR, en-US), an ``area`` with the affected reach or asset polygon as ``lat,lon`` pairs and
the administrative district as a geocode where known. Times carry the KST offset (CAP forbids
``Z``). Built with lxml, so every free text (station names, forecasters' reasons) is escaped;
characters XML 1.0 cannot carry at all are dropped.

Mapping
-------
- severity: 관심 Minor, 주의보 Moderate, 경보 Severe, 심각 Extreme (a Cancel keeps the level
  it cancels).
- urgency: Immediate when observed or when the forecast reaches the level within 60 min,
  Expected within the horizon, Past for a Cancel.
- certainty: Observed when the observed stage is at the level (or for a Cancel), Likely for a
  forecast with P(exceed) > 0.5, Possible otherwise.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

from floodwarn.products.areas import asset_polygon, cap_polygon, reach_polygon
from floodwarn.times import KST, as_utc
from floodwarn.warn.assets import assets_of
from floodwarn.warn.levels import LEVELS, level_info
from floodwarn.warn.lifecycle import SENDER, AlertEvent

__all__ = ["CAP_NS", "cap_time", "cap_xml", "urgency_certainty"]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
IMMEDIATE_MIN = 60
#: geocode valueName for the Korean administrative district code (행정구역코드, 5 or 10 digits)
GEOCODE_NAME = "KR-ADM-CODE"
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_RESPONSE = {1: "Monitor", 2: "Prepare", 3: "Avoid", 4: "Evacuate"}
_INSTRUCTION = {
    "ko-KR": {
        1: "하천 수위를 주시하고 최신 정보를 확인하십시오.",
        2: "하천변 이용을 자제하고 대피에 대비하십시오.",
        3: "하천변과 저지대에서 벗어나 안전한 곳으로 이동하십시오.",
        4: "즉시 대피하십시오. 하천과 저지대에 접근하지 마십시오.",
        "asset": "해당 시설에 진입하지 말고 차량을 이동하십시오.",
        "cancel": "홍수 특보가 해제되었습니다.",
    },
    "en-US": {
        1: "Watch the river level and follow the latest information.",
        2: "Stay away from the riverside and prepare to move to higher ground.",
        3: "Leave the riverside and low-lying areas for a safe place.",
        4: "Evacuate now. Do not approach the river or low-lying areas.",
        "asset": "Do not enter this facility; move vehicles out of it.",
        "cancel": "The flood warning has been cancelled.",
    },
}



#: the description lines of an ``info`` block, Korean (True) and English (False)
_DESCRIPTION = {
    True: {
        "rule": "근거: {}", "observed": "관측 수위: {}", "peak": "예측 최고 수위(q50): {} ({})",
        "impact": "침수까지: {:.0f}분 (기준 수위 {})", "model": "모델: {}", "flags": "자료 상태: {}",
        "reason": "사유: {}",
    },
    False: {
        "rule": "Rule: {}", "observed": "Observed stage: {}", "peak": "Forecast peak (median): {} at {}",
        "impact": "Time to impact: {:.0f} min (trigger stage {})", "model": "Model: {}",
        "flags": "Input flags: {}", "reason": "Reason: {}",
    },
}

def _clean(text: Any) -> str:
    """Text safe for an XML text node (lxml escapes ``<``, ``&``; this drops what XML forbids)."""
    return _BAD_XML.sub("", "" if text is None else str(text))


def cap_time(t: datetime) -> str:
    """CAP dateTime: ``YYYY-MM-DDThh:mm:ss+09:00`` (KST; CAP does not allow ``Z``)."""
    return as_utc(t).astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S+09:00")


def urgency_certainty(ev: AlertEvent) -> tuple[str, str]:
    """(urgency, certainty) from how the level was reached (see the module docs)."""
    if ev.msg_type == "Cancel":
        return "Past", "Observed"
    key = ev.level_key
    lead: float | None
    if ev.kind == "asset":
        lead = ev.time_to_impact
    else:
        lead = ev.time_to.get(key) if key else None
    thr = ev.trigger_stage_m if ev.kind == "asset" else (ev.thresholds.get(key) if key else None)
    observed = ev.observed_value is not None and thr is not None and ev.observed_value >= thr
    if observed or (ev.source == "manual" and lead is None):
        return "Immediate", "Observed"
    if lead is not None and lead <= IMMEDIATE_MIN:
        urgency = "Immediate"
    elif lead is not None:
        urgency = "Expected"
    else:
        urgency = "Expected"  # held by hysteresis: the flood is still going on
    p = ev.exceedance_p
    certainty = "Likely" if p is not None and p > 0.5 else "Possible"
    return urgency, certainty


def _sub(parent: etree._Element, tag: str, text: Any = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = _clean(text)
    return el


def _param(info: etree._Element, name: str, value: Any) -> None:
    if value is None or value == "" or value == [] or value == ():
        return
    p = _sub(info, "parameter")
    _sub(p, "valueName", name)
    _sub(p, "value", value)


def _fmt(v: float | None, unit: str = " m") -> str:
    return "-" if v is None else f"{v:.2f}{unit}"


def _texts(ev: AlertEvent, lang: str) -> dict[str, str]:
    lvl = ev.severity_level
    info = level_info(lvl) or LEVELS[0]
    ko = lang == "ko-KR"
    name = ev.name or ev.station
    if ev.kind == "asset":
        event = "침수 위험" if ko else "Flooding of a riverside facility"
        what = (f"{name} 침수 위험 ({info.ko})" if ko else f"Flood risk at {ev.name_en or name} ({info.en})")
    elif ev.forecast_point is False:  # a gauge's own alert level, not an official 홍수특보
        event = f"수위 {info.ko} 단계" if ko else f"Gauge {info.en} level"
        what = (f"{name} 수위 {info.ko} 단계 (관측소 기준수위, 공식 홍수예보지점 아님)" if ko else
                f"Gauge {info.en} level at {name} (gauge {ev.station}; gauge alert level, "
                "not an official flood forecast point)")
    else:
        event = f"홍수{info.ko}" if ko else f"Flood {info.en}"
        what = (f"{name} 홍수{info.ko}" if ko else f"Flood {info.en} at {name} (gauge {ev.station})")
    if ev.msg_type == "Cancel":
        headline = f"{what} 해제" if ko else f"{what} cancelled"
        instruction = _INSTRUCTION[lang]["cancel"]
    else:
        headline = what + (" (갱신)" if ko and ev.msg_type == "Update" else
                           " (update)" if ev.msg_type == "Update" else "")
        instruction = _INSTRUCTION[lang]["asset" if ev.kind == "asset" else lvl]
    t = _DESCRIPTION[ko]
    lines = [t["rule"].format(ev.rule), t["observed"].format(_fmt(ev.observed_value))]
    if ev.forecast_peak is not None:
        peak_t = cap_time(ev.forecast_peak_time) if ev.forecast_peak_time else "-"
        lines.append(t["peak"].format(_fmt(ev.forecast_peak), peak_t))
    if ev.kind == "asset" and ev.time_to_impact is not None:
        lines.append(t["impact"].format(ev.time_to_impact, _fmt(ev.trigger_stage_m)))
    if ev.model_version:
        lines.append(t["model"].format(ev.model_version))
    if ev.flags:
        lines.append(t["flags"].format(", ".join(ev.flags)))
    if ev.reason:
        lines.append(t["reason"].format(ev.reason))
    area = (f"{name} ({ev.district})" if ev.district else name) if ko else (
        f"{ev.name_en or name}" + (f" ({ev.district_code})" if ev.district_code else "")
        if ev.kind == "asset" else f"{name} (gauge {ev.station}) reach")
    return {"event": event, "headline": headline[:160], "description": "\n".join(lines),
            "instruction": instruction, "area": area}


def _area_polygon(ev: AlertEvent, catalog: Any) -> str | None:
    poly = None
    if catalog is not None:
        if ev.kind == "asset":
            for a in assets_of(catalog):
                if a.id == ev.asset_id:
                    poly = asset_polygon(a.geometry)
                    break
        else:
            poly = reach_polygon(catalog, ev.station)
    if poly is None and ev.lon is not None and ev.lat is not None:
        from shapely.geometry import Point

        from floodwarn.products.areas import STATION_RADIUS_M, buffer_m

        poly = buffer_m(Point(ev.lon, ev.lat), STATION_RADIUS_M)
    return None if poly is None else cap_polygon(poly)


def cap_xml(event: AlertEvent, catalog: Any = None) -> bytes:
    """The CAP 1.2 XML of one lifecycle message (UTF-8 bytes with an XML declaration)."""
    ev = event
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", ev.event_id)
    _sub(root, "sender", SENDER)
    _sub(root, "sent", cap_time(ev.sent))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", ev.msg_type)
    _sub(root, "source", f"floodwarn {ev.source}" + (f" ({ev.actor})" if ev.actor else ""))
    _sub(root, "scope", "Public")
    if ev.reason:
        _sub(root, "note", ev.reason)
    if ev.references:
        _sub(root, "references", " ".join(f"{SENDER},{i},{cap_time(s)}" for i, s in ev.references))
    _sub(root, "incidents", ev.event_id.rsplit(":", 1)[0])
    urgency, certainty = urgency_certainty(ev)
    lvl = ev.severity_level
    info_lv = level_info(lvl) or LEVELS[0]
    polygon = _area_polygon(ev, catalog)
    key = ev.level_key
    lead = ev.time_to_impact if ev.kind == "asset" else (ev.time_to.get(key) if key else None)
    onset = ev.sent + timedelta(minutes=lead) if lead and ev.msg_type != "Cancel" else ev.sent
    for lang in ("ko-KR", "en-US"):
        tx = _texts(ev, lang)
        info = _sub(root, "info")
        _sub(info, "language", lang)
        _sub(info, "category", "Met")
        _sub(info, "event", tx["event"])
        _sub(info, "responseType", "AllClear" if ev.msg_type == "Cancel" else (
            "Avoid" if ev.kind == "asset" else _RESPONSE[lvl or 1]))
        _sub(info, "urgency", urgency)
        _sub(info, "severity", info_lv.severity)
        _sub(info, "certainty", certainty)
        code = _sub(info, "eventCode")
        _sub(code, "valueName", "floodwarn-level")
        _sub(code, "value", info_lv.key)
        _sub(info, "effective", cap_time(ev.sent))
        _sub(info, "onset", cap_time(onset))
        _sub(info, "expires", cap_time(ev.expires))
        _sub(info, "senderName", "floodwarn 홍수 조기경보" if lang == "ko-KR" else "floodwarn flood early warning")
        _sub(info, "headline", tx["headline"])
        _sub(info, "description", tx["description"])
        _sub(info, "instruction", tx["instruction"])
        _param(info, "station", ev.station)
        if ev.forecast_point is not None:
            _param(info, "officialForecastPoint", "Y" if ev.forecast_point else "N")
        _param(info, "level", info_lv.key)
        _param(info, "rule", ev.rule)
        _param(info, "observedValue", None if ev.observed_value is None else f"{ev.observed_value:.3f}")
        _param(info, "forecastPeak", None if ev.forecast_peak is None else f"{ev.forecast_peak:.3f}")
        _param(info, "forecastPeakTime", cap_time(ev.forecast_peak_time) if ev.forecast_peak_time else None)
        for k, v in ev.time_to.items():
            _param(info, f"timeTo_{k}_min", None if v is None else f"{v:.0f}")
        _param(info, "exceedanceProbability", None if ev.exceedance_p is None else f"{ev.exceedance_p:.2f}")
        _param(info, "modelVersion", ev.model_version)
        _param(info, "inputFreshness", ev.freshness)
        _param(info, "inputFlags", ",".join(ev.flags))
        if ev.kind == "asset":
            _param(info, "assetId", ev.asset_id)
            _param(info, "assetType", ev.asset_type)
            _param(info, "triggerStage_m", None if ev.trigger_stage_m is None else f"{ev.trigger_stage_m:.2f}")
            _param(info, "timeToImpact_min", None if ev.time_to_impact is None else f"{ev.time_to_impact:.0f}")
        area = _sub(info, "area")
        _sub(area, "areaDesc", tx["area"])
        if polygon:
            _sub(area, "polygon", polygon)
        if ev.district_code:
            gc = _sub(area, "geocode")
            _sub(gc, "valueName", GEOCODE_NAME)
            _sub(gc, "value", ev.district_code)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
