-- Web console: browser sign-in sessions, the audit trail, apps an account has
-- authorized, key previews and production-mode requests. Times are Unix seconds.

-- A signed-in browser. The cookie holds a random secret; only its hash is stored.
-- `id` is a public handle for listing and revoking without exposing the hash.
CREATE TABLE web_sessions (
    id_hash      TEXT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    -- How the user signed in: 'email_code' or 'password'.
    method       TEXT NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX web_sessions_account ON web_sessions(account_id);

-- What happened to an account: key created/revoked, app registered, secret
-- rotated, sign-ins. `subject` names the thing (a key id, a client id).
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    action     TEXT NOT NULL,
    subject    TEXT,
    ip         TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_events_account ON audit_events(account_id, created_at);

-- Apps an account approved on the consent or device page.
CREATE TABLE app_authorizations (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

-- First and last characters of a key, to recognise it in a list; never enough
-- to use it.
ALTER TABLE api_keys ADD COLUMN preview TEXT;

-- Set when the owner asked for production mode and an admin must approve it.
ALTER TABLE apps ADD COLUMN production_requested_at INTEGER;
