"""The delivery worker: claims due outbox rows, POSTs them, retries, dead-letters.

All state is in the store, so a new worker on the same store resumes where a killed one
stopped: a row it had claimed (``sending``) becomes due again when its lease runs out, and the
receiver dedupes the possible second copy on ``Idempotency-Key``. Retries back off
exponentially with full jitter (``uniform(0, min(max, base * 2**(n-1)))``) from a seedable RNG;
``now`` is always passed in (simulated in tests and replays, wall clock in the daemon).

Outcomes: 2xx → delivered; 5xx, 408, 425, 429, timeouts and connection errors → retried, and
dead-lettered with the last reason after ``max_attempts``; any other status (3xx — redirects
are never followed —, 4xx) and refused target URLs → dead-lettered at once (retrying cannot
help).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from floodwarn.config import DispatchConfig
from floodwarn.dispatch.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from floodwarn.dispatch.subscriptions import SubscriptionError, check_url

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429})
#: extra seconds a claim is held beyond the request timeout before another worker may retry it
LEASE_MARGIN_S = 30


@dataclass(frozen=True)
class DeliveryStats:
    """What one :meth:`DeliveryWorker.run_once` (or a drain) did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    def __add__(self, other: DeliveryStats) -> DeliveryStats:
        return DeliveryStats(
            self.claimed + other.claimed, self.delivered + other.delivered,
            self.retried + other.retried, self.dead + other.dead,
        )


@dataclass(frozen=True)
class _Claim:
    id: int
    subscription_id: str
    event_id: str
    kind: str
    idem_key: str
    body: str
    attempts: int
    url: str | None
    secret: str | None
    active: bool


def _epoch(now: datetime | float | int | None) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, datetime):
        from floodwarn.times import to_epoch

        return to_epoch(now)
    return int(now)


class DeliveryWorker:
    """Posts queued alert messages to their subscribers' webhooks."""

    def __init__(
        self,
        store: Any,
        settings: DispatchConfig,
        client: httpx.Client | None = None,
        *,
        rng: random.Random | None = None,
        seed: int | None = None,
        metrics: Any = None,
        clock: Callable[[], datetime | float] | None = None,
        batch: int = 50,
        poll_s: float = 1.0,
        self_urls: Sequence[str] = (),
        user_agent: str = "floodwarn-webhook/0.1",
    ) -> None:
        self.store = store
        self.cfg = settings
        self._own_client = client is None
        self.client = client or httpx.Client(timeout=settings.timeout_s, follow_redirects=False)
        self.rng = rng or random.Random(seed)
        self.metrics = metrics
        self.clock = clock or time.time
        self.batch = int(batch)
        self.poll_s = float(poll_s)
        self.self_urls = tuple(self_urls)
        self.user_agent = user_agent
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass --------------------------------------------------------------------------
    def backoff_s(self, attempts: int) -> int:
        """Delay before the next try after ``attempts`` failed ones (full jitter, ≥ 1 s)."""
        cap = min(float(self.cfg.backoff_max_s), float(self.cfg.backoff_base_s) * 2 ** max(attempts - 1, 0))
        return max(1, math.ceil(self.rng.uniform(0.0, cap)))

    def _claim(self, now: int) -> list[_Claim]:
        lease = now + int(math.ceil(self.cfg.timeout_s)) + LEASE_MARGIN_S
        due = (
            "((d.status = 'pending' AND d.next_attempt_at <= ?) "
            "OR (d.status = 'sending' AND d.lease_until <= ?))"
        )
        with self.store.tx() as cur:
            rows = cur.execute(
                "SELECT d.id, d.subscription_id, d.event_id, d.kind, d.idem_key, d.body, d.attempts, "
                "s.url, s.secret, s.active FROM deliveries d LEFT JOIN subscriptions s "
                f"ON s.id = d.subscription_id WHERE {due} "
                "ORDER BY d.next_attempt_at, d.id LIMIT ?",
                (now, now, self.batch),
            ).fetchall()
            claims = []
            for r in rows:
                cur.execute(
                    "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, "
                    "lease_until = ?, last_attempt_at = ? WHERE id = ? AND attempts = ? AND "
                    + due.replace("d.", ""),
                    (lease, now, r[0], r[6], now, now),
                )
                if cur.rowcount == 1:
                    claims.append(_Claim(
                        id=int(r[0]), subscription_id=r[1], event_id=r[2], kind=r[3], idem_key=r[4],
                        body=r[5], attempts=int(r[6]) + 1, url=r[7], secret=r[8], active=bool(r[9]),
                    ))
        return claims

    def _finish(self, c: _Claim, status: str, now: int, *, http_status: int | None = None,
                error: str | None = None, next_at: int | None = None) -> None:
        with self.store.tx() as cur:
            cur.execute(
                "UPDATE deliveries SET status = ?, lease_until = NULL, last_status = ?, last_error = ?, "
                "delivered_at = ?, next_attempt_at = COALESCE(?, next_attempt_at) "
                "WHERE id = ? AND status = 'sending' AND attempts = ?",
                (status, http_status, error, now if status == "delivered" else None, next_at,
                 c.id, c.attempts),
            )
            if cur.rowcount != 1:
                log.warning("delivery %d: claim lost before the result was recorded (%s)", c.id, status)

    def _count(self, outcome: str, reason: str | None = None) -> None:
        if self.metrics is None:
            return
        self.metrics.deliveries.labels(outcome=outcome).inc()
        if reason:
            self.metrics.delivery_failures.labels(reason=reason).inc()
        if outcome == "dead":
            self.metrics.dead_letters.inc()

    def _post(self, c: _Claim, now: int) -> tuple[int | None, str | None, str]:
        """POST one claim; returns (http status, error text, failure class or 'ok')."""
        body = c.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            IDEMPOTENCY_HEADER: c.idem_key,
            SIGNATURE_HEADER: sign(body, c.secret or self.cfg.hmac_secret, now),
            TIMESTAMP_HEADER: str(now),
            "X-Floodwarn-Event": c.event_id,
            "X-Floodwarn-Kind": c.kind,
            "X-Floodwarn-Attempt": str(c.attempts),
        }
        try:
            resp = self.client.post(
                c.url or "", content=body, headers=headers, timeout=self.cfg.timeout_s,
                follow_redirects=False,
            )
        except httpx.TimeoutException as err:
            return None, f"timeout after {self.cfg.timeout_s:g} s ({type(err).__name__})", "timeout"
        except httpx.ConnectError as err:
            return None, f"connection failed: {err}", "connect"
        except httpx.TransportError as err:
            return None, f"transport error: {type(err).__name__}: {err}", "transport"
        if 200 <= resp.status_code < 300:
            return resp.status_code, None, "ok"
        if resp.status_code >= 500 or resp.status_code in RETRYABLE_STATUS:
            return resp.status_code, f"HTTP {resp.status_code} from receiver", "http_retry"
        return resp.status_code, f"HTTP {resp.status_code} from receiver (not retried)", "http_permanent"

    def _deliver(self, c: _Claim, now: int) -> str:
        if c.url is None or not c.active:
            self._finish(c, "dead", now, error="subscription deleted before delivery")
            self._count("dead", "subscription_deleted")
            return "dead"
        try:
            check_url(c.url, allow_private=self.cfg.allow_private_targets, self_urls=self.self_urls)
        except SubscriptionError as err:
            self._finish(c, "dead", now, error=f"target refused: {err.message}")
            self._count("dead", "target_refused")
            return "dead"
        http_status, error, klass = self._post(c, now)
        if klass == "ok":
            self._finish(c, "delivered", now, http_status=http_status)
            self._count("delivered")
            log.info("delivery %d (%s → %s) delivered, attempt %d", c.id, c.event_id, c.subscription_id,
                     c.attempts)
            return "delivered"
        if klass == "http_permanent":
            self._finish(c, "dead", now, http_status=http_status, error=error)
            self._count("dead", klass)
            log.warning("delivery %d dead-lettered: %s", c.id, error)
            return "dead"
        if c.attempts >= self.cfg.max_attempts:
            reason = f"gave up after {c.attempts} attempts; last: {error}"
            self._finish(c, "dead", now, http_status=http_status, error=reason)
            self._count("dead", klass)
            log.warning("delivery %d dead-lettered: %s", c.id, reason)
            return "dead"
        next_at = now + self.backoff_s(c.attempts)
        self._finish(c, "pending", now, http_status=http_status, error=error, next_at=next_at)
        self._count("retry", klass)
        log.info("delivery %d attempt %d failed (%s); next try at %d", c.id, c.attempts, error, next_at)
        return "retry"

    def run_once(self, now: datetime | float | int | None = None) -> DeliveryStats:
        """Claim the deliveries due at ``now`` (epoch s or aware datetime) and send them."""
        t = _epoch(self.clock() if now is None else now)
        claims = self._claim(t)
        counts = {"delivered": 0, "retry": 0, "dead": 0}
        for c in claims:
            counts[self._deliver(c, t)] += 1
        self._update_backlog()
        return DeliveryStats(len(claims), counts["delivered"], counts["retry"], counts["dead"])

    def _update_backlog(self) -> None:
        if self.metrics is None:
            return
        from floodwarn.dispatch.outbox import backlog

        for status, n in backlog(self.store).items():
            if status != "delivered":
                self.metrics.outbox_backlog.labels(status=status).set(n)

    def next_due(self) -> int | None:
        """Epoch s at which the next delivery becomes due (None when nothing is outstanding)."""
        row = self.store.query(
            "SELECT MIN(CASE WHEN status = 'pending' THEN next_attempt_at ELSE lease_until END) "
            "FROM deliveries WHERE status IN ('pending', 'sending')"
        )
        return None if not row or row[0][0] is None else int(row[0][0])

    def drain(self, until: datetime | float | int, start: datetime | float | int | None = None) -> DeliveryStats:
        """Deliver everything due up to ``until`` on a simulated clock (replay, tests).

        Jumps from one due time to the next instead of sleeping; deliveries that back off past
        ``until`` stay pending.
        """
        end = _epoch(until)
        now = _epoch(start) if start is not None else (self.next_due() or end)
        total = DeliveryStats()
        while now <= end:
            total = total + self.run_once(now)
            nxt = self.next_due()
            if nxt is None or nxt > end:
                break
            now = max(now, nxt)
        return total

    # -- background thread (daemon) ----------------------------------------------------------
    def start(self) -> DeliveryWorker:
        """Run :meth:`run_once` on the wall clock in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="floodwarn-delivery", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                stats = self.run_once()
            except Exception:  # noqa: BLE001 - the worker must outlive a bad pass (store busy, ...)
                log.exception("delivery pass failed; retrying in %.1f s", self.poll_s)
                stats = DeliveryStats()
            if stats.claimed < self.batch:
                self._stop.wait(self.poll_s)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread after the request in flight (bounded by the request timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.cfg.timeout_s + 5)
            self._thread = None
        if self._own_client:
            self.client.close()

    def close(self) -> None:
        self.stop()
