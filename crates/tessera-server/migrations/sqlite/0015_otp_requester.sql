-- A one-time code belongs to whoever asked for it (`requester`: a hash of the
-- sign-in page's browser cookie, or for the API the client's address), and
-- only they may try it: nobody else can void an address's code by asking for
-- another, or burn it with wrong tries, to keep its owner from signing in.
-- Codes live 10 minutes: those in flight at the upgrade are dropped (ask again).
DROP TABLE otp_codes;
CREATE TABLE otp_codes (
    email       TEXT NOT NULL,
    requester   TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER,
    PRIMARY KEY (email, requester)
);
