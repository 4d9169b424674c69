"""Webhook signatures and idempotency keys.

A receiver checks ``X-Floodwarn-Signature: sha256=<hex>`` = HMAC-SHA256 of the raw body with
the subscription's secret, and dedupes on ``Idempotency-Key``: the same alert message to the
same subscription always carries the same key, however often it is retried.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Floodwarn-Signature"
TIMESTAMP_HEADER = "X-Floodwarn-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(subscription_id: str, event_id: str) -> str:
    """sha256(subscription id + event id) as hex (a separator keeps ('a','bc') != ('ab','c'))."""
    return hashlib.sha256(f"{subscription_id}\x1f{event_id}".encode()).hexdigest()


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    mac = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """Receiver side: does ``header`` sign ``body``? Constant-time comparison."""
    if not header:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), header.strip().encode())


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets (API bearer tokens)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
