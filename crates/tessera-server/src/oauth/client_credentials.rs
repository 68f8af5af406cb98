//! The client_credentials grant (RFC 6749 §4.4), with Lofty's `customer_key`: an
//! API key sent along makes the token act for that key's account with that key's
//! scopes (the server-to-server flow). Without one, the token acts for the app's
//! own account. A confidential client only (public apps are never registered for
//! this grant). Nothing is written to the database: this path stays fast.

use super::token::TokenForm;
use crate::access_token::NewAccessToken;
use crate::apikey;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::App;
use tessera_proto::OAuthErrorCode;
use tessera_proto::token::TokenResponse;

pub async fn grant(state: &AppState, app: &App, form: &TokenForm) -> Result<TokenResponse> {
    let (account_id, scope) = match form.customer_key.as_deref() {
        Some(key) => {
            let verified = apikey::verify(&state.store, &state.keyring, key, state.now())
                .await
                .map_err(|e| match e {
                    Error::Unauthenticated(reason) => {
                        super::invalid_grant(format!("the customer_key is not accepted: {reason}"))
                    }
                    other => other,
                })?;
            let key_scope = verified.claims.scope;
            let scope = match form.scope.as_deref().filter(|s| !s.trim().is_empty()) {
                None => key_scope,
                Some(requested) => {
                    let requested = super::requested_scope(Some(requested))?;
                    if !requested.is_subset(&key_scope) {
                        return Err(Error::oauth(
                            OAuthErrorCode::InvalidScope,
                            "the requested scope exceeds the customer_key's scope",
                        ));
                    }
                    requested
                }
            };
            (verified.claims.sub, scope)
        }
        None => (
            app.account_id.clone(),
            super::requested_scope(form.scope.as_deref())?,
        ),
    };
    let body = super::issue::access_only(
        state,
        NewAccessToken {
            account_id,
            client_id: Some(app.client_id.clone()),
            scope,
            acr: None,
        },
        state.settings.access_token_ttl,
    )?;
    super::issue::count("client_credentials");
    Ok(body)
}
