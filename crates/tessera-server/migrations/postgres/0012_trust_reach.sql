-- Where tesserad may connect to fetch a trust rule's issuer keys: `anywhere`
-- (an administrator's rule, `admin trust add`), or `public` (a console
-- member's: public addresses only, checked at every connection, so neither the
-- discovery document's `jwks_uri` nor a changed DNS answer can point tesserad
-- at its own networks). Rules added in the console before this column existed
-- are found by their audit event.
ALTER TABLE trust_rules ADD COLUMN reach TEXT NOT NULL DEFAULT 'anywhere';
UPDATE trust_rules SET reach = 'public'
 WHERE id IN (SELECT subject FROM audit_events WHERE action = 'trust_rule_added');
