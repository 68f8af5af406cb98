//! The one place OAuth requests leave the process.
//!
//! Flows take `&dyn HttpClient`, so unit tests answer from memory and the CLI
//! passes a [`UreqClient`]. A response with any HTTP status is a response; only
//! failing to get one at all (DNS, refused connection, TLS, timeout) is a
//! [`TransportError`].

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
#[error("{0}")]
pub struct TransportError(pub String);

/// Answers larger than this are not OAuth responses.
const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// A blocking HTTP client: no async runtime is started, which keeps a CLI's
/// start-up cost at about a millisecond.
#[derive(Clone)]
pub struct UreqClient {
    agent: ureq::Agent,
}

impl UreqClient {
    /// Default: 30 s for the whole request, 10 s to connect.
    pub fn new() -> Self {
        Self::with_timeout(Duration::from_secs(30))
    }

    pub fn with_timeout(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            // OAuth error bodies (RFC 6749 §5.2) arrive with 400/401 and must be read.
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .timeout_global(Some(timeout))
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: config.into(),
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
        let (parts, body) = request.into_parts();
        let result = if body.is_empty() {
            self.agent.run(Request::from_parts(parts, ()))
        } else {
            self.agent.run(Request::from_parts(parts, body))
        };
        let response = result.map_err(|e| TransportError(e.to_string()))?;
        let (parts, mut body) = response.into_parts();
        let bytes = body
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| TransportError(format!("reading the response: {e}")))?;
        Ok(Response::from_parts(parts, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-shot HTTP server on a loopback port that answers with `reply`.
    fn serve_once(reply: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).unwrap();
            stream.write_all(reply.as_bytes()).unwrap();
        });
        format!("http://{addr}/")
    }

    #[test]
    fn error_statuses_and_redirects_are_responses_not_errors() {
        let url = serve_once(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let response = UreqClient::new()
            .send(Request::get(url).body(Vec::new()).unwrap())
            .unwrap();
        assert_eq!(response.status(), 302);

        let url = serve_once(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 27\r\nConnection: close\r\n\r\n{\"error\":\"invalid_request\"}",
        );
        let response = UreqClient::new()
            .send(Request::post(url).body(b"a=b".to_vec()).unwrap())
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(response.body(), br#"{"error":"invalid_request"}"#);
    }

    #[test]
    fn refused_connection_is_a_transport_error() {
        // Bind then drop, so the port is (almost certainly) closed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = UreqClient::new()
            .send(
                Request::get(format!("http://127.0.0.1:{port}/"))
                    .body(Vec::new())
                    .unwrap(),
            )
            .unwrap_err();
        assert!(!err.0.is_empty());
    }
}
