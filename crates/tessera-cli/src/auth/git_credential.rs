//! `auth git-credential get|store|erase`: a git credential helper
//! (gitcredentials(7)). `get` answers only for the Tessera server's own
//! protocol and host, so git asks its other helpers for everything else;
//! `store` and `erase` have nothing to do, since the credential lives in
//! Tessera's own store. Git passes a password on as it is, so the token of a
//! DPoP-bound login does not work through it (said on stderr).
//!
//! ```text
//! git config --global credential.https://api.example.com.helper '!tessera auth git-credential'
//! ```

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use std::collections::HashMap;

#[derive(Debug, clap::Args)]
pub struct GitCredentialArgs {
    /// The operation git asks for: get, store or erase.
    #[arg(value_parser = ["get", "store", "erase"])]
    pub operation: String,
}

/// The user name sent with the token; servers read the password.
const USERNAME: &str = "x-access-token";

pub fn run(args: &GitCredentialArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let request = read_attributes(io)?;
    if args.operation != "get" {
        return Ok(());
    }
    let target = super::target(ctx)?;
    let server = url::Url::parse(&target.server)
        .map_err(|e| CliError::Usage(format!("the server URL is not valid: {e}")))?;
    let host = match server.port() {
        Some(port) => format!("{}:{port}", server.host_str().unwrap_or_default()),
        None => server.host_str().unwrap_or_default().to_owned(),
    };
    let asked = |key: &str| request.get(key).map(String::as_str);
    if asked("protocol") != Some(server.scheme()) || asked("host") != Some(host.as_str()) {
        return Ok(());
    }
    target.check_plain_http()?;
    let active = super::credential::active(ctx, None, io)?;
    super::credential::warn_if_bound(ctx, io, &active, "the password git sends")?;
    // git reads `key=value` lines: a line break in the password would add
    // attributes of its own. Tokens are checked when they arrive; this also
    // holds for a login saved before that, or a file edited by hand.
    if active.authorization.secret().chars().any(char::is_control) {
        return Err(CliError::Usage(format!(
            "the credential of the {} holds a line break or another control character, which git's credential protocol cannot carry; log in again",
            active.source_detail
        )));
    }
    writeln!(io.stdout, "protocol={}", server.scheme())?;
    writeln!(io.stdout, "host={host}")?;
    writeln!(io.stdout, "username={USERNAME}")?;
    writeln!(io.stdout, "password={}", active.authorization.secret())?;
    if let Some(exp) = active.expires_at {
        writeln!(io.stdout, "password_expiry_utc={exp}")?;
    }
    Ok(())
}

/// `key=value` lines up to a blank line or the end of input.
fn read_attributes(io: &mut Io) -> Result<HashMap<String, String>, CliError> {
    let mut attributes = HashMap::new();
    let mut line = String::new();
    loop {
        line.clear();
        if io.stdin.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once('=') {
            attributes.insert(key.to_owned(), value.to_owned());
        }
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::testing::ctx;
    use crate::io::testing::Captured;
    use proptest::strategy::Strategy as _;

    fn run_with(ctx: &Ctx, op: &str, input: &str) -> String {
        let mut cap = Captured {
            stdin: std::io::Cursor::new(input.as_bytes().to_vec()),
            ..Default::default()
        };
        let args = GitCredentialArgs {
            operation: op.to_owned(),
        };
        run(&args, ctx, &mut cap.io()).unwrap();
        cap.stdout()
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]
        /// git's input is outside input: whatever it is, the key goes out
        /// only when the last `protocol` and `host` before the first blank
        /// line are exactly the server's.
        #[test]
        fn only_the_servers_exact_protocol_and_host_get_the_key(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "protocol=http", "protocol=https", "protocol=HTTP",
                        "host=127.0.0.1:8080", "host=127.0.0.1", "host=127.0.0.1:80800",
                        "host=127.0.0.1:8080.evil.test", "host=evil.test", "path=x",
                        "", "host =127.0.0.1:8080", "protocol=http\r",
                    ]).prop_map(str::to_owned),
                    "\\PC{0,30}",
                ],
                0..8,
            )
        ) {
            let dir = tempfile::tempdir().unwrap();
            let ctx = ctx(&dir);
            let key = tessera_proto::ApiKey::new("k-123");
            crate::auth::login::api_key(&ctx, &mut Captured::default().io(), &key, false).unwrap();
            let input = lines.join("\n");
            let out = run_with(&ctx, "get", &input);
            // As git's helpers do, a CR before the LF is not part of a line.
            let asked: Vec<&str> = lines
                .iter()
                .map(|l| l.trim_end_matches('\r'))
                .take_while(|l| !l.is_empty())
                .collect();
            let last = |prefix: &str| asked.iter().rev().find_map(|l| l.strip_prefix(prefix));
            let exact = last("protocol=") == Some("http") && last("host=") == Some("127.0.0.1:8080");
            proptest::prop_assert_eq!(out.contains("password=k-123"), exact, "{:?} -> {:?}", input, out);
        }
    }

    #[test]
    fn a_plain_http_server_off_this_machine_gets_nothing_without_the_opt_in() {
        let dir = tempfile::tempdir().unwrap();
        let env = std::collections::BTreeMap::from([("TESSERA_URL", "http://git.example.test")]);
        let ctx = Ctx {
            env: &env,
            ..ctx(&dir)
        };
        let key = tessera_proto::ApiKey::new("k-123");
        crate::auth::login::api_key(&ctx, &mut Captured::default().io(), &key, false).unwrap();
        let mut cap = Captured {
            stdin: std::io::Cursor::new(b"protocol=http\nhost=git.example.test\n".to_vec()),
            ..Default::default()
        };
        let args = GitCredentialArgs {
            operation: "get".into(),
        };
        let err = run(&args, &ctx, &mut cap.io()).unwrap_err();
        assert_eq!(crate::exit::exit_for(&err), crate::Exit::Usage, "{err}");
        assert!(cap.stdout().is_empty());
    }

    #[test]
    fn answers_only_for_the_server_host() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ctx(&dir);
        let key = tessera_proto::ApiKey::new("k-123");
        crate::auth::login::api_key(&ctx, &mut Captured::default().io(), &key, false).unwrap();
        let out = run_with(&ctx, "get", "protocol=http\nhost=127.0.0.1:8080\n\n");
        assert_eq!(
            out,
            "protocol=http\nhost=127.0.0.1:8080\nusername=x-access-token\npassword=k-123\n"
        );
        assert_eq!(
            run_with(&ctx, "get", "protocol=https\nhost=github.com\n"),
            ""
        );
        assert_eq!(
            run_with(
                &ctx,
                "store",
                "protocol=http\nhost=127.0.0.1:8080\npassword=x\n"
            ),
            ""
        );
    }
}
