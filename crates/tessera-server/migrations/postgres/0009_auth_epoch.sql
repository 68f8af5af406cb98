-- The change marker of the per-request authentication cache on PostgreSQL
-- (src/store/auth_cache.rs): a counter that every write able to change an
-- authentication answer bumps, inside the writing transaction. An instance reuses
-- an answer only while the counter, read after the request arrived, still has
-- the value it had when the answer was read; so a revocation, visible together
-- with its bump, is refused by every instance from the next request on.
-- Triggers, so that no statement (nor a future one) can forget the bump.
CREATE TABLE auth_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO auth_epoch (id, n) VALUES (1, 0);

CREATE FUNCTION tessera_bump_auth_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_epoch SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

-- API keys: a new key, a revocation, anything the check compares. Not
-- `last_used_at`, written once a minute per key in use (the cache patches it).
CREATE TRIGGER api_keys_auth_epoch
    AFTER INSERT OR DELETE OR UPDATE OF id, account_id, key_hash, expires_at, revoked_at
    ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION tessera_bump_auth_epoch();
-- Accounts: a token's account must exist; its email is part of the answer.
CREATE TRIGGER accounts_auth_epoch
    AFTER INSERT OR DELETE OR UPDATE OF id, email
    ON accounts FOR EACH STATEMENT EXECUTE FUNCTION tessera_bump_auth_epoch();
-- Access-token revocations (RFC 7009, refresh-token family revocation). Not
-- DELETE: pruning drops only revocations of tokens that have expired anyway.
CREATE TRIGGER revoked_access_tokens_auth_epoch
    AFTER INSERT OR UPDATE
    ON revoked_access_tokens FOR EACH STATEMENT EXECUTE FUNCTION tessera_bump_auth_epoch();
-- Apps: a token's app must exist, and the token endpoint's client look-up is
-- cached too (secret, redirect URIs, mode, limits).
CREATE TRIGGER apps_auth_epoch
    AFTER INSERT OR DELETE OR UPDATE
    ON apps FOR EACH STATEMENT EXECUTE FUNCTION tessera_bump_auth_epoch();
-- Token families: an access token naming its family (`fam`) dies when the family
-- is revoked or pruned (token lineage, 0005_lineage.sql).
CREATE TRIGGER token_families_auth_epoch
    AFTER INSERT OR DELETE OR UPDATE OF revoked_at
    ON token_families FOR EACH STATEMENT EXECUTE FUNCTION tessera_bump_auth_epoch();
