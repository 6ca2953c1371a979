-- State store schema for the SQLite backend of sync-core.
-- Timestamps are RFC 3339 text in UTC; JSON is text.

CREATE TABLE leases (
    flow        TEXT PRIMARY KEY NOT NULL,
    owner       TEXT,                       -- NULL once released
    fence       INTEGER NOT NULL,           -- grows by one per grant; never reset
    expires_at  TEXT NOT NULL,
    acquired_at TEXT NOT NULL
);

CREATE TABLE watermarks (
    flow       TEXT NOT NULL,
    partition  TEXT NOT NULL,
    value      TEXT NOT NULL,
    fence      INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (flow, partition)
);

CREATE TABLE ledger (
    flow         TEXT NOT NULL,
    natural_key  TEXT NOT NULL,
    partition    TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('intended', 'posted', 'failed', 'skipped')),
    batch_number TEXT,
    entity_id    TEXT,
    detail       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 1,
    run_id       TEXT,
    intended_at  TEXT NOT NULL,
    outcome_at   TEXT,
    PRIMARY KEY (flow, natural_key)
);
CREATE INDEX ledger_by_state ON ledger (flow, state, partition);

CREATE TABLE runs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    flow        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    fence       INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    n_read      INTEGER NOT NULL DEFAULT 0,
    n_mapped    INTEGER NOT NULL DEFAULT 0,
    n_written   INTEGER NOT NULL DEFAULT 0,
    n_skipped   INTEGER NOT NULL DEFAULT 0,
    n_failed    INTEGER NOT NULL DEFAULT 0,
    n_retries   INTEGER NOT NULL DEFAULT 0,
    message     TEXT
);
CREATE INDEX runs_by_flow ON runs (flow, seq);

CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    flow        TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    natural_key TEXT,
    stage       TEXT NOT NULL CHECK (stage IN ('read', 'mapped', 'written', 'skipped', 'failed')),
    outcome     TEXT NOT NULL,
    summary     TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX audit_by_run ON audit_events (run_id, seq);
CREATE INDEX audit_by_key ON audit_events (flow, natural_key, seq);

CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    flow        TEXT NOT NULL,
    natural_key TEXT NOT NULL,
    run_id      TEXT,
    payload     TEXT NOT NULL,
    error       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    resolved_at TEXT,
    resolution  TEXT
);
-- At most one unresolved dead letter per document.
CREATE UNIQUE INDEX dead_letters_open ON dead_letters (flow, natural_key) WHERE resolved_at IS NULL;
