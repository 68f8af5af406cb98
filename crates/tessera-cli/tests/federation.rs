//! `tessera auth login --federated` end to end: the real binary, a real
//! `tesserad` trusting npm oidc-provider (the CI platform's issuer), the
//! subject token from a file, from `TESSERA_ID_TOKEN`, and from GitHub
//! Actions' token service (a loopback stub that asks the issuer, as GitHub's
//! service asks GitHub's). Access tokens live 30 s, so every `auth token`
//! (which renews below a minute left) exchanges a fresh subject token.

use tessera_testkit::{Home, HttpStub, OidcProvider, Run, StubResponse, Tesserad, issuer_token};

const TTL: &[&str] = &["--access-token-ttl", "30s"];

/// A server, an app of a new account and a trust rule for `issuer` with
/// `audience`; the app's client id.
fn trusting(server: &Tesserad, issuer: &OidcProvider, audience: &str) -> String {
    let email = server.account();
    let app = server.admin(&["app", "create", "--account", &email, "--name", "ci"]);
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    server.admin(&[
        "trust",
        "add",
        "--app",
        &client_id,
        "--issuer",
        &issuer.url,
        "--audience",
        audience,
        "--subject",
        "ci-*",
    ]);
    client_id
}

/// `GET /v1/me` with a bearer token: the status.
fn me_status(server: &Tesserad, token: &str) -> u16 {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    agent
        .get(format!("{}/v1/me", server.url))
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap()
        .status()
        .as_u16()
}

const AUDIENCE: &str = "https://tessera.test/ci";

/// The issuer, a server whose app trusts it for [`AUDIENCE`], the app's
/// client id and a CLI for it; `None` when the issuer is not installed.
fn setup() -> Option<(OidcProvider, Tesserad, String, Cli)> {
    let issuer = OidcProvider::issuer()?;
    let server = Tesserad::start_with(TTL);
    let client_id = trusting(&server, &issuer, AUDIENCE);
    let cli = Cli::new(&server, &client_id);
    Some((issuer, server, client_id, cli))
}

struct Cli {
    home: Home,
    vars: Vec<(String, String)>,
}

impl Cli {
    fn new(server: &Tesserad, client_id: &str) -> Self {
        let home = Home::new(env!("CARGO_BIN_EXE_tessera"));
        let config = home.dir.path().join("config").display().to_string();
        let vars = [
            ("TESSERA_URL", server.url.as_str()),
            ("TESSERA_CLIENT_ID", client_id),
            ("TESSERA_CONFIG_DIR", config.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        Self { home, vars }
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    fn run(&self, args: &[&str]) -> Run {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.home.run(args, &vars)
    }

    fn credentials(&self) -> String {
        std::fs::read_to_string(self.home.dir.path().join("config/credentials.toml")).unwrap()
    }

    /// Moves the cached token's expiry into the past, as time would: a token
    /// that still works is used when its source has nothing fresh to give.
    fn expire_cached_token(&self) {
        let path = self.home.dir.path().join("config/credentials.toml");
        let expired: Vec<String> = self
            .credentials()
            .lines()
            .map(|line| match line.starts_with("expires_at = ") {
                true => "expires_at = 1000".to_owned(),
                false => line.to_owned(),
            })
            .collect();
        std::fs::write(path, expired.join("\n") + "\n").unwrap();
    }
}

#[test]
fn from_a_file_renewed_from_the_file_and_no_subject_token_stored() {
    let Some((issuer, server, _, cli)) = setup() else {
        return;
    };
    let audience = AUDIENCE;
    let file = cli.home.work().join("id-token");
    let first = issuer.token("ci-eddsa", audience);
    std::fs::write(&file, &first).unwrap();
    let path = file.display().to_string();

    let login = cli
        .run(&["auth", "login", "--federated", "--id-token-file", &path])
        .ok();
    assert!(
        login.stderr().contains("with workload identity federation"),
        "{}",
        login.stderr()
    );
    let stored = cli.credentials();
    assert!(
        !stored.contains(&first),
        "the subject token is never stored"
    );
    assert!(stored.contains("kind = \"file\""), "{stored}");
    assert!(!stored.contains("refresh_token"), "{stored}");
    let status = cli.run(&["auth", "status"]).ok().stdout();
    assert!(
        status.contains(&format!("federated (file {path})")),
        "{status}"
    );

    // Once the token has expired `auth token` renews, and the file still
    // holds the token already exchanged, which the server refuses as a replay.
    cli.expire_cached_token();
    let replay = cli.run(&["auth", "token"]).expect_code(4);
    assert!(
        replay.stderr().contains("already been exchanged")
            && replay.stderr().contains("tessera auth login --federated"),
        "{}",
        replay.stderr()
    );
    // The platform refreshed the file: a new exchange, a working token.
    std::fs::write(&file, issuer.token("ci-rs256", audience)).unwrap();
    let token = cli.run(&["auth", "token"]).ok().stdout();
    assert_eq!(me_status(&server, token.trim()), 200);
    // Logging out deletes the login; revoking it needs the app's secret,
    // which a federated login does not have: a warning, not a failure.
    cli.run(&["auth", "logout", "--force"]).ok();
    cli.run(&["auth", "token"]).expect_code(3);
}

#[test]
fn from_github_actions_a_fresh_token_for_every_renewal() {
    let Some(issuer) = OidcProvider::issuer() else {
        return;
    };
    let server = Tesserad::start_with(TTL);
    // The default audience is the server's issuer.
    let client_id = trusting(&server, &issuer, &server.url);
    let issuer_url = issuer.url.clone();
    let stub = HttpStub::builder()
        .route("GET", "/token", move |request, _| {
            if request.headers.get("authorization").map(String::as_str)
                != Some("Bearer gh-request-token")
            {
                return StubResponse::json(401, serde_json::json!({"message": "bad token"}));
            }
            let audience = url::form_urlencoded::parse(request.query.as_bytes())
                .find(|(k, _)| k == "audience")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let token = issuer_token(&issuer_url, "ci-es256", &audience);
            StubResponse::json(200, serde_json::json!({ "value": token, "count": 1 }))
        })
        .start();
    let cli = Cli::new(&server, &client_id)
        .with(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{}/token?api-version=2.0", stub.url),
        )
        .with("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "gh-request-token");

    cli.run(&["auth", "login", "--federated"]).ok();
    let status = cli.run(&["auth", "status"]).ok().stdout();
    assert!(
        status.contains(&format!(
            "federated (GitHub Actions OIDC, audience {})",
            server.url
        )),
        "{status}"
    );
    let a = cli.run(&["auth", "token"]).ok().stdout();
    let b = cli.run(&["auth", "token"]).ok().stdout();
    assert_ne!(a, b, "each renewal is a new exchange");
    cli.run(&["auth", "test"]).ok();
    assert_eq!(me_status(&server, a.trim()), 200);
    let asked = stub.requests_to("/token");
    assert!(asked.len() >= 3, "{}", asked.len());
    for request in &asked {
        assert!(
            request.query.contains("api-version=2.0&audience="),
            "{}",
            request.query
        );
    }
    assert!(!cli.credentials().contains("gh-request-token"));
}

#[test]
fn from_the_variable_and_what_is_refused() {
    let Some((issuer, server, client_id, cli)) = setup() else {
        return;
    };
    let audience = AUDIENCE;

    // No source at all: a usage error naming each way.
    let none = cli.run(&["auth", "login", "--federated"]).expect_code(2);
    assert!(
        none.stderr().contains("--id-token-file") && none.stderr().contains("TESSERA_ID_TOKEN"),
        "{}",
        none.stderr()
    );
    // Wrong audience: the server refuses, with a hint about trust rules.
    let elsewhere = issuer.token("ci-eddsa", "https://elsewhere.test");
    let refused = Cli::new(&server, &client_id)
        .with("TESSERA_ID_TOKEN", &elsewhere)
        .run(&["auth", "login", "--federated"])
        .expect_code(4);
    assert!(
        refused.stderr().contains("audience") && refused.stderr().contains("trust list"),
        "{}",
        refused.stderr()
    );
    let good =
        Cli::new(&server, &client_id).with("TESSERA_ID_TOKEN", &issuer.token("ci-eddsa", audience));
    good.run(&["auth", "login", "--federated"]).ok();
    assert!(good.credentials().contains("TESSERA_ID_TOKEN"));
    // The job ended, its variable with it: renewing asks for a new login.
    let vars = good
        .vars
        .iter()
        .filter(|(k, _)| k != "TESSERA_ID_TOKEN")
        .cloned()
        .collect();
    let gone = Cli {
        home: good.home,
        vars,
    };
    gone.expire_cached_token();
    let expired = gone.run(&["auth", "token"]).expect_code(4);
    assert!(
        expired.stderr().contains("TESSERA_ID_TOKEN"),
        "{}",
        expired.stderr()
    );
    // An issuer the server has no keys of is down: the server says so, and
    // that is the server's trouble (exit 6), not the credential's.
    let Some(mut gone) = OidcProvider::issuer() else {
        return;
    };
    let gone_app = trusting(&server, &gone, audience);
    let orphan = gone.token("ci-eddsa", audience);
    gone.stop();
    let down = Cli::new(&server, &gone_app)
        .with("TESSERA_ID_TOKEN", &orphan)
        .run(&["auth", "login", "--federated"])
        .expect_code(6);
    assert!(
        down.stderr().contains("temporarily_unavailable"),
        "{}",
        down.stderr()
    );
}

/// An app that requires DPoP (`--dpop required`) issues no Bearer token
/// for a subject token: the login binds the token to a key it keeps with the
/// login, `auth token` warns that the printed token is bound, the server
/// refuses it alone, and `tessera api` (which sends proofs) is let in.
#[test]
fn an_app_that_requires_dpop_gets_a_bound_token() {
    let Some(issuer) = OidcProvider::issuer() else {
        return;
    };
    // An hour's token: nothing here renews (which would exchange the same
    // subject token twice).
    let server = Tesserad::start();
    let email = server.account();
    let app = server.admin(&[
        "app",
        "create",
        "--account",
        &email,
        "--name",
        "ci",
        "--public",
        "--dpop",
        "required",
    ]);
    assert_eq!(app["dpop"], "required", "{app}");
    let client_id = app["client_id"].as_str().unwrap();
    server.admin(&[
        "trust",
        "add",
        "--app",
        client_id,
        "--issuer",
        &issuer.url,
        "--audience",
        AUDIENCE,
        "--subject",
        "ci-*",
    ]);
    let cli =
        Cli::new(&server, client_id).with("TESSERA_ID_TOKEN", &issuer.token("ci-eddsa", AUDIENCE));

    cli.run(&["auth", "login", "--federated"]).ok();
    assert!(
        cli.credentials().contains("dpop_key"),
        "the key is kept with the login"
    );
    let token = cli.run(&["auth", "token"]).ok();
    assert!(
        token.stderr().contains("bound to this machine"),
        "{}",
        token.stderr()
    );
    assert_eq!(
        me_status(&server, token.stdout().trim()),
        401,
        "not as a Bearer token"
    );
    let me = cli.run(&["api", "/v1/me"]).ok().stdout();
    assert!(me.contains(&email), "{me}");
}
