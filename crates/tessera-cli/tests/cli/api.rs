//! `tessera api` with gh's flags (`-H`, `-f`, `-F`, `--silent`) against a
//! real tesserad.

use super::{Tessera, stderr, stdout};
use tessera_testkit::Tesserad;

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn api_fields_headers_and_silent_against_tesserad() {
    let server = Tesserad::start_with(&["--no-rate-limit"]);
    let (mine, theirs) = (server.demo_account(), server.demo_account());
    let s = Tessera::new(&server.url);
    s.login(&mine.key, &[]);

    // Fields make the JSON body, and POST the default method.
    let created = json(&s.run(&["api", "/v1/api-keys", "-f", "expires_in=30d"]));
    let new_key = created["key"].as_str().expect("a new key").to_owned();
    let me = json(&s.run(&[
        "api",
        "/v1/me",
        "-H",
        &format!("Authorization: token {new_key}"),
    ]));
    assert_eq!(me["email"], mine.email.as_str());
    // A field the server does not know is refused by it, not by us.
    let out = s.run(&[
        "api",
        "/v1/api-keys",
        "-F",
        "expires_in=30d",
        "-F",
        "bogus=true",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // A user's Authorization replaces the profile's credential...
    let given = format!("Authorization: token {}", theirs.key);
    let me = json(&s.run(&["api", "-H", &given, "/v1/me"]));
    assert_eq!(me["email"], theirs.email.as_str());
    // ...and needs no login at all.
    let anonymous = Tessera::new(&server.url);
    let me = json(&anonymous.run(&["api", "-H", &given, "/v1/me"]));
    assert_eq!(me["email"], theirs.email.as_str());

    // With GET, fields are the query string.
    let me = json(&s.run(&["api", "-X", "GET", "/v1/me", "-f", "x=1"]));
    assert_eq!(me["email"], mine.email.as_str());

    // --silent: the status and headers with --include, no body.
    let out = s.run(&["api", "--include", "--silent", "/v1/me"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("HTTP 200\n"), "{text}");
    assert!(
        text.ends_with("\n\n") && !text.contains(&mine.email),
        "{text}"
    );
    let out = s.run(&["api", "--silent", "/v1/me"]);
    assert!(out.status.success() && out.stdout.is_empty());
    let out = s.run(&[
        "api",
        "--silent",
        "-H",
        "Authorization: token lk_nope",
        "/v1/me",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    // Refused before anything is sent: exit 2.
    let out = s.run(&["api", "-H", "X-A: a\nX-B: b", "/v1/me"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = s.run(&["api", "-d", "{}", "-F", "a=1", "/v1/api-keys"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
