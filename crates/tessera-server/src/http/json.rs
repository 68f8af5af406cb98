//! JSON answers, made in one place: the handlers' `Json` (`extract.rs`) and
//! the error answers (`error.rs`) both come here.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Room in an answer's header map for every header the layers add on the way
/// out (cache, pragma, rate limits, `WWW-Authenticate`, CORS, request id, DPoP
/// nonce, length). axum's `Json` starts a map with room for six, and the
/// seventh (every token answer has one) made it grow and re-hash, another
/// allocation and a copy of the map.
const ROOM: usize = 12;

/// `body` as `application/json`, as axum's `Json` writes it.
pub fn answer(body: &impl Serialize) -> Response {
    use bytes::BufMut as _;
    // Into `BytesMut` as axum does: `serde_json::to_vec` took ~1,400
    // instructions more per answer (its writes to a `Vec` are not inlined).
    let mut bytes = bytes::BytesMut::with_capacity(128).writer();
    if serde_json::to_writer(&mut bytes, body).is_err() {
        // A value that does not serialise: axum's answer to that (a 500).
        return axum::Json(body).into_response();
    }
    let body = axum::body::Body::from(bytes.into_inner().freeze());
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    *headers = HeaderMap::with_capacity(ROOM);
    let json = HeaderValue::from_static("application/json");
    headers.insert(header::CONTENT_TYPE, json);
    response
}

#[cfg(test)]
mod tests {
    /// The answer is axum's, byte for byte, and the layers' headers fit
    /// without the map growing.
    #[tokio::test]
    async fn an_answer_is_axums_with_room_for_the_layers_headers() {
        use axum::response::IntoResponse as _;
        let body = serde_json::json!({"access_token": "x", "expires_in": 3600});
        let ours = super::answer(&body);
        let axums = axum::Json(&body).into_response();
        assert_eq!(ours.status(), axums.status());
        assert_eq!(ours.headers(), axums.headers());
        assert!(ours.headers().capacity() >= super::ROOM);
        let bytes = |r: axum::response::Response| axum::body::to_bytes(r.into_body(), 1 << 16);
        assert_eq!(bytes(ours).await.unwrap(), bytes(axums).await.unwrap());
    }
}
