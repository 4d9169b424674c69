"""The outbox fans an alert out inside the caller's transaction, exactly once per subscription."""

from __future__ import annotations

import pytest

from floodwarn.dispatch import outbox
from floodwarn.dispatch import subscriptions as subs
from floodwarn.dispatch.signing import idempotency_key
from floodwarn.dispatch.subscriptions import Filters

SEOUL = {"type": "Polygon", "coordinates": [[[126.8, 37.45], [127.2, 37.45], [127.2, 37.65],
                                              [126.8, 37.65], [126.8, 37.45]]]}


def _alert(event_id: str, station: str = "1018683", level: str = "wrnwl", **extra) -> dict:
    return {"id": event_id, "station": station, "target": station, "level": level, "msg_type": "Alert",
            "sent": "2020-08-01T12:00:00+09:00", "lon": 126.99, "lat": 37.52, **extra}


@pytest.fixture
def three(store):
    mk = lambda url, f: subs.create(store, url, f, allow_private=True, at=0)  # noqa: E731
    return {
        "all": mk("http://127.0.0.1:1/all", Filters()),
        "severe": mk("http://127.0.0.1:1/severe", Filters(min_level="almwl")),
        "nakdong": mk("http://127.0.0.1:1/nak", Filters(basins=("Nakdong",))),
        "seoul": mk("http://127.0.0.1:1/seoul", Filters(area=SEOUL)),
        "parking": mk("http://127.0.0.1:1/park", Filters(asset_types=("parking",))),
    }


def test_fan_out_by_filter_and_idempotent(store, three):
    with store.tx() as cur:
        n = outbox.enqueue(cur, "ev-1", "Alert", _alert("ev-1"))
    assert n == 2  # all + seoul (level too low for severe; Han not Nakdong; not an asset)
    rows = outbox.deliveries(store)
    assert {r["subscription_id"] for r in rows} == {three["all"].id, three["seoul"].id}
    assert all(r["status"] == "pending" and r["attempts"] == 0 for r in rows)
    assert {r["idem_key"] for r in rows} == {idempotency_key(three[k].id, "ev-1") for k in ("all", "seoul")}
    # sent is 2020-08-01T03:00Z: due at once on a replay clock
    assert {r["next_attempt_at"] for r in rows} == {1596250800}
    # re-running the cycle queues nothing again
    with store.tx() as cur:
        assert outbox.enqueue(cur, "ev-1", "Alert", _alert("ev-1")) == 0
    assert len(outbox.deliveries(store)) == 2


def test_rolled_back_alert_queues_nothing(store, three):
    with pytest.raises(RuntimeError), store.tx() as cur:
        outbox.enqueue(cur, "ev-x", "Alert", _alert("ev-x"))
        raise RuntimeError("the warning engine failed after enqueueing")
    assert outbox.deliveries(store) == []


def test_basin_from_station_code_and_asset_payload(store, three):
    with store.tx() as cur:
        assert outbox.enqueue(cur, "ev-n", "Alert", _alert("ev-n", station="2022680", lon=128.5, lat=35.8)) == 2
        assert outbox.enqueue(cur, "ev-a", "Alert",
                              _alert("ev-a", level="srswl", asset_type="parking", target="han-parking-1")) == 4
    by_event = {}
    for r in outbox.deliveries(store):
        by_event.setdefault(r["event_id"], set()).add(r["subscription_id"])
    assert by_event["ev-n"] == {three["all"].id, three["nakdong"].id}
    assert by_event["ev-a"] == {three[k].id for k in ("all", "severe", "seoul", "parking")}


def test_update_and_cancel_reach_earlier_recipients(store, three):
    with store.tx() as cur:
        outbox.enqueue(cur, "ev-1", "Alert", _alert("ev-1", level="almwl"))
        # downgraded below the 'severe' subscriber's minimum: it still hears about it
        outbox.enqueue(cur, "ev-2", "Update", _alert("ev-2", level="attwl", references=["floodwarn,ev-1,2020"]))
        outbox.enqueue(cur, "ev-3", "Cancel", _alert("ev-3", level=None, references=["ev-1", "ev-2"]))
    got = {}
    for r in outbox.deliveries(store):
        got.setdefault(r["event_id"], set()).add(r["subscription_id"])
    expected = {three[k].id for k in ("all", "severe", "seoul")}
    assert got == {"ev-1": expected, "ev-2": expected, "ev-3": expected}


def test_deleted_subscription_gets_nothing_new(store, three):
    subs.delete(store, three["all"].id)
    with store.tx() as cur:
        assert outbox.enqueue(cur, "ev-9", "Alert", _alert("ev-9")) == 1


def test_backlog_counts(store, three):
    with store.tx() as cur:
        outbox.enqueue(cur, "ev-1", "Alert", _alert("ev-1"))
    assert outbox.backlog(store) == {"pending": 2, "sending": 0, "delivered": 0, "dead": 0}
