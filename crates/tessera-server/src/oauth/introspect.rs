//! `POST /oauth/introspect` (RFC 7662). Only confidential clients may ask (§2.1:
//! the endpoint must be protected; a public client's id proves nothing). Access
//! tokens get the full check the API applies (signature, expiry, revocation,
//! account), and a DPoP-bound one shows its key as `cnf` (RFC 9449 §6.2);
//! refresh tokens are active while unused, unexpired and unrevoked, and only to
//! the client they were issued to: a refresh token is for that client alone (RFC
//! 6749 §10.4, RFC 7662 §4), and resource servers never need to ask about one.
//! Anything else, another client's refresh token included, is `{"active": false}`
//! and nothing more (§2.2), so the answer tells a foreign token from an unknown
//! one no more than a guess does.

use super::{TokenQuestion, client_auth};
use crate::access_tokens;
use crate::error::{Error, Result};
use crate::services::Services;
use tessera_proto::token::IntrospectionResponse;
use tessera_proto::{Confirmation, OAuthErrorCode, dpop};

pub async fn introspect(
    svc: &Services,
    request: TokenQuestion,
    now: i64,
) -> Result<IntrospectionResponse> {
    let app = client_auth::authenticate(&svc.store, &request.client).await?;
    if app.public {
        return Err(Error::oauth(
            OAuthErrorCode::InvalidClient,
            "introspection requires a confidential client",
        ));
    }
    let token = super::required(&request.token, "token")?;
    // Refresh tokens carry an `rt_` prefix and access tokens are JWS, so the kind
    // is known without the hint (RFC 7662 §2.1 lets the server ignore it).
    let found = if token.starts_with(super::issue::REFRESH_TOKEN_PREFIX) {
        as_refresh_token(svc, &app.client_id, token, now).await?
    } else {
        as_access_token(svc, token, now).await?
    };
    Ok(found.unwrap_or_default())
}

async fn as_access_token(
    svc: &Services,
    token: &str,
    now: i64,
) -> Result<Option<IntrospectionResponse>> {
    match access_tokens::verify(&svc.store, &svc.keyring, &svc.settings.issuer, token, now).await {
        Ok(v) => Ok(Some(IntrospectionResponse {
            active: true,
            scope: Some(v.claims.scope.to_string()),
            client_id: v.claims.client_id,
            sub: Some(v.claims.sub),
            exp: v.claims.exp,
            iat: Some(v.claims.iat),
            iss: Some(v.claims.iss),
            jti: Some(v.claims.jti),
            token_type: Some(
                if v.claims.cnf.is_some() {
                    dpop::TOKEN_TYPE
                } else {
                    "Bearer"
                }
                .into(),
            ),
            cnf: v.claims.cnf,
        })),
        // Not a (valid) access token; a database failure is still a failure.
        Err(Error::Unauthenticated(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The refresh token `token`, if it is one and `asker` is the client it was
/// issued to.
async fn as_refresh_token(
    svc: &Services,
    asker: &str,
    token: &str,
    now: i64,
) -> Result<Option<IntrospectionResponse>> {
    let Some(row) = super::refresh::find(&svc.store, token).await? else {
        return Ok(None);
    };
    let active = row.client_id == asker
        && row.used_at.is_none()
        && row.revoked_at.is_none()
        && row.expires_at > now;
    Ok(active.then(|| IntrospectionResponse {
        active: true,
        scope: Some(row.scope),
        client_id: Some(row.client_id),
        sub: Some(row.account_id),
        exp: Some(row.expires_at),
        token_type: Some("refresh_token".into()),
        cnf: row.dpop_jkt.map(|jkt| Confirmation { jkt }),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use crate::testing::{Fixture, body_json};
    use serde_json::{Value, json};

    async fn introspected(fx: &Fixture, (id, secret): &(String, String), token: &str) -> Value {
        let fields = [
            ("token", token),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        body_json(fx.post_form("/oauth/introspect", &fields).await).await
    }

    /// RFC 6749 §10.4, RFC 7662 §4: a refresh token is its client's alone.
    /// Another authenticated client gets exactly the answer for a token that
    /// does not exist; access tokens stay open to any confidential client (a
    /// resource server asks about them).
    #[tokio::test]
    async fn another_clients_refresh_token_is_inactive() {
        let fx = Fixture::new().await;
        let account = fx.account("owner@example.com").await;
        let owner = fx.confidential_app(&account, "Owner").await;
        let other = fx.confidential_app(&account, "Other").await;
        let tokens = fx.device_login(&account, &owner).await;
        let refresh_token = tokens["refresh_token"].as_str().unwrap();

        let own = introspected(&fx, &owner, refresh_token).await;
        assert_eq!(own["active"], true, "{own}");
        assert_eq!(own["client_id"], owner.0.as_str());
        assert_eq!(own["sub"], account.as_str());
        assert_eq!(own["token_type"], "refresh_token");

        let foreign = introspected(&fx, &other, refresh_token).await;
        let unknown = introspected(&fx, &other, "rt_not-a-refresh-token").await;
        assert_eq!(foreign, json!({"active": false}));
        assert_eq!(foreign, unknown);

        let access = introspected(&fx, &other, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(access["active"], true, "{access}");
        assert_eq!(access["client_id"], owner.0.as_str());
    }
}
