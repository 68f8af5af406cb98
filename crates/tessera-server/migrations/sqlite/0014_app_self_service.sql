-- Whether a member registered the app in the developer portal (1) or an
-- operator did (`admin app create`, 0). A member's redirect URIs are the
-- member's word: an authorization request's error goes to them only after the
-- user has been shown a page naming the host (RFC 9700 §4.11.2), unless
-- they are loopback ones. Apps registered in the portal before this column
-- existed are found by their audit event.
ALTER TABLE apps ADD COLUMN self_service INTEGER NOT NULL DEFAULT 0;
UPDATE apps SET self_service = 1
 WHERE client_id IN (SELECT subject FROM audit_events WHERE action = 'app_registered');
