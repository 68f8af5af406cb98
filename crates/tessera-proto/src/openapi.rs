//! OpenAPI schemas of the wire types whose JSON is not what a derive would say: a
//! scope set travels as one string, a secret as its plain value, and an OAuth error
//! code is one of the registered names. Only built with the `openapi` feature (the
//! server's `/openapi.json`).

use crate::error::OAuthErrorCode;
use crate::scope::Scopes;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// A string schema with a description.
pub(crate) fn string(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .into()
}

impl utoipa::PartialSchema for Scopes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Space-separated scope tokens (RFC 6749 §3.3), e.g. `THIRD_PARTY_OPERATION`.",
            ))
            .examples([crate::THIRD_PARTY_OPERATION])
            .into()
    }
}

impl utoipa::ToSchema for Scopes {}

impl utoipa::PartialSchema for OAuthErrorCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An OAuth error code (RFC 6749 §5.2, RFC 8628 §3.5, RFC 7009 §2.2.1, RFC 9449, RFC 8707 §2).",
            ))
            .enum_values(Some(OAuthErrorCode::REGISTERED.iter().map(|c| c.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for OAuthErrorCode {}
