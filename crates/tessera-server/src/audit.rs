//! The audit trail shown on `/settings/activity`: what happened to an account,
//! when, and from which IP address. Never a secret, only ids.

use crate::error::Result;
use crate::store::Store;
use crate::store::audit::AuditEventRow;

/// Things worth telling the account owner about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    SignedIn,
    SignInFailed,
    SignedOut,
    SessionRevoked,
    ApiKeyCreated,
    ApiKeyRevoked,
    AppRegistered,
    AppSecretRotated,
    AppModeChanged,
    AppProductionRequested,
    AppDeleted,
    AppAuthorized,
    AppAuthorizationRevoked,
    DeviceApproved,
    TokenUrlSessionCreated,
    TrustRuleAdded,
    TrustRuleRemoved,
}

/// Each action: as stored, and as the activity page says it.
const ACTIONS: [(Action, &str, &str); 17] = [
    (Action::SignedIn, "signed_in", "Signed in"),
    (
        Action::SignInFailed,
        // Named literally in the activity query, for its index.
        crate::store::audit::SIGN_IN_FAILED,
        "Failed sign-in attempt",
    ),
    (Action::SignedOut, "signed_out", "Signed out"),
    (
        Action::SessionRevoked,
        "session_revoked",
        "Signed out a session",
    ),
    (Action::ApiKeyCreated, "api_key_created", "API key created"),
    (Action::ApiKeyRevoked, "api_key_revoked", "API key revoked"),
    (Action::AppRegistered, "app_registered", "App registered"),
    (
        Action::AppSecretRotated,
        "app_secret_rotated",
        "App secret rotated",
    ),
    (
        Action::AppModeChanged,
        "app_mode_changed",
        "App mode changed",
    ),
    (
        Action::AppProductionRequested,
        "app_production_requested",
        "Production mode requested",
    ),
    (Action::AppDeleted, "app_deleted", "App deleted"),
    (Action::AppAuthorized, "app_authorized", "App authorized"),
    (
        Action::AppAuthorizationRevoked,
        "app_authorization_revoked",
        "App authorization revoked",
    ),
    (
        Action::DeviceApproved,
        "device_approved",
        "Device sign-in approved",
    ),
    (
        Action::TokenUrlSessionCreated,
        "token_url_session_created",
        "CLI sign-in session created",
    ),
    (
        Action::TrustRuleAdded,
        "trust_rule_added",
        "App trusts an external issuer",
    ),
    (
        Action::TrustRuleRemoved,
        "trust_rule_removed",
        "App's trust in an external issuer removed",
    ),
];

impl Action {
    pub fn as_str(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(a, _, _)| *a == self)
            .map_or("other", |(_, name, _)| name)
    }

    /// How the activity page says a stored action.
    pub fn describe(action: &str) -> &'static str {
        ACTIONS
            .iter()
            .find(|(_, name, _)| *name == action)
            .map_or("Other", |(_, _, text)| text)
    }
}

/// Who did something: the account, and the IP address the request came from.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub account_id: &'a str,
    pub ip: Option<&'a str>,
}

/// Appends an event. `subject` names the thing acted on (a key id, a client id).
pub async fn record(
    store: &Store,
    actor: Actor<'_>,
    action: Action,
    subject: Option<&str>,
    now: i64,
) -> Result<()> {
    store
        .insert_audit_event(&AuditEventRow {
            id: crate::ids::audit_event(),
            account_id: actor.account_id.to_owned(),
            action: action.as_str().to_owned(),
            subject: subject.map(str::to_owned),
            ip: actor.ip.map(str::to_owned),
            created_at: now,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_name_and_a_text() {
        for (action, name, text) in ACTIONS {
            assert_eq!(action.as_str(), name);
            assert_eq!(Action::describe(name), text);
        }
        assert_eq!(Action::describe("unknown"), "Other");
    }
}
