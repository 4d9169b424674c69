"""Webhook signatures and idempotency keys.

A receiver checks ``X-Floodwarn-Signature: sha256=<hex>`` = HMAC-SHA256, with the
subscription's secret, of ``<X-Floodwarn-Timestamp>.<raw body>`` (the timestamp is signed too,
so a captured request cannot be replayed later with a fresh timestamp; receivers refuse
timestamps older than a tolerance, 5 min by default), and dedupes on ``Idempotency-Key``: the
same alert message to the same subscription always carries the same key, however often it is
retried.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Floodwarn-Signature"
TIMESTAMP_HEADER = "X-Floodwarn-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(subscription_id: str, event_id: str) -> str:
    """sha256(subscription id + event id) as hex (a separator keeps ('a','bc') != ('ab','c'))."""
    return hashlib.sha256(f"{subscription_id}\x1f{event_id}".encode()).hexdigest()


#: receivers refuse a signed timestamp further than this from their clock (replay window)
TOLERANCE_S = 300


def sign(body: bytes, secret: str, timestamp: int | str) -> str:
    """The signature header value: ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(body: bytes, secret: str, header: str | None, timestamp: str | None,
           now: float | None = None, tolerance_s: float = TOLERANCE_S) -> bool:
    """Receiver side: does ``header`` sign ``timestamp`` + ``body``, and is the timestamp recent?

    Constant-time comparison; ``now`` defaults to the receiver's clock (epoch seconds).
    """
    if not header or not timestamp:
        return False
    try:
        ts = int(timestamp.strip())
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(body, secret, ts).encode(), header.strip().encode())


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets (API bearer tokens)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
