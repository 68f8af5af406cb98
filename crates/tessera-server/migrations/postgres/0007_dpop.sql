-- DPoP (RFC 9449). Apps that require a proof on every token request, and the key a
-- token family's refresh tokens are bound to (public clients; RFC 9449 §5).
-- Apps registered before this migration keep working without DPoP.

ALTER TABLE apps ADD COLUMN dpop_required BIGINT NOT NULL DEFAULT 0;

-- The JWK thumbprint (`jkt`) the family's refresh tokens are bound to; NULL: unbound.
ALTER TABLE token_families ADD COLUMN dpop_jkt TEXT;

-- Proofs seen (RFC 9449 §11.1), by hash of key thumbprint and `jti`, until their
-- `iat` leaves the accepted window; shared by every instance. A proof whose row
-- exists is a replay. Logged, unlike the rate-limit counters: a row lost in a crash
-- would let its proof be replayed once.
CREATE TABLE dpop_proofs (
    proof_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpop_proofs_expiry ON dpop_proofs(expires_at);
