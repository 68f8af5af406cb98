//! The web pages over a real socket on both backends: password sign-in after
//! `admin account set-password` (stdin), the console behind the session cookie,
//! sign-out, and `admin app approve` refusing an app with no pending request.
//! The full browser flows run in headless Chromium (`tests/interop/browser`).

use crate::support::{Backend, Server, TESSERAD};
use std::io::Write as _;
use std::process::{Command, Stdio};

backend_tests!(password_sign_in_and_console, approve_needs_a_request);

const PASSWORD: &str = "correct horse battery staple";

pub fn set_password(server: &Server, email: &str, password: &str) -> std::process::Output {
    let mut child = Command::new(TESSERAD)
        .args([
            "admin",
            "--json",
            "account",
            "set-password",
            "--account",
            email,
        ])
        .env("TESSERAD_DATABASE_URL", &server.db.url)
        .env("TESSERAD_MASTER_KEY", &server.master_key)
        .env_remove("TESSERAD_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tesserad admin");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

fn csrf(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).unwrap() + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn password_sign_in_and_console(backend: Backend) {
    let server = Server::start(backend).await;
    server.admin(&["account", "create", "--email", "web@example.com"]);
    let short = set_password(&server, "web@example.com", "short");
    assert!(!short.status.success(), "a short password is refused");
    let set = set_password(&server, "web@example.com", PASSWORD);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(server.endpoint("/signin")).send().await.unwrap();
    let browser = cookie(&page, "tessera_browser").expect("a browser cookie");
    let token = csrf(&page.text().await.unwrap());

    let wrong = http
        .post(server.endpoint("/signin/password"))
        .header("cookie", &browser)
        .form(&[
            ("csrf", token.as_str()),
            ("email", "web@example.com"),
            ("password", "not the password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let signed_in = http
        .post(server.endpoint("/signin/password"))
        .header("cookie", &browser)
        .form(&[
            ("csrf", token.as_str()),
            ("email", "web@example.com"),
            ("password", PASSWORD),
            ("next", "/settings/activity"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/settings/activity");
    let session = cookie(&signed_in, "tessera_session").expect("a session cookie");
    let cookies = format!("{browser}; {session}");

    let activity = http
        .get(server.endpoint("/settings/activity"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(activity.status(), 200);
    let html = activity.text().await.unwrap();
    assert!(html.contains("Signed in"));
    assert!(html.contains("Failed sign-in attempt"));
    assert!(
        html.contains("127.0.0.1"),
        "the activity shows the client IP"
    );

    let out = http
        .post(server.endpoint("/signout"))
        .header("cookie", &cookies)
        .form(&[("csrf", csrf(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = http
        .get(server.endpoint("/settings/activity"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303, "the session ended on the server");
    assert!(!server.logs().contains(PASSWORD));
}

async fn approve_needs_a_request(backend: Backend) {
    let server = Server::start(backend).await;
    server.admin(&["account", "create", "--email", "dev@example.com"]);
    let app = server.admin(&[
        "app",
        "create",
        "--account",
        "dev@example.com",
        "--name",
        "Svc",
    ]);
    let out = server.admin_raw(&["app", "approve", app["client_id"].as_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no pending request"));
}
