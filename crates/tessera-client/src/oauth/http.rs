//! The one place OAuth requests leave the process.
//!
//! Flows take `&dyn HttpClient`, so unit tests answer from memory and the CLI
//! passes a [`UreqClient`]. A response with any HTTP status is a response; only
//! failing to get one at all (DNS, refused connection, TLS, timeout) is a
//! [`TransportError`].

use crate::error::Error;
use crate::transport::{
    Transport, certificate_problem, connected_then_silent, not_http, unreadable_answer,
};
use std::time::Duration;
use ureq::http::{Request, Response};

pub type HttpRequest = Request<Vec<u8>>;
pub type HttpResponse = Response<Vec<u8>>;

/// Sends one request and returns whatever came back, without following
/// redirects: a token endpoint that redirects is misconfigured or hostile, and
/// following it could send client credentials elsewhere.
pub trait HttpClient {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

impl<F> HttpClient for F
where
    F: Fn(HttpRequest) -> Result<HttpResponse, TransportError>,
{
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self(request)
    }
}

/// No response was received. The message names the cause, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// DNS, a refused connection, a timeout, a broken connection.
    #[error("{0}")]
    Network(String),
    /// The TLS handshake refused the server's certificate; says why.
    #[error("{0}")]
    Certificate(String),
    /// Not sent: plain `http://` to a host that is not loopback, without the
    /// user's opt-in for that server ([`Transport::insecure_http_origin`]).
    #[error("refusing plain http to {0}: use https, or opt in for this server's environment")]
    InsecureHttp(String),
    /// An answer came (`status`) but could not be read: too large, or it
    /// stalled. The server is up; what it sent is not an answer.
    #[error("{reason}")]
    Unreadable { status: u16, reason: String },
    /// Something answered, but not in HTTP (a wrong port, `http://` to a TLS
    /// port): said why.
    #[error("{0}")]
    NotHttp(String),
    /// The connection was made, but no answer came within `seconds`: the
    /// server is up and stuck, not unreachable.
    #[error("accepted the connection but did not answer within {seconds} s")]
    NoAnswer { seconds: f64 },
}

/// Answers larger than this are not OAuth responses.
const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// A blocking HTTP client: no async runtime is started, which keeps a CLI's
/// start-up cost at about a millisecond.
#[derive(Clone)]
pub struct UreqClient {
    agent: crate::transport::Agent,
    transport: Transport,
}

impl UreqClient {
    /// Default: 30 s for the whole request, 10 s to connect; the OS's
    /// certificate roots; plain http only to loopback.
    pub fn new() -> Self {
        Self::with_transport(&Transport::default(), Duration::from_secs(30))
    }

    pub fn with_timeout(timeout: Duration) -> Self {
        Self::with_transport(&Transport::default(), timeout)
    }

    pub fn with_transport(transport: &Transport, timeout: Duration) -> Self {
        Self {
            agent: transport.agent(timeout),
            transport: transport.clone(),
        }
    }
}

impl Default for UreqClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient for UreqClient {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let uri = request.uri().to_string();
        if let Err(Error::InsecureHttp { url }) = self.transport.check_url(&uri) {
            return Err(TransportError::InsecureHttp(url));
        }
        let (parts, body) = request.into_parts();
        let result = if body.is_empty() {
            self.agent.run(Request::from_parts(parts, ()))
        } else {
            self.agent.run(Request::from_parts(parts, body))
        };
        let response = result.map_err(|e| {
            if let Some(reason) = not_http(&e) {
                return TransportError::NotHttp(reason);
            }
            if let (true, Some(deadline)) = (connected_then_silent(&e), self.agent.deadline()) {
                return TransportError::NoAnswer {
                    seconds: deadline.as_secs_f64(),
                };
            }
            match certificate_problem(&e) {
                Some(problem) => TransportError::Certificate(problem),
                None => TransportError::Network(e.to_string()),
            }
        })?;
        let (parts, mut body) = response.into_parts();
        let bytes = body
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| match unreadable_answer(&e) {
                Some(reason) => TransportError::Unreadable {
                    status: parts.status.as_u16(),
                    reason,
                },
                None => TransportError::Network(format!("reading the response: {e}")),
            })?;
        Ok(Response::from_parts(parts, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_testkit::{HttpStub, StubResponse};

    #[test]
    fn error_statuses_and_redirects_are_responses_not_errors() {
        let redirect = HttpStub::answering(
            StubResponse::text(302, "").header("Location", "http://127.0.0.1:1/elsewhere"),
        );
        let response = UreqClient::new()
            .send(Request::get(&redirect.url).body(Vec::new()).unwrap())
            .unwrap();
        assert_eq!(response.status(), 302);

        let refusal =
            HttpStub::answering(StubResponse::text(400, r#"{"error":"invalid_request"}"#));
        let response = UreqClient::new()
            .send(Request::post(&refusal.url).body(b"a=b".to_vec()).unwrap())
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(response.body(), br#"{"error":"invalid_request"}"#);
    }

    /// A server that answers with more than an OAuth answer ever is was
    /// reached: its answer is unreadable, not the network down.
    #[test]
    fn an_oversized_answer_is_unreadable_not_unreachable() {
        let huge = "x".repeat(MAX_BODY_BYTES as usize + 1);
        let server = HttpStub::answering(StubResponse::text(200, &huge));
        let err = UreqClient::new()
            .send(Request::get(&server.url).body(Vec::new()).unwrap())
            .unwrap_err();
        assert!(
            matches!(err, TransportError::Unreadable { status: 200, ref reason } if reason.contains("1024 KiB")),
            "{err:?}"
        );
        let err = crate::oauth::OAuthError::transport(&server.url, err);
        assert!(
            matches!(err, crate::oauth::OAuthError::BadResponse { .. }),
            "{err:?}"
        );
    }

    /// Something that is not an HTTP server answered (a wrong port): a bad
    /// answer, not an unreachable server.
    #[test]
    fn an_answer_that_is_not_http_is_not_unreachable() {
        let url = tessera_testkit::not_http_url();
        let err = UreqClient::new()
            .send(Request::get(&url).body(Vec::new()).unwrap())
            .unwrap_err();
        assert!(matches!(err, TransportError::NotHttp(_)), "{err:?}");
        let err = crate::oauth::OAuthError::transport(&url, err);
        assert!(
            matches!(err, crate::oauth::OAuthError::NotHttp { .. }),
            "{err:?}"
        );
        assert!(!err.is_unreachable());
    }

    /// A token endpoint that takes the connection and says nothing in time
    /// is up but stuck: the server's trouble, which a cached token that
    /// still works outlasts, not "could not reach" ("is the server
    /// running?").
    #[test]
    fn a_server_that_accepts_and_never_answers_is_not_unreachable() {
        use std::io::Read as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            while conn.read(&mut [0; 4096]).is_ok_and(|n| n > 0) {}
        });
        let err = UreqClient::with_timeout(Duration::from_millis(300))
            .send(Request::get(&url).body(Vec::new()).unwrap())
            .unwrap_err();
        assert!(matches!(err, TransportError::NoAnswer { .. }), "{err:?}");
        let err = crate::oauth::OAuthError::transport(&url, err);
        assert!(!err.is_unreachable(), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("the server at {url} accepted the connection but did not answer within 0.3 s")
        );
    }

    #[test]
    fn refused_connection_is_a_transport_error() {
        let closed = tessera_testkit::closed_port_url();
        let err = UreqClient::new()
            .send(Request::get(&closed).body(Vec::new()).unwrap())
            .unwrap_err();
        assert!(
            matches!(err, TransportError::Network(ref m) if !m.is_empty()),
            "{err:?}"
        );
    }
}
