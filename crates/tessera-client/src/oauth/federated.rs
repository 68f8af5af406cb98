//! Workload identity federation, the client's side: a CI job or a pod gets a
//! signed JWT from its platform (the subject token) and exchanges it at the
//! token endpoint for a short-lived access token (RFC 8693), so no long-lived
//! API key sits in its secrets.
//!
//! Where the subject token comes from is a [`SubjectTokenSource`], kept with
//! the login (never the token itself): asked again for a fresh one whenever
//! the access token runs out, since each subject token is exchanged once.

use super::error::OAuthError;
use super::http::{HttpClient, HttpResponse};
use super::token::{Client, body_excerpt, token_request};
use crate::env::EnvVars;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tessera_proto::SubjectToken;
use tessera_proto::token::{TokenResponse, exchange};
use ureq::http::{Request, header};

/// GitHub Actions' variables for requesting an OIDC token; set in a job with
/// `permissions: id-token: write`.
pub const GITHUB_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
pub const GITHUB_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// Subject tokens larger than this are not JWTs a platform hands out.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// Where a federated login gets its subject token. Stored with the login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SubjectTokenSource {
    /// A file the platform keeps fresh (a Kubernetes projected service-account
    /// token), read again for each exchange.
    File { path: PathBuf },
    /// An environment variable (GitLab CI's `id_tokens:`, any CI that exports
    /// one).
    Env { variable: String },
    /// GitHub Actions' token service, asked for `audience` each time.
    GithubActions { audience: String },
}

impl std::fmt::Display for SubjectTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { path } => write!(f, "file {}", path.display()),
            Self::Env { variable } => write!(f, "${variable}"),
            Self::GithubActions { audience } => {
                write!(f, "GitHub Actions OIDC, audience {audience}")
            }
        }
    }
}

impl SubjectTokenSource {
    /// The source to use: the file given, else `variable` when set, else
    /// GitHub Actions when running in a job that may request tokens; `None`
    /// when there is none.
    pub fn detect(
        file: Option<&Path>,
        variable: &str,
        env: &dyn EnvVars,
        audience: &str,
    ) -> Option<Self> {
        if let Some(path) = file {
            // Stored and read again by later commands, from other working
            // directories: absolute, but not canonical (a Kubernetes token
            // path is a symlink that the kubelet points at each new token).
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            return Some(Self::File { path });
        }
        if env.var(variable).is_some() {
            return Some(Self::Env {
                variable: variable.to_owned(),
            });
        }
        env.var(GITHUB_REQUEST_URL).map(|_| Self::GithubActions {
            audience: audience.to_owned(),
        })
    }

    /// A subject token from this source, now.
    pub fn fetch(
        &self,
        env: &dyn EnvVars,
        http: &dyn HttpClient,
    ) -> Result<SubjectToken, OAuthError> {
        let missing = |why: String| OAuthError::NoSubjectToken(format!("{self}: {why}"));
        let text = match self {
            Self::File { path } => read_file(path).map_err(missing)?,
            Self::Env { variable } => env
                .var(variable)
                .ok_or_else(|| missing("the variable is not set".into()))?,
            Self::GithubActions { audience } => github_actions(env, http, audience)?,
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(missing("it is empty".into()));
        }
        Ok(SubjectToken::new(text))
    }
}

fn read_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // A FIFO would block the open until some writer comes: `auth token`
    // (run by a credential helper, say) would hang without a word.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options
        .open(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    // A pipe (`<(…)`, /dev/stdin) or a device cannot be read again at the
    // next renewal, or reads whatever that command's stdin holds.
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    if !regular {
        return Err(
            "it is not a regular file (a pipe, a device or a directory): it is read again for each new access token, so it must be a file that holds the token"
                .into(),
        );
    }
    let mut text = String::new();
    file.take(MAX_TOKEN_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if text.len() as u64 > MAX_TOKEN_BYTES {
        return Err("it is larger than 64 KiB; is it a token?".into());
    }
    Ok(text)
}

/// GitHub Actions: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…` with the
/// request token as a bearer; the answer is `{"value": "<jwt>"}`.
fn github_actions(
    env: &dyn EnvVars,
    http: &dyn HttpClient,
    audience: &str,
) -> Result<String, OAuthError> {
    let needs = |name: &str| {
        OAuthError::NoSubjectToken(format!(
            "GitHub Actions: {name} is not set; a job may request tokens with `permissions: id-token: write`"
        ))
    };
    let base = env
        .var(GITHUB_REQUEST_URL)
        .ok_or_else(|| needs(GITHUB_REQUEST_URL))?;
    let bearer = env
        .var(GITHUB_REQUEST_TOKEN)
        .ok_or_else(|| needs(GITHUB_REQUEST_TOKEN))?;
    let mut url = url::Url::parse(&base).map_err(|e| OAuthError::InvalidUrl {
        url: base.clone(),
        reason: e.to_string(),
    })?;
    // The request token goes with it: never in the clear off this machine
    // (GitHub's service is https). Said here, where the variable is named;
    // the transport's own refusal would point at the Tessera server's opt-in.
    if url.scheme() != "https" && !crate::transport::is_loopback(&url) {
        return Err(OAuthError::InvalidUrl {
            url: url.origin().ascii_serialization(),
            reason: format!(
                "{GITHUB_REQUEST_URL} is not https; the request token is sent only over https (or to this machine)"
            ),
        });
    }
    url.query_pairs_mut().append_pair("audience", audience);
    let request = Request::get(url.as_str())
        .header(header::AUTHORIZATION, format!("Bearer {bearer}"))
        .header(header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| OAuthError::InvalidUrl {
            url: base.clone(),
            reason: e.to_string(),
        })?;
    // The URL carries no secret, but its query may be long: name the service.
    let shown = url.origin().ascii_serialization();
    let response = http
        .send(request)
        .map_err(|e| OAuthError::transport(shown.clone(), e))?;
    #[derive(Deserialize)]
    struct Answer {
        value: String,
    }
    let bad = |response: &HttpResponse, detail: String| OAuthError::BadResponse {
        url: shown.clone(),
        status: response.status().as_u16(),
        detail,
    };
    if !response.status().is_success() {
        // A service or proxy that echoes the request (its headers in an
        // error page) must not make this message show the request token: it
        // gets tokens of this job for any audience, and CI logs are read widely.
        let body = String::from_utf8_lossy(response.body()).replace(&bearer, "***");
        return Err(bad(&response, body_excerpt(body.as_bytes())));
    }
    serde_json::from_slice::<Answer>(response.body())
        .map(|a| a.value)
        .map_err(|_| bad(&response, "no token (\"value\") in the answer".into()))
}

/// Exchanges `subject_token` at `token_endpoint` as `client` (RFC 8693 §2.1)
/// for an access token; `scope` narrows what the server's trust rule grants.
pub fn token_exchange(
    http: &dyn HttpClient,
    token_endpoint: &str,
    client: &Client,
    subject_token: &SubjectToken,
    scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let mut params = vec![
        ("grant_type", exchange::GRANT_TYPE),
        ("subject_token", subject_token.expose_secret()),
        ("subject_token_type", exchange::JWT),
        ("requested_token_type", exchange::ACCESS_TOKEN),
    ];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    token_request(http, token_endpoint, Some(client), &params)
}

#[cfg(test)]
mod tests {
    use super::super::token::testing::{FakeHttp, TOKEN_JSON};
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn exchange_sends_the_rfc_8693_form() {
        let http = FakeHttp::default().reply(200, TOKEN_JSON);
        let token = token_exchange(
            &http,
            "http://as.test/token",
            &Client::public("ci-app"),
            &SubjectToken::new("eyJ.subject"),
            Some("THIRD_PARTY_OPERATION"),
        )
        .unwrap();
        assert_eq!(token.access_token.expose_secret(), "at-1");
        assert_eq!(
            http.form(0),
            [
                ("grant_type", exchange::GRANT_TYPE),
                ("subject_token", "eyJ.subject"),
                ("subject_token_type", exchange::JWT),
                ("requested_token_type", exchange::ACCESS_TOKEN),
                ("scope", "THIRD_PARTY_OPERATION"),
                ("client_id", "ci-app"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn detection_prefers_the_file_then_the_variable_then_github() {
        let gh = BTreeMap::from([(GITHUB_REQUEST_URL, "https://gh.test/t?api-version=2.0")]);
        let both = BTreeMap::from([
            (GITHUB_REQUEST_URL, "https://gh.test/t"),
            ("X_ID_TOKEN", "eyJ.x"),
        ]);
        let none = BTreeMap::<&str, &str>::new();
        let file = Path::new("/var/run/token");
        let detect = |f, env: &dyn EnvVars| SubjectTokenSource::detect(f, "X_ID_TOKEN", env, "aud");
        assert_eq!(
            detect(Some(file), &both),
            Some(SubjectTokenSource::File { path: file.into() })
        );
        assert_eq!(
            detect(None, &both),
            Some(SubjectTokenSource::Env {
                variable: "X_ID_TOKEN".into()
            })
        );
        assert_eq!(
            detect(None, &gh),
            Some(SubjectTokenSource::GithubActions {
                audience: "aud".into()
            })
        );
        assert_eq!(detect(None, &none), None);
    }

    /// `auth token` runs later, maybe elsewhere (another CI step's working
    /// directory, git's credential helper in a repository): a relative
    /// `--id-token-file` must still name the file given at login.
    #[test]
    fn a_relative_token_file_is_stored_as_an_absolute_path() {
        let env = BTreeMap::<&str, &str>::new();
        let source = SubjectTokenSource::detect(Some(Path::new("ci/token.jwt")), "X", &env, "aud");
        let expected = std::env::current_dir().unwrap().join("ci/token.jwt");
        assert_eq!(source, Some(SubjectTokenSource::File { path: expected }));
    }

    #[test]
    fn github_actions_asks_with_the_audience_and_the_request_token() {
        let env = BTreeMap::from([
            (GITHUB_REQUEST_URL, "https://gh.test/token?api-version=2.0"),
            (GITHUB_REQUEST_TOKEN, "req-token"),
        ]);
        let http = FakeHttp::default().reply(200, r#"{"value":"eyJ.gh","count":1}"#);
        let source = SubjectTokenSource::GithubActions {
            audience: "https://api.example.com".into(),
        };
        let token = source.fetch(&env, &http).unwrap();
        assert_eq!(token.expose_secret(), "eyJ.gh");
        let request = &http.requests.borrow()[0];
        assert_eq!(
            request.uri().to_string(),
            "https://gh.test/token?api-version=2.0&audience=https%3A%2F%2Fapi.example.com"
        );
        assert_eq!(http.header(0, "authorization").unwrap(), "Bearer req-token");

        let refused = FakeHttp::default().reply(403, r#"{"message":"no id-token permission"}"#);
        let err = source.fetch(&env, &refused).unwrap_err();
        assert!(
            matches!(err, OAuthError::BadResponse { status: 403, .. }),
            "{err}"
        );
        let down = FakeHttp::default().fail("connection refused");
        assert!(source.fetch(&env, &down).unwrap_err().is_unreachable());
        let no_permission = BTreeMap::from([(GITHUB_REQUEST_URL, "https://gh.test/t")]);
        let err = source.fetch(&no_permission, &http).unwrap_err();
        assert!(err.to_string().contains("id-token: write"), "{err}");
    }

    /// The request token is never sent in the clear, and the refusal names
    /// the variable to fix, not the Tessera server's `--insecure`.
    #[test]
    fn github_actions_over_plain_http_is_refused_naming_the_variable() {
        let source = SubjectTokenSource::GithubActions {
            audience: "aud".into(),
        };
        let http = FakeHttp::default().reply(200, r#"{"value":"eyJ.gh"}"#);
        let env = BTreeMap::from([
            (GITHUB_REQUEST_URL, "http://gh.test/token"),
            (GITHUB_REQUEST_TOKEN, "req-token"),
        ]);
        let err = source.fetch(&env, &http).unwrap_err().to_string();
        assert!(err.contains(GITHUB_REQUEST_URL), "{err}");
        assert!(!err.contains("insecure"), "{err}");
        assert!(http.requests.borrow().is_empty(), "nothing sent");
        let local = BTreeMap::from([
            (GITHUB_REQUEST_URL, "http://127.0.0.1:9/token"),
            (GITHUB_REQUEST_TOKEN, "req-token"),
        ]);
        assert_eq!(
            source.fetch(&local, &http).unwrap().expose_secret(),
            "eyJ.gh"
        );
    }

    #[test]
    fn an_answer_echoing_the_request_token_does_not_show_it() {
        let env = BTreeMap::from([
            (GITHUB_REQUEST_URL, "https://gh.test/token?api-version=2.0"),
            (GITHUB_REQUEST_TOKEN, "req-token-secret"),
        ]);
        let echo =
            r#"{"message":"bad request","headers":{"authorization":"Bearer req-token-secret"}}"#;
        let http = FakeHttp::default().reply(400, echo);
        let source = SubjectTokenSource::GithubActions {
            audience: "aud".into(),
        };
        let err = source.fetch(&env, &http).unwrap_err().to_string();
        assert!(!err.contains("req-token-secret"), "{err}");
        assert!(err.contains("Bearer ***"), "{err}");
    }

    /// A FIFO, a device or a directory is refused at once: opening a FIFO
    /// would wait for a writer forever, and none can be read again later.
    #[cfg(unix)]
    #[test]
    fn a_token_file_that_is_not_a_regular_file_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        for path in [fifo, "/dev/zero".into(), dir.path().to_owned()] {
            let (done, result) = std::sync::mpsc::channel();
            let source = SubjectTokenSource::File { path: path.clone() };
            std::thread::spawn(move || {
                let env = BTreeMap::<&str, &str>::new();
                let _ = done.send(source.fetch(&env, &FakeHttp::default()).map(|_| ()));
            });
            let result = result.recv_timeout(std::time::Duration::from_secs(10));
            let err = result.expect("answered without waiting").unwrap_err();
            assert!(
                err.to_string().contains("not a regular file"),
                "{path:?}: {err}"
            );
        }
    }

    #[test]
    fn files_and_variables_are_read_fresh_and_must_hold_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let source = SubjectTokenSource::File { path: path.clone() };
        let env = BTreeMap::<&str, &str>::new();
        let http = FakeHttp::default();
        let err = source.fetch(&env, &http).unwrap_err();
        assert!(matches!(err, OAuthError::NoSubjectToken(_)), "{err}");
        std::fs::write(&path, "eyJ.one\n").unwrap();
        assert_eq!(
            source.fetch(&env, &http).unwrap().expose_secret(),
            "eyJ.one"
        );
        std::fs::write(&path, "eyJ.two").unwrap();
        assert_eq!(
            source.fetch(&env, &http).unwrap().expose_secret(),
            "eyJ.two"
        );
        std::fs::write(&path, "  \n").unwrap();
        assert!(
            source
                .fetch(&env, &http)
                .unwrap_err()
                .to_string()
                .contains("empty")
        );

        let variable = SubjectTokenSource::Env {
            variable: "X_ID_TOKEN".into(),
        };
        let err = variable.fetch(&env, &http).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no subject token from $X_ID_TOKEN: the variable is not set"
        );
        let set = BTreeMap::from([("X_ID_TOKEN", "eyJ.env")]);
        assert_eq!(
            variable.fetch(&set, &http).unwrap().expose_secret(),
            "eyJ.env"
        );
    }

    #[test]
    fn the_source_is_stored_and_the_token_never_is() {
        let source = SubjectTokenSource::GithubActions {
            audience: "aud".into(),
        };
        let text = toml::to_string(&source).unwrap();
        assert_eq!(text, "kind = \"github_actions\"\naudience = \"aud\"\n");
        assert_eq!(toml::from_str::<SubjectTokenSource>(&text).unwrap(), source);
        let token = SubjectToken::new("eyJ.secret-subject-token");
        assert!(!format!("{token:?} {token}").contains("secret"));
    }
}
