//! What the OAuth logins share: the server's metadata (RFC 8414 discovery),
//! a failed login's stage, and how `tessera` reports a login.

use crate::auth::Target;
use crate::auth::save::{Saved, replaced, save_replacing};
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use crate::texts::{fill, format_time};
use tessera_client::oauth::{self, Client, OAuthError, ServerMetadata, TransportError, UreqClient};
use tessera_client::{ApiKey, DpopKey, Error as ClientError, OAuthSession};

/// Why an OAuth login failed, by stage, so that each CLI can say what to do
/// about it in its own words ([`LoginError::hinted`]).
#[derive(Debug)]
pub enum LoginError {
    /// RFC 8414 discovery on the server.
    Discovery {
        server: String,
        error: OAuthError,
    },
    /// Before the user takes part: an endpoint the server lacks, the device
    /// authorization request.
    Setup(OAuthError),
    /// The grant: the token request, the browser's answer, device polling.
    Grant(OAuthError),
    Local(CliError),
}

/// What to say when discovery fails. Templates: `{server}`, `{name}` (the
/// CLI's command name).
pub struct DiscoveryWords {
    pub unreachable: &'static str,
    pub not_oauth: &'static str,
}

impl LoginError {
    /// The error with a hint: `discovery`'s words for a discovery failure,
    /// `grant`'s for a failed grant, none otherwise.
    pub fn hinted(
        self,
        ctx: &Ctx,
        discovery: Option<&DiscoveryWords>,
        grant: impl FnOnce(&OAuthError) -> Option<String>,
    ) -> CliError {
        let (error, hint) = match self {
            LoginError::Discovery { server, error } => {
                let hint = discovery.and_then(|words| {
                    let template = match &error {
                        // It answered, with a certificate the message says
                        // what is wrong with: neither "is the server
                        // running?" nor "not an OAuth server" is the cause.
                        OAuthError::Unreachable {
                            source: TransportError::Certificate(_),
                            ..
                        } => return None,
                        // Not HTTP (an SSH port), or not TLS (`https://` to
                        // a plain-http port): the message asks about the URL,
                        // port or scheme; "not an OAuth server" would blame
                        // the server reached the wrong way.
                        OAuthError::NotHttp { .. } => return None,
                        // It took the connection and said nothing: neither
                        // down nor "not an OAuth server"; the error's own
                        // hint (wait) is the one that fits.
                        OAuthError::NoAnswer { .. } => return None,
                        // It answered 5xx or 429: failing or limiting, not
                        // "no OAuth server"; the error's own hint says so.
                        error if server_trouble(error) => return None,
                        error if error.is_unreachable() => words.unreachable,
                        _ => words.not_oauth,
                    };
                    Some(fill(
                        template,
                        &[("server", &server), ("name", ctx.spec.name)],
                    ))
                });
                (error, hint)
            }
            LoginError::Setup(error) => (error, None),
            // A flow's hint names what to check on this side (a client
            // id, a session id, the token URL): wrong for a server failing
            // or limiting requests, whose own hint is said instead.
            LoginError::Grant(error) => {
                let hint = if server_trouble(&error) {
                    None
                } else {
                    grant(&error)
                };
                (error, hint)
            }
            LoginError::Local(error) => return error,
        };
        CliError::from(ClientError::OAuth(error)).maybe_hint(hint)
    }
}

/// A 5xx or a 429 from an OAuth endpoint, or a refusal in the server's
/// own words for its trouble (`server_error`, `temporarily_unavailable`).
fn server_trouble(error: &OAuthError) -> bool {
    error.is_server_trouble() || matches!(crate::error::oauth_status(error), Some(429 | 500..))
}

impl From<CliError> for LoginError {
    fn from(error: CliError) -> Self {
        LoginError::Local(error)
    }
}

impl From<std::io::Error> for LoginError {
    fn from(error: std::io::Error) -> Self {
        LoginError::Local(error.into())
    }
}

/// Without a hint.
impl From<LoginError> for CliError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::Discovery { error, .. }
            | LoginError::Setup(error)
            | LoginError::Grant(error) => ClientError::OAuth(error).into(),
            LoginError::Local(error) => error,
        }
    }
}

/// `tessera`'s words for a failed discovery.
pub const TESSERA_DISCOVERY: DiscoveryWords = DiscoveryWords {
    unreachable: "is the server running? `{name} auth env list` shows the configured servers",
    not_oauth: "{server} does not look like an OAuth authorization server (RFC 8414 discovery)",
};

/// The HTTP client of a login at `target`'s server, and the server's
/// authorization server metadata.
pub(crate) fn discover(
    ctx: &Ctx,
    io: &mut Io,
    target: &Target,
) -> Result<(UreqClient, ServerMetadata), LoginError> {
    let http = target.oauth_http(ctx, io)?;
    let server = &target.server;
    let meta = oauth::discover(&http, server).map_err(|error| LoginError::Discovery {
        server: server.clone(),
        error,
    })?;
    Ok((http, meta))
}

/// The public client of a browser or device login: with a key of its own for
/// this login when the server does DPoP (RFC 9449), so the tokens it gets are
/// bound to this machine.
pub(crate) fn public_client(client_id: &str, meta: &ServerMetadata) -> Client {
    let client = Client::public(client_id);
    match DpopKey::for_server(&meta.dpop_signing_alg_values_supported) {
        Some(key) => client.with_dpop(key),
        None => client,
    }
}

/// The session a login stores: the scope it asked for when the server did
/// not say which it granted, and what renewing and revoking need later
/// without discovery.
pub(crate) fn completed(
    mut session: OAuthSession,
    requested_scope: Option<&str>,
    meta: &ServerMetadata,
) -> OAuthSession {
    if session.scope.is_none() {
        session.scope = requested_scope.map(str::to_owned);
    }
    session.issuer = Some(meta.issuer.clone());
    session.token_endpoint = Some(meta.token_endpoint.clone());
    session.revocation_endpoint = meta.revocation_endpoint.clone();
    session
}

/// A login's outcome: stored and reported ([`save_and_report`]), or its
/// failure in the words of [`LoginError::hinted`] (`discovery`, and `hint` for
/// the server's refusals of the grant).
pub(crate) fn finish(
    ctx: &Ctx,
    io: &mut Io,
    target: &Target,
    obtained: Result<OAuthSession, LoginError>,
    discovery: Option<&DiscoveryWords>,
    hint: impl FnOnce(&OAuthError) -> Option<String>,
) -> Result<(), CliError> {
    let session = obtained.map_err(|e| e.hinted(ctx, discovery, hint))?;
    save_and_report(ctx, io, target, session, None)
}

/// Stores the login ([`save`]) and says "Logged in to … with … (profile …)."
/// and what the token allows, on stderr.
pub(crate) fn save_and_report(
    ctx: &Ctx,
    io: &mut Io,
    target: &Target,
    session: OAuthSession,
    customer_key: Option<ApiKey>,
) -> Result<(), CliError> {
    let stored = save_replacing(
        ctx,
        Saved::OAuth {
            session: Box::new(session.clone()),
            customer_key,
        },
    )?;
    let now_for = tessera_proto::UnverifiedClaims::decode(session.access_token.expose_secret())
        .map(|c| c.claims().sub.clone());
    replaced(ctx, io, &stored, now_for.as_deref())?;
    let profile = stored.profile;
    let level = if session.is_level_0() {
        ", Level 0"
    } else {
        ""
    };
    writeln!(
        io.stderr,
        "Logged in to {} with {}{level} (profile {profile:?}, environment {:?}).",
        crate::texts::printable(&target.server),
        session.method,
        target.selection.environment
    )?;
    if let Some(exp) = session.expires_at {
        let renew = if session.renewable() {
            "; renewed automatically"
        } else {
            ""
        };
        writeln!(
            io.stderr,
            "The access token expires at {}{renew}.",
            format_time(exp)
        )?;
    }
    if let Some(scope) = &session.scope {
        writeln!(io.stderr, "Scopes: {}", crate::texts::printable(scope))?;
    }
    if ctx.env.var(ctx.spec.api_key_env).is_some() {
        io.warn(format!(
            "{} is set in this environment and takes priority over this login",
            ctx.spec.api_key_env
        ))?;
    }
    Ok(())
}

/// `flag`, else the variable; else a usage error naming both, after `needs`
/// ("client credentials need").
pub(crate) fn required(
    ctx: &Ctx,
    flag: Option<&str>,
    variable: &str,
    flag_name: &str,
    needs: &str,
) -> Result<String, CliError> {
    flag.map(str::to_owned)
        .or_else(|| ctx.env.var(variable))
        .ok_or_else(|| CliError::Usage(format!("{needs} {variable}: set it, or pass {flag_name}")))
}

/// The public client id of web and device logins: the flag, the variable,
/// else the CLI's registered one.
pub fn public_client_id(ctx: &Ctx, flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| ctx.env.var(ctx.oauth.client_id_env))
        .unwrap_or_else(|| ctx.oauth.default_client_id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Discovery refused for the server's certificate said "is the server
    /// running?" under "the server's certificate was refused": it answered.
    /// No discovery hint then; an unreachable server keeps its own.
    #[test]
    fn a_refused_certificate_at_discovery_is_not_called_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = crate::context::testing::ctx(&dir);
        let failed = |source| LoginError::Discovery {
            server: "https://127.0.0.1:8443".into(),
            error: OAuthError::Unreachable {
                url: "https://127.0.0.1:8443/.well-known/oauth-authorization-server".into(),
                source,
            },
        };
        let expired = TransportError::Certificate("the server's certificate has expired".into());
        let hinted = failed(expired).hinted(&ctx, Some(&TESSERA_DISCOVERY), |_| None);
        assert_eq!(hinted.hint(), None);
        let refused = TransportError::Network("connection refused".into());
        let hinted = failed(refused).hinted(&ctx, Some(&TESSERA_DISCOVERY), |_| None);
        assert!(
            hinted.hint().unwrap().starts_with("is the server running?"),
            "{:?}",
            hinted.hint()
        );
    }

    /// `https://` to a plain-http port at discovery (exit 6, "the answer is
    /// not TLS") got the hint "… does not look like an OAuth authorization
    /// server": it is one, reached with the wrong scheme, and the message
    /// already asks about the scheme.
    #[test]
    fn an_answer_not_in_tls_at_discovery_does_not_blame_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = crate::context::testing::ctx(&dir);
        let not_tls = LoginError::Discovery {
            server: "https://127.0.0.1:8080".into(),
            error: OAuthError::NotHttp {
                url: "https://127.0.0.1:8080/.well-known/oauth-authorization-server".into(),
                detail: "the answer is not TLS; does the server speak plain http:// on this port?"
                    .into(),
            },
        };
        let hinted = not_tls.hinted(&ctx, Some(&TESSERA_DISCOVERY), |_| None);
        assert_eq!(hinted.hint(), None);
    }

    /// A server that took the connection and said nothing during discovery
    /// was hinted "does not look like an OAuth authorization server": it is
    /// up and stuck, and the error's own hint (wait) is the one said.
    #[test]
    fn a_silent_server_at_discovery_is_not_called_no_oauth_server() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = crate::context::testing::ctx(&dir);
        let error = LoginError::Discovery {
            server: "http://127.0.0.1:9".into(),
            error: OAuthError::NoAnswer {
                url: "http://127.0.0.1:9/.well-known/oauth-authorization-server".into(),
                seconds: 30.0,
            },
        }
        .hinted(&ctx, Some(&TESSERA_DISCOVERY), |_| None);
        let hint = error.hint().unwrap().into_owned();
        assert_eq!(
            hint,
            "the server may be overloaded or stuck; try again in a while"
        );
        assert_eq!(crate::exit::exit_for(&error), crate::Exit::Server);
    }

    /// A discovery answered 503 was hinted "does not look like an OAuth
    /// authorization server", and a token endpoint's 429 `rate_limited` got
    /// the flow's "check the client id" hint: a failing or limiting server
    /// now gets the hint for that, whatever the flow would say.
    #[test]
    fn a_failing_or_limiting_server_is_not_blamed_on_this_side() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = crate::context::testing::ctx(&dir);
        let failing = LoginError::Discovery {
            server: "http://127.0.0.1:9".into(),
            error: OAuthError::BadResponse {
                url: "http://127.0.0.1:9/.well-known/oauth-authorization-server".into(),
                status: 503,
                detail: "no authorization server metadata here".into(),
            },
        }
        .hinted(&ctx, Some(&TESSERA_DISCOVERY), |_| None);
        let hint = failing.hint().unwrap().into_owned();
        assert!(
            hint.starts_with("the fault is on the server's side"),
            "{hint}"
        );
        assert_eq!(crate::exit::exit_for(&failing), crate::Exit::Server);

        let body = serde_json::from_value(serde_json::json!({"error": "rate_limited"})).unwrap();
        let limited = LoginError::Grant(OAuthError::Rejected {
            status: Some(429),
            body,
        })
        .hinted(&ctx, Some(&TESSERA_DISCOVERY), |_| {
            Some("check the client id".into())
        });
        let hint = limited.hint().unwrap().into_owned();
        assert!(
            hint.starts_with("the server is limiting requests (HTTP 429)"),
            "{hint}"
        );
        assert_eq!(crate::exit::exit_for(&limited), crate::Exit::Server);
    }
}
