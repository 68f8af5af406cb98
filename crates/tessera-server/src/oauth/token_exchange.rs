//! Token exchange (RFC 8693) for workload identity federation: a JWT that a
//! CI job or a cluster got from its platform (the subject token) becomes a
//! short-lived access token of an app's account, when one of the app's trust
//! rules accepts it (`crate::federation`).
//!
//! The subject token is the credential, so the client only names itself
//! (`client_id`); a confidential client may authenticate as usual, and must
//! get it right when it tries. No refresh token: the workload exchanges a
//! fresh subject token when the access token runs out. Delegation
//! (`actor_token`) is not supported, and the token is for this server only
//! (`audience`/`resource`, when given, must be its issuer). A DPoP proof binds
//! the token to the workload's key as in every other grant, and an app that
//! requires DPoP gets no exchanged token without one. A subject token that is
//! itself bound to a key (`cnf.jkt`, e.g. another tesserad's DPoP token) is
//! exchanged only with a proof of that key: a copy must not become a bearer
//! token here.
//!
//! Every unacceptable subject token is `invalid_request` (RFC 8693 §2.2.2),
//! except that an issuer whose keys cannot be fetched is
//! `temporarily_unavailable`.

use super::client_auth::{self, ClientCredentials};
use super::issue;
use crate::access_tokens::NewAccessToken;
use crate::error::{Error, Result};
use crate::federation;
use crate::services::Services;
use crate::store::App;
use std::time::Duration;
use tessera_proto::OAuthErrorCode;
use tessera_proto::token::{TokenResponse, exchange};

/// Exchanged tokens live at most this long (less when `--access-token-ttl` is
/// shorter).
pub const MAX_TTL: Duration = Duration::from_secs(3600);

/// The grant's parameters (RFC 8693 §2.1).
#[derive(Default)]
pub struct Request {
    pub subject_token: Option<String>,
    pub subject_token_type: Option<String>,
    pub requested_token_type: Option<String>,
    pub actor_token: Option<String>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
}

/// The app named by the request: authenticated when it presents a secret,
/// else only looked up (the subject token proves the rest).
async fn requesting_app(svc: &Services, client: &ClientCredentials) -> Result<App> {
    if client.authorization.is_some() || client.client_secret.is_some() {
        return client_auth::authenticate(&svc.store, client).await;
    }
    let client_id = super::required(&client.client_id, "client_id")?;
    svc.store
        .app_by_client_id(client_id)
        .await?
        .ok_or_else(|| Error::oauth(OAuthErrorCode::InvalidClient, "no such client"))
}

pub async fn grant(
    svc: &Services,
    client: &ClientCredentials,
    request: Request,
    dpop: Option<&str>,
    now: i64,
) -> Result<TokenResponse> {
    let subject_token = super::required(&request.subject_token, "subject_token")?;
    let token_type = super::required(&request.subject_token_type, "subject_token_type")?;
    if token_type != exchange::ID_TOKEN && token_type != exchange::JWT {
        return Err(super::invalid_request(format!(
            "subject_token_type {token_type:?} is not supported: use {} or {}",
            exchange::JWT,
            exchange::ID_TOKEN
        )));
    }
    if request.actor_token.is_some() {
        return Err(super::invalid_request(
            "delegation (actor_token) is not supported",
        ));
    }
    if let Some(requested) = request
        .requested_token_type
        .as_deref()
        .filter(|t| *t != exchange::ACCESS_TOKEN)
    {
        return Err(super::invalid_request(format!(
            "requested_token_type {requested:?} is not supported: this server issues {}",
            exchange::ACCESS_TOKEN
        )));
    }
    let issuer = &svc.settings.issuer;
    for target in [&request.audience, &request.resource].into_iter().flatten() {
        if target != issuer {
            return Err(Error::oauth(
                OAuthErrorCode::InvalidTarget,
                format!("this server issues tokens for itself ({issuer}) only"),
            ));
        }
    }
    let app = requesting_app(svc, client).await?;
    // Before the subject token is accepted (and its `jti` used up): a client
    // told to come back with a DPoP nonce must be able to send it again.
    let key = super::token::proven_key(svc, &app, dpop, now).await?;
    let scope = request.scope.as_deref();
    let (store, issuers) = (&svc.store, &svc.issuers);
    let proven_jkt = key.as_ref().map(|proven| proven.jkt.as_str());
    let accepted = federation::accept(
        store,
        issuers,
        &app.client_id,
        subject_token,
        scope,
        proven_jkt,
        now,
    )
    .await?;
    let ttl = svc.settings.access_token_ttl.min(MAX_TTL);
    // Short-lived (at most an hour) and never refreshed: no lineage, it ends
    // at its `exp`.
    let mut new = NewAccessToken::new(&app.account_id, Some(&app.client_id), accepted.scope);
    new.dpop_jkt = key.map(|proven| proven.jkt);
    new.exchanged = true;
    let mut body = issue::access_only(svc, new, ttl, now)?;
    body.issued_token_type = Some(exchange::ACCESS_TOKEN.to_owned());
    issue::count("token_exchange");
    tracing::info!(
        client_id = %app.client_id,
        trust_rule = %accepted.rule.id,
        issuer = %accepted.rule.issuer,
        subject = accepted.subject.as_deref().unwrap_or("-"),
        "subject token exchanged"
    );
    Ok(body)
}
