//! Extractors: request bodies whose rejections are [`Error::BadRequest`] (400 in
//! our format, or an error page) instead of axum's plain-text 4xx; the client IP;
//! the presented credential and the authenticated [`Principal`].

use super::error::PageError;
use crate::error::{AuthError, DpopError, Error};
use crate::principal::{Presented, Principal};
use crate::services::AppState;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use tessera_proto::dpop;

/// JSON request body / response.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json<T>(pub T);

pub fn too_large() -> Error {
    Error::BadRequest(format!(
        "the request body is larger than {} KiB",
        super::MAX_BODY_BYTES / 1024
    ))
}

/// A request body's struct, read from a JSON object only. serde would also
/// read a struct from an array, field by field in declaration order
/// (`["ci","1h"]` as `{"name":"ci","expires_in":"1h"}`): a body the documented
/// schema refuses, whose meaning a reordered field would change.
struct Object<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData))
            .map(Self)
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<Object<T>>::from_request(req, state).await {
            Ok(axum::Json(Object(value))) => Ok(Self(value)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::BadRequest(
                "send the body as JSON with `Content-Type: application/json`".into(),
            )),
            Err(r) => Err(Error::BadRequest(format!(
                "invalid JSON body: {}",
                r.body_text()
            ))),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        super::json::answer(&self.0)
    }
}

/// A JSON body that may be empty (then `T::default()`); content type not required.
#[derive(Clone, Copy, Debug, Default)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    Error::BadRequest(format!("cannot read the request body: {}", r.body_text()))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(|Object(value)| Self(value))
            .map_err(|e| Error::BadRequest(format!("invalid JSON body: {e}")))
    }
}

/// `application/x-www-form-urlencoded` body (OAuth endpoints, RFC 6749 §4.1.3).
/// OAuth handlers show the error in RFC 6749 form.
#[derive(Clone, Copy, Debug, Default)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = Error;

    async fn from_request(mut req: Request, state: &S) -> Result<Self, Error> {
        const FORM: &str = "application/x-www-form-urlencoded";
        let headers = req.headers();
        // A request with nothing to send (a confidential client's device
        // authorization, Basic only) may leave out the body and its type; and
        // a media type is case-insensitive (RFC 9110 §8.3.1), where axum
        // compares bytes.
        let no_body = headers
            .get(header::CONTENT_LENGTH)
            .map_or(!headers.contains_key(header::TRANSFER_ENCODING), |n| {
                n.as_bytes() == b"0"
            });
        let is_form = match headers.get(header::CONTENT_TYPE) {
            None => no_body,
            Some(value) => (value.to_str().ok())
                .and_then(|v| v.split(';').next())
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM)),
        };
        if is_form {
            let form = header::HeaderValue::from_static(FORM);
            req.headers_mut().insert(header::CONTENT_TYPE, form);
        }
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
            Err(FormRejection::InvalidFormContentType(_)) => {
                Err(Error::BadRequest(NOT_A_FORM.into()))
            }
            Err(r) => Err(Error::BadRequest(format!(
                "invalid form body: {}",
                r.body_text()
            ))),
        }
    }
}

/// A form body whose rejection is an error page.
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        let Form(value) = Form::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Path parameters (`/v1/api-keys/{id}`). One that is not UTF-8 once decoded, or
/// does not parse, is [`Error::BadRequest`] (400 in our format), not axum's plain
/// text.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(r) => Err(Error::BadRequest(format!(
                "invalid path: {}",
                r.body_text()
            ))),
        }
    }
}

/// [`Path`] for web pages: the rejection is an error page.
pub struct PagePath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PagePath<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        let Path(value) = Path::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// A page's query string; one that does not parse (invalid UTF-8, a repeated
/// parameter) is an error page, not axum's plain text.
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(r) => Err(Error::BadRequest(format!(
                "This link is malformed ({}). Go back and try again.",
                r.body_text()
            ))
            .into()),
        }
    }
}

const NOT_A_FORM: &str = "send the body with `Content-Type: application/x-www-form-urlencoded`";

/// A form body as name/value pairs, for forms with repeated names (checkboxes).
pub struct FormFields(pub Vec<(String, String)>);

impl FormFields {
    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .unwrap_or("")
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for FormFields {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        // As [`PageForm`]: a body sent as something else is not this form.
        let media_type = (req.headers().get(header::CONTENT_TYPE))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next());
        let form = "application/x-www-form-urlencoded";
        if !media_type.is_some_and(|m| m.trim().eq_ignore_ascii_case(form)) {
            return Err(Error::BadRequest(NOT_A_FORM.into()).into());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| Error::BadRequest(format!("cannot read the form: {}", r.body_text())))?;
        Ok(Self(
            url::form_urlencoded::parse(&bytes)
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

/// The client's address, as every per-address limit, the audit trail and the
/// session list see it ([`crate::forwarded`]): the TCP peer, or behind trusted
/// proxies the right-most untrusted `X-Forwarded-For` hop. Requests without a
/// socket (in-process tests) count as one unspecified address.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    pub fn of(headers: &HeaderMap, extensions: &Extensions, state: &AppState) -> Self {
        let forwarded_for = (headers.get_all("x-forwarded-for").iter()).map(HeaderValue::as_bytes);
        Self((state.settings.client_address).client(peer(extensions), forwarded_for))
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.headers, &parts.extensions, state))
    }
}

/// The TCP peer's address (the serve loop adds it to every request).
pub fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The credential in the `Authorization` header. Schemes are case-insensitive
/// (RFC 9110 §11.1): `token`, `Bearer`, `DPoP` (RFC 9449 §7.1).
pub fn presented(headers: &HeaderMap) -> Result<Presented<'_>, Error> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::Missing.into());
    };
    if values.next().is_some() {
        return Err(Error::BadRequest(
            "send exactly one Authorization header".into(),
        ));
    }
    let value = value.to_str().map_err(|_| {
        Error::BadRequest("the Authorization header must be printable ASCII".into())
    })?;
    let (scheme, credential) = value
        .trim()
        .split_once(' ')
        .ok_or(AuthError::UnsupportedScheme)?;
    let credential = credential.trim_start();
    if credential.is_empty() || credential.contains(' ') {
        return Err(AuthError::Malformed.into());
    }
    if scheme.eq_ignore_ascii_case("token") {
        Ok(Presented::ApiKey(credential))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Presented::Bearer(credential))
    } else if scheme.eq_ignore_ascii_case(dpop::TOKEN_TYPE) {
        Ok(Presented::Dpop(credential))
    } else {
        Err(AuthError::UnsupportedScheme.into())
    }
}

/// The DPoP proof of a request (RFC 9449 §4.1): at most one `DPoP` header.
pub fn dpop_proof(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let mut values = headers.get_all(dpop::HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = |why: &str| Error::Dpop(DpopError::InvalidProof(why.to_owned()));
    if values.next().is_some() {
        return Err(invalid("send exactly one DPoP header"));
    }
    value
        .to_str()
        .map(|v| Some(v.trim()))
        .map_err(|_| invalid("the DPoP header must be printable ASCII"))
}

/// Handlers behind the platform middleware take the principal as an argument.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Error::internal("route is not behind the authentication middleware"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).unwrap(),
        );
        h
    }

    #[test]
    fn schemes() {
        assert_eq!(
            presented(&headers(b"token abc")).unwrap(),
            Presented::ApiKey("abc")
        );
        assert_eq!(
            presented(&headers(b"Token abc")).unwrap(),
            Presented::ApiKey("abc")
        );
        assert_eq!(
            presented(&headers(b"Bearer xyz")).unwrap(),
            Presented::Bearer("xyz")
        );
        assert_eq!(
            presented(&headers(b"dpop xyz")).unwrap(),
            Presented::Dpop("xyz")
        );
        assert!(matches!(
            presented(&headers(b"Basic dXNlcjpwYXNz")),
            Err(Error::Unauthenticated(AuthError::UnsupportedScheme))
        ));
        assert!(matches!(
            presented(&headers(b"abc")),
            Err(Error::Unauthenticated(AuthError::UnsupportedScheme))
        ));
        assert!(matches!(
            presented(&HeaderMap::new()),
            Err(Error::Unauthenticated(AuthError::Missing))
        ));
        assert!(matches!(
            presented(&headers(b"token \xff\xfe")),
            Err(Error::BadRequest(_))
        ));
    }

    /// What `presented` must answer for a header value, written out plainly.
    fn expected(value: &[u8]) -> Result<Presented<'_>, &'static str> {
        let Ok(text) = std::str::from_utf8(value) else {
            return Err("bad request");
        };
        if !text
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
        {
            return Err("bad request");
        }
        let Some((scheme, credential)) = text.trim().split_once(' ') else {
            return Err("unsupported scheme");
        };
        let credential = credential.trim_start();
        if credential.is_empty() || credential.contains(' ') {
            return Err("malformed");
        }
        match scheme.to_ascii_lowercase().as_str() {
            "token" => Ok(Presented::ApiKey(credential)),
            "bearer" => Ok(Presented::Bearer(credential)),
            _ => Err("unsupported scheme"),
        }
    }

    /// Header values as they arrive: any bytes a `HeaderValue` can hold, often
    /// starting with a scheme in some case and spacing.
    fn header_values() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let scheme = prop_oneof![
            Just(b"token".to_vec()),
            Just(b"Bearer".to_vec()),
            Just(b"BEARER".to_vec()),
            Just(b"ToKeN".to_vec()),
            Just(b"Basic".to_vec()),
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        let spaces = proptest::collection::vec(prop_oneof![Just(b' '), Just(b'\t')], 0..3);
        let credential = proptest::collection::vec(any::<u8>(), 0..40);
        (spaces.clone(), scheme, spaces.clone(), credential, spaces).prop_map(
            |(lead, scheme, gap, credential, tail)| [lead, scheme, gap, credential, tail].concat(),
        )
    }

    proptest::proptest! {
        /// Any header value: no panic, and exactly the documented answer (the
        /// credential, or 400 for non-ASCII, 401 for a wrong scheme or shape).
        #[test]
        fn any_header_value_gets_the_documented_answer(value in header_values()) {
            let Ok(header) = HeaderValue::from_bytes(&value) else {
                return Ok(());
            };
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, header);
            match (presented(&h), expected(&value)) {
                (Ok(got), Ok(want)) => proptest::prop_assert_eq!(got, want),
                (Err(Error::BadRequest(_)), Err("bad request"))
                | (Err(Error::Unauthenticated(AuthError::UnsupportedScheme)), Err("unsupported scheme"))
                | (Err(Error::Unauthenticated(AuthError::Malformed)), Err("malformed")) => {}
                (got, want) => proptest::prop_assert!(false, "{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
