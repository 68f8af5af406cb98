//! A scripted HTTP/1.1 server on `127.0.0.1:0` that records every request:
//! for what a real server cannot show (which requests are made at all, what
//! a client does with odd answers). Routes are a method, a path and a
//! function of the request and the stub's own base URL; state a script
//! needs (counters, a queue of answers) lives in what the function captures.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One request the stub received.
#[derive(Clone, Debug)]
pub struct StubRequest {
    pub method: String,
    pub path: String,
    /// Without the `?`; empty when there was none.
    pub query: String,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl StubRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// A field of an `application/x-www-form-urlencoded` body.
    pub fn form(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// What a route answers.
#[derive(Clone, Debug)]
pub struct StubResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StubResponse {
    pub fn json(status: u16, body: Value) -> Self {
        Self::text(status, &body.to_string())
    }

    /// `body` as is (JSON text, or anything a test wants a client to choke
    /// on), labelled `application/json`.
    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// `body` as is, bytes that need not be text.
    pub fn bytes(status: u16, body: &[u8]) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = Box<dyn Fn(&StubRequest, &str) -> StubResponse + Send + Sync>;

#[derive(Default)]
pub struct HttpStubBuilder {
    routes: Vec<(String, String, Handler)>,
    fallback: Option<Handler>,
}

impl HttpStubBuilder {
    pub fn route(
        mut self,
        method: &str,
        path: &str,
        handler: impl Fn(&StubRequest, &str) -> StubResponse + Send + Sync + 'static,
    ) -> Self {
        self.routes
            .push((method.to_owned(), path.to_owned(), Box::new(handler)));
        self
    }

    /// What every other request gets (default: 404, `{"error":"not_found"}`).
    pub fn fallback(
        mut self,
        handler: impl Fn(&StubRequest, &str) -> StubResponse + Send + Sync + 'static,
    ) -> Self {
        self.fallback = Some(Box::new(handler));
        self
    }

    /// Serves until the test process ends; each connection on a thread.
    pub fn start(self) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind stub");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stub = HttpStub {
            url: url.clone(),
            requests: Arc::default(),
            connections: Arc::default(),
        };
        let (seen, connections) = (stub.requests.clone(), stub.connections.clone());
        let script = Arc::new(self);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                connections.fetch_add(1, Ordering::SeqCst);
                let (script, seen, url) = (script.clone(), seen.clone(), url.clone());
                std::thread::spawn(move || script.serve(stream, &seen, &url));
            }
        });
        stub
    }

    fn serve(&self, stream: TcpStream, seen: &Mutex<Vec<StubRequest>>, base: &str) {
        let Some(request) = read_request(&stream) else {
            return;
        };
        seen.lock().expect("lock").push(request.clone());
        let route = self
            .routes
            .iter()
            .find(|(method, path, _)| *method == request.method && *path == request.path)
            .map(|(_, _, handler)| handler)
            .or(self.fallback.as_ref());
        let response = match route {
            Some(handler) => handler(&request, base),
            None => StubResponse::json(404, serde_json::json!({"error": "not_found"})),
        };
        let reason = ureq::http::StatusCode::from_u16(response.status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("Whatever");
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
        if !response
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            head.push_str("content-type: application/json\r\n");
        }
        for (name, value) in &response.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            response.body.len()
        ));
        let _ = (&stream).write_all(head.as_bytes());
        let _ = (&stream).write_all(&response.body);
    }
}

/// A running stub; see the module docs.
pub struct HttpStub {
    pub url: String,
    requests: Arc<Mutex<Vec<StubRequest>>>,
    connections: Arc<AtomicUsize>,
}

impl HttpStub {
    pub fn builder() -> HttpStubBuilder {
        HttpStubBuilder::default()
    }

    /// A stub that gives every request the same answer.
    pub fn answering(response: StubResponse) -> Self {
        Self::builder()
            .fallback(move |_, _| response.clone())
            .start()
    }

    pub fn requests(&self) -> Vec<StubRequest> {
        self.requests.lock().expect("lock").clone()
    }

    /// The one request the stub got; a failure when it got none or more.
    pub fn only_request(&self) -> StubRequest {
        let mut requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        requests.remove(0)
    }

    /// Requests to `path`, in order.
    pub fn requests_to(&self, path: &str) -> Vec<StubRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Connections accepted, requests or not: zero proves nothing was sent.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn read_request(stream: &TcpStream) -> Option<StubRequest> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(StubRequest {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_answer_and_every_request_is_recorded() {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let stub = HttpStub::builder()
            .route("POST", "/token", move |request, base| {
                counted.fetch_add(1, Ordering::SeqCst);
                StubResponse::json(
                    200,
                    serde_json::json!({"grant": request.form("grant_type"), "base": base}),
                )
                .header("retry-after", "0")
            })
            .start();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut answer = agent
            .post(format!("{}/token?x=1", stub.url))
            .content_type("application/x-www-form-urlencoded")
            .send("grant_type=refresh_token")
            .unwrap();
        assert_eq!(answer.headers()["retry-after"], "0");
        let body: Value = answer.body_mut().read_json().unwrap();
        assert_eq!(body["grant"], "refresh_token");
        assert_eq!(body["base"], stub.url.as_str());
        let missing = agent.get(format!("{}/nope", stub.url)).call().unwrap();
        assert_eq!(missing.status(), 404);

        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let seen = stub.requests_to("/token");
        assert_eq!(
            (seen[0].method.as_str(), seen[0].query.as_str()),
            ("POST", "x=1")
        );
        assert_eq!(
            seen[0].header("Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(stub.requests().len(), 2);
        assert_eq!(stub.connections(), 2);
    }
}
