//! `api [-X METHOD] PATH [-d JSON] [--include]`: an authenticated request to
//! the platform API, like `gh api`. The right `Authorization` header for the
//! credential in use (`token <key>` or `Bearer <access token>`, renewed first
//! when due); on 429 it waits per `Retry-After` / `X-RateLimit-Reset` with
//! jitter, a bounded number of times, saying so on stderr.
//!
//! The response body goes to stdout whatever the status; a non-2xx status
//! also fails the command (401 → 4, 429 after the last attempt and 5xx → 6,
//! other statuses → 1).

use crate::auth;
use crate::context::Ctx;
use crate::error::CliError;
use crate::io::Io;
use tessera_client::Error as ClientError;
use tessera_client::retry::{RateLimitWait, RetryPolicy};
use tessera_proto::ApiKey;

pub(crate) const HELP: &str = crate::with_examples!(
    "  {command} /v1/me
  # the status line and headers (rate limits) too
  {command} --include /v1/projects
  # POST a JSON body (@FILE reads a file, @- stdin)
  {command} /v1/api-keys -d '{\"expires_in\":\"30d\"}'
  {command} -X DELETE /v1/api-keys/KEY_ID
  # another server: with a profile of that server
  {command} --profile work https://api.work.example/v1/me"
);

#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// A path on the server (`/v1/me`) or a full URL.
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub path: String,
    /// The HTTP method (default GET, or POST with --data).
    #[arg(short = 'X', long, value_name = "METHOD")]
    pub method: Option<String>,
    /// A JSON request body; `@FILE` reads it from a file, `@-` from stdin.
    #[arg(short = 'd', long, value_name = "JSON")]
    pub data: Option<String>,
    /// Print the status line and response headers (rate-limit headers
    /// included) before the body.
    #[arg(short = 'i', long)]
    pub include: bool,
    /// Requests in total when rate limited (429).
    #[arg(long, value_name = "N", default_value_t = RetryPolicy::default().max_attempts)]
    pub max_attempts: u32,
    /// Use this API key instead of the resolved credential.
    #[arg(long, value_name = "KEY", value_parser = crate::args::api_key_arg, hide = true)]
    pub api_key: Option<ApiKey>,
}

pub fn run(args: &ApiArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let body = read_body(args, io)?;
    let method = args
        .method
        .clone()
        .unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.to_owned());
    let target = auth::target(ctx)?;
    let client = target.api(ctx, io)?;
    // Checked before the credential is even read: a URL on another server
    // must not get this one's credential.
    let url = client
        .url(&args.path)
        .map_err(|e| other_server_hint(ctx, &target, &args.path, e))?;
    let active = auth::credential::active(ctx, args.api_key.as_ref(), io)?;
    let policy = RetryPolicy {
        max_attempts: args.max_attempts.max(1),
        ..RetryPolicy::default()
    };
    let stderr = &mut *io.stderr;
    let response = client.send_with_retry(
        &method,
        &args.path,
        body.as_deref(),
        &active.authorization,
        &policy,
        ctx.clock,
        ctx.now,
        &mut |wait| say_wait(stderr, wait),
    )?;
    if args.include {
        writeln!(io.stdout, "HTTP {}", response.status)?;
        for (name, value) in &response.headers {
            writeln!(io.stdout, "{name}: {value}")?;
        }
        writeln!(io.stdout)?;
    }
    io.stdout.write_all(&response.body)?;
    // A text answer ends its line, as on a terminal; bytes stay as they came
    // (`api … > file`).
    let text = std::str::from_utf8(&response.body).is_ok();
    if text && !response.body.is_empty() && !response.body.ends_with(b"\n") {
        writeln!(io.stdout)?;
    }
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let message = match tessera_client::api::ErrorSaid::of(&response.body).message {
        Some(message) => message,
        // Never followed: the request carries a credential, and the new
        // address was not the user's choice.
        None if (300..400).contains(&response.status) => format!(
            "a redirect to {}, not followed",
            response.header("location").unwrap_or("nowhere")
        ),
        None => "no message in its answer".to_owned(),
    };
    Err(match response.status {
        401 => CliError::from(ClientError::Unauthorized { message }).with_hint(format!(
            "the server did not accept the credential from {}",
            active.source_detail
        )),
        429 => ClientError::RateLimited {
            retry_after: response
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok()),
        }
        .into(),
        500.. => ClientError::Server {
            url,
            status: response.status,
            message,
        }
        .into(),
        status => CliError::Http { status, message },
    })
}

/// The line on stderr before each wait for a rate limit.
pub(crate) fn say_wait(stderr: &mut dyn std::io::Write, wait: &RateLimitWait) {
    let _ = writeln!(
        stderr,
        "rate limited (HTTP 429); retrying in {:.1}s (attempt {} of {})",
        wait.delay.as_secs_f64(),
        wait.attempt + 1,
        wait.max_attempts
    );
}

/// Says how to call another server, as `gh api --hostname` does: with a
/// profile of that server, naming one when there is one.
fn other_server_hint(ctx: &Ctx, target: &auth::Target, path: &str, error: ClientError) -> CliError {
    if !matches!(error, ClientError::OtherOrigin { .. }) {
        return error.into();
    }
    let name = ctx.spec.name;
    let origin_of = |server: &str, path: &str| {
        let url = url::Url::parse(server).ok()?.join(path).ok()?;
        Some(url.origin())
    };
    let wanted = origin_of(&target.server, path);
    let config = ctx.store.read_config().unwrap_or_default();
    let profile = config.profiles.iter().find_map(|(profile, p)| {
        let server = config.server_url(ctx.spec, ctx.env, &p.environment, Some(profile))?;
        (wanted.is_some() && origin_of(&server, "/") == wanted).then_some(profile)
    });
    let hint = match profile {
        Some(profile) => format!(
            "to use profile {profile:?}, whose server that is: `{name} --profile {profile} api {path}`"
        ),
        None => format!(
            "pass a path on {} (`{name} api /v1/me`), or log in to the other server in a profile of its own (`{name} auth env add NAME URL`, `{name} auth env switch NAME`, `{name} auth login`) and pass `--profile NAME`",
            target.server
        ),
    };
    CliError::from(error).with_hint(hint)
}

/// The `--data` body, checked to be JSON so that a typo fails here with exit 2
/// rather than at the server.
fn read_body(args: &ApiArgs, io: &mut Io) -> Result<Option<Vec<u8>>, CliError> {
    let Some(data) = &args.data else {
        return Ok(None);
    };
    let bytes = match data.strip_prefix('@') {
        Some("-") => {
            let mut bytes = Vec::new();
            io.stdin.read_to_end(&mut bytes)?;
            bytes
        }
        Some(path) => std::fs::read(path)
            .map_err(|e| CliError::Usage(format!("cannot read --data file {path}: {e}")))?,
        None => data.as_bytes().to_vec(),
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .map_err(|e| CliError::Usage(format!("--data is not valid JSON: {e}")))?;
    Ok(Some(bytes))
}
