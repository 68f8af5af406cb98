//! Authorization server metadata (RFC 8414), with the OpenID Connect
//! Discovery location as fallback, so the client works with any standard
//! server and not only tesserad.

use super::error::OAuthError;
use super::http::HttpClient;
use super::token::{body_excerpt, send};
use tessera_proto::token::ServerMetadata;
use ureq::http::{Request, StatusCode, header};

/// The two metadata locations for `issuer`, in the order they are tried:
/// RFC 8414 §3.1 inserts the well-known segment before the issuer's path;
/// OpenID Connect Discovery 1.0 §4 appends it.
pub fn well_known_urls(issuer: &str) -> Result<[String; 2], OAuthError> {
    let invalid = |reason: &str| OAuthError::InvalidUrl {
        url: issuer.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(issuer).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(invalid("an issuer is an http(s) URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("an issuer has no query or fragment (RFC 8414 §2)"));
    }
    let path = parsed.path().trim_end_matches('/');
    let origin = parsed.origin().ascii_serialization();
    Ok([
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ])
}

/// Fetches the metadata of `issuer` and checks that it describes that issuer.
///
/// RFC 8414 §3.3 requires the `issuer` in the document to be identical to the
/// one the client started from; a trailing `/` is the only difference
/// tolerated, since users type both forms. A server that answers one location
/// with anything but 200 is asked at the other; an unreachable server is not.
pub fn discover(http: &dyn HttpClient, issuer: &str) -> Result<ServerMetadata, OAuthError> {
    let urls = well_known_urls(issuer)?;
    let mut misses = Vec::new();
    for url in &urls {
        let request = Request::get(url.as_str()).header(header::ACCEPT, "application/json");
        let response = send(http, url, request, Vec::new())?;
        if response.status() != StatusCode::OK {
            misses.push((
                url,
                response.status().as_u16(),
                body_excerpt(response.body()),
            ));
            continue;
        }
        let metadata: ServerMetadata =
            serde_json::from_slice(response.body()).map_err(|e| OAuthError::BadResponse {
                url: url.clone(),
                status: 200,
                detail: format!("not authorization server metadata: {e}"),
            })?;
        if metadata.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OAuthError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: metadata.issuer,
            });
        }
        return Ok(metadata);
    }
    let (url, status, detail) = misses.pop().expect("two locations were tried");
    Err(OAuthError::BadResponse {
        url: url.clone(),
        status,
        detail: format!(
            "no authorization server metadata here nor at {} ({detail})",
            urls[0]
        ),
    })
}

/// Checks that a login's stored endpoint (token, revocation) may be sent
/// its tokens: it is on `server`'s origin (RFC 6454), or `server`'s own
/// metadata names it (an authorization server on another host, found by
/// discovering `server` again). `listed` picks the endpoint from the
/// metadata. The credentials file is outside input: without this, whoever
/// could edit it could send a refresh token anywhere.
pub fn check_stored_endpoint(
    http: &dyn HttpClient,
    server: &str,
    endpoint: &str,
    listed: fn(&ServerMetadata) -> Option<&str>,
) -> Result<(), OAuthError> {
    if crate::config::same_origin(endpoint, server) {
        return Ok(());
    }
    let meta = discover(http, server)?;
    if listed(&meta) == Some(endpoint) {
        return Ok(());
    }
    Err(OAuthError::InvalidUrl {
        url: endpoint.to_owned(),
        reason: format!(
            "the stored login names this endpoint, which is neither on {server} nor in its metadata; nothing was sent to it. Log in again"
        ),
    })
}

/// An optional endpoint from [`ServerMetadata`], or
/// [`OAuthError::MissingEndpoint`] naming it:
/// `require_endpoint(&meta.device_authorization_endpoint, "device authorization endpoint")?`.
pub fn require_endpoint<'a>(
    endpoint: &'a Option<String>,
    what: &'static str,
) -> Result<&'a str, OAuthError> {
    endpoint.as_deref().ok_or(OAuthError::MissingEndpoint(what))
}

#[cfg(test)]
mod tests {
    use super::super::token::testing::FakeHttp;
    use super::*;

    const META: &str = r#"{"issuer":"http://as.test","token_endpoint":"http://as.test/token","grant_types_supported":["client_credentials"]}"#;

    #[test]
    fn a_stored_endpoint_must_be_on_the_server_or_in_its_metadata() {
        let token: fn(&ServerMetadata) -> Option<&str> = |m| Some(&m.token_endpoint);
        // Same origin: no request at all.
        let http = FakeHttp::default();
        check_stored_endpoint(&http, "http://as.test", "http://as.test/token", token).unwrap();
        assert_eq!(http.count(), 0);
        // Elsewhere, but the server's metadata names it.
        let meta = r#"{"issuer":"http://api.test","token_endpoint":"http://as.test/token"}"#;
        let http = FakeHttp::default().reply(200, meta);
        check_stored_endpoint(&http, "http://api.test", "http://as.test/token", token).unwrap();
        // Elsewhere and not named: refused, nothing sent there.
        let http = FakeHttp::default().reply(200, META);
        let err = check_stored_endpoint(&http, "http://as.test", "https://evil.test/token", token)
            .unwrap_err();
        assert!(matches!(err, OAuthError::InvalidUrl { .. }), "{err:?}");
        assert!(err.to_string().contains("Log in again"), "{err}");
        assert_eq!(http.count(), 1, "only the server's metadata was asked");
        let http = FakeHttp::default().reply(200, META);
        assert!(check_stored_endpoint(&http, "http://as.test", "not a url", token).is_err());
    }

    #[test]
    fn well_known_locations_follow_both_specs() {
        assert_eq!(
            well_known_urls("https://as.test").unwrap(),
            [
                "https://as.test/.well-known/oauth-authorization-server",
                "https://as.test/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            well_known_urls("https://as.test/tenant/1/").unwrap(),
            [
                "https://as.test/.well-known/oauth-authorization-server/tenant/1",
                "https://as.test/tenant/1/.well-known/openid-configuration"
            ]
        );
        assert!(well_known_urls("ftp://as.test").is_err());
        assert!(well_known_urls("https://as.test/?x=1").is_err());
        assert!(well_known_urls("not a url").is_err());
    }

    #[test]
    fn rfc8414_location_first() {
        let http = FakeHttp::default().reply(200, META);
        let meta = discover(&http, "http://as.test/").unwrap();
        assert_eq!(meta.token_endpoint, "http://as.test/token");
        assert_eq!(http.count(), 1);
        assert_eq!(
            http.url(0),
            "http://as.test/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn falls_back_to_openid_configuration() {
        let http = FakeHttp::default().reply(404, "not found").reply(200, META);
        discover(&http, "http://as.test").unwrap();
        assert_eq!(
            http.url(1),
            "http://as.test/.well-known/openid-configuration"
        );
    }

    #[test]
    fn issuer_must_match() {
        let http = FakeHttp::default().reply(200, META);
        let err = discover(&http, "http://other.test").unwrap_err();
        assert!(matches!(err, OAuthError::IssuerMismatch { .. }), "{err:?}");
    }

    #[test]
    fn neither_location_answers() {
        let http = FakeHttp::default().reply(404, "").reply(500, "boom");
        let err = discover(&http, "http://as.test").unwrap_err();
        match err {
            OAuthError::BadResponse { status, detail, .. } => {
                assert_eq!(status, 500);
                assert!(detail.contains("oauth-authorization-server"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_endpoints_are_named() {
        let meta: ServerMetadata = serde_json::from_str(META).unwrap();
        let err = require_endpoint(&meta.revocation_endpoint, "revocation endpoint").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the authorization server does not advertise a revocation endpoint"
        );
        let token = Some("http://as.test/token".to_owned());
        assert_eq!(
            require_endpoint(&token, "token endpoint").unwrap(),
            "http://as.test/token"
        );
    }

    #[test]
    fn unreachable_server_is_not_retried_elsewhere() {
        let http = FakeHttp::default().fail("refused");
        assert!(
            discover(&http, "http://as.test")
                .unwrap_err()
                .is_unreachable()
        );
        assert_eq!(http.count(), 1);
    }
}
