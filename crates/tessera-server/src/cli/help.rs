//! The Examples sections of `--help` (and of the man pages, which clap_mangen
//! renders from the same text): one place for the words, beside no logic. Lines
//! stay under 66 columns so that `man` does not refill them.

pub const TESSERAD: &str = "\
Examples:
  tesserad serve --dev         # throwaway database, demo data
  tesserad serve --config /etc/tesserad/tesserad.toml
  tesserad admin account create --email me@example.com
  tesserad admin api-key create --account me@example.com
  tesserad man /usr/local/share/man/man1";

pub const SERVE: &str = "\
Examples:
  tesserad serve --dev
  tesserad serve --config /etc/tesserad/tesserad.toml
  tesserad serve --issuer https://auth.example.com
  TESSERAD_MASTER_KEY=… tesserad serve --database postgres://db/t
  tesserad serve --metrics-listen 127.0.0.1:9090
  SSL_CERT_FILE=ca.pem tesserad serve --smtp-url smtps://mail.lan

Every flag has a TESSERAD_* environment variable (set but empty is
an error) and a snake_case key in the --config file
(deploy/tesserad.toml lists them all).
GET /healthz: alive; /readyz: the database answers; /openapi.json:
the HTTP API.";

pub const ADMIN: &str = "\
Examples:
  tesserad admin account create --email me@example.com
  tesserad admin --json api-key create --account me@example.com
  tesserad admin app create --account me@example.com --name CLI \\
      --public --client-id my-cli
  tesserad admin session create --account me@example.com
  tesserad admin keys rotate

Use the server's --database (or TESSERAD_DATABASE_URL) and, with
PostgreSQL, its TESSERAD_MASTER_KEY.";

pub const APP_CREATE: &str = "\
Examples:
  tesserad admin app create --account me@example.com --name Reports
  tesserad admin app create --account me@example.com --name Web \\
      --redirect-uri https://app.example.com/callback
  tesserad admin app create --account me@example.com --name CLI \\
      --public --client-id my-cli
  tesserad admin app create --account me@example.com --name Batch \\
      --mode production --grant client_credentials";

pub const API_KEY_CREATE: &str = "\
Examples:
  tesserad admin api-key create --account me@example.com
  tesserad admin api-key create --account me@example.com \\
      --expires-in 90d --name ci
  tesserad admin --json api-key create --account me@example.com \\
      | jq -r .key";

pub const MIGRATE: &str = "\
Examples:
  tesserad migrate --database /var/lib/tesserad/tesserad.db
  TESSERAD_MASTER_KEY=… tesserad migrate --database postgres://db/t";

pub const MAN: &str = "\
Examples:
  tesserad man /usr/local/share/man/man1 && man tesserad-serve
  tesserad man out && man -l out/tesserad.1";
