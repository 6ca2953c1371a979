-- When the create of a ledger entry's document was last (possibly) sent to the target: stamped
-- right before each send and again when a send ends with an unknown outcome. NULL: never sent,
-- so a lookup that misses it is conclusive. Set: the target may still apply the write until the
-- settle horizon has passed (Acumatica queues requests up to ten minutes).
ALTER TABLE ledger ADD COLUMN attempted_at TIMESTAMPTZ;
