//! `auth show [--raw]`: the credential in use, masked unless asked otherwise.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use crate::texts::printable;
use serde::Serialize;
use tessera_client::Credential;
use tessera_proto::ApiKey;

#[derive(Debug, Default, clap::Args)]
pub struct ShowArgs {
    /// Show the full, unmasked key.
    #[arg(long)]
    pub raw: bool,
    #[arg(long, value_name = "KEY", value_parser = crate::args::api_key_arg, hide = true)]
    pub api_key: Option<ApiKey>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct ShowJson {
    key: String,
    masked: bool,
    source: &'static str,
    source_detail: String,
}

/// The API key resolution picks (flag aside), and where it came from; an
/// OAuth login is not looked at. Permission warnings go to stderr.
pub fn key(ctx: &Ctx, io: &mut Io) -> Result<Option<tessera_client::Found>, CliError> {
    let resolution = ctx.resolver(None).first()?;
    super::print_warnings(io, &resolution.warnings)?;
    Ok(resolution.found.into_iter().next())
}

pub fn run(args: &ShowArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let resolution = ctx.resolver(args.api_key.as_ref()).first()?;
    super::print_warnings(io, &resolution.warnings)?;
    // A profile's OAuth login: its cached access token, as stored (showing
    // does not renew it; `auth token` does).
    if let Some(Credential::OAuth(found)) = resolution.credential() {
        let token = &found.session.access_token;
        let shown = if args.raw {
            token.expose_secret().to_owned()
        } else {
            token.masked()
        };
        let detail = format!(
            "{} login of profile {:?} in {}",
            found.session.method,
            found.profile,
            found.path.display()
        );
        if args.json {
            return super::print_json(
                io,
                &ShowJson {
                    key: shown,
                    masked: !args.raw,
                    source: "oauth",
                    source_detail: detail,
                },
            );
        }
        writeln!(io.stdout, "Access token: {}", printable(&shown))?;
        writeln!(io.stdout, "Source:       {}", printable(&detail))?;
        return Ok(());
    }
    let Some(found) = resolution.winner() else {
        return Err(CliError::NotLoggedIn {
            message: "not logged in: no API key found".into(),
            hint: ctx.login_hint(),
        });
    };
    super::credential::check_found_key(found)?;
    let key = if args.raw {
        found.key.expose_secret().to_owned()
    } else {
        found.key.masked()
    };
    if args.json {
        return super::print_json(
            io,
            &ShowJson {
                key,
                masked: !args.raw,
                source: found.source.kind(),
                source_detail: found.source.to_string(),
            },
        );
    }
    // A key from a file may hold anything; one a terminal would act on is
    // no usable key, so escaping it changes no key that works.
    writeln!(io.stdout, "API key: {}", printable(&key))?;
    writeln!(
        io.stdout,
        "Source:  {}",
        printable(&found.source.to_string())
    )?;
    Ok(())
}
