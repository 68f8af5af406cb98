//! What the page tests add to tessera-testkit's [`Browser`]: accounts with a
//! password, and sign-in by code with exactly the requests a user makes.

use crate::support::Server;
use reqwest::StatusCode;
use tessera_testkit::Browser;

pub const PASSWORD: &str = "correct horse battery staple";

/// An account that can sign in with [`PASSWORD`].
pub fn account_with_password(server: &Server, email: &str) {
    server.admin(&["account", "create", "--email", email]);
    let out = server.set_password(email, PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs in with the code of the `skip`-th mail to `email`: the sign-in
/// form's two posts and nothing else (no redirect followed), so the tests
/// counting requests per address count exactly these.
pub fn sign_in_with_code(browser: &Browser, server: &Server, email: &str, skip: usize) {
    let csrf = browser.get("/signin").csrf();
    let requested = browser.post("/signin/code/request", &[("csrf", &csrf), ("email", email)]);
    assert_eq!(requested.status, StatusCode::OK);
    let code = server.otp_code_nth(email, skip);
    let fields = [("csrf", csrf.as_str()), ("email", email), ("code", &code)];
    let signed_in = browser.post("/signin/code", &fields);
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
}
