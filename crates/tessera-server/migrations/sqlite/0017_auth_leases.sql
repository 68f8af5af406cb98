-- The authentication cache's change marker and its leases, on SQLite
-- (src/store/auth_cache.rs, src/store/auth_lease/): what PostgreSQL has had
-- since 0009_auth_epoch.sql and 0010_auth_leases.sql, the same rules. Before
-- this, every authenticated request read `PRAGMA data_version`; under load
-- that one shared read cost a fifth of an API-key request (bench/RESULTS.md).

-- Bumped inside every transaction that writes what an authentication answer
-- depends on (triggers, so that no statement can forget); an instance reuses
-- an answer only while it still has the value it had when the answer was read.
CREATE TABLE auth_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO auth_epoch (id, n) VALUES (1, 0);

-- One row per serving instance: the counter value it acknowledged (`epoch`)
-- and until when it may answer under it (`until`, nanoseconds on the host's
-- monotonic clock). Written only by a grant that reads the counter inside its
-- own write, so grants and bumps are ordered (one writer at a time).
CREATE TABLE auth_leases (
    instance TEXT PRIMARY KEY,
    epoch    INTEGER NOT NULL,
    until    INTEGER NOT NULL
);

-- API keys: a new key, a revocation, anything the check compares. Not
-- `last_used_at`, written once a minute per key in use (the cache patches it).
CREATE TRIGGER api_keys_auth_epoch_insert AFTER INSERT ON api_keys
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_auth_epoch_delete AFTER DELETE ON api_keys
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_auth_epoch_update
AFTER UPDATE OF id, account_id, key_hash, expires_at, revoked_at ON api_keys
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;

-- Accounts: a token's account must exist; its email is part of the answer.
CREATE TRIGGER accounts_auth_epoch_insert AFTER INSERT ON accounts
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_auth_epoch_delete AFTER DELETE ON accounts
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER accounts_auth_epoch_update AFTER UPDATE OF id, email ON accounts
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;

-- Access-token revocations. Not DELETE: pruning drops only revocations of
-- tokens that have expired anyway.
CREATE TRIGGER revoked_access_tokens_auth_epoch_insert AFTER INSERT ON revoked_access_tokens
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER revoked_access_tokens_auth_epoch_update AFTER UPDATE ON revoked_access_tokens
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;

-- Apps: a token's app must exist, and the token endpoint's client look-up is
-- cached too (secret, redirect URIs, mode, limits).
CREATE TRIGGER apps_auth_epoch_insert AFTER INSERT ON apps
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER apps_auth_epoch_delete AFTER DELETE ON apps
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER apps_auth_epoch_update AFTER UPDATE ON apps
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;

-- Token families: an access token naming its family (`fam`) dies when the
-- family is revoked or pruned (0005_lineage.sql).
CREATE TRIGGER token_families_auth_epoch_insert AFTER INSERT ON token_families
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER token_families_auth_epoch_delete AFTER DELETE ON token_families
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER token_families_auth_epoch_update AFTER UPDATE OF revoked_at ON token_families
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
