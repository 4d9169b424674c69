"""Subscription filters, URL refusal (SSRF / self-calls) and signatures."""

from __future__ import annotations

import pytest

from floodwarn.dispatch import subscriptions as subs
from floodwarn.dispatch.signing import idempotency_key, sign, tokens_equal, verify
from floodwarn.dispatch.subscriptions import Filters, SubscriptionError, Target, check_url, matches

# a polygon around Seoul's Han River reach (counter-clockwise)
SEOUL = {"type": "Polygon", "coordinates": [[[126.8, 37.45], [127.2, 37.45], [127.2, 37.65],
                                              [126.8, 37.65], [126.8, 37.45]]]}


def test_signature_round_trip_and_tamper():
    body = b'{"a": 1}'
    ts = 1_700_000_000
    header = sign(body, "s3cret", ts)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify(body, "s3cret", header, str(ts), now=ts + 10)
    assert not verify(body + b" ", "s3cret", header, str(ts), now=ts)
    assert not verify(body, "other", header, str(ts), now=ts)
    assert not verify(body, "s3cret", None, str(ts), now=ts)
    assert not verify(body, "s3cret", header, None, now=ts)
    assert not verify(body, "s3cret", header, "soon", now=ts)


def test_signature_binds_the_timestamp_and_refuses_old_requests():
    body = b'{"a": 1}'
    ts = 1_700_000_000
    header = sign(body, "s3cret", ts)
    # a captured request replayed later with a fresh timestamp no longer verifies
    assert not verify(body, "s3cret", header, str(ts + 3600), now=ts + 3600)
    # the original timestamp is refused once it is older than the tolerance
    assert verify(body, "s3cret", header, str(ts), now=ts + 299)
    assert not verify(body, "s3cret", header, str(ts), now=ts + 301)
    assert not verify(body, "s3cret", header, str(ts), now=ts - 301)  # from the future
    assert tokens_equal("abc", "abc") and not tokens_equal("abc", "abd")


def test_idempotency_key_is_stable_and_unambiguous():
    k = idempotency_key("sub1", "ev1")
    assert k == idempotency_key("sub1", "ev1") and len(k) == 64
    assert idempotency_key("a", "bc") != idempotency_key("ab", "c")
    assert idempotency_key("sub2", "ev1") != k


@pytest.mark.parametrize(
    ("filters", "target", "expected"),
    [
        (Filters(), Target(station="1018683", level=1), True),
        (Filters(stations=("1018683",)), Target(station="1018683"), True),
        (Filters(stations=("1018683",)), Target(station="1018680"), False),
        (Filters(basins=("han",)), Target(station="1018683", basin="Han"), True),
        (Filters(basins=("Nakdong",)), Target(station="1018683", basin="Han"), False),
        (Filters(basins=("Han",)), Target(station="1018683", basin=None), False),
        (Filters(min_level="wrnwl"), Target(level=subs.level_rank("almwl")), True),
        (Filters(min_level="wrnwl"), Target(level=subs.level_rank("wrnwl")), True),
        (Filters(min_level="경보"), Target(level=subs.level_rank("wrnwl")), False),
        (Filters(min_level="wrnwl"), Target(level=None), False),
        (Filters(area=SEOUL), Target(lon=126.99, lat=37.52), True),
        (Filters(area=SEOUL), Target(lon=127.5, lat=36.5), False),
        (Filters(area=SEOUL), Target(), False),
        (Filters(asset_types=("parking",)), Target(asset_type="parking"), True),
        (Filters(asset_types=("parking",)), Target(asset_type="road"), False),
        (Filters(asset_types=("parking",)), Target(station="1018683"), False),
        (Filters(stations=("1018683",), min_level="almwl"), Target(station="1018683", level=2), False),
    ],
)
def test_filters(filters, target, expected):
    assert matches(filters.validate(), target) is expected


def test_level_rank_aliases():
    assert [subs.level_rank(x) for x in ("attwl", "주의보", "Severe", "srswl", 3, "none")] == [1, 2, 3, 4, 3, 0]
    assert subs.level_rank("bogus") is None


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        (Filters(min_level="purple"), "min_level"),
        (Filters(asset_types=("castle",)), "asset_types"),
        (Filters(area={"type": "Point", "coordinates": [127, 37]}), "area"),
        (Filters(area={"type": "Polygon", "coordinates": [[[127, 37], [127.1]]]}), "area.coordinates"),
        (Filters(area={"type": "Polygon", "coordinates": [[[370, 37], [127, 38], [128, 38], [370, 37]]]}),
         "area.coordinates"),
        # a bow-tie (self-intersecting) ring
        (Filters(area={"type": "Polygon", "coordinates": [[[127, 37], [128, 38], [128, 37], [127, 38], [127, 37]]]}),
         "area"),
    ],
)
def test_bad_filters_name_the_field(filters, field):
    with pytest.raises(SubscriptionError) as err:
        filters.validate()
    assert err.value.field == field


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]:8080/",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[fe80::1]/",
        "http://0.0.0.0:8765/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_private_targets_are_refused(url):
    with pytest.raises(SubscriptionError, match="refused|address"):
        check_url(url, allow_private=False)


@pytest.mark.parametrize("url", ["ftp://example.org/x", "file:///etc/passwd", "http:///nohost",
                                 "http://a b.example/", "javascript:alert(1)", "http://x:99999/"])
def test_malformed_urls_are_refused(url):
    with pytest.raises(SubscriptionError):
        check_url(url, allow_private=True)


def test_public_literal_accepted_and_private_allowed_by_setting():
    assert check_url("https://93.184.216.34/hook") == "https://93.184.216.34/hook"
    assert check_url("http://127.0.0.1:9000/hook", allow_private=True)


def test_url_back_at_the_daemon_is_refused_even_when_private_is_allowed():
    own = ["http://127.0.0.1:8765", "http://floodwarn.example.org:443"]
    for url in ("http://127.0.0.1:8765/api/warnings/manual", "http://localhost:8765/healthz"):
        with pytest.raises(SubscriptionError, match="back at this floodwarn daemon"):
            check_url(url, allow_private=True, self_urls=own)
    # a daemon listening on 0.0.0.0 is reachable on every local address
    with pytest.raises(SubscriptionError, match="back at"):
        check_url("http://127.0.0.2:9000/", allow_private=True, self_urls=["http://0.0.0.0:9000"])
    assert check_url("http://127.0.0.1:9999/hook", allow_private=True, self_urls=own)


def test_create_list_delete(store):
    a = subs.create(store, "http://127.0.0.1:1/a", Filters(stations=("1018683",)), allow_private=True, at=100)
    b = subs.create(store, "http://127.0.0.1:1/b", secret="given", allow_private=True, at=101)
    assert len(a.secret) >= 32 and b.secret == "given"
    assert [s.id for s in subs.list_subscriptions(store)] == [a.id, b.id]
    assert "secret" not in a.public() and a.public()["filters"]["stations"] == ["1018683"]
    assert subs.delete(store, a.id) and not subs.delete(store, a.id)
    assert [s.id for s in subs.list_subscriptions(store)] == [b.id]
    assert subs.get(store, a.id).active is False
    with pytest.raises(SubscriptionError):
        subs.create(store, "http://10.0.0.1/x", allow_private=False)
