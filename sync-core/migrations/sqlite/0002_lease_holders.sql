-- Lease holders are unique instances (issue 12): the same host:pid after a restart is another
-- holder, and a holder on the same machine can be proved dead (pid gone, or reused by a
-- process that started at another time) and taken over at once.
ALTER TABLE leases ADD COLUMN instance TEXT;            -- the holder's unique instance id
ALTER TABLE leases ADD COLUMN holder_host TEXT;         -- its host name
ALTER TABLE leases ADD COLUMN holder_pid INTEGER;       -- its process id
ALTER TABLE leases ADD COLUMN holder_boot_id TEXT;      -- the kernel boot id of its host
ALTER TABLE leases ADD COLUMN holder_start_ticks INTEGER; -- its start, clock ticks after boot
ALTER TABLE leases ADD COLUMN granted_to TEXT;          -- owner of the last grant, kept after release
UPDATE leases SET granted_to = owner;
