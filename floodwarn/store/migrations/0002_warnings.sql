-- Warning engine: per-target hysteresis state, the lifecycle of every CAP message, the cycles
-- already evaluated (restart safety), acknowledgements and the forecasters' actions.
-- A target is a forecast point (its station code) or an impact asset ('asset:<id>').

CREATE TABLE warn_state (
    target         TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    station        TEXT NOT NULL,
    level          INTEGER NOT NULL DEFAULT 0,
    below          INTEGER NOT NULL DEFAULT 0,
    down_to        INTEGER NOT NULL DEFAULT 0,
    value          DOUBLE PRECISION,
    episode_start  BIGINT,
    seq            INTEGER NOT NULL DEFAULT 0,
    last_event     TEXT,
    expires_at     BIGINT,
    manual_level   INTEGER NOT NULL DEFAULT 0,
    manual_until   BIGINT,
    suppress_level INTEGER NOT NULL DEFAULT 0,
    suppress_until BIGINT,
    cycle_at       BIGINT,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE warn_events (
    event_id      TEXT PRIMARY KEY,
    target        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    station       TEXT NOT NULL,
    msg_type      TEXT NOT NULL,
    level         INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    episode_start BIGINT NOT NULL,
    sent          BIGINT NOT NULL,
    expires       BIGINT NOT NULL,
    cycle_at      BIGINT,
    source        TEXT NOT NULL,
    payload       TEXT NOT NULL
);
CREATE INDEX warn_events_target ON warn_events (target, episode_start, seq);
CREATE INDEX warn_events_sent ON warn_events (sent);
CREATE INDEX warn_events_cycle ON warn_events (cycle_at);

CREATE TABLE warn_cycles (
    cycle_at     BIGINT PRIMARY KEY,
    n_targets    INTEGER NOT NULL,
    n_events     INTEGER NOT NULL
);

CREATE TABLE warn_acks (
    event_id TEXT NOT NULL,
    actor    TEXT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (event_id, actor)
);

CREATE TABLE warn_actions (
    id       {serial_pk},
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    event_id TEXT,
    actor    TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX warn_actions_at ON warn_actions (at);
