-- A settled ledger entry (posted or skipped) can be re-opened: its posted batch was reversed
-- (changed content under reverse_and_repost), or a skip is to be decided again under another
-- changed-content policy. The next intent for the key re-arms it. NULL: settled as recorded.
ALTER TABLE ledger ADD COLUMN reopened TEXT;
