//! `auth test`: `GET /v1/me` with the credential in use (an OAuth token is
//! renewed first when due) and says who it acts for, or why not.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use serde::Serialize;
use tessera_client::Error as ClientError;
use tessera_proto::ApiKey;
use tessera_proto::api::Me;

#[derive(Debug, Default, clap::Args)]
pub struct TestArgs {
    #[arg(long, value_name = "KEY", value_parser = crate::args::api_key_arg, hide = true)]
    pub api_key: Option<ApiKey>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct TestJson<'a> {
    server: &'a str,
    source: &'static str,
    source_detail: &'a str,
    me: &'a Me,
}

pub fn run(args: &TestArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let active = super::credential::active(ctx, args.api_key.as_ref(), io)?;
    let target = super::target(ctx)?;
    let server = &target.server;
    let me = target
        .api(ctx, io)?
        .me(&active.authorization)
        .map_err(|e| {
            let hint = match &e {
                ClientError::Unauthorized { .. } => Some(format!(
                    "{server} does not accept the credential from {}; log in again (`{} auth login`)",
                    active.source_detail, ctx.spec.name
                )),
                ClientError::Forbidden { .. } => Some(
                    "the credential is valid but lacks the THIRD_PARTY_OPERATION scope".to_owned(),
                ),
                ClientError::Network { .. } => Some(format!(
                    "is the server running? `{} auth status` shows which server is used",
                    ctx.spec.name
                )),
                _ => None,
            };
            CliError::from(e).maybe_hint(hint)
        })?;
    if args.json {
        return super::print_json(
            io,
            &TestJson {
                server,
                source: active.source,
                source_detail: &active.source_detail,
                me: &me,
            },
        );
    }
    // Every value here is the server's or a file's: printed printable.
    use crate::texts::printable as p;
    writeln!(
        io.stdout,
        "Authenticated to {} as {} (account {}).",
        p(server),
        p(&me.email),
        p(&me.account_id)
    )?;
    writeln!(
        io.stdout,
        "Credential: {} {} from {}",
        p(&me.credential),
        p(&me.credential_id),
        p(&active.source_detail)
    )?;
    writeln!(io.stdout, "Scope:      {}", p(&me.scope.to_string()))?;
    if let Some(acr) = &me.acr {
        writeln!(io.stdout, "Level:      {}", p(acr))?;
    }
    Ok(())
}
