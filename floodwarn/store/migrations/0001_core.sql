-- Core schema: observations (versioned), raw payloads, quarantine, forecasts, cycle ledger.
-- Portable SQL; {serial_pk} and {blob} are filled in per dialect. Times are BIGINT epoch s UTC.

CREATE TABLE observations (
    station      TEXT NOT NULL,
    variable     TEXT NOT NULL,
    valid_time   BIGINT NOT NULL,
    version      INTEGER NOT NULL,
    value        DOUBLE PRECISION,
    arrival_time BIGINT NOT NULL,
    source       TEXT NOT NULL,
    qc           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (station, variable, valid_time, version)
);
CREATE INDEX observations_arrival ON observations (arrival_time);
CREATE INDEX observations_valid ON observations (valid_time);

CREATE TABLE raw_payloads (
    id           {serial_pk},
    source       TEXT NOT NULL,
    url          TEXT,
    received_at  BIGINT NOT NULL,
    status       INTEGER,
    content_type TEXT,
    body         {blob},
    error        TEXT,
    n_records    INTEGER,
    n_quarantined INTEGER
);
CREATE INDEX raw_payloads_received ON raw_payloads (received_at);

CREATE TABLE quarantine (
    id          {serial_pk},
    payload_id  BIGINT,
    source      TEXT NOT NULL,
    record      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX quarantine_received ON quarantine (received_at);

CREATE TABLE forecasts (
    station       TEXT NOT NULL,
    issued_at     BIGINT NOT NULL,
    lead_min      INTEGER NOT NULL,
    q05           DOUBLE PRECISION,
    q50           DOUBLE PRECISION,
    q95           DOUBLE PRECISION,
    method        TEXT NOT NULL,
    model_version TEXT,
    flags         TEXT NOT NULL DEFAULT '',
    shadow        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (station, issued_at, lead_min, shadow)
);
CREATE INDEX forecasts_issued ON forecasts (issued_at);

CREATE TABLE cycles (
    cycle_at    BIGINT PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    status      TEXT NOT NULL,
    mode        TEXT NOT NULL DEFAULT 'live',
    report      TEXT
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
