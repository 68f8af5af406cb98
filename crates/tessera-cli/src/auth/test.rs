//! `auth test`: `GET /v1/me` with the credential in use (an OAuth token is
//! renewed first when due) and says who it acts for, or why not.

use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use serde::Serialize;
use tessera_client::Error as ClientError;
use tessera_client::retry::RetryPolicy;
use tessera_client::{ApiClient, Authorization};
use tessera_proto::ApiKey;
use tessera_proto::api::Me;

#[derive(Debug, Default, clap::Args)]
pub struct TestArgs {
    #[arg(long, value_name = "KEY", value_parser = crate::args::api_key_arg, hide = true)]
    pub api_key: Option<ApiKey>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct TestJson<'a> {
    server: &'a str,
    source: &'static str,
    source_detail: &'a str,
    me: &'a Me,
}

/// Who `authorization` acts for (`GET /v1/me`). A 429 is waited out (per
/// `Retry-After`, capped, a bounded number of times) as `api` does and
/// kubectl does, each wait said on stderr: the credential is not at fault,
/// and failing at once makes every script retry by hand. A persona's own
/// `auth test` calls this too.
pub fn me(
    ctx: &Ctx,
    io: &mut Io,
    client: &ApiClient,
    authorization: &Authorization,
) -> Result<Me, ClientError> {
    let stderr = &mut *io.stderr;
    client.me_with_retry(
        authorization,
        &RetryPolicy::default(),
        ctx.clock,
        ctx.now,
        &mut |wait| crate::api::say_wait(stderr, wait),
    )
}

pub fn run(args: &TestArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let active = super::credential::active(ctx, args.api_key.as_ref(), io)?;
    let target = super::target(ctx)?;
    let server = &target.server;
    let client = target.api(ctx, io)?;
    let me = me(ctx, io, &client, &active.authorization).map_err(|e| {
        let hint = match &e {
            ClientError::Unauthorized { .. } => Some(format!(
                "{server} does not accept the credential from {}; log in again (`{} auth login`)",
                active.source_detail, ctx.spec.name
            )),
            ClientError::Forbidden { .. } => {
                Some("the credential is valid but lacks the THIRD_PARTY_OPERATION scope".to_owned())
            }
            ClientError::Network { .. } => Some(format!(
                "is the server running? `{} auth status` shows which server is used",
                ctx.spec.name
            )),
            _ => None,
        };
        CliError::from(e).maybe_hint(hint)
    })?;
    if args.json {
        return super::print_json(
            io,
            &TestJson {
                server,
                source: active.source,
                source_detail: &active.source_detail,
                me: &me,
            },
        );
    }
    // Every value here is the server's or a file's: printed printable.
    use crate::texts::printable as p;
    writeln!(
        io.stdout,
        "Authenticated to {} as {} (account {}).",
        p(server),
        p(&me.email),
        p(&me.account_id)
    )?;
    writeln!(
        io.stdout,
        "Credential: {} {} from {}",
        p(&me.credential),
        p(&me.credential_id),
        p(&active.source_detail)
    )?;
    writeln!(io.stdout, "Scope:      {}", p(&me.scope.to_string()))?;
    if let Some(acr) = &me.acr {
        writeln!(io.stdout, "Level:      {}", p(acr))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};
    use tessera_testkit::{HttpStub, StubResponse};

    /// A clock that records its sleeps instead of sleeping.
    struct Recorded {
        start: Instant,
        slept: RefCell<Vec<Duration>>,
    }

    impl tessera_client::oauth::Clock for Recorded {
        fn now(&self) -> Instant {
            self.start + self.slept.borrow().iter().sum::<Duration>()
        }
        fn sleep(&self, duration: Duration) {
            self.slept.borrow_mut().push(duration);
        }
    }

    /// `auth test` failed at once on a 429 (exit 6) where `api` waits it
    /// out: it now waits per `Retry-After`, says so on stderr, and succeeds
    /// when the server lets it through.
    #[test]
    fn a_rate_limit_is_waited_out_per_retry_after() {
        let me = r#"{"account_id":"acct_1","email":"a@example.test","credential":"api_key","credential_id":"key_1","scope":"THIRD_PARTY_OPERATION"}"#;
        let answers = std::sync::Mutex::new(vec![
            StubResponse::text(200, me),
            StubResponse::text(429, r#"{"message":"slow down"}"#).header("Retry-After", "2"),
        ]);
        let server = HttpStub::builder()
            .fallback(move |_, _| {
                answers
                    .lock()
                    .unwrap()
                    .pop()
                    .expect("one more request than answers")
            })
            .start();
        let dir = tempfile::tempdir().unwrap();
        let env = BTreeMap::from([
            ("TESSERA_URL", server.url.as_str()),
            ("TESSERA_API_KEY", "the-key"),
        ]);
        let clock = Recorded {
            start: Instant::now(),
            slept: RefCell::new(Vec::new()),
        };
        let ctx = Ctx {
            env: &env,
            clock: &clock,
            ..crate::context::testing::ctx(&dir)
        };
        let mut cap = crate::io::testing::Captured::default();
        run(&TestArgs::default(), &ctx, &mut cap.io()).unwrap();
        assert_eq!(server.requests_to("/v1/me").len(), 2);
        let slept = clock.slept.borrow();
        assert_eq!(slept.len(), 1);
        assert!(
            slept[0] >= Duration::from_secs(2) && slept[0] <= Duration::from_millis(2_750),
            "{slept:?}"
        );
        assert!(
            cap.stderr()
                .starts_with("rate limited (HTTP 429); retrying in 2."),
            "{}",
            cap.stderr()
        );
        assert!(
            cap.stdout().contains("as a@example.test"),
            "{}",
            cap.stdout()
        );
    }
}
