-- A secret the console shows once (a new API key, an app's new client secret),
-- kept from the form that made it to the page that shows it: the form's answer
-- is a redirect (Post/Redirect/Get), so reloading the page neither makes
-- another nor shows this one again. `sealed` is the secret sealed with the
-- master key (bound to the row's session, kind and subject); the row is
-- deleted when the page shows it, and pruned after `expires_at` otherwise.
CREATE TABLE web_flashes (
    session_id TEXT NOT NULL REFERENCES web_sessions(id) ON DELETE CASCADE,
    -- 'api_key' or 'client_secret'.
    kind       TEXT NOT NULL,
    -- The key's id or the app's client id.
    subject    TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, kind, subject)
);
