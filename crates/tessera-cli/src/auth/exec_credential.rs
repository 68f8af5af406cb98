//! `auth exec-credential`: a Kubernetes `ExecCredential`
//! (`client.authentication.k8s.io/v1`) for kubectl's exec credential plugin,
//! with the token's expiry so kubectl asks again in time. kubectl sends it as
//! a bearer token, so a DPoP-bound login's token does not work (said on
//! stderr).

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use serde::Serialize;

#[derive(Debug, Default, clap::Args)]
pub struct ExecCredentialArgs {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredential<'a> {
    api_version: &'static str,
    kind: &'static str,
    status: Status<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    token: &'a str,
    /// RFC 3339; left out for a credential that does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_timestamp: Option<String>,
}

pub fn run(_args: &ExecCredentialArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let active = super::credential::active(ctx, None, io)?;
    super::credential::warn_if_bound(ctx, io, &active, "the bearer token kubectl sends")?;
    let credential = ExecCredential {
        api_version: "client.authentication.k8s.io/v1",
        kind: "ExecCredential",
        status: Status {
            token: active.authorization.secret(),
            expiration_timestamp: active.expires_at.map(crate::texts::format_time),
        },
    };
    serde_json::to_writer(&mut *io.stdout, &credential).map_err(std::io::Error::from)?;
    writeln!(io.stdout)?;
    Ok(())
}
