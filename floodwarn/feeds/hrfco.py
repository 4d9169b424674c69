"""HRFCO (한강홍수통제소) open API client: fetch with retries, parse JSON/XML into observations.

Why this shape: a 10-minute cycle must never stop because the API is slow, down or sends half a
response. So :meth:`HrfcoClient.fetch` never raises for network trouble — it returns a
:class:`RawPayload` with ``error`` set after bounded retries (the cycle then marks stations
stale) — and :func:`parse` turns whatever arrived into good observations plus quarantined
records with reasons. URL layout, field names and the quirks handled here (all values strings,
``" "`` = missing, KST stamps without a zone, ``null`` entries in dam lists) are described in
``../shared/data/hrfco/README.md``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
from lxml import etree

from floodwarn.config import HrfcoConfig, Settings
from floodwarn.feeds import register_feed
from floodwarn.feeds.base import (
    Feed,
    FeedBatch,
    FeedResult,
    Known,
    RawPayload,
    empty_obs,
    skew_flags,
    value_flags,
)
from floodwarn.records import Quarantined, normalise_obs
from floodwarn.times import as_utc, format_hrfco, parse_hrfco

log = logging.getLogger(__name__)

SOURCE = "hrfco"
TIME_KEYS = ("ymdhm", "ymdh", "ymd")
#: most rows one ``10M`` period request returns (15 days); longer periods are chunked
MAX_SPAN = {
    "10M": timedelta(days=15) - timedelta(minutes=10),
    "1H": timedelta(days=365) - timedelta(hours=1),
    "1D": timedelta(days=365) - timedelta(days=1),
}
STEP = {"10M": timedelta(minutes=10), "1H": timedelta(hours=1), "1D": timedelta(days=1)}
#: longest single back-off wait (a cycle is 10 minutes; waiting longer helps nobody)
MAX_BACKOFF_S = 30.0
#: cap on the text kept in one quarantine record (the full body is in the raw payload)
QUARANTINE_TEXT_MAX = 65_536


@dataclass(frozen=True)
class Hydro:
    """One HRFCO data kind: its station-code field, value fields and XML element name."""

    code_key: str
    variables: tuple[str, ...]
    element: str


HYDROS: dict[str, Hydro] = {
    "waterlevel": Hydro("wlobscd", ("wl", "fw"), "Waterlevel"),
    "rainfall": Hydro("rfobscd", ("rf",), "Rainfall"),
    "dam": Hydro("dmobscd", ("swl", "inf", "tototf", "sfw", "ecpc"), "Dam"),
}


def _hydro(hydro: str) -> Hydro:
    try:
        return HYDROS[hydro]
    except KeyError:
        raise ValueError(f"unknown HRFCO hydro {hydro!r} (known: {', '.join(HYDROS)})") from None


# ---------------------------------------------------------------------------------------------
# client


@register_feed("hrfco")
class HrfcoClient(Feed):
    """Synchronous HRFCO client (httpx). Pass ``client`` to share a connection pool or in tests.

    ``sleep``, ``clock`` and ``rng`` are injectable so retry timing is testable without waiting
    on the wall clock and replays can run on a simulated clock.
    """

    def __init__(
        self,
        config: HrfcoConfig,
        client: httpx.Client | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        hydros: tuple[str, ...] = ("waterlevel", "rainfall", "dam"),
    ) -> None:
        self.config = config
        self._own_client = client is None
        self._client = client or httpx.Client(
            timeout=config.timeout_s,
            follow_redirects=True,
            headers={"User-Agent": "floodwarn (+https://github.com/floodwarn)"},
        )
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self.hydros = hydros
        if config.format not in ("json", "xml"):
            raise ValueError(f"HRFCO format must be json or xml, not {config.format!r}")

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> HrfcoClient:
        return cls(settings.feeds.hrfco, **options)

    # -- plumbing --------------------------------------------------------------------------

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> HrfcoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(
        self,
        hydro: str,
        interval: str | None = "10M",
        code: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        what: str = "list",
    ) -> str:
        """``{base}/{key}/{hydro}/{what}[/{interval}[/{code}[/{start}/{end}]]].{fmt}``."""
        parts = [self.config.base_url.rstrip("/"), self.config.service_key, hydro, what]
        if what == "list" and interval:
            if interval not in STEP:
                raise ValueError(f"interval must be one of {', '.join(STEP)}, not {interval!r}")
            parts.append(interval)
            if code:
                parts.append(str(code))
                if (start is None) != (end is None):
                    raise ValueError("give both start and end, or neither")
                if start is not None and end is not None:
                    parts += [_stamp(start, interval), _stamp(end, interval)]
        return "/".join(parts) + "." + self.config.format

    def _redact(self, url: str) -> str:
        key = self.config.service_key
        return url.replace(f"/{key}/", "/***/", 1) if key else url

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        base = min(MAX_BACKOFF_S, self.config.backoff_s * (2**attempt))
        delay = base * (0.5 + 0.5 * self._rng.random())  # "equal jitter": spread, never zero
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_BACKOFF_S))
        return delay

    # -- fetching --------------------------------------------------------------------------

    def fetch(
        self,
        hydro: str,
        interval: str = "10M",
        code: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        *,
        what: str = "list",
    ) -> RawPayload:
        """GET one resource with timeout and retries; never raises for network or HTTP errors.

        Retries (``config.retries`` times, exponential back-off with jitter) on 5xx, 429,
        timeouts and connection errors; other 4xx answers are final. On failure the payload has
        ``error`` set and whatever body the last answer had.
        """
        url = self.url(hydro, interval, code, start, end, what)
        shown = self._redact(url)
        attempts = self.config.retries + 1
        error = "not attempted"
        status: int | None = None
        body = b""
        ctype = ""
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                resp = self._client.get(url, timeout=self.config.timeout_s)
            except httpx.TimeoutException:
                status, body, ctype = None, b"", ""
                error = f"timeout after {self.config.timeout_s:g} s"
            except httpx.TransportError as err:
                status, body, ctype = None, b"", ""
                error = f"connection error: {type(err).__name__}: {err}"
            else:
                status, body = resp.status_code, resp.content
                ctype = resp.headers.get("content-type", "")
                if 200 <= status < 300:
                    return RawPayload(
                        shown, status, body, ctype, int(self._clock()), None, attempt + 1, hydro
                    )
                error = f"HTTP {status}"
                if status != 429 and status < 500:
                    log.warning("HRFCO %s: %s (not retried)", shown, error)
                    break
                retry_after = _retry_after(resp.headers.get("retry-after"))
            if attempt + 1 < attempts:
                delay = self._delay(attempt, retry_after)
                log.info(
                    "HRFCO %s: %s, retry %d/%d in %.2f s",
                    shown, error, attempt + 1, attempts - 1, delay,
                )
                self._sleep(delay)
        log.warning("HRFCO %s failed after %d attempt(s): %s", shown, attempt + 1, error)
        return RawPayload(
            shown, status, body, ctype, int(self._clock()),
            f"{error} (after {attempt + 1} attempt(s))", attempt + 1, hydro,
        )

    def latest(self, hydro: str, interval: str = "10M") -> RawPayload:
        """The latest value of every station of ``hydro`` (one request)."""
        return self.fetch(hydro, interval)

    def period(
        self,
        hydro: str,
        code: str,
        start: datetime,
        end: datetime,
        interval: str = "10M",
    ) -> list[RawPayload]:
        """A period for one station, split into requests the API answers in full (10M ≤ 15 days)."""
        return [self.fetch(hydro, interval, code, a, b) for a, b in chunk_period(start, end, interval)]

    def parse(self, payload: RawPayload, hydro: str | None = None, known: Known = None) -> FeedResult:
        return parse(payload, hydro or payload.hydro, known)

    def poll(self, at: datetime, known: Known = None) -> list[FeedBatch]:
        """Fetch and parse the latest values of every configured hydro (``at`` is informative:
        the live API always answers with its own latest time step)."""
        out = []
        for hydro in self.hydros:
            payload = self.latest(hydro)
            out.append(FeedBatch(SOURCE, parse(payload, hydro, known), payload))
        return out


def _stamp(t: datetime | str, interval: str) -> str:
    return t if isinstance(t, str) else format_hrfco(t, interval)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: ignore, use our own back-off


def chunk_period(
    start: datetime, end: datetime, interval: str = "10M"
) -> Iterator[tuple[datetime, datetime]]:
    """Split the inclusive span ``[start, end]`` into inclusive chunks the API answers in full."""
    start, end = as_utc(start), as_utc(end)
    if end < start:
        raise ValueError(f"period end {end} is before start {start}")
    span, step = MAX_SPAN[interval], STEP[interval]
    a = start
    while a <= end:
        b = min(a + span, end)
        yield a, b
        a = b + step


# ---------------------------------------------------------------------------------------------
# parsing


def parse(payload: RawPayload, hydro: str, known: Known = None) -> FeedResult:
    """Parse one HRFCO ``list`` response (JSON or XML) into observations; never raises.

    - values are strings; ``" "``/empty/``null`` = missing → NaN with the MISSING flag, never 0;
    - ``ymdhm`` (or ``ymdh``/``ymd``) KST → UTC epoch; ``arrival_time`` = ``received_at``;
    - truncated bodies keep every complete record and quarantine the tail with the reason; a
      body with no complete record is quarantined whole;
    - a record without station code or time, or with a bad time, is quarantined; one with a
      missing value field or an unparseable number is quarantined with the reason and its
      other values kept;
    - unknown stations are counted in ``unknown`` (``station:<code>``) and not returned;
    - exact duplicate records are dropped (``counts['duplicates']``); a second, different
      record for the same station and time is quarantined (``counts['conflicts']``);
    - negative flows → NEGATIVE, sentinels (−990/−999/−9999, ``swl`` 0) → SENTINEL, a valid
      time more than 10 minutes after arrival → CLOCK_SKEW.
    """
    spec = _hydro(hydro)
    src = f"{SOURCE}:{hydro}"
    result = FeedResult(obs=empty_obs())
    received = int(payload.received_at)

    def quarantine(record: str, reason: str) -> None:
        result.quarantined.append(Quarantined(src, record[:QUARANTINE_TEXT_MAX], reason, received))

    if payload.error is not None:
        result.count("fetch_errors")
        return result
    body = payload.body.removeprefix(b"\xef\xbb\xbf")
    text_head = body.lstrip()[:1]
    if not text_head:
        quarantine("", "empty response body")
        return result
    if text_head == b"<":
        records, problem = _xml_records(body)
    else:
        records, problem = _json_records(body)
    if problem is not None:
        reason, tail = problem
        if records:
            quarantine(tail, f"{reason}; kept the {len(records)} complete record(s) before it")
            result.count("truncated")
        else:
            quarantine(body.decode("utf-8", "replace"), reason)
            return result

    rows_station: list[str] = []
    rows_var: list[str] = []
    rows_time: list[int] = []
    rows_value: list[float] = []
    seen: dict[tuple[str, int], tuple[Any, ...]] = {}
    stamps: dict[str, int] = {}  # one response mostly repeats one time stamp: parse it once
    for rec in records:
        if rec is None:
            result.count("null_entries")
            continue
        result.count("records")
        if not isinstance(rec, dict):
            quarantine(_dump(rec), f"record is a {type(rec).__name__}, not an object")
            continue
        code = _text(rec.get(spec.code_key))
        if not code:
            quarantine(_dump(rec), f"missing field {spec.code_key!r}")
            continue
        if known is not None and not known(code):
            result.unknown[f"station:{code}"] = result.unknown.get(f"station:{code}", 0) + 1
            continue
        tkey = next((k for k in TIME_KEYS if k in rec), None)
        if tkey is None:
            quarantine(_dump(rec), f"missing time field ({'/'.join(TIME_KEYS)})")
            continue
        stamp = _text(rec[tkey])
        valid = stamps.get(stamp, -1)
        if valid == -1:
            try:
                valid = stamps[stamp] = int(parse_hrfco(stamp).timestamp())
            except ValueError:
                quarantine(_dump(rec), f"bad time stamp in {tkey!r}: {rec[tkey]!r}")
                continue
        values: list[tuple[str, float]] = []
        problems: list[str] = []
        for var in spec.variables:
            if var not in rec:
                problems.append(f"missing field {var!r}")
                continue
            raw = _text(rec[var])
            if raw == "":
                values.append((var, math.nan))
                continue
            try:
                x = float(raw)
            except ValueError:
                problems.append(f"unparseable number in {var!r}: {rec[var]!r}")
                continue
            if not math.isfinite(x):
                problems.append(f"non-finite number in {var!r}: {rec[var]!r}")
                continue
            values.append((var, x))
        key = (code, valid)
        signature = tuple(values) + tuple(problems)
        if key in seen:
            if _same(seen[key], signature):
                result.count("duplicates")
            else:
                result.count("conflicts")
                quarantine(_dump(rec), f"conflicting duplicate for station {code} at {tkey} "
                           f"{_text(rec[tkey])} (the first record was kept)")
            continue
        seen[key] = signature
        if problems:
            kept = ", ".join(v for v, _ in values) or "nothing"
            quarantine(_dump(rec), "; ".join(problems) + f" (kept: {kept})")
        for var, x in values:
            rows_station.append(code)
            rows_var.append(var)
            rows_time.append(valid)
            rows_value.append(x)

    if rows_value:
        value = np.asarray(rows_value, dtype=np.float64)
        vt = np.asarray(rows_time, dtype=np.int64)
        arrival = np.full(len(vt), received, dtype=np.int64)
        var_arr = np.asarray(rows_var, dtype=object)
        qc = value_flags(var_arr, value) | skew_flags(vt, arrival)
        result.obs = normalise_obs(
            pd.DataFrame(
                {
                    "station": rows_station,
                    "variable": var_arr,
                    "valid_time": vt,
                    "value": value,
                    "arrival_time": arrival,
                    "source": SOURCE,
                    "qc": qc,
                }
            )
        )
        result.count("missing", int(np.isnan(value).sum()))
    result.count("obs", len(result.obs))
    if result.quarantined or result.unknown:
        log.info(
            "HRFCO %s: %d obs, %d quarantined, %d unknown-station records",
            hydro, len(result.obs), len(result.quarantined), sum(result.unknown.values()),
        )
    return result


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Signatures equal, with NaN == NaN (a repeated blank is still a duplicate)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, tuple) and isinstance(y, tuple):
            if x[0] != y[0] or not (x[1] == y[1] or (math.isnan(x[1]) and math.isnan(y[1]))):
                return False
        elif x != y:
            return False
    return True


def _text(v: Any) -> str:
    """A field as trimmed text; ``None`` (JSON null, empty XML element) is blank."""
    if v is None:
        return ""
    return str(v).strip()


def _dump(rec: Any) -> str:
    return json.dumps(rec, ensure_ascii=False, sort_keys=True)


def _json_records(body: bytes) -> tuple[list[Any], tuple[str, str] | None]:
    """Records of a JSON body, and (reason, unparsed tail) if it was not complete."""
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        return _salvage_json(text, err)
    if isinstance(doc, list):
        return doc, None
    if isinstance(doc, dict):
        content = doc.get("content")
        if isinstance(content, list):
            return content, None
        if "code" in doc or "message" in doc:
            return [], (f"API answered code={doc.get('code')!r} message={doc.get('message')!r} "
                        "instead of data", text)
    return [], ("JSON has no 'content' list", text)


def _salvage_json(text: str, err: json.JSONDecodeError) -> tuple[list[Any], tuple[str, str]]:
    """Walk the ``content`` array object by object and keep every complete record."""
    reason = f"invalid/truncated JSON ({err.msg} at char {err.pos})"
    i = text.find('"content"')
    i = text.find("[", i) if i >= 0 else -1
    if i < 0:
        return [], (reason, text)
    dec = json.JSONDecoder()
    records: list[Any] = []
    pos = i + 1
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] == "]":
            break
        try:
            obj, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        records.append(obj)
        pos = end
    return records, (reason, text[pos:])


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _xml_records(body: bytes) -> tuple[list[Any], tuple[str, str] | None]:
    """Records (children of ``<content>``) of an XML body; complete ones survive truncation."""
    parser = etree.XMLPullParser(
        events=("end",), resolve_entities=False, no_network=True, huge_tree=False
    )
    records: list[dict[str, str | None]] = []
    last_tag = ""

    def drain() -> None:
        nonlocal last_tag
        for _event, el in parser.read_events():
            parent = el.getparent()
            if parent is not None and _local(parent.tag) == "content":
                records.append({_local(c.tag): c.text for c in el if isinstance(c.tag, str)})
                last_tag = el.tag if isinstance(el.tag, str) else last_tag

    try:
        parser.feed(body)
        drain()
        parser.close()
        drain()
    except etree.XMLSyntaxError as err:
        drain()
        text = body.decode("utf-8", "replace")
        close = f"</{last_tag}>"
        cut = text.rfind(close) + len(close) if last_tag and close in text else 0
        return records, (f"invalid/truncated XML ({err})", text[cut:])
    return records, None
