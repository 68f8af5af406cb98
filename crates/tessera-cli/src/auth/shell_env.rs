//! `auth env` without a subcommand: `export` lines for a POSIX shell, so that
//! `eval "$(tessera auth env)"` gives tools that cannot run `tessera` the
//! server and a ready `Authorization` header value.
//!
//! `TESSERA_TOKEN` is the token alone; `TESSERA_AUTHORIZATION` is the header
//! value (`token …`, `Bearer …`, or `DPoP …`, which needs a proof no variable
//! carries: warned about on stderr); `TESSERA_TOKEN_EXPIRES_AT` (Unix seconds)
//! is set when the token expires. An OAuth token is renewed first when it has
//! under a minute left.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;

pub fn run(ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let target = super::target(ctx)?;
    target.check_plain_http()?;
    let active = super::credential::active(ctx, None, io)?;
    super::credential::warn_if_bound(ctx, io, &active, "the exported token")?;
    let server = target.server;
    let prefix = env_prefix(ctx.spec);
    let mut lines = vec![
        (ctx.spec.url_env.to_owned(), server),
        (
            format!("{prefix}TOKEN"),
            active.authorization.secret().to_owned(),
        ),
        (
            format!("{prefix}AUTHORIZATION"),
            active.authorization.header_value(),
        ),
    ];
    if let Some(exp) = active.expires_at {
        lines.push((format!("{prefix}TOKEN_EXPIRES_AT"), exp.to_string()));
    }
    for (name, value) in lines {
        writeln!(io.stdout, "export {name}={}", shell_quote(&value))?;
    }
    Ok(())
}

/// The application's variable prefix: `TESSERA_` from `TESSERA_URL`, else
/// (a `url_env` such as `WDG_ENDPOINT`) the application's name in capitals,
/// `WDG_`: never Tessera's own names in another CLI's exports.
pub(crate) fn env_prefix(spec: &tessera_client::AppSpec) -> std::borrow::Cow<'static, str> {
    match spec.url_env.strip_suffix("URL") {
        Some(prefix) => prefix.into(),
        None => format!("{}_", spec.name.to_ascii_uppercase().replace('-', "_")).into(),
    }
}

/// Single quotes, with each `'` written as `'\''`: nothing inside is
/// expanded by the shell.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_posix_shells() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's $HOME `x`"), r"'it'\''s $HOME `x`'");
    }

    #[test]
    fn the_export_prefix_is_the_applications_own() {
        let spec = |name, url_env| tessera_client::AppSpec {
            name,
            url_env,
            ..tessera_client::TESSERA
        };
        assert_eq!(env_prefix(&spec("tessera", "TESSERA_URL")), "TESSERA_");
        assert_eq!(env_prefix(&spec("lua", "LUA_API_URL")), "LUA_API_");
        // A URL variable not ending in `URL` must not export `TESSERA_TOKEN`.
        assert_eq!(env_prefix(&spec("wdg", "WDG_ENDPOINT")), "WDG_");
        assert_eq!(env_prefix(&spec("my-cli", "MYCLI_SERVER")), "MY_CLI_");
    }
}
