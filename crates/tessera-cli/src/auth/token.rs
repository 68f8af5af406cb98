//! `auth token`: the credential alone on stdout, newline-terminated.
//!
//! The fast path of the whole CLI: it reads at most the two small store files
//! (and `.env` if nothing else has a key), builds no HTTP client and starts no
//! runtime.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use serde::Serialize;
use tessera_proto::ApiKey;

#[derive(Debug, Default, clap::Args)]
pub struct TokenArgs {
    /// Use this key instead of any stored one (the flag tops resolution).
    #[arg(long, value_name = "KEY", value_parser = super::api_key_arg)]
    pub api_key: Option<ApiKey>,
    /// Print {"token":…,"source":…} instead of the bare token.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct TokenJson<'a> {
    token: &'a str,
    source: &'static str,
}

pub fn run(args: &TokenArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let resolution = ctx.resolver(args.api_key.as_ref()).first()?;
    super::print_warnings(io, &resolution.warnings)?;
    let Some(found) = resolution.winner() else {
        return Err(CliError::NotLoggedIn {
            message: "not logged in: no API key found".into(),
            hint: ctx.login_hint(),
        });
    };
    super::ensure_not_expired(&found.key, &found.source, ctx)?;
    if args.json {
        super::print_json(
            io,
            &TokenJson {
                token: found.key.expose_secret(),
                source: found.source.kind(),
            },
        )
    } else {
        writeln!(io.stdout, "{}", found.key.expose_secret())?;
        Ok(())
    }
}
