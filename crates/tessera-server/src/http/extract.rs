//! Body extractors whose rejections are [`Error::BadRequest`] (400 in our format)
//! instead of axum's plain-text 4xx.

use crate::error::Error;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON request body / response.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json<T>(pub T);

fn too_large() -> Error {
    Error::BadRequest(format!(
        "the request body is larger than {} KiB",
        super::MAX_BODY_BYTES / 1024
    ))
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
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
        axum::Json(self.0).into_response()
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
            .map(Self)
            .map_err(|e| Error::BadRequest(format!("invalid JSON body: {e}")))
    }
}

/// `application/x-www-form-urlencoded` body (OAuth endpoints, RFC 6749 §4.1.3).
/// OAuth handlers turn the error into RFC 6749 form with [`Error::into_oauth`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Self(value)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
            Err(FormRejection::InvalidFormContentType(_)) => Err(Error::BadRequest(
                "send the body with `Content-Type: application/x-www-form-urlencoded`".into(),
            )),
            Err(r) => Err(Error::BadRequest(format!(
                "invalid form body: {}",
                r.body_text()
            ))),
        }
    }
}
