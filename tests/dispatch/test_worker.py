"""Delivery against a real loopback receiver that fails: exactly once or dead-lettered.

Scheduling runs on simulated ``now`` values (drain jumps between due times); the only real
waiting is the HTTP requests themselves (timeouts of 0.4 s).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import httpx
import pytest

from floodwarn.config import DispatchConfig
from floodwarn.dispatch import outbox
from floodwarn.dispatch import subscriptions as subs
from floodwarn.dispatch.signing import idempotency_key
from floodwarn.dispatch.subscriptions import Filters
from floodwarn.dispatch.worker import DeliveryStats, DeliveryWorker
from floodwarn.metrics import Metrics
from floodwarn.store import open_store

T0 = 1_596_250_800  # 2020-08-01T03:00Z


def _sub(store, receiver, url=None, **filters):
    sub = subs.create(store, url or receiver.url, Filters(**filters), allow_private=True, at=0)
    receiver.secrets[sub.id] = sub.secret
    return sub


def _enqueue(store, ids, kind="Alert", station="1018683", level="wrnwl"):
    with store.tx() as cur:
        for e in ids:
            outbox.enqueue(cur, e, kind, {"id": e, "station": station, "level": level, "msg": "물 넘침 <b>"},
                           at=T0)


def _assert_exactly_once_or_dead(store, receiver):
    receiver.settle()
    rows = outbox.deliveries(store)
    assert rows, "nothing was queued"
    status = Counter(r["status"] for r in rows)
    assert set(status) <= {"delivered", "dead"}, status  # none lost (nothing left pending/sending)
    delivered = {r["idem_key"] for r in rows if r["status"] == "delivered"}
    # the receiver processed each delivered key exactly once, and nothing else
    assert set(receiver.processed) >= delivered
    assert all(n == 1 for n in receiver.process_count.values())
    assert receiver.bad_signatures == 0
    for r in rows:
        if r["status"] == "dead":
            assert r["last_error"], r
    return rows


def test_chaos_receiver_every_alert_exactly_once_or_dead(store, receiver, cfg, dead_port):
    metrics = Metrics()
    good = _sub(store, receiver)
    gone = _sub(store, receiver, url=f"http://127.0.0.1:{dead_port}/hook")
    events = [f"ev-{i:02d}" for i in range(24)]
    plans = {
        "ev-00": ["500", "500", "ok"],
        "ev-01": ["process_500"],          # processed, then 500: the retry is deduped
        "ev-02": ["hang"],                 # client times out, receiver processes late
        "ev-03": ["slow"],
        "ev-04": ["drop", "ok"],
        "ev-05": ["500"] * 5,              # always failing: dead-letter after 5 attempts
        "ev-06": ["400"],                  # permanent: dead at once
        "ev-07": ["302"],                  # redirects are never followed
        "ev-08": ["500", "process_500", "500", "ok"],
    }
    for e, steps in plans.items():
        receiver.script[e] = list(steps)
    _enqueue(store, events)
    worker = DeliveryWorker(store, cfg, seed=7, metrics=metrics)
    try:
        stats = worker.drain(until=T0 + 10 * 86400, start=T0)
    finally:
        worker.stop()
    rows = _assert_exactly_once_or_dead(store, receiver)
    by = {(r["subscription_id"], r["event_id"]): r for r in rows}
    # every alert to the live receiver is delivered except the three scripted to fail for good
    dead_good = {e for (s, e), r in by.items() if s == good.id and r["status"] == "dead"}
    assert dead_good == {"ev-05", "ev-06", "ev-07"}
    assert "gave up after 5 attempts" in by[(good.id, "ev-05")]["last_error"]
    assert by[(good.id, "ev-05")]["attempts"] == 5
    assert "HTTP 400" in by[(good.id, "ev-06")]["last_error"] and by[(good.id, "ev-06")]["attempts"] == 1
    assert by[(good.id, "ev-07")]["last_status"] == 302
    assert by[(good.id, "ev-00")]["attempts"] == 3
    # the receiver saw ev-01 twice but did the work once
    assert sum(1 for q in receiver.requests if q["event"] == "ev-01") == 2
    assert receiver.duplicates >= 2  # ev-01 and ev-02 (and ev-08)
    delivered_keys = {r["idem_key"] for r in rows if r["status"] == "delivered"}
    assert delivered_keys == {idempotency_key(good.id, e) for e in events} - {
        idempotency_key(good.id, e) for e in ("ev-05", "ev-06", "ev-07")}
    # the unreachable subscriber: every alert dead-lettered with the reason, none lost
    gone_rows = [r for r in rows if r["subscription_id"] == gone.id]
    assert len(gone_rows) == len(events)
    assert all(r["status"] == "dead" and "connection failed" in r["last_error"] for r in gone_rows)
    assert stats.delivered == len(delivered_keys) and stats.dead == 3 + len(events)
    text = metrics.render().decode()
    assert 'floodwarn_deliveries_total{outcome="delivered"} 21.0' in text
    assert 'floodwarn_outbox_backlog{status="pending"} 0.0' in text
    assert 'floodwarn_delivery_failures_total{reason="connect"}' in text
    assert 'floodwarn_delivery_failures_total{reason="timeout"} 1.0' in text  # ev-02 hung
    assert 'floodwarn_delivery_failures_total{reason="transport"} 1.0' in text  # ev-04 dropped


def test_body_headers_and_signature(store, receiver, cfg):
    sub = _sub(store, receiver)
    _enqueue(store, ["ev-1"])
    DeliveryWorker(store, cfg, seed=1).run_once(T0)
    (req,) = receiver.requests
    assert req["key"] == idempotency_key(sub.id, "ev-1")
    assert req["timestamp"] == str(T0)
    assert req["doc"]["payload"]["msg"] == "물 넘침 <b>" and req["doc"]["kind"] == "Alert"
    assert receiver.bad_signatures == 0


def test_backoff_is_exponential_full_jitter_and_seedable(store, receiver, cfg):
    _sub(store, receiver)
    receiver.script["ev-1"] = ["500"] * 10
    _enqueue(store, ["ev-1"])
    cfg = DispatchConfig(max_attempts=10, backoff_base_s=10, backoff_max_s=100, timeout_s=0.4,
                         allow_private_targets=True)
    worker = DeliveryWorker(store, cfg, rng=random.Random(42))
    now, delays = T0, []
    for _ in range(6):
        assert worker.run_once(now).retried == 1
        (row,) = outbox.deliveries(store)
        delays.append(row["next_attempt_at"] - now)
        assert worker.run_once(row["next_attempt_at"] - 1).claimed == 0  # not due a second early
        now = row["next_attempt_at"]
    caps = [10, 20, 40, 80, 100, 100]
    assert all(1 <= d <= c for d, c in zip(delays, caps, strict=True)), delays
    rng = random.Random(42)
    assert delays == [max(1, int(-(-rng.uniform(0, c) // 1))) for c in caps]
    assert len(set(delays)) > 1


def test_crash_after_post_before_record(store_path, receiver, cfg):
    url = "sqlite:///" + str(store_path)
    st1 = open_store(url)
    _sub(st1, receiver)
    events = [f"ev-{i}" for i in range(6)]
    _enqueue(st1, events)
    w1 = DeliveryWorker(st1, cfg, seed=3, batch=4)
    claims = w1._claim(T0)  # claimed 4 of 6 ...
    assert len(claims) == 4
    for c in claims[:2]:
        w1._post(c, T0)  # ... the receiver got two of them, then the process died (no record)
    w1.client.close()
    st1.close()

    st2 = open_store(url)  # a new process on the same store file
    w2 = DeliveryWorker(st2, cfg, seed=4)
    first = w2.run_once(T0 + 5)
    assert first.claimed == 2  # only the unclaimed ones: the others are still leased
    assert {r["status"] for r in outbox.deliveries(st2)} == {"sending", "delivered"}
    stats = w2.drain(until=T0 + 3600, start=T0 + 5)
    w2.stop()
    assert stats.delivered == 4
    rows = _assert_exactly_once_or_dead(st2, receiver)
    assert all(r["status"] == "delivered" for r in rows)
    assert set(receiver.processed) == {r["idem_key"] for r in rows}
    assert receiver.duplicates == 2  # the two posted before the crash came again, deduped
    st2.close()


def test_deleted_subscription_and_refused_target_dead_letter(store, receiver, cfg):
    a = _sub(store, receiver)
    b = _sub(store, receiver)
    _enqueue(store, ["ev-1"])
    subs.delete(store, a.id)
    strict = DispatchConfig(timeout_s=0.4, allow_private_targets=False)
    stats = DeliveryWorker(store, strict, seed=1).run_once(T0)
    assert stats == DeliveryStats(claimed=2, delivered=0, retried=0, dead=2)
    errors = {r["subscription_id"]: r["last_error"] for r in outbox.deliveries(store)}
    assert "subscription deleted" in errors[a.id]
    assert "target refused" in errors[b.id] and "loopback" in errors[b.id]
    assert receiver.requests == []


def test_drain_leaves_backoffs_past_until_pending(store, receiver, cfg):
    _sub(store, receiver)
    receiver.script["ev-1"] = ["500", "500", "500"]
    _enqueue(store, ["ev-1"])
    stats = DeliveryWorker(store, cfg, seed=5).drain(until=T0, start=T0)
    assert stats.retried == 1
    (row,) = outbox.deliveries(store)
    assert row["status"] == "pending" and row["next_attempt_at"] > T0


def test_background_thread_delivers_on_the_wall_clock(store, receiver, cfg):
    _sub(store, receiver)
    worker = DeliveryWorker(store, cfg, poll_s=0.05, client=httpx.Client()).start()
    try:
        with store.tx() as cur:
            outbox.enqueue(cur, "live-1", "Alert", {"station": "1018683", "level": "almwl"})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not receiver.processed:
            time.sleep(0.02)
    finally:
        worker.stop()
        worker.client.close()
    assert len(receiver.processed) == 1
    assert outbox.deliveries(store)[0]["status"] == "delivered"


@pytest.mark.parametrize("n", [40])
def test_many_alerts_two_workers_share_the_queue(store_path, receiver, cfg, n):
    """Two workers (two connections) draining one store never deliver a key twice."""
    st_a = open_store("sqlite:///" + str(store_path))
    st_b = open_store("sqlite:///" + str(store_path))
    _sub(st_a, receiver)
    for i in range(0, n, 5):
        receiver.script[f"ev-{i:03d}"] = ["500"]
    _enqueue(st_a, [f"ev-{i:03d}" for i in range(n)])
    wa = DeliveryWorker(st_a, cfg, seed=1, batch=7)
    wb = DeliveryWorker(st_b, cfg, seed=2, batch=7)

    clock = [T0]  # one simulated clock shared by both workers, as the wall clock would be
    lock = threading.Lock()

    def run(worker):
        for _ in range(400):
            with lock:
                now = clock[0]
            worker.run_once(now)
            pending = worker.store.query(
                "SELECT MIN(next_attempt_at), SUM(CASE WHEN status = 'sending' THEN 1 ELSE 0 END) "
                "FROM deliveries WHERE status IN ('pending', 'sending')")
            nxt, sending = pending[0]
            if nxt is None and not sending:
                return
            if nxt is not None:
                with lock:
                    clock[0] = max(clock[0], int(nxt))

    threads = [threading.Thread(target=run, args=(w,)) for w in (wa, wb)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wa.stop()
    wb.stop()
    rows = _assert_exactly_once_or_dead(st_a, receiver)
    assert all(r["status"] == "delivered" for r in rows) and len(rows) == n
    assert receiver.duplicates == 0
    st_a.close()
    st_b.close()
