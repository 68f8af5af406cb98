-- Token lineage: what a token may do, and what dies with what.

-- Scopes an app is registered for beyond what any app may ask (space-separated),
-- e.g. `api_keys:write`: a key outlives the app that made it, so only an app an
-- operator registered for that scope may be granted it.
ALTER TABLE apps ADD COLUMN scopes TEXT NOT NULL DEFAULT '';

-- Access tokens now name their family in the `fam` claim, and the per-request
-- check reads the family's `revoked_at`; the list of a family's token ids is no
-- longer needed. (Tokens issued before this migration, at most one access-token
-- lifetime old, no longer die with their family.)
DROP TABLE family_access_tokens;
