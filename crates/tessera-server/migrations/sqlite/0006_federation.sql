-- Workload identity federation (RFC 8693 token exchange): the external issuers
-- an app trusts, and the subject tokens already exchanged.

-- An app accepts a JWT from `issuer` whose `aud` contains `audience` and whose
-- `sub` and named claims match the globs (`*` matches any run of characters),
-- and issues a token with `scope` for the app's own account.
CREATE TABLE trust_rules (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES apps(client_id) ON DELETE CASCADE,
    issuer     TEXT NOT NULL,
    audience   TEXT NOT NULL,
    -- Glob on `sub`; NULL: any subject (then `claims` has a rule).
    subject    TEXT,
    -- JSON object: claim name -> glob.
    claims     TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX trust_rules_client_issuer ON trust_rules(client_id, issuer);

-- One-time use of subject tokens: SHA-256 of (issuer, jti), or of the whole
-- token when it has no jti, kept until the token expires. Shared by every
-- instance, so a replay is refused wherever it arrives.
CREATE TABLE subject_token_uses (
    token_key  TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX subject_token_uses_expiry ON subject_token_uses(expires_at);
