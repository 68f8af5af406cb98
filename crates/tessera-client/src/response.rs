//! An answer of the platform API as the client keeps it: what the API client
//! returns and what the retry policy reads its wait from.

use tessera_proto::dpop;

/// Any answer from the server, whatever its status.
#[derive(Clone, Debug)]
pub struct ApiResponse {
    pub status: u16,
    /// Lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// RFC 9449 §9: a 401 whose `DPoP` challenge asks for a nonce.
    pub(crate) fn asks_for_dpop_nonce(&self) -> bool {
        self.status == 401
            && self.headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("www-authenticate")
                    && v.trim_start().starts_with(dpop::TOKEN_TYPE)
                    && v.contains("use_dpop_nonce")
            })
    }
}

/// A response's headers as [`ApiResponse`] keeps them; a value that is not
/// UTF-8 is kept lossily (it is only ever shown or read for a number).
pub(crate) fn header_pairs(headers: &ureq::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
