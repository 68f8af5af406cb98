-- Leases on the authentication cache's change marker (src/store/auth_lease.rs).
-- An instance that holds a lease knows `auth_epoch.n` without reading it per
-- request: every bump notifies it (channel `tessera_auth_epoch`), and a writer
-- whose transaction bumped the counter returns only once every instance with a
-- live lease has acknowledged the new value (`epoch`) or let its lease lapse
-- (`until`, this server's clock). A row is written only by a grant that reads the
-- counter FOR SHARE, so grants and bumps are ordered by the counter row's lock.
CREATE TABLE auth_leases (
    instance TEXT PRIMARY KEY,
    epoch    BIGINT NOT NULL,
    until    TIMESTAMPTZ NOT NULL
);

CREATE OR REPLACE FUNCTION tessera_bump_auth_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_epoch SET n = n + 1 WHERE id = 1;
    -- Delivered at commit; one per transaction (same channel and payload).
    PERFORM pg_notify('tessera_auth_epoch', '');
    RETURN NULL;
END
$$;
