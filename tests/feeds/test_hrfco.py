"""HRFCO client against a real HTTP server on 127.0.0.1 (tests/feeds/hrfco_server.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from floodwarn.feeds import FEEDS, discover
from floodwarn.feeds.base import RawPayload
from floodwarn.feeds.hrfco import HrfcoClient, chunk_period, parse
from floodwarn.records import QC
from tests.feeds.conftest import NOW
from tests.feeds.hrfco_server import default_values

T_EPOCH = int(NOW.timestamp())  # 2020-08-06 05:20 UTC = 14:20 KST
RECEIVED = T_EPOCH + 90


def by_key(obs):
    return {(r.station, r.variable): r for r in obs.itertuples()}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_latest_parses_every_station_in_both_formats(make_client, hrfco_server, fmt):
    client = make_client(fmt)
    payload = client.latest("waterlevel")
    assert payload.ok and payload.status == 200 and payload.attempts == 1
    assert payload.received_at == RECEIVED
    assert hrfco_server.requests == [f"waterlevel/list/10M.{fmt}"]
    res = parse(payload, "waterlevel")
    assert len(res.obs) == 8 and not res.quarantined
    got = by_key(res.obs)
    for code in ["1018662", "1018680", "1018683", "1019630"]:
        want = default_values("waterlevel", code, NOW)
        assert got[(code, "wl")].value == pytest.approx(float(want["wl"]))
        assert got[(code, "fw")].value == pytest.approx(float(want["fw"]))
        assert got[(code, "wl")].valid_time == T_EPOCH  # KST 14:20 -> UTC 05:20
        assert got[(code, "wl")].arrival_time == RECEIVED
    assert set(res.obs.source) == {"hrfco"}


def test_json_and_xml_give_identical_frames(make_client):
    a = parse(make_client("json").latest("dam"), "dam").obs
    b = parse(make_client("xml").latest("dam"), "dam").obs
    assert len(a) == 5
    assert a.sort_values(["station", "variable"]).reset_index(drop=True).equals(
        b.sort_values(["station", "variable"]).reset_index(drop=True))


def test_service_key_is_redacted_from_stored_url(make_client, hrfco_server):
    payload = make_client().latest("rainfall")
    assert hrfco_server.key not in payload.url
    assert payload.url.endswith("/***/rainfall/list/10M.json")


def test_real_xml_example_format(shared_data):
    body = (shared_data / "hrfco/examples/waterlevel_list_10M_all_stations_excerpt.xml").read_bytes()
    res = parse(RawPayload("x", 200, body, "application/xml", 1776403900), "waterlevel")
    assert len(res.obs) == 16 and not res.quarantined
    fw = res.obs[res.obs.variable == "fw"].set_index("station")
    # " " is missing (NaN + MISSING), never 0; "0.00" is a real zero
    assert math.isnan(fw.loc["1001602", "value"]) and fw.loc["1001602", "qc"] & QC.MISSING
    assert fw.loc["1001607", "value"] == 0.0 and fw.loc["1001607", "qc"] == 0
    wl = res.obs[res.obs.variable == "wl"].set_index("station")
    assert wl.loc["1001620", "value"] == -0.33  # negative stage is legal, not flagged
    assert wl.loc["1001620", "qc"] == 0
    assert set(res.obs.valid_time) == {int(datetime(2026, 4, 17, 4, 30, tzinfo=UTC).timestamp())}


# -- failures and retries ----------------------------------------------------------------------


def test_http_500_then_success_retries(make_client, hrfco_server, sleeps):
    hrfco_server.fail("waterlevel/list/10M.json", 500)
    payload = make_client(retries=2).latest("waterlevel")
    assert payload.ok and payload.attempts == 2
    assert hrfco_server.hits("waterlevel/*") == 2
    assert len(sleeps.delays) == 1 and 0.25 <= sleeps.delays[0] <= 0.5
    assert len(parse(payload, "waterlevel").obs) == 8


def test_permanent_500_returns_error_payload_and_backs_off_exponentially(
    make_client, hrfco_server, sleeps
):
    hrfco_server.fail("waterlevel/*", 500, 503, 502, 500)
    payload = make_client(retries=3).latest("waterlevel")
    assert not payload.ok and payload.status == 500 and payload.attempts == 4
    assert "HTTP 500" in payload.error and "4 attempt" in payload.error
    assert hrfco_server.hits() == 4
    assert len(sleeps.delays) == 3
    for i, d in enumerate(sleeps.delays):  # 0.5 * 2**i with "equal jitter" in [½, 1]
        assert 0.5 * 2**i * 0.5 <= d <= 0.5 * 2**i
    res = parse(payload, "waterlevel")
    assert res.obs.empty and res.counts == {"fetch_errors": 1} and not res.quarantined


@pytest.mark.parametrize("status", [400, 401, 404])
def test_4xx_is_not_retried(make_client, hrfco_server, sleeps, status):
    hrfco_server.fail("rainfall/*", status)
    payload = make_client(retries=3).latest("rainfall")
    assert payload.error.startswith(f"HTTP {status}") and payload.attempts == 1
    assert sleeps.delays == [] and hrfco_server.hits() == 1


def test_429_is_retried(make_client, hrfco_server):
    hrfco_server.fail("rainfall/*", 429)
    payload = make_client(retries=1).latest("rainfall")
    assert payload.ok and payload.attempts == 2


def test_wrong_service_key_is_final(make_client, hrfco_server):
    client = make_client()
    bad = HrfcoClient(client.config.__class__(**{**client.config.__dict__, "service_key": "nope"}))
    try:
        payload = bad.latest("waterlevel")
    finally:
        bad.close()
    assert payload.status == 401 and payload.attempts == 1
    assert hrfco_server.requests == ["<badkey>/waterlevel/list/10M.json"]


def test_timeout_gives_error_payload(make_client, hrfco_server):
    hrfco_server.fail("dam/*", "timeout")
    payload = make_client(retries=0, timeout_s=0.2).latest("dam")
    assert not payload.ok and "timeout after 0.2 s" in payload.error and payload.status is None
    assert parse(payload, "dam").obs.empty


def test_timeout_then_success(make_client, hrfco_server, sleeps):
    hrfco_server.fail("dam/*", "timeout")
    payload = make_client(retries=1, timeout_s=0.2).latest("dam")
    assert payload.ok and payload.attempts == 2 and len(sleeps.delays) == 1
    assert len(parse(payload, "dam").obs) == 5


@pytest.mark.parametrize("mode", ["drop", "cut"])
def test_connection_errors_are_retried(make_client, hrfco_server, mode):
    hrfco_server.fail("waterlevel/*", mode)
    payload = make_client(retries=1).latest("waterlevel")
    assert payload.ok and payload.attempts == 2


def test_connection_refused_never_raises(sleeps):
    from floodwarn.config import HrfcoConfig

    cfg = HrfcoConfig(base_url="http://127.0.0.1:9", service_key="k", timeout_s=0.2, retries=1)
    with HrfcoClient(cfg, sleep=sleeps) as client:
        payload = client.latest("waterlevel")
    assert payload.error.startswith("connection error") and payload.attempts == 2


# -- partial and malformed responses -----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_truncated_body_keeps_complete_records(make_client, hrfco_server, fmt):
    hrfco_server.fail("waterlevel/*", "truncate")
    payload = make_client(fmt).latest("waterlevel")
    assert payload.ok  # the HTTP exchange itself was fine
    res = parse(payload, "waterlevel")
    assert 0 < len(res.obs) < 8
    assert res.counts["truncated"] == 1
    (q,) = res.quarantined
    assert "truncated" in q.reason and f"kept the {len(res.obs) // 2} complete" in q.reason
    assert q.source == "hrfco:waterlevel" and q.received_at == RECEIVED


@pytest.mark.parametrize(
    "body, reason",
    [
        (b'{"links": [], "cont', "invalid/truncated JSON"),
        (b"<entities><content><Waterl", "invalid/truncated XML"),
        (b"", "empty response body"),
        (b'{"code": "990", "message": "no data"}', "code='990'"),
        (b"<html>Service Unavailable</html>", None),
    ],
)
def test_unusable_body_is_quarantined_whole(body, reason):
    res = parse(RawPayload("u", 200, body, "", RECEIVED), "waterlevel")
    assert res.obs.empty
    if reason is None:  # valid XML without <content>: no records, nothing to quarantine
        assert not res.quarantined
    else:
        (q,) = res.quarantined
        assert reason in q.reason and q.record == body.decode()


def rec(code="1018683", t="202008061420", **values):
    r = {"wlobscd": code, "ymdhm": t, "wl": "8.73", "fw": "12345.60"}
    r.update(values)
    return {k: v for k, v in r.items() if v is not None}


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_malformed_records_are_quarantined_individually(make_client, hrfco_server, fmt):
    records = [
        rec(),
        rec(),  # exact duplicate: dropped, counted
        rec("1018662", wl=" ", fw=" "),  # blanks -> NaN + MISSING
        rec("1018680", fw=""),  # empty string, also missing
        rec("1019630", fw=None),  # field absent: quarantined, wl kept
        rec("1018683", t="202008061430", wl="abc"),  # bad number: quarantined, fw kept
        rec("1018683", t="2020080614"),  # hourly stamp is fine (14:00 KST)
        rec("1018683", t="20200806 14:40"),  # bad time: whole record quarantined
        rec(None),  # no station code
        rec("1018662", t=None),  # no time
        rec("1018662", t="202008061450", wl="1.0"),
        rec("1018662", t="202008061450", wl="2.0"),  # conflicting duplicate
        rec("9999999"),  # unknown station
    ]
    hrfco_server.set_records("waterlevel", records)
    known = {"1018662", "1018680", "1018683", "1019630"}.__contains__
    res = parse(make_client(fmt).latest("waterlevel"), "waterlevel", known=known)
    obs = res.obs
    reasons = sorted(q.reason for q in res.quarantined)
    assert len(reasons) == 6, reasons
    assert any("missing field 'fw' (kept: wl)" in r for r in reasons)
    assert any("unparseable number in 'wl': 'abc' (kept: fw)" in r for r in reasons)
    assert any("bad time stamp in 'ymdhm'" in r for r in reasons)
    assert any("missing field 'wlobscd'" in r for r in reasons)
    assert any("missing time field" in r for r in reasons)
    assert any("conflicting duplicate for station 1018662" in r for r in reasons)
    assert res.counts["duplicates"] == 1 and res.counts["conflicts"] == 1
    assert res.unknown == {"station:9999999": 1}
    assert "9999999" not in set(obs.station)

    t = {m: int((datetime(2020, 8, 6, 14, m) - timedelta(hours=9)).replace(tzinfo=UTC).timestamp())
         for m in (0, 20, 30, 50)}
    rows = {(r.station, r.variable, r.valid_time): r for r in obs.itertuples()}
    assert len(obs) == 12
    assert rows[("1018683", "wl", t[20])].value == 8.73
    blank = rows[("1018662", "wl", t[20])]
    assert math.isnan(blank.value) and blank.qc & QC.MISSING
    assert math.isnan(rows[("1018680", "fw", t[20])].value)
    assert ("1019630", "fw", t[20]) not in rows and rows[("1019630", "wl", t[20])].value == 8.73
    assert ("1018683", "wl", t[30]) not in rows and rows[("1018683", "fw", t[30])].value == 12345.6
    assert rows[("1018683", "wl", t[0])].value == 8.73  # ymdh
    assert rows[("1018662", "wl", t[50])].value == 1.0  # first of the conflicting pair kept
    assert res.counts["missing"] == 3 and (obs.qc & int(QC.MISSING)).astype(bool).sum() == 3
    assert not (obs.value == 0).any()  # no blank became zero


def test_dam_flags_nulls_and_clock_skew(make_client, hrfco_server):
    dam = {"dmobscd": "1017310", "ymdhm": "202008061420", "swl": "24.56", "inf": "20015.0",
           "tototf": "18133.0", "sfw": "200.1", "ecpc": "40.1"}
    records = [
        dam,
        None,  # dam lists contain null entries: skipped
        {**dam, "ymdhm": "202008061410", "inf": "-990", "tototf": "-12.5"},
        {**dam, "ymdhm": "202008061400", "swl": "0", "inf": "-3.5"},
        {**dam, "ymdhm": "202008061600"},  # 1 h 40 min after arrival: clock skew
    ]
    hrfco_server.set_records("dam", records)
    res = parse(make_client().latest("dam"), "dam")
    assert res.counts["null_entries"] == 1 and not res.quarantined
    q = {(r.variable, r.valid_time - T_EPOCH): r.qc for r in res.obs.itertuples()}
    assert q[("inf", 0)] == 0 and q[("swl", 0)] == 0
    assert q[("inf", -600)] == QC.SENTINEL  # -990: a sentinel, not a negative flow
    assert q[("tototf", -600)] == QC.NEGATIVE
    assert q[("swl", -1200)] == QC.SENTINEL and q[("inf", -1200)] == QC.NEGATIVE
    assert q[("sfw", -1200)] == 0
    assert all(q[(v, 6000)] == QC.CLOCK_SKEW for v in ["swl", "inf", "tototf", "sfw", "ecpc"])


def test_clock_skew_tolerance():
    body = b'{"content": [{"wlobscd": "1", "ymdhm": "202008061430", "wl": "1", "fw": "1"}]}'
    t = int(datetime(2020, 8, 6, 5, 30, tzinfo=UTC).timestamp())
    ok = parse(RawPayload("u", 200, body, "", t - 600), "waterlevel").obs
    skew = parse(RawPayload("u", 200, body, "", t - 601), "waterlevel").obs
    assert (ok.qc == 0).all() and (skew.qc == int(QC.CLOCK_SKEW)).all()


def test_rainfall(make_client, hrfco_server):
    hrfco_server.set_records("rainfall", [
        {"rfobscd": "10184100", "ymdhm": "202008061420", "rf": "12"},
        {"rfobscd": "10184110", "ymdhm": "202008061420", "rf": " "},
    ])
    res = parse(make_client("xml").latest("rainfall"), "rainfall")
    assert list(res.obs.variable) == ["rf", "rf"]
    assert res.obs.value.iloc[0] == 12.0 and np.isnan(res.obs.value.iloc[1])


# -- periods ---------------------------------------------------------------------------------


def test_chunk_period_inclusive_and_bounded():
    start = datetime(2020, 7, 1, tzinfo=UTC)
    end = start + timedelta(days=40, minutes=-10)
    chunks = list(chunk_period(start, end))
    assert len(chunks) == 3 and chunks[0][0] == start and chunks[-1][1] == end
    for (_a, b), (c, _) in zip(chunks, chunks[1:], strict=False):
        assert c - b == timedelta(minutes=10)
    assert all((b - a) // timedelta(minutes=10) + 1 <= 2160 for a, b in chunks)
    assert list(chunk_period(start, start)) == [(start, start)]
    with pytest.raises(ValueError):
        list(chunk_period(end, start))


def test_period_fetches_in_chunks_without_gaps_or_overlap(make_client, hrfco_server):
    start = datetime(2020, 7, 25, tzinfo=UTC)
    end = start + timedelta(days=31)
    payloads = make_client().period("waterlevel", "1018683", start, end)
    assert len(payloads) == 3 and all(p.ok for p in payloads)
    assert hrfco_server.requests[0] == "waterlevel/list/10M/1018683/202007250900/202008090850.json"
    obs = [parse(p, "waterlevel").obs for p in payloads]
    times = np.concatenate([o[o.variable == "wl"].valid_time.to_numpy() for o in obs])
    assert len(times) == 31 * 144 + 1 and len(set(times)) == len(times)
    assert (np.diff(np.sort(times)) == 600).all()
    assert times.min() == int(start.timestamp()) and times.max() == int(end.timestamp())


def test_url_layout(make_client):
    c = make_client()
    base = c.config.base_url
    assert c.url("waterlevel") == f"{base}/TESTKEY/waterlevel/list/10M.json"
    assert c.url("waterlevel", "1H", "3011665", "2023010100", "2023123123") == (
        f"{base}/TESTKEY/waterlevel/list/1H/3011665/2023010100/2023123123.json")
    assert c.url("dam", what="info") == f"{base}/TESTKEY/dam/info.json"
    with pytest.raises(ValueError):
        c.url("waterlevel", "5M")


def test_poll_and_registry(make_client):
    assert discover()["hrfco"] is HrfcoClient and FEEDS["hrfco"].name == "hrfco"
    batches = make_client().poll(NOW)
    assert [b.payload.hydro for b in batches] == ["waterlevel", "rainfall", "dam"]
    assert [len(b.result.obs) for b in batches] == [8, 3, 5]
