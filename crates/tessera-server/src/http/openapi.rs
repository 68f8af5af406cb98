//! `/openapi.json`: the OpenAPI 3.1 document of the HTTP API, generated from the
//! handlers' `#[utoipa::path]` attributes and the wire types' schemas, never
//! written beside them.
//!
//! Each endpoint module has a `Doc` of its own paths; [`document`] merges them and
//! adds what the layers around the handlers do, from the same facts the router
//! uses: the platform routes' authentication, scope and rate-limit answers, the
//! `X-RateLimit-*` headers of rate-limited paths
//! ([`crate::ratelimit::UNAUTHENTICATED_PATHS`]), and `X-Request-Id` on every
//! response. The test below walks the real router: a route that is not in the
//! document (or a documented one that is not routed) fails it. Web pages other
//! than `/oauth/authorize` are for browsers and stay out.

use super::error::documented::{
    BadRequest, Conflict, Forbidden, InvalidClient, NotFound, OAuthError, OAuthUnavailable,
    TooManyRequests, Unauthorized, Unavailable,
};
use super::extract::Json;
use super::middleware::REQUEST_ID;
use super::{oauth, ops, v1, web};
use crate::services::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_proto::ratelimit::{LIMIT, REMAINING, RESET};
use tessera_proto::{ApiErrorBody, OAuthErrorBody};
use utoipa::OpenApi as _;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Header, OpenApi, Ref, RefOr, Required, Server};

pub const PATH: &str = "/openapi.json";

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(openapi_json))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "tesserad",
        description = "The Tessera authorization server and platform API. API keys go in \
            `Authorization: token <api_key>`, OAuth access tokens in `Authorization: Bearer <token>`, \
            DPoP-bound access tokens in `Authorization: DPoP <token>` with a `DPoP` proof header (RFC 9449). \
            Errors: 401 for missing or bad credentials, 403 with `code` 200100 for a missing scope, \
            429 with `Retry-After` over a rate limit; OAuth endpoints answer in RFC 6749 form."
    ),
    paths(openapi_json),
    components(
        schemas(ApiErrorBody, OAuthErrorBody),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            TooManyRequests,
            Unavailable,
            OAuthError,
            InvalidClient,
            OAuthUnavailable
        )
    ),
    tags(
        (name = "platform", description = "The platform API the CLIs call; needs `THIRD_PARTY_OPERATION`."),
        (name = "sign-in", description = "Email one-time codes: no credential needed."),
        (name = "oauth", description = "OAuth 2.0 authorization server (RFC 6749, 7636, 8628, 7009, 7662; token exchange RFC 8693, resource indicators RFC 8707, DPoP RFC 9449)."),
        (name = "discovery", description = "Metadata (RFC 8414) and signing keys (RFC 7517)."),
        (name = "operations", description = "Health, readiness, metrics and this document."),
    )
)]
struct ApiDoc;

/// This document.
#[utoipa::path(get, path = PATH, tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1, generated from the code.", content_type = "application/json")))]
async fn openapi_json(State(state): State<AppState>) -> Response {
    Json(document(&state.settings.issuer)).into_response()
}

/// The whole document, with `issuer` as its server.
pub fn document(issuer: &str) -> OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.servers = Some(vec![Server::new(crate::settings::join(issuer, ""))]);
    let mut platform = v1::PlatformDoc::openapi();
    for operation in platform.paths.paths.values_mut().flat_map(operations) {
        as_platform(operation);
    }
    for part in [
        platform,
        v1::PublicDoc::openapi(),
        oauth::Doc::openapi(),
        web::authorize::Doc::openapi(),
        ops::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_schemes_from_iter([
        (
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "An API key: `Authorization: token <api_key>`.",
            ))),
        ),
        (
            "bearer",
            SecurityScheme::Http(
                http_scheme(HttpAuthScheme::Bearer, "An OAuth access token.")
                    .bearer_format("JWT")
                    .build(),
            ),
        ),
        (
            "dpop",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "A DPoP-bound access token (`token_type` `DPoP`): `Authorization: DPoP <token>`, \
                 with a `DPoP` header proving its key for this method and URL (RFC 9449 §7).",
            ))),
        ),
        (
            "client_basic",
            SecurityScheme::Http(
                http_scheme(
                    HttpAuthScheme::Basic,
                    "OAuth client authentication (`client_secret_basic`); \
                     `client_id`/`client_secret` in the form also work.",
                )
                .build(),
            ),
        ),
        (
            "metrics_token",
            SecurityScheme::Http(
                http_scheme(
                    HttpAuthScheme::Bearer,
                    "The server's `metrics_token` setting.",
                )
                .build(),
            ),
        ),
    ]);
    components.headers.extend([
        header(REQUEST_ID.as_str(), Type::String, "This request's id: the trusted proxy's `X-Request-Id`, or a new UUIDv7. It is in the server's log lines of the request."),
        header(LIMIT, Type::Integer, "Requests allowed per minute."),
        header(REMAINING, Type::Integer, "Requests left in the current window."),
        header(RESET, Type::Integer, "UTC epoch second at which the oldest counted request leaves the window."),
    ]);
    for (name, response) in components.responses.iter_mut() {
        if let RefOr::T(response) = response {
            response
                .headers
                .insert(REQUEST_ID.as_str().into(), header_ref(REQUEST_ID.as_str()));
            if name == "TooManyRequests" {
                for header in [LIMIT, REMAINING, RESET] {
                    response.headers.insert(header.into(), header_ref(header));
                }
            }
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let limited = crate::ratelimit::UNAUTHENTICATED_PATHS
            .iter()
            .any(|p| path.starts_with(p));
        for operation in operations(item) {
            only_objects_in_an_optional_body(operation);
            let platform = operation.tags.iter().flatten().any(|t| t == "platform");
            for response in operation.responses.responses.values_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                response
                    .headers
                    .insert(REQUEST_ID.as_str().into(), header_ref(REQUEST_ID.as_str()));
                if limited || platform {
                    for name in [LIMIT, REMAINING, RESET] {
                        response.headers.insert(name.into(), header_ref(name));
                    }
                }
            }
        }
    }
    doc
}

/// What every platform route gets from the layers in front of it
/// (`middleware::Platform`): a credential, the scope, the
/// app's rate limit, and the database.
fn as_platform(operation: &mut Operation) {
    operation.security = Some(vec![
        SecurityRequirement::new("token", Vec::<String>::new()),
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("dpop", Vec::<String>::new()),
    ]);
    let proof = ParameterBuilder::new()
        .name(tessera_proto::dpop::HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "With `Authorization: DPoP`: a proof signed by the token's key for this method \
             and URL (RFC 9449 §4, §7).",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(RefOr::T(proof));
    for (status, name) in [
        ("400", "BadRequest"),
        ("401", "Unauthorized"),
        ("403", "Forbidden"),
        ("429", "TooManyRequests"),
        ("503", "Unavailable"),
    ] {
        operation
            .responses
            .responses
            .entry(status.into())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

/// An optional JSON body (`request_body(content = Option<T>)`) is one a client
/// leaves out: utoipa also offers the JSON `null` in its place, which the
/// server refuses (a body is a JSON object, `http::extract`), so schemathesis
/// sent `null` as a valid body and got a 400. Keeps only `T`; `required` stays
/// unset, so an empty body is still documented.
fn only_objects_in_an_optional_body(operation: &mut Operation) {
    let Some(RefOr::T(body)) = &mut operation.request_body else {
        return;
    };
    if body.required == Some(Required::True) {
        return;
    }
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else {
            continue;
        };
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let is_null = |schema: &RefOr<Schema>| matches!(schema, RefOr::T(Schema::Object(o)) if o.schema_type == Type::Null.into());
        let mut kept = one_of.items.iter().filter(|s| !is_null(s));
        if let (Some(only), None) = (kept.next(), kept.next())
            && one_of.items.len() > 1
        {
            content.schema = Some(only.clone());
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn http_scheme(scheme: HttpAuthScheme, description: &str) -> HttpBuilder {
    HttpBuilder::new()
        .scheme(scheme)
        .description(Some(description))
}

fn header(name: &str, kind: Type, description: &str) -> (String, RefOr<Header>) {
    let mut header = Header::new(ObjectBuilder::new().schema_type(kind));
    header.description = Some(description.into());
    (name.to_owned(), RefOr::T(header))
}

fn header_ref(name: &str) -> RefOr<Header> {
    RefOr::Ref(Ref::new(format!("#/components/headers/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use std::collections::BTreeSet;

    /// The paths of a router. axum has no API to list them; its `Debug` shows each
    /// as `RouteId(N): "/path"`, and the count check below notices if that changes.
    fn paths<S>(router: &Router<S>) -> BTreeSet<String> {
        let text = format!("{router:?}");
        let mut found = BTreeSet::new();
        for part in text.split("RouteId(").skip(1) {
            if let Some((_, rest)) = part.split_once("): \"")
                && let Some((path, _)) = rest.split_once('"')
            {
                found.insert(path.to_owned());
            }
        }
        found
    }

    const METHODS: [Method; 5] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];

    /// `(METHOD, path)` of every route a request can reach: each method is tried
    /// on each path, and only a 405 means it is not routed. The requests carry an
    /// API key: the platform's authentication answers before the method check.
    async fn routed(fx: &Fixture, paths: &BTreeSet<String>) -> BTreeSet<(String, String)> {
        let account = fx.account("routes@example.com").await;
        let key = fx.api_key(&account, None).await;
        let authorization = format!("token {}", key.key.expose_secret());
        let mut routed = BTreeSet::new();
        for path in paths {
            let concrete = path.replace('{', "x").replace('}', "");
            for method in METHODS {
                let request = Request::builder()
                    .method(method.clone())
                    .uri(&concrete)
                    .header("authorization", &authorization)
                    .body(Body::empty())
                    .unwrap();
                if fx.send(request).await.status() != StatusCode::METHOD_NOT_ALLOWED {
                    routed.insert((method.to_string(), path.clone()));
                }
            }
        }
        routed
    }

    fn documented(doc: &mut OpenApi) -> BTreeSet<(String, String)> {
        let mut ops = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("PATCH", &item.patch),
            ] {
                if op.is_some() {
                    ops.insert((method.to_owned(), path.clone()));
                }
            }
        }
        ops
    }

    #[tokio::test]
    async fn every_route_is_documented_and_every_documented_route_is_routed() {
        let fx = Fixture::with_settings(|s| s.rate_limit_enabled = false).await;
        let all = paths(&crate::http::router(fx.state.clone()));
        assert!(all.len() > 30, "the route list could not be read: {all:?}");
        let pages: BTreeSet<String> = paths(&web::routes(fx.state.clone(), |routes| routes))
            .into_iter()
            .filter(|p| p != web::authorize::PATH)
            .collect();
        let api: BTreeSet<String> = all.difference(&pages).cloned().collect();
        let routed = routed(&fx, &api).await;
        let documented = documented(&mut document(crate::testing::ISSUER));
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from /openapi.json (add #[utoipa::path] and list the handler in its module's Doc): {undocumented:?}"
        );
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
    }

    /// The documented `expires_in` pattern allowed `0` and `00s`, which the
    /// server refuses ("expires_in must be positive"): every value it
    /// allows (of a length that cannot overflow) must be one the server takes.
    #[test]
    fn every_expires_in_the_document_allows_is_accepted() {
        use proptest::prelude::*;
        let doc = serde_json::to_value(document(crate::testing::ISSUER)).unwrap();
        let pattern = doc
            .pointer("/components/schemas/CreateApiKey/properties/expires_in/pattern")
            .and_then(|p| p.as_str())
            .expect("expires_in documents a pattern")
            .trim_start_matches('^')
            .trim_end_matches('$')
            .to_owned();
        let values = proptest::string::string_regex(&pattern)
            .unwrap()
            .prop_filter("no overflow", |v| v.len() <= 12);
        proptest!(ProptestConfig::with_cases(512), |(value in values)| {
            let ttl = crate::clock::parse_duration(&value);
            prop_assert!(matches!(ttl, Ok(t) if !t.is_zero()), "{value:?}: {ttl:?}");
        });
    }

    #[tokio::test]
    async fn served_as_openapi_3_1_with_every_reference_defined() {
        let fx = Fixture::new().await;
        let response = fx
            .send(Request::get(PATH).body(Body::empty()).unwrap())
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let doc = crate::testing::body_json(response).await;
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], crate::testing::ISSUER);
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/").skip(1) {
            let pointer = reference.split('"').next().unwrap();
            assert!(
                doc.pointer(&format!("/{pointer}")).is_some(),
                "dangling $ref #/{pointer}"
            );
        }
        // The error bodies the issue names, with their headers.
        let responses = &doc["components"]["responses"];
        assert!(
            responses["Forbidden"]["description"]
                .as_str()
                .unwrap()
                .contains("200100")
        );
        for header in ["Retry-After", LIMIT, REMAINING, RESET] {
            assert!(
                responses["TooManyRequests"]["headers"]
                    .get(header)
                    .is_some(),
                "429 lacks {header}"
            );
        }
        assert!(
            responses["Unauthorized"]["headers"]
                .get("WWW-Authenticate")
                .is_some()
        );
        let me = &doc["paths"]["/v1/me"]["get"];
        assert_eq!(me["security"].as_array().unwrap().len(), 3);
        assert_eq!(me["parameters"][0]["name"], "DPoP");
        for status in ["200", "401", "403", "429"] {
            assert!(
                me["responses"].get(status).is_some(),
                "/v1/me lacks {status}"
            );
        }
        assert!(me["responses"]["200"]["headers"].get(LIMIT).is_some());
        assert!(
            me["responses"]["200"]["headers"]
                .get(REQUEST_ID.as_str())
                .is_some()
        );
        // An optional body is left out, never `null` (refused: not an object).
        let create = &doc["paths"]["/v1/api-keys"]["post"]["requestBody"];
        assert_eq!(
            create["content"]["application/json"]["schema"],
            serde_json::json!({"$ref": "#/components/schemas/CreateApiKey"}),
            "{create}"
        );
        assert_ne!(create["required"], true, "{create}");
        // A confidential client may start a device login with Basic only, no body
        // (http::oauth::tests::an_empty_body_needs_no_type_and_a_type_any_case).
        let device = &doc["paths"]["/oauth/device_authorization"]["post"]["requestBody"];
        assert_eq!(
            device["content"]["application/x-www-form-urlencoded"]["schema"],
            serde_json::json!({"$ref": "#/components/schemas/DeviceAuthorizationForm"}),
            "{device}"
        );
        assert_ne!(device["required"], true, "{device}");
        let token = &doc["paths"]["/oauth/token"]["post"]["requestBody"]["content"];
        assert!(
            token.get("application/x-www-form-urlencoded").is_some(),
            "{token}"
        );
        // Token exchange (RFC 8693), resource indicators (RFC 8707) and DPoP
        // (RFC 9449) are described with the rest.
        let form = &doc["components"]["schemas"]["TokenForm"]["properties"];
        for field in [
            "subject_token",
            "subject_token_type",
            "requested_token_type",
            "audience",
            "resource",
        ] {
            assert!(form.get(field).is_some(), "the token form lacks {field}");
        }
        let grants = form["grant_type"]["enum"].to_string();
        assert!(grants.contains("token-exchange"), "{grants}");
        let token = &doc["paths"]["/oauth/token"]["post"];
        assert_eq!(token["parameters"][0]["name"], "DPoP");
        assert!(
            token["responses"]["200"]["headers"]
                .get("DPoP-Nonce")
                .is_some()
        );
        let codes = doc["components"]["schemas"]["OAuthErrorCode"].to_string();
        for code in ["invalid_dpop_proof", "use_dpop_nonce", "invalid_target"] {
            assert!(codes.contains(code), "{code} is not a documented error");
        }
        let schemas = &doc["components"]["schemas"];
        assert!(
            schemas["IntrospectionResponse"]["properties"]
                .get("cnf")
                .is_some()
        );
        assert!(
            schemas["Metadata"]["properties"]
                .get("dpop_signing_alg_values_supported")
                .is_some()
        );
    }
}
