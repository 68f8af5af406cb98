//! How requests leave the process, for the platform API and the OAuth flows
//! alike: which certificate authorities are trusted, when plain `http://` is
//! allowed, and which URLs a stored credential may be sent to.
//!
//! - Trust: the operating system's roots (through `rustls-platform-verifier`:
//!   Keychain on macOS, the Windows store, the distribution's bundle on
//!   Linux), or, when `SSL_CERT_FILE` / `SSL_CERT_DIR` are set, exactly the
//!   certificates found there, as curl, git and OpenSSL do. A server behind a
//!   private CA works by pointing `SSL_CERT_FILE` at that CA.
//! - Plain `http://` is for loopback servers. Any other host needs an
//!   explicit opt-in for its origin ([`Transport::insecure_http_origin`]),
//!   which the environment model grants per environment (`insecure = true`).
//! - A credential goes only to its server's origin (scheme, host, port; RFC
//!   6454): see [`same_origin_url`].
//! - Proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, minus `NO_PROXY`) carry
//!   requests to other hosts, never to loopback: see `Agent`.

use crate::env::EnvVars;
use crate::error::Error;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Which certificate authorities a TLS connection trusts.
#[derive(Clone, Default)]
pub enum TlsTrust {
    /// The platform's verifier and roots.
    #[default]
    Os,
    /// Exactly these roots, read from `SSL_CERT_FILE` / `SSL_CERT_DIR`.
    Bundle {
        roots: Arc<Vec<ureq::tls::Certificate<'static>>>,
        from: Vec<PathBuf>,
    },
}

impl std::fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsTrust::Os => f.write_str("Os"),
            TlsTrust::Bundle { roots, from } => f
                .debug_struct("Bundle")
                .field("roots", &roots.len())
                .field("from", from)
                .finish(),
        }
    }
}

/// Certificate files larger than this are not CA bundles.
const MAX_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;

impl TlsTrust {
    /// `SSL_CERT_FILE` (a PEM file) and `SSL_CERT_DIR` (directories of PEM
    /// files, `:`-separated; `;` on Windows) when either is set, else the
    /// OS. A set variable whose files hold no certificate is an error, not a
    /// silent fall back to other roots.
    pub fn from_env(env: &dyn EnvVars) -> Result<Self, Error> {
        let file = env.var("SSL_CERT_FILE").map(PathBuf::from);
        let dirs: Vec<PathBuf> = env
            .var("SSL_CERT_DIR")
            .map(|d| std::env::split_paths(&d).collect())
            .unwrap_or_default();
        if file.is_none() && dirs.is_empty() {
            return Ok(TlsTrust::Os);
        }
        let mut roots = Vec::new();
        let mut from = Vec::new();
        // A c_rehash directory names each certificate twice (hash link and
        // readable link) and often holds the SSL_CERT_FILE bundle too: each
        // file is read once, and each certificate kept once, so a renewal
        // reads 145 files here, not 292, and hands TLS 144 roots, not 576.
        let mut seen = SeenFiles::default();
        if let Some(file) = file {
            if let Ok(metadata) = std::fs::metadata(&file) {
                seen.first_visit(&metadata);
            }
            roots.extend(read_pem_certificates(&file, "SSL_CERT_FILE")?);
            from.push(file);
        }
        for dir in dirs {
            let entries = std::fs::read_dir(&dir).map_err(|e| Error::TlsTrust {
                path: dir.clone(),
                reason: format!("SSL_CERT_DIR names a directory that cannot be read: {e}"),
            })?;
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let Ok(metadata) = std::fs::metadata(&path) else {
                    continue;
                };
                if !metadata.is_file() || !seen.first_visit(&metadata) {
                    continue;
                }
                // Hash links and stray files in a c_rehash directory are not
                // all PEM; only readable certificates count.
                if let Ok(found) = read_pem_certificates(&path, "SSL_CERT_DIR") {
                    roots.extend(found);
                }
            }
            from.push(dir);
        }
        let mut unique = std::collections::HashSet::new();
        roots.retain(|cert| unique.insert(cert.der().to_vec()));
        if roots.is_empty() {
            return Err(Error::TlsTrust {
                path: from.first().cloned().unwrap_or_default(),
                reason: "SSL_CERT_FILE / SSL_CERT_DIR hold no PEM certificate; point them at your CA bundle or unset them".into(),
            });
        }
        Ok(TlsTrust::Bundle {
            roots: Arc::new(roots),
            from,
        })
    }

    fn root_certs(&self) -> ureq::tls::RootCerts {
        match self {
            TlsTrust::Os => ureq::tls::RootCerts::PlatformVerifier,
            TlsTrust::Bundle { roots, .. } => ureq::tls::RootCerts::Specific(roots.clone()),
        }
    }
}

/// The files a trust has read, by identity: links to one file are one file.
#[derive(Default)]
struct SeenFiles {
    #[cfg(unix)]
    ids: std::collections::HashSet<(u64, u64)>,
}

impl SeenFiles {
    /// Whether `metadata`'s file is read for the first time (always, where
    /// the platform gives files no stable identity).
    fn first_visit(&mut self, metadata: &std::fs::Metadata) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            self.ids.insert((metadata.dev(), metadata.ino()))
        }
        #[cfg(not(unix))]
        {
            let _ = metadata;
            true
        }
    }
}

fn read_pem_certificates(
    path: &Path,
    variable: &str,
) -> Result<Vec<ureq::tls::Certificate<'static>>, Error> {
    use std::io::Read as _;
    let invalid = |reason: String| Error::TlsTrust {
        path: path.to_owned(),
        reason,
    };
    // Room for a certificate up front: `Take` hides the file's size, and
    // read_to_end would grow the buffer from 32 bytes, a read each.
    let mut bytes = Vec::with_capacity(8 * 1024);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_BUNDLE_BYTES).read_to_end(&mut bytes))
        .map_err(|e| invalid(format!("{variable} names a file that cannot be read: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(invalid(format!("{variable}: not a PEM file: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(invalid(format!(
            "{variable} names a file with no PEM certificate in it"
        )));
    }
    Ok(certs)
}

/// The network settings every client of this crate is built with.
#[derive(Clone, Debug, Default)]
pub struct Transport {
    pub trust: TlsTrust,
    /// The one origin (`http://10.0.0.5:8080`) plain `http://` may go to
    /// off loopback: the server the user opted in for. Not any host its
    /// metadata names: an endpoint elsewhere is held to https like any other.
    pub insecure_http_origin: Option<String>,
    /// The CLI making the requests (`AppSpec::name`), first in the
    /// `User-Agent`: a platform's server logs name its own CLI, not only the
    /// library inside it. `None`: `tessera/VERSION` alone.
    pub app: Option<&'static str>,
}

impl Transport {
    /// The process's trust settings (`SSL_CERT_FILE`, `SSL_CERT_DIR`), no
    /// insecure http, requests made as `app`.
    pub fn from_env(env: &dyn EnvVars, app: &'static str) -> Result<Self, Error> {
        Ok(Self {
            trust: TlsTrust::from_env(env)?,
            insecure_http_origin: None,
            app: Some(app),
        })
    }

    /// This transport, with plain `http://` allowed to `server`'s origin.
    pub fn allowing_http_to(self, server: &str) -> Self {
        let origin = Url::parse(server)
            .ok()
            .map(|u| u.origin().ascii_serialization());
        Self {
            insecure_http_origin: origin,
            ..self
        }
    }

    /// A blocking agent: no redirects (a redirect could carry a credential
    /// elsewhere), error statuses are responses, `timeout` for the whole
    /// request and at most 10 s to connect.
    pub(crate) fn agent(&self, timeout: Duration) -> Agent {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .timeout_global(Some(timeout))
            .user_agent(self.user_agent())
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(self.trust.root_certs())
                    .build(),
            )
            .build()
            .into();
        Agent(agent)
    }

    /// `acme tessera/0.1.0` (RFC 9110 §10.1.5 product tokens; the app's own
    /// version is not the library's to know).
    fn user_agent(&self) -> String {
        const TESSERA: &str = concat!("tessera/", env!("CARGO_PKG_VERSION"));
        match self.app {
            Some(app) if app != "tessera" => format!("{app} {TESSERA}"),
            _ => TESSERA.to_owned(),
        }
    }

    /// Refuses plain `http://` to anything but loopback unless opted in:
    /// whoever is on the network path could read the credential.
    pub fn check_url(&self, url: &str) -> Result<(), Error> {
        let parsed = Url::parse(url).map_err(|_| Error::InvalidUrl(url.to_owned()))?;
        match parsed.scheme() {
            "https" => Ok(()),
            "http" if is_loopback(&parsed) || self.allows_http_to(&parsed) => Ok(()),
            "http" => Err(Error::InsecureHttp {
                url: parsed.origin().ascii_serialization(),
            }),
            _ => Err(Error::InvalidUrl(url.to_owned())),
        }
    }

    fn allows_http_to(&self, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        self.insecure_http_origin.as_deref() == Some(origin.as_str())
    }
}

/// ureq's agent, except that a request to loopback never goes through a
/// proxy from the environment. Traffic that never leaves the machine has no
/// business on a proxy (Go's `net/http`, and so gh and kubectl, decide the
/// same), and plain `http://` is allowed only to loopback: through a proxy, a
/// credential would cross the network in the clear.
#[derive(Clone)]
pub(crate) struct Agent(ureq::Agent);

impl Agent {
    pub(crate) fn run<S: ureq::AsSendBody>(
        &self,
        request: ureq::http::Request<S>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let loopback = || Url::parse(&request.uri().to_string()).is_ok_and(|url| is_loopback(&url));
        if self.0.config().proxy().is_some() && loopback() {
            let direct = self.0.configure_request(request).proxy(None).build();
            return self.0.run(direct);
        }
        self.0.run(request)
    }

    /// The whole request's deadline, for saying how long a server that
    /// did not answer was waited for.
    pub(crate) fn deadline(&self) -> Option<std::time::Duration> {
        self.0.config().timeouts().global
    }
}

/// `127.0.0.0/8`, `::1` and `localhost`: traffic that never leaves the
/// machine (RFC 8252 §8.3 makes the same distinction for redirects).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The URL a request for `path` goes to when it carries `server`'s
/// credential: a path (`/v1/me`, `v1/me`) is appended to the server's URL; an
/// absolute URL (`https://…`) or a scheme-relative one (`//host/…`) is taken
/// as is, and must then have the server's origin — scheme, host and port all
/// equal. Anything else is [`Error::OtherOrigin`].
///
/// An `https://` URL on the host of an `http://` server is refused too: it is
/// another origin (port 443, not the server's port) that may be another
/// service, and the fix — configuring the server as `https://` — is the
/// user's to make, not this function's to guess.
pub fn same_origin_url(server: &str, path: &str) -> Result<Url, Error> {
    let base = Url::parse(server).map_err(|_| Error::InvalidUrl(server.to_owned()))?;
    // The server may come from a variable or a hand-edited file, which
    // `auth env add` never checked.
    crate::config::refuse_unusable_server_url(server, &base)?;
    let absolute = path.starts_with("//")
        || path
            .split_once(':')
            .is_some_and(|(scheme, _)| is_scheme(scheme));
    let url = if absolute {
        base.join(path)
            .map_err(|_| Error::InvalidUrl(path.to_owned()))?
    } else {
        let joined = format!(
            "{}/{}",
            server.trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        Url::parse(&joined).map_err(|_| Error::InvalidUrl(path.to_owned()))?
    };
    // Checked on the parsed result, whatever the branch: no spelling of a
    // path (`@host`, `\\host`, `%2F%2F`) may move the request elsewhere.
    if url.origin() != base.origin() {
        return Err(Error::OtherOrigin {
            url: crate::config::display_url(url.as_str()),
            server: base.origin().ascii_serialization(),
        });
    }
    Ok(url)
}

/// RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// The error for a request that got no response: a refused certificate is
/// said as such, an answer that is not HTTP is a bad answer, a connection
/// that was made but never answered before `deadline` is the server's
/// silence, everything else is the network.
pub(crate) fn request_error(url: &str, source: ureq::Error, deadline: Option<Duration>) -> Error {
    if let Some(message) = not_http(&source) {
        return Error::InvalidResponse {
            url: url.to_owned(),
            message,
        };
    }
    if let (true, Some(deadline)) = (connected_then_silent(&source), deadline) {
        return Error::NoAnswer {
            url: url.to_owned(),
            seconds: deadline.as_secs_f64(),
        };
    }
    match certificate_problem(&source) {
        Some(problem) => Error::Certificate {
            url: url.to_owned(),
            problem,
        },
        None => Error::Network {
            url: url.to_owned(),
            source,
        },
    }
}

/// Why what came back is not HTTP this client can read: a status line or
/// headers that do not parse, headers past ureq's limits, a broken chunked
/// body. Something answered (a URL with the wrong port, an SSH or SMTP
/// server, `http://` to a TLS port): a bad answer (exit 6), not a server
/// that could not be reached (exit 5, "is the server running?"), which a
/// script would wait for and try again. `None` for anything else.
pub(crate) fn not_http(error: &ureq::Error) -> Option<String> {
    use ureq_proto::Error as P;
    let why: &dyn std::fmt::Display = match error {
        ureq::Error::Protocol(
            e @ (P::HttpParseFail(_)
            | P::HttpParseTooManyHeaders
            | P::ChunkLenNotAscii
            | P::ChunkLenNotANumber
            | P::ChunkExpectedCrLf),
        ) => e,
        ureq::Error::LargeResponseHeader(..) => error,
        // `https://` to a port that speaks plain HTTP: its answer to the
        // TLS hello is no TLS record. Something answered; "is the server
        // running?" would send the user looking in the wrong place.
        _ if is_not_tls(error) => {
            return Some(
                "the answer is not TLS; does the server speak plain http:// on this port?".into(),
            );
        }
        _ => return None,
    };
    Some(format!(
        "the answer is not HTTP ({why}); is this the server's URL and port?"
    ))
}

/// Whether the request's deadline passed after the connection was made (the
/// agent gives connecting a shorter limit of its own, so a timeout past
/// that phase is a server that accepted the connection and then said
/// nothing in time: it runs, and "is the server running?" would mislead).
pub(crate) fn connected_then_silent(error: &ureq::Error) -> bool {
    use ureq::Timeout as T;
    matches!(error, ureq::Error::Timeout(t) if !matches!(t, T::Resolve | T::Connect))
}

/// Whether rustls refused the first bytes back as no TLS record at all.
fn is_not_tls(error: &ureq::Error) -> bool {
    let rustls_error = match error {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    matches!(
        rustls_error,
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
        ))
    )
}

/// Why an answer whose status line came could not be read, when the server
/// is to blame: larger than `limit` bytes, stalled past the request's
/// deadline, or cut off by the server before the length it announced (a
/// `Content-Length` it did not keep, a chunked body without its last
/// chunk). That server was reached: it is a bad answer (exit 6), not
/// "cannot reach" with "is the server running?". `None` for anything else
/// (a connection reset on the way).
pub(crate) fn unreadable_answer(error: &ureq::Error) -> Option<String> {
    match error {
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Some(
            "the server closed the connection before the end of its answer (shorter than the length it announced)"
                .into(),
        ),
        ureq::Error::BodyExceedsLimit(limit) => Some(format!(
            "the answer is larger than {} KiB, more than any answer this client reads",
            limit / 1024
        )),
        ureq::Error::Timeout(_) => {
            Some("the server stopped sending the answer before the request's deadline".into())
        }
        _ => not_http(error),
    }
}

/// Names a TLS certificate failure in words, when `error` is one: the
/// problem (unknown issuer, expired, wrong name) and what to do about it.
pub(crate) fn certificate_problem(error: &ureq::Error) -> Option<String> {
    let rustls_error = match error {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
        _ => None,
    }?;
    let rustls::Error::InvalidCertificate(problem) = rustls_error else {
        return None;
    };
    use rustls::CertificateError as C;
    let what = match problem {
        C::UnknownIssuer => {
            "the server's certificate was issued by an authority this machine does not trust (unknown issuer). If the server uses a private CA, set SSL_CERT_FILE to that CA's PEM file"
                .to_owned()
        }
        C::Expired | C::ExpiredContext { .. } => {
            "the server's certificate has expired".to_owned()
        }
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (is this machine's clock right?)".to_owned()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the server's certificate is for another host name".to_owned()
        }
        C::Revoked => "the server's certificate has been revoked".to_owned(),
        other => format!("the server's certificate was refused: {other:?}"),
    };
    Some(what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn paths_join_the_server_url() {
        let join = |server, path| same_origin_url(server, path).unwrap().to_string();
        assert_eq!(
            join("http://127.0.0.1:8080", "/v1/me"),
            "http://127.0.0.1:8080/v1/me"
        );
        assert_eq!(
            join("http://127.0.0.1:8080/", "v1/me"),
            "http://127.0.0.1:8080/v1/me"
        );
        assert_eq!(
            join("https://api.test/base", "/v1/me?x=1"),
            "https://api.test/base/v1/me?x=1"
        );
        assert_eq!(
            join("https://api.test", "https://api.test/v1/me"),
            "https://api.test/v1/me"
        );
        assert_eq!(
            join("https://api.test:443", "//api.test/v1"),
            "https://api.test/v1"
        );
        // Spellings that look like another host stay on the server.
        assert_eq!(
            join("https://api.test", "@evil.test/x"),
            "https://api.test/@evil.test/x"
        );
        assert_eq!(
            join("https://api.test", "%2F%2Fevil.test"),
            "https://api.test/%2F%2Fevil.test"
        );
    }

    #[test]
    fn another_origin_is_refused() {
        for (server, path) in [
            ("https://api.test", "https://evil.test/v1/me"),
            ("https://api.test", "//evil.test/v1/me"),
            ("https://api.test", "https://api.test:8443/v1/me"),
            ("https://api.test", "http://api.test/v1/me"),
            ("http://api.test:8080", "https://api.test/v1/me"),
            ("https://api.test", "https://api.test.evil.test/"),
            ("https://api.test", "https://user:pw@evil.test/"),
            ("http://127.0.0.1:8080", "http://localhost:8080/v1/me"),
        ] {
            let err = same_origin_url(server, path).unwrap_err();
            assert!(matches!(err, Error::OtherOrigin { .. }), "{path}: {err:?}");
            assert!(!err.to_string().contains(":pw@"), "{err}");
        }
    }

    #[test]
    fn plain_http_is_for_loopback_unless_opted_in() {
        let strict = Transport::default();
        for url in [
            "http://127.0.0.1:8080/v1",
            "http://127.1.2.3/",
            "http://[::1]:9/",
            "http://localhost:8080",
            "https://api.test/",
        ] {
            strict.check_url(url).unwrap();
        }
        for url in [
            "http://api.test/",
            "http://10.0.0.5:8080/",
            "http://[::2]/",
            "http://localhost.evil.test/",
        ] {
            let err = strict.check_url(url).unwrap_err();
            assert!(matches!(err, Error::InsecureHttp { .. }), "{url}: {err:?}");
        }
        let opted_in = Transport::default().allowing_http_to("http://10.0.0.5:8080/api");
        opted_in.check_url("http://10.0.0.5:8080/").unwrap();
        assert!(opted_in.check_url("ftp://10.0.0.5/").is_err());
        // The opt-in is for that server: not another host, port, or a host
        // its metadata might name.
        for url in [
            "http://10.0.0.5/",
            "http://10.0.0.5:8081/",
            "http://evil.example/oauth/token",
        ] {
            let err = opted_in.check_url(url).unwrap_err();
            assert!(matches!(err, Error::InsecureHttp { .. }), "{url}: {err:?}");
        }
    }

    #[test]
    fn trust_comes_from_the_os_unless_a_bundle_is_named() {
        let none = BTreeMap::<&str, &str>::new();
        assert!(matches!(TlsTrust::from_env(&none).unwrap(), TlsTrust::Os));

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let env = BTreeMap::from([("SSL_CERT_FILE", missing.to_str().unwrap())]);
        let err = TlsTrust::from_env(&env).unwrap_err();
        assert!(err.to_string().contains("SSL_CERT_FILE"), "{err}");

        let not_pem = dir.path().join("x.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let env = BTreeMap::from([("SSL_CERT_FILE", not_pem.to_str().unwrap())]);
        let err = TlsTrust::from_env(&env).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");

        let empty_dir = BTreeMap::from([("SSL_CERT_DIR", dir.path().to_str().unwrap())]);
        assert!(TlsTrust::from_env(&empty_dir).is_err());
    }

    /// A c_rehash directory as Debian ships it: the bundle named by
    /// SSL_CERT_FILE lies in it too, and each certificate has a readable
    /// link and a hash link; two distinct files hold the same certificate.
    #[cfg(unix)]
    #[test]
    fn each_file_is_read_once_and_each_certificate_kept_once() {
        let pem = |name: &str| {
            let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            let key = rcgen::KeyPair::generate().unwrap();
            params.self_signed(&key).unwrap().pem()
        };
        let (one, two) = (pem("one"), pem("two"));
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        std::fs::write(at("bundle.crt"), format!("{one}{two}")).unwrap();
        std::fs::write(at("one.pem"), &one).unwrap();
        std::fs::write(at("two-copy.pem"), &two).unwrap();
        std::os::unix::fs::symlink("one.pem", at("1a2b3c4d.0")).unwrap();
        std::os::unix::fs::symlink("missing.pem", at("dangling.0")).unwrap();
        std::fs::write(at("README"), "not a certificate").unwrap();

        let bundle = at("bundle.crt");
        let env = BTreeMap::from([
            ("SSL_CERT_FILE", bundle.to_str().unwrap()),
            ("SSL_CERT_DIR", dir.path().to_str().unwrap()),
        ]);
        let TlsTrust::Bundle { roots, .. } = TlsTrust::from_env(&env).unwrap() else {
            panic!("a bundle was named");
        };
        assert_eq!(roots.len(), 2);
    }

    proptest::proptest! {
        /// Whatever the path, a credential's request stays on its server.
        #[test]
        fn no_path_leaves_the_server(path in "\\PC{0,40}", server in proptest::sample::select(vec![
            "http://127.0.0.1:8080", "https://api.test", "https://api.test/base/", "http://[::1]:9",
        ])) {
            if let Ok(url) = same_origin_url(server, &path) {
                let base = Url::parse(server).unwrap();
                proptest::prop_assert_eq!(url.origin(), base.origin());
            }
        }
    }
}
