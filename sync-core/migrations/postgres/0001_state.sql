-- State store schema for the PostgreSQL backend of sync-core.

CREATE TABLE leases (
    flow        TEXT PRIMARY KEY,
    owner       TEXT,                       -- NULL once released
    fence       BIGINT NOT NULL,            -- grows by one per grant; never reset
    expires_at  TIMESTAMPTZ NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE watermarks (
    flow       TEXT NOT NULL,
    partition  TEXT NOT NULL,
    value      TEXT NOT NULL,
    fence      BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
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
    attempts     BIGINT NOT NULL DEFAULT 1,
    run_id       TEXT,
    intended_at  TIMESTAMPTZ NOT NULL,
    outcome_at   TIMESTAMPTZ,
    PRIMARY KEY (flow, natural_key)
);
CREATE INDEX ledger_by_state ON ledger (flow, state, partition);

CREATE TABLE runs (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    flow        TEXT NOT NULL,
    owner       TEXT NOT NULL,
    fence       BIGINT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      TEXT NOT NULL,
    n_read      BIGINT NOT NULL DEFAULT 0,
    n_mapped    BIGINT NOT NULL DEFAULT 0,
    n_written   BIGINT NOT NULL DEFAULT 0,
    n_skipped   BIGINT NOT NULL DEFAULT 0,
    n_failed    BIGINT NOT NULL DEFAULT 0,
    n_retries   BIGINT NOT NULL DEFAULT 0,
    message     TEXT
);
CREATE INDEX runs_by_flow ON runs (flow, seq);

CREATE TABLE audit_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flow        TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    natural_key TEXT,
    stage       TEXT NOT NULL CHECK (stage IN ('read', 'mapped', 'written', 'skipped', 'failed')),
    outcome     TEXT NOT NULL,
    summary     JSONB NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_by_run ON audit_events (run_id, seq);
CREATE INDEX audit_by_key ON audit_events (flow, natural_key, seq);

CREATE TABLE dead_letters (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flow        TEXT NOT NULL,
    natural_key TEXT NOT NULL,
    run_id      TEXT,
    payload     JSONB NOT NULL,
    error       TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolution  TEXT
);
-- At most one unresolved dead letter per document.
CREATE UNIQUE INDEX dead_letters_open ON dead_letters (flow, natural_key) WHERE resolved_at IS NULL;
