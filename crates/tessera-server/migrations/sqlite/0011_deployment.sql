-- What `serve` records about itself for `admin` commands run beside it: the
-- issuer (`issuer`), so that `admin session create` prints the running
-- server's token URL when given no --issuer or --listen of its own.
CREATE TABLE deployment (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
