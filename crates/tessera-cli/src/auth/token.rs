//! `auth token`: the credential alone on stdout, newline-terminated.
//!
//! The fast path of the whole CLI: it reads at most the two small store files
//! (and `.env` if nothing else has a key), builds no HTTP client and starts no
//! runtime. An OAuth access token with under a minute left is renewed first,
//! once across all processes asking at the same time (see
//! `tessera_client::token_cache`). A DPoP-bound token is printed too, with a
//! warning on stderr: alone, the server refuses it.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use serde::Serialize;
use tessera_client::Authorization;
use tessera_proto::ApiKey;

#[derive(Debug, Default, clap::Args)]
pub struct TokenArgs {
    /// Use this key instead of any stored one (the flag tops resolution).
    #[arg(long, value_name = "KEY", value_parser = crate::args::api_key_arg)]
    pub api_key: Option<ApiKey>,
    /// Print {"token":…,"source":…} instead of the bare token.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct TokenJson<'a> {
    token: &'a str,
    /// `api_key`, `bearer` or `dpop`: how the token goes in an
    /// `Authorization` header (`dpop`: only with a proof from this machine).
    token_type: &'static str,
    source: &'static str,
    /// Unix seconds, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

pub fn run(args: &TokenArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let active = super::credential::active(ctx, args.api_key.as_ref(), io)?;
    super::credential::warn_if_bound(ctx, io, &active, "this token")?;
    let token = active.authorization.secret();
    if args.json {
        super::print_json(
            io,
            &TokenJson {
                token,
                token_type: match active.authorization {
                    Authorization::ApiKey(_) => "api_key",
                    Authorization::Bearer(_) => "bearer",
                    Authorization::Dpop { .. } => "dpop",
                },
                source: active.source,
                expires_at: active.expires_at,
            },
        )
    } else {
        writeln!(io.stdout, "{token}")?;
        Ok(())
    }
}
