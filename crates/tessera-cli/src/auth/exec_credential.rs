//! `auth exec-credential`: a Kubernetes `ExecCredential` for kubectl's exec
//! credential plugin, with the token's expiry so kubectl asks again in time.
//! Its `apiVersion` is the one the kubeconfig names, which kubectl passes in
//! `KUBERNETES_EXEC_INFO` and refuses an answer that differs from
//! (`client.authentication.k8s.io/v1`, or `v1beta1` in older kubeconfigs;
//! `v1` without it). kubectl sends the token as a bearer token, so a
//! DPoP-bound login's token does not work (said on stderr).

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

/// The `ExecCredential` versions whose `status` has this shape.
const API_VERSIONS: [&str; 3] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
    "client.authentication.k8s.io/v1alpha1",
];

/// The `apiVersion` kubectl asks for in `KUBERNETES_EXEC_INFO`, or `v1`.
fn api_version(exec_info: Option<&str>) -> Result<&'static str, CliError> {
    let Some(info) = exec_info.filter(|i| !i.trim().is_empty()) else {
        return Ok(API_VERSIONS[0]);
    };
    let asked = serde_json::from_str::<serde_json::Value>(info)
        .ok()
        .and_then(|v| v.get("apiVersion")?.as_str().map(str::to_owned));
    match asked {
        Some(asked) => API_VERSIONS
            .into_iter()
            .find(|v| *v == asked)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "the kubeconfig asks for an ExecCredential of apiVersion {:?}; this plugin answers {}",
                    crate::texts::printable(&asked),
                    API_VERSIONS.join(", ")
                ))
            }),
        None => Err(CliError::Usage(
            "KUBERNETES_EXEC_INFO is not an ExecCredential with an apiVersion; it is kubectl's to set".into(),
        )),
    }
}

pub fn run(_args: &ExecCredentialArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let api_version = api_version(ctx.env.var("KUBERNETES_EXEC_INFO").as_deref())?;
    let active = super::credential::active(ctx, None, io)?;
    super::credential::warn_if_bound(ctx, io, &active, "the bearer token kubectl sends")?;
    let credential = ExecCredential {
        api_version,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_has_the_version_kubectl_asks_for() {
        assert_eq!(
            api_version(None).unwrap(),
            "client.authentication.k8s.io/v1"
        );
        let info = |v: &str| {
            format!(
                r#"{{"kind":"ExecCredential","apiVersion":"{v}","spec":{{"interactive":false}}}}"#
            )
        };
        for v in API_VERSIONS {
            assert_eq!(api_version(Some(&info(v))).unwrap(), v);
        }
        assert!(api_version(Some(&info("client.authentication.k8s.io/v2"))).is_err());
        assert!(api_version(Some("not json")).is_err());
    }
}
