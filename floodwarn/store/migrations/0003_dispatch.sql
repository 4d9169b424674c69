-- Webhook delivery: subscriptions and the transactional outbox (one row per subscription
-- and alert message). Times are BIGINT epoch s UTC. A delivery's idem_key is
-- sha256(subscription id + event id): UNIQUE, so re-enqueueing the same message is a no-op.

CREATE TABLE subscriptions (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    filters     TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    deleted_at  BIGINT
);

CREATE TABLE deliveries (
    id              {serial_pk},
    subscription_id TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    idem_key        TEXT NOT NULL UNIQUE,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_attempt_at BIGINT,
    delivered_at    BIGINT,
    last_status     INTEGER,
    last_error      TEXT
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_event ON deliveries (event_id);
