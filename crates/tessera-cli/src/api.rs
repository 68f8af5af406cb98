//! `api [-X METHOD] PATH [-d JSON | -f/-F KEY=VALUE…] [-H 'NAME: VALUE'…]
//! [--include] [--silent]`: an authenticated request to the platform API,
//! like `gh api`. The right `Authorization` header for the credential in use
//! (`token <key>` or `Bearer <access token>`, renewed first when due), unless
//! the user gives one with `-H` (then no credential is read at all); on 429
//! it waits per `Retry-After` / `X-RateLimit-Reset` with jitter, a bounded
//! number of times, saying so on stderr.
//!
//! Fields (`-f` strings, `-F` typed as gh types them) make a JSON object
//! body, or the query string of a GET/HEAD.
//!
//! The response body goes to stdout whatever the status; a non-2xx status
//! also fails the command (401 → 4, 429 after the last attempt and 5xx → 6,
//! other statuses → 1).

use crate::args::Secret;
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
  # a JSON body from fields: {\"name\":\"ci\",\"expires_in\":\"30d\"}
  # (-F types true/false/null/integers and reads @FILE; key[]=v, key[sub]=v)
  {command} /v1/api-keys -f name=ci -f expires_in=30d
  # with -X GET, fields go in the query string instead (?name=demo)
  {command} -X GET /v1/projects -f name=demo
  # headers of your own; an Authorization of yours replaces the profile's
  {command} -H 'Accept: application/json' -H 'X-Request-Id: r1' /v1/me
  # only the status (exit code) and headers
  {command} --include --silent /v1/me
  # another server: with a profile of that server
  {command} --profile work https://api.work.example/v1/me"
);

#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// A path on the server (`/v1/me`) or a full URL.
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub path: String,
    /// The HTTP method (default GET, or POST with --data or fields).
    #[arg(short = 'X', long, value_name = "METHOD")]
    pub method: Option<String>,
    /// A JSON request body; `@FILE` reads it from a file, `@-` from stdin.
    #[arg(short = 'd', long, value_name = "JSON", value_parser = crate::args::secret_arg)]
    pub data: Option<Secret>,
    /// A string field of a JSON object body (query parameter with GET);
    /// `key[]=v` appends to an array, `key[sub]=v` nests.
    #[arg(short = 'f', long = "raw-field", value_name = "KEY=VALUE", value_parser = crate::args::secret_arg)]
    pub raw_field: Vec<Secret>,
    /// A typed field: true, false, null and integers become JSON; `@FILE`
    /// reads the value from a file, `@-` from stdin.
    #[arg(short = 'F', long = "field", value_name = "KEY=VALUE", value_parser = crate::args::secret_arg)]
    pub field: Vec<Secret>,
    /// A request header, `Name: value`; repeatable. An `Authorization`
    /// header replaces the profile's credential.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub header: Vec<HeaderArg>,
    /// Print the status line and response headers (rate-limit headers
    /// included) before the body.
    #[arg(short = 'i', long)]
    pub include: bool,
    /// Do not print the response body (the exit code and --include still
    /// say how it went).
    #[arg(long)]
    pub silent: bool,
    /// Requests in total when rate limited (429).
    #[arg(long, value_name = "N", default_value_t = RetryPolicy::default().max_attempts)]
    pub max_attempts: u32,
    /// Use this API key instead of the resolved credential.
    #[arg(long, value_name = "KEY", value_parser = crate::args::api_key_arg, hide = true)]
    pub api_key: Option<ApiKey>,
}

/// A `-H` as given. Its value may be a credential (`Authorization`), so
/// `Debug` shows only the name, as the other secret arguments do, and only
/// a valid one: what stands before the colon of a mistyped line
/// (`Authorization=Bearer KEY: x`) may hold the credential itself.
#[derive(Clone)]
pub struct HeaderArg(pub String);

impl std::fmt::Debug for HeaderArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self
            .0
            .split_once(':')
            .map(|(name, _)| name.trim_matches([' ', '\t']))
            .filter(|name| is_header_name(name))
            .unwrap_or("?");
        write!(f, "HeaderArg({name}: <redacted>)")
    }
}

/// An HTTP field name: one or more `tchar`s (RFC 9110 §5.1).
fn is_header_name(name: &str) -> bool {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    !name.is_empty() && name.chars().all(tchar)
}

impl From<String> for HeaderArg {
    fn from(line: String) -> Self {
        HeaderArg(line)
    }
}

pub fn run(args: &ApiArgs, ctx: &Ctx, io: &mut Io) -> Result<(), CliError> {
    let headers = args
        .header
        .iter()
        .map(|line| parse_header(&line.0))
        .collect::<Result<Vec<_>, _>>()?;
    if args.data.is_some() && !(args.raw_field.is_empty() && args.field.is_empty()) {
        return Err(CliError::Usage(
            "--data and -f/-F both give the request body; use one (fields make a JSON object, --data any JSON)"
                .into(),
        ));
    }
    let fields = read_fields(args, io)?;
    let mut body = read_body(args, io)?;
    let method = args.method.clone().unwrap_or_else(|| {
        if body.is_some() || !fields.is_empty() {
            "POST"
        } else {
            "GET"
        }
        .to_owned()
    });
    let mut path = args.path.clone();
    if !fields.is_empty() {
        if ["GET", "HEAD"].contains(&method.to_ascii_uppercase().as_str()) {
            path = with_query(&path, &fields)?;
        } else {
            body = Some(json_object(&fields)?);
        }
    }
    let given_authorization = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    let target = auth::target(ctx)?;
    let client = target.api(ctx, io)?.with_headers(headers);
    // Checked before the credential is even read: a URL on another server
    // must not get this one's credential.
    let url = client
        .url(&path)
        .map_err(|e| other_server_hint(ctx, &target, &args.path, e))?;
    // The user's own Authorization goes instead: the profile's credential
    // is not needed, so it is not even read (nor renewed).
    let active = match given_authorization {
        true => None,
        false => Some(auth::credential::active(ctx, args.api_key.as_ref(), io)?),
    };
    let policy = RetryPolicy {
        max_attempts: args.max_attempts.max(1),
        ..RetryPolicy::default()
    };
    let stderr = &mut *io.stderr;
    let response = client.send_with_retry(
        &method,
        &path,
        body.as_deref(),
        active.as_ref().map(|a| &a.authorization),
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
    if !args.silent {
        io.stdout.write_all(&response.body)?;
        // A text answer ends its line, as on a terminal; bytes stay as they
        // came (`api … > file`).
        let text = std::str::from_utf8(&response.body).is_ok();
        if text && !response.body.is_empty() && !response.body.ends_with(b"\n") {
            writeln!(io.stdout)?;
        }
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
        401 => CliError::from(ClientError::Unauthorized { message }).with_hint(match &active {
            Some(active) => format!(
                "the server did not accept the credential from {}",
                active.source_detail
            ),
            None => "the server did not accept the Authorization header given with --header".into(),
        }),
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
    let Some(data) = args.data.as_ref().map(Secret::expose_secret) else {
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

/// Headers the HTTP client writes itself: they frame the request or belong
/// to one connection (RFC 9110 §7.6.1), and a second copy from the user
/// would make the request ambiguous (request smuggling) or be refused.
const NOT_GIVEN: [&str; 11] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

/// A `-H 'Name: value'` (as gh splits it: at the first colon, both sides
/// trimmed), checked so that it cannot add a line to the request or be
/// refused later as if the network had failed. The value is never repeated
/// in an error: it may be a credential.
fn parse_header(line: &str) -> Result<(String, String), CliError> {
    let Some((name, value)) = line.split_once(':') else {
        return Err(CliError::Usage(
            "--header takes `Name: value`; one has no colon".into(),
        ));
    };
    let name = name.trim_matches([' ', '\t']);
    let value = value.trim_matches([' ', '\t']);
    let breaks = |s: &str| s.contains(['\r', '\n', '\0']);
    if breaks(name) {
        return Err(CliError::Usage(
            "a --header name holds a line break or NUL".into(),
        ));
    }
    // Not quoted back: before the first colon of a mistyped line
    // (`Authorization=Bearer KEY: x`, `Bearer KEY`) may stand the credential.
    if !is_header_name(name) {
        return Err(CliError::Usage(
            "a --header is not `Name: value`: its name, before the first colon, is empty or holds other than letters, digits and !#$%&'*+-.^_`|~".into(),
        ));
    }
    if NOT_GIVEN.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(CliError::Usage(format!(
            "--header {name}: the HTTP client sets this header itself (it frames the request or belongs to the connection)"
        )));
    }
    if breaks(value) {
        return Err(CliError::Usage(format!(
            "the value of --header {name} holds a line break or NUL, which would end the header"
        )));
    }
    if !value.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
        return Err(CliError::Usage(format!(
            "the value of --header {name} holds a control character or one beyond ASCII, which an HTTP header cannot carry"
        )));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// One `-f`/`-F` field: its key as written, the path of that key into the
/// JSON object, and its value (none for `key[]`, an empty array).
#[derive(Debug)]
struct Field {
    key: String,
    path: Vec<String>,
    /// `key[]`: appends to an array.
    push: bool,
    value: Option<serde_json::Value>,
}

/// The fields, `-f` then `-F` (gh's order), keys parsed and `-F` values
/// typed and read.
fn read_fields(args: &ApiArgs, io: &mut Io) -> Result<Vec<Field>, CliError> {
    let mut read_stdin = false;
    let raw = args.raw_field.iter().map(|f| (f.expose_secret(), false));
    let typed = args.field.iter().map(|f| (f.expose_secret(), true));
    raw.chain(typed)
        .map(|(field, typed)| {
            let flag = if typed { "-F" } else { "-f" };
            let (key, value) = match field.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (field, None),
            };
            let (path, push) = parse_key(key, flag)?;
            let value = match value {
                None if push => None,
                None => {
                    return Err(CliError::Usage(format!(
                        "{flag} `{}` needs a value: KEY=VALUE (`KEY[]` alone is an empty array)",
                        shown_key(key)
                    )));
                }
                Some(value) if !typed => Some(serde_json::Value::String(value.to_owned())),
                Some(value) => Some(typed_value(value, &mut read_stdin, io)?),
            };
            Ok(Field {
                key: key.to_owned(),
                path,
                push,
                value,
            })
        })
        .collect()
}

/// A field key as an error quotes it: printable, and cut short, since a
/// key may be as long as the command line allows (128 KiB).
fn shown_key(key: &str) -> String {
    let mut cut = key.chars();
    let head: String = cut.by_ref().take(60).collect();
    let more = if cut.next().is_some() { "…" } else { "" };
    format!("{}{more}", crate::texts::printable(&head))
}

/// How many levels a field key may nest (`a[b][c]` is three): far beyond
/// any API's body, far below what overflows the stack.
const MAX_KEY_DEPTH: usize = 64;

/// `name`, `name[a][b]`, and `name[]` or `name[a][]` (appending): the parts
/// of the key and whether it appends. An array inside an array
/// (`a[][b]`) has no single meaning, so it is refused.
fn parse_key(key: &str, flag: &str) -> Result<(Vec<String>, bool), CliError> {
    let bad = |why: &str| {
        CliError::Usage(format!(
            "{flag} key `{}`: {why} (use `name`, `name[sub]` or `name[]`)",
            shown_key(key)
        ))
    };
    let (first, mut rest) = key.split_at(key.find('[').unwrap_or(key.len()));
    if first.is_empty() {
        return Err(bad("no name"));
    }
    if first.contains(']') {
        return Err(bad("unbalanced brackets"));
    }
    let mut path = vec![first.to_owned()];
    let mut push = false;
    while !rest.is_empty() {
        if push {
            return Err(bad("`[]` can only end a key"));
        }
        let inner = rest
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .filter(|(inner, _)| !inner.contains('['));
        let Some((inner, after)) = inner else {
            return Err(bad("unbalanced brackets"));
        };
        match inner {
            "" => push = true,
            sub => path.push(sub.to_owned()),
        }
        // The body is built, written and dropped by recursion, one frame a
        // level: a key of a million `[a]` would overflow the stack.
        if path.len() > MAX_KEY_DEPTH {
            return Err(bad(&format!("it nests deeper than {MAX_KEY_DEPTH} levels")));
        }
        rest = after;
    }
    Ok((path, push))
}

/// A `-F` value as gh types it: `true`, `false`, `null`, an integer, the
/// text of `@FILE` (`@-`: stdin, once), else the string itself.
fn typed_value(
    value: &str,
    read_stdin: &mut bool,
    io: &mut Io,
) -> Result<serde_json::Value, CliError> {
    use serde_json::Value;
    Ok(match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ if value.parse::<i64>().is_ok() => Value::from(value.parse::<i64>().unwrap_or(0)),
        _ => {
            match value.strip_prefix('@') {
                None => Value::String(value.to_owned()),
                Some("-") => {
                    if std::mem::replace(read_stdin, true) {
                        return Err(CliError::Usage(
                            "only one -F field can read stdin (@-)".into(),
                        ));
                    }
                    let mut text = String::new();
                    io.stdin.read_to_string(&mut text).map_err(|e| {
                        CliError::Usage(format!("cannot read a -F field from stdin: {e}"))
                    })?;
                    Value::String(text)
                }
                Some(path) => Value::String(std::fs::read_to_string(path).map_err(|e| {
                    CliError::Usage(format!("cannot read -F field file {path}: {e}"))
                })?),
            }
        }
    })
}

/// The fields as a JSON object body.
fn json_object(fields: &[Field]) -> Result<Vec<u8>, CliError> {
    use serde_json::{Map, Value};
    let mut root = Value::Object(Map::new());
    for field in fields {
        let clash = || {
            CliError::Usage(format!(
                "field `{}` is both a value and an object or array",
                shown_key(&field.key)
            ))
        };
        let (last, parents) = field.path.split_last().unwrap_or((&field.path[0], &[]));
        let mut at = &mut root;
        for part in parents {
            at = at
                .as_object_mut()
                .ok_or_else(clash)?
                .entry(part.as_str())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        let object = at.as_object_mut().ok_or_else(clash)?;
        if field.push {
            let array = object
                .entry(last.as_str())
                .or_insert_with(|| Value::Array(Vec::new()))
                .as_array_mut()
                .ok_or_else(clash)?;
            array.extend(field.value.clone());
        } else {
            object.insert(last.clone(), field.value.clone().unwrap_or_default());
        }
    }
    Ok(serde_json::to_vec(&root).unwrap_or_default())
}

/// `path` with the fields added to its query string, keys as written
/// (`a[]=1&a[]=2`), values as text (null is empty, as gh sends it).
fn with_query(path: &str, fields: &[Field]) -> Result<String, CliError> {
    use serde_json::Value;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for field in fields {
        let value = match &field.value {
            None => {
                return Err(CliError::Usage(format!(
                    "field `{}`: an empty array has no form in a query string",
                    shown_key(&field.key)
                )));
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) => String::new(),
            Some(other) => other.to_string(),
        };
        query.append_pair(&field.key, &value);
    }
    let query = query.finish();
    // The query stands before a `#fragment`; after it, it would be part of
    // the fragment, which is never sent.
    let (path, fragment) = path.split_at(path.find('#').unwrap_or(path.len()));
    let joint = match path.contains('?') {
        true if path.ends_with(['?', '&']) => "",
        true => "&",
        false => "?",
    };
    Ok(format!("{path}{joint}{query}{fragment}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(raw: &[&str], typed: &[&str]) -> Result<Vec<Field>, CliError> {
        let args = ApiArgs {
            path: "/v1/x".into(),
            method: None,
            data: None,
            raw_field: raw.iter().map(|s| Secret::new(*s)).collect(),
            field: typed.iter().map(|s| Secret::new(*s)).collect(),
            header: Vec::new(),
            include: false,
            silent: false,
            max_attempts: 1,
            api_key: None,
        };
        let mut captured = crate::io::testing::Captured::default();
        read_fields(&args, &mut captured.io())
    }

    fn body(raw: &[&str], typed: &[&str]) -> serde_json::Value {
        serde_json::from_slice(&json_object(&fields(raw, typed).unwrap()).unwrap()).unwrap()
    }

    fn usage(result: Result<impl std::fmt::Debug, CliError>) -> String {
        match result {
            Err(CliError::Usage(message)) => message,
            other => panic!("not a usage error: {other:?}"),
        }
    }

    #[test]
    fn headers_are_name_colon_value_and_cannot_add_a_line() {
        assert_eq!(
            parse_header("X-Request-Id:  r1 ").unwrap(),
            ("X-Request-Id".to_owned(), "r1".to_owned())
        );
        assert_eq!(
            parse_header("Authorization: token a:b").unwrap().1,
            "token a:b"
        );
        for (line, said) in [
            ("X-A: ok\r\nX-Injected: 1", "line break"),
            ("X-A: ok\nHost: evil", "line break"),
            ("X-A: a\0b", "line break or NUL"),
            ("X-A\r\nB: c", "line break"),
            ("Authorization token-secret", "no colon"),
            (": v", "not `Name: value`"),
            ("X A: v", "not `Name: value`"),
            ("Authorization=Bearer secret: x", "not `Name: value`"),
            ("Bearer secret:", "not `Name: value`"),
            ("X-A: caf\u{e9}", "beyond ASCII"),
            ("X-A: a\u{7}b", "control character"),
            ("Host: elsewhere.test", "sets this header itself"),
            ("content-length: 0", "sets this header itself"),
            ("Transfer-Encoding: chunked", "sets this header itself"),
            ("Connection: close", "sets this header itself"),
        ] {
            let message = usage(parse_header(line));
            assert!(message.contains(said), "{line:?}: {message}");
            assert!(!message.contains("secret"), "{message}");
        }
    }

    #[test]
    fn a_header_debugs_as_its_name_only_and_only_a_valid_one() {
        let debug = |line: &str| format!("{:?}", HeaderArg(line.to_owned()));
        assert_eq!(debug("X-Id: r1"), "HeaderArg(X-Id: <redacted>)");
        assert_eq!(
            debug("Authorization: Bearer secret"),
            "HeaderArg(Authorization: <redacted>)"
        );
        for mistyped in ["Authorization=Bearer secret: x", "Bearer secret", "secret"] {
            assert_eq!(debug(mistyped), "HeaderArg(?: <redacted>)", "{mistyped}");
        }
    }

    #[test]
    fn fields_make_a_json_object_typed_as_gh_types_them() {
        assert_eq!(
            body(
                &["name=x", "n=1", "t=true"],
                &[
                    "a=true", "b=false", "c=null", "d=-12", "e=1.5", "f=", "g=text"
                ]
            ),
            json!({"name": "x", "n": "1", "t": "true", "a": true, "b": false, "c": null,
                   "d": -12, "e": "1.5", "f": "", "g": "text"})
        );
        assert_eq!(
            body(
                &["scope[]=a", "scope[]=b", "meta[owner][name]=m", "tags[]"],
                &["meta[size]=3", "empty[]"]
            ),
            json!({"scope": ["a", "b"], "meta": {"owner": {"name": "m"}, "size": 3},
                   "tags": [], "empty": []})
        );
        // `@FILE` reads the value (as text); `-f` never does.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.txt");
        std::fs::write(&file, "from a file\n").unwrap();
        let at = format!("v=@{}", file.display());
        assert_eq!(
            body(&[at.as_str()], &[at.replace("v=", "w=").as_str()]),
            json!({"v": at.strip_prefix("v=").unwrap(), "w": "from a file\n"})
        );
        let missing = format!("v=@{}", dir.path().join("none").display());
        assert!(usage(fields(&[], &[missing.as_str()])).contains("cannot read -F field file"));
        assert!(usage(fields(&[], &["a=@-", "b=@-"])).contains("only one -F field"));
    }

    #[test]
    fn keys_that_mean_nothing_clear_are_refused() {
        let too_deep = format!("a{}=v", "[b]".repeat(64));
        let far_too_deep = format!("a{}=v", "[b]".repeat(100_000));
        for (key, said) in [
            ("novalue", "needs a value"),
            ("=v", "no name"),
            ("a[=v", "unbalanced"),
            ("a]=v", "unbalanced"),
            ("a[b]c=v", "unbalanced"),
            ("a[[b]]=v", "unbalanced"),
            ("a[][b]=v", "can only end a key"),
            (too_deep.as_str(), "deeper than 64 levels"),
            (far_too_deep.as_str(), "deeper than 64 levels"),
        ] {
            let message = usage(fields(&[key], &[]));
            assert!(message.contains(said), "{key}: {message}");
            assert!(
                message.len() < 200,
                "the key is quoted cut short: {message}"
            );
        }
        let deepest = format!("a{}=v", "[b]".repeat(63));
        assert_eq!(fields(&[&deepest], &[]).unwrap()[0].path.len(), 64);
        let clash = fields(&["a=1", "a[b]=2"], &[]).unwrap();
        assert!(usage(json_object(&clash)).contains("both a value and an object"));
        let clash = fields(&["a=1", "a[]=2"], &[]).unwrap();
        assert!(usage(json_object(&clash)).contains("both a value and an object"));
    }

    #[test]
    fn with_get_fields_make_the_query_string() {
        let f = fields(&["q=a b&c", "ids[]=1", "ids[]=2"], &["n=5", "z=null"]).unwrap();
        assert_eq!(
            with_query("/v1/projects", &f).unwrap(),
            "/v1/projects?q=a+b%26c&ids%5B%5D=1&ids%5B%5D=2&n=5&z="
        );
        let one = fields(&["b=2"], &[]).unwrap();
        assert_eq!(with_query("/v1/x?a=1", &one).unwrap(), "/v1/x?a=1&b=2");
        assert_eq!(with_query("/v1/x?", &one).unwrap(), "/v1/x?b=2");
        let empty = fields(&["a[]"], &[]).unwrap();
        assert!(usage(with_query("/v1/x", &empty)).contains("empty array"));
        assert_eq!(with_query("/v1/x#top", &one).unwrap(), "/v1/x?b=2#top");
        assert_eq!(
            with_query("/v1/x?a=1#t?u", &one).unwrap(),
            "/v1/x?a=1&b=2#t?u"
        );
    }
}
