-- Keys Acumatica assigned itself to records a reference flow inserted (a numbering sequence
-- overrode the key asked for), and inserts whose outcome is not known yet.
-- One row per flow, entity and source key; every write is fenced by the flow's lease.
CREATE TABLE reference_keys (
    flow        TEXT NOT NULL,
    entity      TEXT NOT NULL,
    source_key  TEXT NOT NULL,                -- the key the source (Looker) gives
    saved_key   TEXT,                         -- the key Acumatica saved; NULL while inserting
    state       TEXT NOT NULL CHECK (state IN ('mapped', 'refused', 'inserting')),
    run_id      TEXT,
    fence       BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (flow, entity, source_key)
);
