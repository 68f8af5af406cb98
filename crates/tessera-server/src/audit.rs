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
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedIn => "signed_in",
            Self::SignInFailed => "sign_in_failed",
            Self::SignedOut => "signed_out",
            Self::SessionRevoked => "session_revoked",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::AppRegistered => "app_registered",
            Self::AppSecretRotated => "app_secret_rotated",
            Self::AppModeChanged => "app_mode_changed",
            Self::AppProductionRequested => "app_production_requested",
            Self::AppDeleted => "app_deleted",
            Self::AppAuthorized => "app_authorized",
            Self::AppAuthorizationRevoked => "app_authorization_revoked",
            Self::DeviceApproved => "device_approved",
            Self::TokenUrlSessionCreated => "token_url_session_created",
        }
    }

    /// How the activity page says it.
    pub fn describe(action: &str) -> &'static str {
        match action {
            "signed_in" => "Signed in",
            "sign_in_failed" => "Failed sign-in attempt",
            "signed_out" => "Signed out",
            "session_revoked" => "Signed out a session",
            "api_key_created" => "API key created",
            "api_key_revoked" => "API key revoked",
            "app_registered" => "App registered",
            "app_secret_rotated" => "App secret rotated",
            "app_mode_changed" => "App mode changed",
            "app_production_requested" => "Production mode requested",
            "app_deleted" => "App deleted",
            "app_authorized" => "App authorized",
            "app_authorization_revoked" => "App authorization revoked",
            "device_approved" => "Device sign-in approved",
            "token_url_session_created" => "CLI sign-in session created",
            _ => "Other",
        }
    }
}

/// Appends an event. `subject` names the thing acted on (a key id, a client id).
pub async fn record(
    store: &Store,
    account_id: &str,
    action: Action,
    subject: Option<&str>,
    ip: Option<&str>,
    now: i64,
) -> Result<()> {
    store
        .insert_audit_event(&AuditEventRow {
            id: crate::ids::audit_event(),
            account_id: account_id.to_owned(),
            action: action.as_str().to_owned(),
            subject: subject.map(str::to_owned),
            ip: ip.map(str::to_owned),
            created_at: now,
        })
        .await
}
