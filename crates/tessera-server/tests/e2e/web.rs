//! The web pages over a real socket on both backends: password sign-in after
//! `admin account set-password` (stdin), the console behind the session cookie,
//! sign-out, and `admin app approve` refusing an app with no pending request
//! (and approving one already in production again).
//! The full browser flows run in headless Chromium (`tests/interop/browser`);
//! the attacks on the pages are in `attacks.rs`.

use crate::browser::PASSWORD;
use crate::support::{Backend, Server};
use tessera_testkit::Browser;

backend_tests!(password_sign_in_and_console, approve_needs_a_request);

async fn password_sign_in_and_console(backend: Backend) {
    let server = Server::start(backend).await;
    server.admin(&["account", "create", "--email", "web@example.com"]);
    let short = server.set_password("web@example.com", "short");
    assert!(!short.status.success(), "a short password is refused");
    let set = server.set_password("web@example.com", PASSWORD);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );

    let browser = Browser::new(&server.url);
    let wrong = browser.sign_in_with_password("web@example.com", "not the password", "/");
    assert_eq!(wrong.status, 401);
    assert!(browser.cookies().contains_key("tessera_browser"));

    let signed_in =
        browser.sign_in_with_password("web@example.com", PASSWORD, "/settings/activity");
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location.as_deref(), Some("/settings/activity"));
    assert!(browser.cookies().contains_key("tessera_session"));
    let cookies = browser.cookies();

    let activity = browser.get("/settings/activity");
    assert_eq!(activity.status, 200);
    assert!(activity.html.contains("Signed in"));
    assert!(activity.html.contains("Failed sign-in attempt"));
    assert!(
        activity.html.contains("127.0.0.1"),
        "the activity shows the client IP"
    );

    let out = browser.post("/signout", &[("csrf", activity.csrf().as_str())]);
    assert_eq!(out.status, 303);
    // The same cookies as before sign-out: the session ended on the server.
    let replay = Browser::new(&server.url);
    replay.set_cookies(cookies);
    let after = replay.get("/settings/activity");
    assert_eq!(after.status, 303, "the session ended on the server");
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
    let client_id = app["client_id"].as_str().unwrap();
    let out = server.admin_output(&["app", "approve", client_id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no pending request"));

    // An app already in production is approved: a second approval succeeds.
    server.admin(&["app", "update", client_id, "--mode", "production"]);
    let approved = server.admin(&["app", "approve", client_id]);
    assert_eq!(approved["mode"], "production");
}
