-- OAuth authorization server state: authorization codes, refresh-token families,
-- device codes, email one-time codes and shared attempt counters. Everything that
-- several instances must agree on lives here, never only in one process's memory.
-- Secrets (codes, refresh tokens, device codes) are stored only as hashes.

-- A grant: one authorization (code, device approval) and every token issued from
-- it. Revoking the family revokes its refresh tokens and its access tokens.
CREATE TABLE token_families (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

-- Access tokens issued in a family (their `jti`), so revoking the family can put
-- them into revoked_access_tokens. client_credentials tokens are not recorded.
CREATE TABLE family_access_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
CREATE INDEX family_access_tokens_family ON family_access_tokens(family_id);

-- RFC 6749 §4.1 codes with PKCE (S256 only). Single use: `consumed_at`.
CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    -- The family its tokens belong to, so a replayed code can revoke them.
    family_id      TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    consumed_at    INTEGER
);

-- Opaque refresh tokens, rotated on every use: `used_at` marks a rotated one,
-- whose replay revokes the family.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

-- RFC 8628 device authorizations. `status`: pending, approved, denied, consumed.
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    -- Normalized (upper case, no separator).
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    account_id       TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    interval_secs    INTEGER NOT NULL,
    last_polled_at   INTEGER,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);

-- Email one-time codes: one live code per address; a new request replaces it.
-- `code_hash` is an HMAC under a key derived from the master key (6 digits would
-- be trivial to brute-force from a plain hash).
CREATE TABLE otp_codes (
    email       TEXT PRIMARY KEY,
    code_hash   TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER
);

-- Fixed-window counters shared by all instances (OTP request throttling, user-code
-- guessing caps). `key` names what is counted, e.g. `otp-ip:127.0.0.1`.
CREATE TABLE attempt_counters (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
);
