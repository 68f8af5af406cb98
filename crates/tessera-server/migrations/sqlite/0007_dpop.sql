-- DPoP (RFC 9449). Apps that require a proof on every token request, and the key a
-- token family's refresh tokens are bound to (public clients; RFC 9449 §5).
-- Apps registered before this migration keep working without DPoP.
--
-- The replay cache of proof ids (`dpop_proofs`) is not here: on SQLite it lives in
-- a file of its own beside this one (`<database>-dpop`, created by
-- src/store/dpop_proofs.rs), because its insert on every DPoP request would
-- otherwise count as a commit to this database and empty the per-request
-- verification cache (src/store/auth_cache.rs) each time.

ALTER TABLE apps ADD COLUMN dpop_required INTEGER NOT NULL DEFAULT 0;

-- The JWK thumbprint (`jkt`) the family's refresh tokens are bound to; NULL: unbound.
ALTER TABLE token_families ADD COLUMN dpop_jkt TEXT;
