//! `lua auth`, line by line of `lua-cli-auth.txt`: the real `lua` binary with a
//! temporary HOME, against a real tesserad (a recording stub on 127.0.0.1
//! only where a test checks which requests are made at all).

use serde_json::json;
use std::os::unix::fs::PermissionsExt as _;
use tessera_testkit::secret_service::{KEYRING_TOOLS, SecretService, skip_without};
use tessera_testkit::{
    DOWN, ENTER, Home, HttpStub, StubRequest, StubResponse, Tesserad, closed_port_url,
};

const LUA: &str = env!("CARGO_BIN_EXE_lua");

fn home() -> Home {
    Home::new(LUA)
}

/// A tesserad with one account and an API key of it.
struct Server {
    tesserad: Tesserad,
    email: String,
    key_id: String,
    key: String,
}

fn server() -> Server {
    let tesserad = Tesserad::start();
    let email = tesserad.account();
    let (key_id, key) = tesserad.api_key(&email);
    Server {
        tesserad,
        email,
        key_id,
        key,
    }
}

fn credentials(home: &Home) -> std::path::PathBuf {
    home.home().join(".lua-cli/credentials")
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Stores `key` the documented way, against `server`.
fn configure(home: &Home, server: &Server, key: &str) {
    home.run(
        &["auth", "configure", "--api-key", key],
        &[("LUA_API_URL", &server.tesserad.url)],
    )
    .ok();
}

/// A recorder standing in for the API where a test checks which requests are
/// made at all: the OTP request is accepted.
fn recorder() -> HttpStub {
    HttpStub::builder()
        .route("POST", "/v1/auth/otp", |_: &StubRequest, _: &str| {
            StubResponse::json(202, json!({"status": "sent"}))
        })
        .start()
}

/// A code that is not `code`.
fn wrong(code: &str) -> String {
    let first = if code.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &code[1..])
}

/// The key `lua auth key --force` shows.
fn stored_key(home: &Home) -> String {
    home.run(&["auth", "key", "--force"], &[])
        .ok()
        .stdout()
        .trim()
        .to_owned()
}

// --- lua auth configure ------------------------------------------------------

#[test]
fn configure_api_key_validates_and_stores_it_in_lua_cli_credentials_0600() {
    let server = server();
    let home = home();
    let run = home
        .run(
            &["auth", "configure", "--api-key", &server.key],
            &[("LUA_API_URL", &server.tesserad.url)],
        )
        .ok();
    assert!(run.stderr().contains(&server.email), "{}", run.stderr());
    let path = credentials(&home);
    // "A plain-text file": the key alone, as lua-cli writes it.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), server.key);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert!(!run.stdout().contains(&server.key) && !run.stderr().contains(&server.key));
}

/// The seed lists "Ensure no extra spaces" under "Authentication failed": a
/// key with a space in it is refused by the server in those words. Spaces
/// around it are not part of the key.
#[test]
fn a_space_in_the_key_says_authentication_failed_and_around_it_is_dropped() {
    let server = server();
    let home = home();
    let url = [("LUA_API_URL", server.tesserad.url.as_str())];
    let (head, tail) = server.key.split_at(20);
    let spaced = format!("{head} {tail}");
    let run = home
        .run(&["auth", "configure", "--api-key", &spaced], &url)
        .expect_code(4);
    let stderr = run.stderr();
    assert!(stderr.contains("❌ Authentication failed"), "{stderr}");
    assert!(stderr.contains("Ensure no extra spaces"), "{stderr}");
    assert!(!credentials(&home).exists());

    let padded = format!("  {}  ", server.key);
    home.run(&["auth", "configure", "--api-key", &padded], &url)
        .ok();
    let stored = std::fs::read_to_string(credentials(&home)).unwrap();
    assert_eq!(stored.trim_end(), server.key);
}

#[test]
fn configure_with_a_revoked_key_says_authentication_failed_and_stores_nothing() {
    let server = server();
    server.tesserad.revoke(&server.key_id);
    let home = home();
    let run = home
        .run(
            &["auth", "configure", "--api-key", &server.key],
            &[("LUA_API_URL", &server.tesserad.url)],
        )
        .expect_code(4);
    assert!(
        run.stderr().contains("❌ Authentication failed"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("Verify you copied the complete key"));
    assert!(!credentials(&home).exists());
}

#[test]
fn configure_email_requests_a_code_and_prints_check_your_email() {
    let server = server();
    let home = home();
    let run = home
        .run(
            &["auth", "configure", "--email", &server.email],
            &[("LUA_API_URL", &server.tesserad.url)],
        )
        .ok();
    assert!(
        run.stderr()
            .contains("Check your email for a 6-digit code.")
    );
    assert_eq!(server.tesserad.otp_code(&server.email).len(), 6);
    assert!(!credentials(&home).exists(), "step 1 stores nothing");
}

#[test]
fn configure_email_otp_verifies_and_stores_the_generated_key() {
    let server = server();
    let home = home();
    let url = [("LUA_API_URL", server.tesserad.url.as_str())];
    home.run(&["auth", "configure", "--email", &server.email], &url)
        .ok();
    let code = server.tesserad.otp_code(&server.email);
    let run = home
        .run(
            &[
                "auth",
                "configure",
                "--email",
                &server.email,
                "--otp",
                &code,
            ],
            &url,
        )
        .ok();
    assert!(run.stderr().contains("API key generated and saved to"));
    assert_eq!(mode(&credentials(&home)), 0o600);
    // The generated key is a new, working key of the account.
    let key = stored_key(&home);
    assert_ne!(key, server.key);
    configure(&Home::new(LUA), &server, &key);
}

#[test]
fn configure_with_a_wrong_otp_says_invalid_otp_code() {
    let server = server();
    let home = home();
    let url = [("LUA_API_URL", server.tesserad.url.as_str())];
    home.run(&["auth", "configure", "--email", &server.email], &url)
        .ok();
    let code = wrong(&server.tesserad.otp_code(&server.email));
    let run = home
        .run(
            &[
                "auth",
                "configure",
                "--email",
                &server.email,
                "--otp",
                &code,
            ],
            &url,
        )
        .expect_code(4);
    assert!(
        run.stderr().contains("❌ Invalid OTP code"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("OTP expires after 10 minutes"));
    assert!(!credentials(&home).exists());
}

#[test]
fn configure_otp_that_is_not_six_digits_is_invalid_without_asking_the_server() {
    // Nothing listens there: asking the server would fail with exit 5.
    let url = closed_port_url();
    let run = home()
        .run(
            &[
                "auth",
                "configure",
                "--email",
                "a@example.com",
                "--otp",
                "12ab",
            ],
            &[("LUA_API_URL", url.as_str())],
        )
        .expect_code(4);
    assert!(run.stderr().contains("❌ Invalid OTP code"));
}

#[test]
fn configure_otp_without_email_is_a_usage_error() {
    let home = home();
    let run = home
        .run(&["auth", "configure", "--otp", "123456"], &[])
        .expect_code(2);
    assert!(run.stderr().contains("--email"), "{}", run.stderr());
}

#[test]
fn configure_interactive_asks_for_the_method_then_the_api_key_on_a_terminal() {
    let server = server();
    let home = home();
    let mut pty = home.pty(
        &["auth", "configure"],
        &[("LUA_API_URL", &server.tesserad.url)],
    );
    pty.expect("Choose an authentication method:");
    pty.expect("API Key");
    pty.send(ENTER);
    pty.expect("Enter your API key:");
    pty.wait_for_hidden_input();
    pty.send_line(&server.key);
    pty.expect("API key saved to");
    let (code, _) = pty.finish();
    assert_eq!(code, 0);
    assert!(
        std::fs::read_to_string(credentials(&home))
            .unwrap()
            .contains(&server.key)
    );
}

#[test]
fn configure_interactive_email_sends_a_code_then_asks_for_it_on_a_terminal() {
    let server = server();
    let home = home();
    let mut pty = home.pty(
        &["auth", "configure"],
        &[("LUA_API_URL", &server.tesserad.url)],
    );
    pty.expect("Email (one-time code)");
    pty.send(DOWN);
    pty.send(ENTER);
    pty.expect("Enter your email:");
    pty.send(&format!("{}{ENTER}", server.email));
    pty.expect("Check your email for a 6-digit code.");
    pty.expect("Enter the 6-digit code:");
    let code = server.tesserad.otp_code(&server.email);
    pty.send(&format!("{code}{ENTER}"));
    pty.expect("API key generated and saved to");
    assert_eq!(pty.finish().0, 0);
    configure(&Home::new(LUA), &server, &stored_key(&home));
}

#[test]
fn configure_without_a_terminal_or_flags_names_the_flags_instead_of_prompting() {
    let home = home();
    let run = home.run(&["auth", "configure"], &[]).expect_code(2);
    let err = run.stderr();
    assert!(
        err.contains("--api-key") && err.contains("--email") && err.contains("--otp"),
        "{err}"
    );
}

#[test]
fn configure_on_a_headless_machine_skips_the_keychain_migration_and_says_so() {
    let home = home();
    // No session D-Bus: the old keychain cannot be read; the command must not hang.
    let run = home.run(&["auth", "configure"], &[]).expect_code(2);
    assert!(run.stderr().contains("OS keychain"), "{}", run.stderr());
    let bus = home.dir.path().join("no-such-bus");
    let bus = format!("unix:path={}", bus.display());
    let run = home
        .run(
            &["auth", "configure"],
            &[("DBUS_SESSION_BUS_ADDRESS", bus.as_str())],
        )
        .expect_code(2);
    assert!(run.stderr().contains("OS keychain"), "{}", run.stderr());
}

#[test]
fn configure_moves_the_pre_3_9_keytar_key_from_the_keychain_into_the_credentials_file() {
    if skip_without(KEYRING_TOOLS) {
        return;
    }
    let keyring = SecretService::start();
    let keytar = ["service", "lua-cli", "account", "api-key"];
    assert!(keyring.secret_tool(
        &[&["store", "--label=lua-cli"][..], &keytar].concat(),
        "old-keytar-key"
    ));
    let vars = keyring.vars();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let home = home();
    let run = home.run(&["auth", "configure"], &vars).ok();
    assert!(
        run.stderr()
            .contains("Migrated your API key from the OS keychain"),
        "{}",
        run.stderr()
    );
    assert_eq!(stored_key(&home), "old-keytar-key");
    assert_eq!(mode(&credentials(&home)), 0o600);
    assert!(
        !keyring.secret_tool(&[&["lookup"][..], &keytar].concat(), ""),
        "the keytar entry is removed once migrated"
    );
    // Once migrated there is nothing left to move: configure asks again.
    home.run(&["auth", "configure"], &vars).expect_code(2);
}

#[test]
fn configure_help_lists_the_documented_options() {
    let run = home().run(&["auth", "configure", "--help"], &[]).ok();
    let help = run.stdout();
    for text in [
        "Set API key directly. Best for CI/CD where you already have a key from the dashboard.",
        "Request an OTP to be sent to this email. Step 1 of the OTP flow.",
        "Verify the 6-digit code from email and generate an API key. Step 2 of the OTP flow (combine with --email).",
    ] {
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(text), "{text:?} missing from\n{help}");
    }
}

#[test]
fn auth_help_lists_configure_key_and_logout() {
    let help = home().run(&["auth", "--help"], &[]).ok().stdout();
    for line in [
        "configure  Set up authentication",
        "key        Display stored key",
        "logout     Remove credentials",
    ] {
        assert!(help.contains(line), "{line:?} missing from\n{help}");
    }
}

// --- key resolution order -----------------------------------------------------

#[test]
fn lua_api_key_env_var_beats_the_credentials_file() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let run = home
        .run(&["auth", "key", "--force"], &[("LUA_API_KEY", "from-env")])
        .ok();
    assert_eq!(run.stdout(), "from-env\n");
    assert!(
        run.stderr()
            .contains("Source: LUA_API_KEY environment variable")
    );
}

#[test]
fn credentials_file_beats_dotenv() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    std::fs::write(home.work().join(".env"), "LUA_API_KEY=from-dotenv\n").unwrap();
    let run = home.run(&["auth", "key", "--force"], &[]).ok();
    assert_eq!(run.stdout(), format!("{}\n", server.key));
    assert!(
        run.stderr()
            .contains(&format!("Source: {}", credentials(&home).display())),
        "{}",
        run.stderr()
    );
}

/// The file lua-cli 3.9 and later wrote (the key alone, perhaps with a line
/// break) is read as it is; so is the TOML form earlier Tessera builds wrote.
#[test]
fn a_credentials_file_written_by_lua_cli_is_read() {
    let home = home();
    std::fs::create_dir_all(credentials(&home).parent().unwrap()).unwrap();
    for (text, key) in [
        ("lk_from-lua-cli", "lk_from-lua-cli"),
        ("lk_with-newline\n", "lk_with-newline"),
        ("[profiles.default]\napi_key = \"lk_toml\"\n", "lk_toml"),
    ] {
        std::fs::write(credentials(&home), text).unwrap();
        assert_eq!(stored_key(&home), key);
    }
}

#[test]
fn dotenv_file_is_the_last_fallback() {
    let home = home();
    std::fs::write(home.work().join(".env"), "LUA_API_KEY=key\n").unwrap();
    let run = home.run(&["auth", "key", "--force"], &[]).ok();
    assert_eq!(run.stdout(), "key\n");
    assert!(
        run.stderr().contains("Source: .env file"),
        "{}",
        run.stderr()
    );
}

#[test]
fn no_api_key_found_lists_the_three_ways_to_authenticate() {
    let run = home().run(&["auth", "key", "--force"], &[]).expect_code(3);
    let err = run.stderr();
    assert!(err.contains("Error: No API key found."), "{err}");
    assert!(err.contains(
        "lua auth configure          # Interactive setup (stores in ~/.lua-cli/credentials)"
    ));
    assert!(err.contains("export LUA_API_KEY=your-key # Environment variable"));
    assert!(err.contains("echo \"LUA_API_KEY=key\" >> .env  # .env file"));
}

// --- lua auth key ---------------------------------------------------------------

#[test]
fn key_asks_for_confirmation_then_shows_the_key_and_its_source() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let mut pty = home.pty(&["auth", "key"], &[]);
    pty.expect("? This will display your API key. Are you sure you want to continue?");
    pty.send("y");
    pty.expect("? This will display your API key. Are you sure you want to continue? Yes");
    pty.expect("🔑 Your API key:");
    pty.expect(&server.key);
    pty.expect("Source: ");
    assert_eq!(pty.finish().0, 0);
}

#[test]
fn key_declined_shows_nothing() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let mut pty = home.pty(&["auth", "key"], &[]);
    pty.expect("Are you sure you want to continue?");
    pty.send("n");
    let (code, rest) = pty.finish();
    assert_eq!(code, 1);
    assert!(!rest.contains(&server.key), "{rest}");
}

#[test]
fn key_force_skips_the_confirmation_for_scripts() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let run = home.run(&["auth", "key", "--force"], &[]).ok();
    assert_eq!(run.stdout(), format!("{}\n", server.key));
    assert!(run.stderr().contains("🔑 Your API key:"));
}

#[test]
fn key_without_a_terminal_or_force_refuses_and_names_force() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let run = home.run(&["auth", "key"], &[]).expect_code(2);
    assert!(run.stderr().contains("--force"), "{}", run.stderr());
    assert!(!run.stdout().contains(&server.key));
}

// --- lua auth logout --------------------------------------------------------------

#[test]
fn logout_asks_for_confirmation_then_deletes_the_credentials_file() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let mut pty = home.pty(&["auth", "logout"], &[]);
    pty.expect("? Are you sure you want to delete your API key? This action cannot be undone.");
    pty.send("y");
    pty.expect("API key deleted successfully.");
    assert_eq!(pty.finish().0, 0);
    assert!(!credentials(&home).exists());
}

#[test]
fn logout_declined_keeps_the_credentials_file() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let mut pty = home.pty(&["auth", "logout"], &[]);
    pty.expect("This action cannot be undone.");
    pty.send("n");
    assert_eq!(pty.finish().0, 1);
    assert!(credentials(&home).exists());
}

#[test]
fn logout_force_skips_the_confirmation() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let run = home.run(&["auth", "logout", "--force"], &[]).ok();
    assert!(run.stderr().contains("API key deleted successfully."));
    assert!(!credentials(&home).exists());
}

#[test]
fn logout_without_a_terminal_or_force_refuses_and_names_force() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let run = home.run(&["auth", "logout"], &[]).expect_code(2);
    assert!(run.stderr().contains("--force"));
    assert!(credentials(&home).exists());
}

#[test]
fn after_logout_cli_access_is_lost_until_configure_or_lua_api_key() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    home.run(&["auth", "logout", "--force"], &[]).ok();
    let run = home.run(&["auth", "key", "--force"], &[]).expect_code(3);
    assert!(run.stderr().contains("No API key found."));
    home.run(&["auth", "key", "--force"], &[("LUA_API_KEY", "k")])
        .ok();
}

#[test]
fn logout_does_not_invalidate_the_key_on_the_server() {
    let server = server();
    let home = home();
    configure(&home, &server, &server.key);
    let run = home.run(&["auth", "logout", "--force"], &[]).ok();
    assert!(run.stderr().contains("NOT invalidated on the server"));
    // The same key still authenticates (configure checks it with GET /v1/me).
    let elsewhere = Home::new(LUA);
    configure(&elsewhere, &server, &server.key);
}

// --- environment ------------------------------------------------------------------

#[test]
fn lua_telemetry_false_is_accepted_and_nothing_but_the_api_is_contacted() {
    let stub = recorder();
    let home = home();
    home.run(
        &["auth", "configure", "--email", "dev@example.com"],
        &[("LUA_API_URL", &stub.url), ("LUA_TELEMETRY", "false")],
    )
    .ok();
    let paths: Vec<String> = stub.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/auth/otp"]);
}

#[test]
fn api_url_flag_beats_lua_api_url() {
    let stub = recorder();
    let home = home();
    home.run(
        &[
            "--api-url",
            &stub.url,
            "auth",
            "configure",
            "--email",
            "dev@example.com",
        ],
        &[("LUA_API_URL", "http://127.0.0.1:9")],
    )
    .ok();
    assert_eq!(stub.requests_to("/v1/auth/otp").len(), 1);
}

#[test]
fn configure_when_the_api_is_unreachable_exits_5_and_names_lua_api_url() {
    let url = closed_port_url();
    let home = home();
    let run = home
        .run(
            &["auth", "configure", "--api-key", "k"],
            &[("LUA_API_URL", url.as_str())],
        )
        .expect_code(5);
    assert!(run.stderr().contains("LUA_API_URL"), "{}", run.stderr());
    assert!(!credentials(&home).exists());
}

// --- where the key may go -------------------------------------------------------------

#[test]
fn a_plain_http_api_url_off_this_machine_gets_no_key() {
    let home = home();
    for vars in [&[("LUA_API_URL", "http://api.lua.example")][..], &[]] {
        let mut args = vec!["auth", "configure", "--api-key", "lk_some-key-0123456789"];
        if vars.is_empty() {
            args.extend(["--api-url", "http://api.lua.example"]);
        }
        let run = home.run(&args, vars).expect_code(2);
        assert!(run.stderr().contains("plain http"), "{}", run.stderr());
    }
    assert!(!credentials(&home).exists(), "nothing stored");
}
