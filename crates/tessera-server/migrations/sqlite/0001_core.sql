-- Core schema: accounts, projects, apps, API keys, signing keys, token-URL sessions,
-- revoked access tokens. All times are Unix seconds (INTEGER); flags are 0/1.

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX projects_account ON projects(account_id);

CREATE TABLE apps (
    client_id          TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    mode               TEXT NOT NULL CHECK (mode IN ('development', 'production')),
    is_public          INTEGER NOT NULL CHECK (is_public IN (0, 1)),
    -- NULL for public clients.
    client_secret_hash TEXT,
    -- JSON array of exact redirect URIs.
    redirect_uris      TEXT NOT NULL,
    -- Space-separated grant types.
    grant_types        TEXT NOT NULL,
    -- Requests per minute; NULL means the mode's default.
    rate_limit_per_min INTEGER,
    created_at         INTEGER NOT NULL
);
CREATE INDEX apps_account ON apps(account_id);

CREATE TABLE signing_keys (
    kid                 TEXT PRIMARY KEY,
    algorithm           TEXT NOT NULL,
    -- base64url of the raw 32-byte Ed25519 public key (JWK `x`).
    public_key          TEXT NOT NULL,
    -- base64url of nonce || AES-256-GCM(PKCS#8 private key), sealed with the master key.
    private_key_sealed  TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    -- Set when a newer key takes over signing; the key stays verifiable.
    rotated_at          INTEGER
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- base64url SHA-256 of the JWS (without any deployment prefix).
    key_hash     TEXT NOT NULL,
    kid          TEXT NOT NULL REFERENCES signing_keys(kid),
    name         TEXT,
    scope        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_keys_account ON api_keys(account_id);
CREATE INDEX api_keys_kid ON api_keys(kid);

-- Token-URL login sessions (`admin session create`); the session id is a secret,
-- so only its hash is stored. Single use: `consumed_at` is set on exchange.
CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    acr         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
);

-- Access tokens revoked before their `exp` (RFC 7009). Rows can be deleted once
-- `expires_at` has passed.
CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL
);
