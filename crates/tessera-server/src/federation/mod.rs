//! Workload identity federation: an app trusts JWTs of external issuers (a CI
//! platform, a Kubernetes cluster, another tesserad) and the token endpoint
//! exchanges such a JWT for a short-lived access token of the app's account
//! (RFC 8693; the grant is `oauth::token_exchange`).
//!
//! A [`TrustRule`] names the issuer (its `iss`, exactly), the audience the JWT
//! must carry, and globs on `sub` and on named claims (`repository`, `ref`, …);
//! `*` matches any run of characters, everything else is literal. A rule must
//! constrain at least one of them beyond `*`: issuers such as GitHub Actions
//! give a token with any audience to any repository, so issuer and audience
//! alone would trust everybody.
//!
//! [`accept`] checks a subject token completely: header ([`jws`]), signature
//! with the issuer's key ([`jwks`]), `exp`/`nbf`/`iat` with [`SKEW_SECS`] of
//! leeway, audience, claim rules, and one-time use (the `jti`, stored until
//! the token expires; a token without `jti` is keyed by the hash of its signed
//! part, so it is single use all the same rather than refused: RFC 7519 makes `jti`
//! optional and some issuers leave it out).

pub mod jwks;
pub mod jws;
mod refusal;
#[cfg(test)]
pub mod testing;

use crate::audit::{self, Action, Actor};
use crate::error::{Error, Result};
use crate::store::{Reach, RuleInsert, Store, TrustRule};
use jwks::IssuerKeys;
pub use refusal::Refusal;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use tessera_proto::{Scopes, THIRD_PARTY_OPERATION};

/// Leeway for clocks that disagree, on `exp`, `nbf` and `iat`.
pub const SKEW_SECS: i64 = 60;
/// Subject tokens valid for longer than this are refused: federation is for
/// short-lived tokens, and each one's `jti` is kept until it expires.
pub const MAX_SUBJECT_LIFETIME_SECS: i64 = 24 * 3600;
/// Claims the exchange checks itself, which a claim rule cannot name.
const RESERVED_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];
const MAX_CLAIM_RULES: usize = 20;
/// The most rules an app may have for a console member to add one: beyond any
/// real use. Without it a member's script, within the console's 100 creations
/// per 15 minutes, added rules of up to ~12 KB each for good.
pub const MAX_RULES_PER_APP: usize = 50;
const MAX_PATTERN_CHARS: usize = 512;

/// Whether `text` matches `pattern`, where `*` matches any run of characters
/// (also none, also `/` and `:`) and everything else is literal.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty();
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A new trust rule, as the admin command and the console give it.
#[derive(Clone, Debug, Default)]
pub struct NewTrustRule {
    pub client_id: String,
    pub issuer: String,
    pub audience: String,
    pub subject: Option<String>,
    pub claims: BTreeMap<String, String>,
    /// Space-separated; `None`: `THIRD_PARTY_OPERATION`.
    pub scope: Option<String>,
    /// [`Reach::Public`] for an account member's rule.
    pub reach: Reach,
}

/// A pattern a token's claim is matched against: no claim of a real token
/// holds a control or text-direction character, and a rule listing one would
/// read as another in `trust list`.
fn check_pattern(what: &str, pattern: &str) -> Result<()> {
    if pattern.trim().is_empty() || pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(Error::BadRequest(format!(
            "{what} must be 1 to {MAX_PATTERN_CHARS} characters"
        )));
    }
    if pattern.chars().any(tessera_proto::text::acted_on) {
        return Err(Error::BadRequest(format!(
            "{what} contains a control or text-direction character; use plain text"
        )));
    }
    // Compared exactly, and invisible in `trust list`: a space pasted in
    // with the value would make a rule that no token ever matches.
    if pattern.trim() != pattern {
        return Err(Error::BadRequest(format!(
            "{what} starts or ends with a space, which no token's claim has (compared exactly): {:?}",
            pattern.trim()
        )));
    }
    Ok(())
}

/// An issuer is compared with the tokens' `iss` exactly, and its discovery
/// document (fetched from the URL as parsed) must name it exactly too. A
/// spelling that parsing changes (an upper-case scheme or host, the default
/// port, `..`, a non-ASCII host) is never what an issuer writes, so a rule
/// with it would refuse every token as from an untrusted issuer.
fn check_issuer_spelling(issuer: &str, parsed: &url::Url) -> Result<()> {
    let canonical = parsed.as_str();
    // A URL without a path parses with `/`; both spellings are in use.
    let bare = parsed.path() == "/" && canonical.strip_suffix('/') == Some(issuer);
    if canonical == issuer || bare {
        return Ok(());
    }
    let meant = if issuer.ends_with('/') {
        canonical
    } else {
        canonical.trim_end_matches('/')
    };
    Err(Error::BadRequest(format!(
        "{} is not written as an issuer writes its tokens' iss (compared exactly): did you mean {}?",
        crate::urls::without_password(issuer),
        crate::urls::without_password(meant)
    )))
}

/// Checks and stores a rule for an existing app; a console user's change
/// (`actor`) goes into the audit trail.
pub async fn add(
    store: &Store,
    actor: Option<Actor<'_>>,
    new: NewTrustRule,
    now: i64,
) -> Result<TrustRule> {
    let Some(app) = store.app_by_client_id(&new.client_id).await? else {
        return Err(Error::NotFound(format!("no app {}", new.client_id)));
    };
    let issuer = new.issuer.trim();
    let parsed = jwks::check_url(issuer).map_err(Error::BadRequest)?;
    check_issuer_spelling(issuer, &parsed)?;
    check_pattern("the audience", &new.audience)?;
    if let Some(subject) = &new.subject {
        check_pattern("the subject pattern", subject)?;
    }
    if new.claims.len() > MAX_CLAIM_RULES {
        return Err(Error::BadRequest(format!(
            "a trust rule has at most {MAX_CLAIM_RULES} claim rules"
        )));
    }
    for (name, pattern) in &new.claims {
        if name.is_empty()
            || name.contains('=')
            || name.chars().count() > 100
            || name.chars().any(tessera_proto::text::acted_on)
        {
            return Err(Error::BadRequest(format!(
                "{name:?} is not a claim name: write a claim rule as NAME=GLOB"
            )));
        }
        if RESERVED_CLAIMS.contains(&name.as_str()) {
            return Err(Error::BadRequest(format!(
                "the claim {name} is checked by the exchange itself; use --issuer or --audience"
            )));
        }
        check_pattern(&format!("the pattern of claim {name}"), pattern)?;
    }
    let constrains = |p: &String| p.chars().any(|c| c != '*');
    if !new
        .subject
        .iter()
        .chain(new.claims.values())
        .any(constrains)
    {
        return Err(Error::BadRequest(
            "a trust rule needs a subject pattern or a claim rule that is not just `*` \
             (e.g. --subject 'repo:acme/widgets:*' or --claim repository=acme/widgets): \
             issuer and audience alone would trust every workload of that issuer"
                .into(),
        ));
    }
    let scope = Scopes::parse(new.scope.as_deref().unwrap_or(""));
    let scope = if scope.is_empty() {
        Scopes::parse(THIRD_PARTY_OPERATION)
    } else {
        scope
    };
    if let Some(unknown) = scope
        .iter()
        .find(|s| !crate::oauth::SCOPES_SUPPORTED.contains(s))
    {
        return Err(Error::BadRequest(format!(
            "unknown scope {unknown:?}: this server grants {}",
            crate::oauth::SCOPES_SUPPORTED.join(" ")
        )));
    }
    // A CI job's short token must not be able to mint a permanent API key.
    if let Some(restricted) = scope
        .iter()
        .find(|s| crate::oauth::RESTRICTED_SCOPES.contains(s))
    {
        return Err(Error::BadRequest(format!(
            "a trust rule cannot grant the scope {restricted}: federated tokens never create API keys"
        )));
    }
    let rule = TrustRule {
        id: crate::ids::trust_rule(),
        client_id: new.client_id,
        issuer: issuer.to_owned(),
        audience: new.audience,
        subject: new.subject,
        claims: new.claims,
        scope: scope.to_string(),
        reach: new.reach,
        created_at: now,
    };
    // A second copy would trust nothing more, and removing one would leave
    // the trust its remover meant to end. Looked for in the transaction that
    // inserts (as the cap, for a console member, is counted): looked for
    // before it, identical requests at the same moment each found no twin
    // and all were stored (16 on PostgreSQL).
    let same = |r: &TrustRule| {
        (r.audience == rule.audience && r.subject == rule.subject && r.claims == rule.claims)
            && (Scopes::parse(&r.scope) == scope && r.reach == rule.reach)
    };
    let cap = actor.is_some().then_some(MAX_RULES_PER_APP);
    match store
        .insert_trust_rule_checked(&rule, &app.account_id, cap, same)
        .await?
    {
        RuleInsert::Added => {}
        RuleInsert::Twin(id) => {
            return Err(Error::Conflict(format!(
                "the app already has this rule ({id}); nothing was added"
            )));
        }
        RuleInsert::Full => {
            return Err(Error::Conflict(format!(
                "the app has {MAX_RULES_PER_APP} trust rules, the most it may have: remove \
                 the rules it no longer needs first"
            )));
        }
    }
    if let Some(actor) = actor {
        audit::record(store, actor, Action::TrustRuleAdded, Some(&rule.id), now).await?;
    }
    Ok(rule)
}

/// Deletes a rule (only of `client_id`, when given). Tokens already exchanged
/// under it stay valid until they expire.
pub async fn remove(
    store: &Store,
    actor: Option<Actor<'_>>,
    client_id: Option<&str>,
    id: &str,
    now: i64,
) -> Result<()> {
    if !store.delete_trust_rule(id, client_id).await? {
        return Err(Error::NotFound(format!("no trust rule {id}")));
    }
    if let Some(actor) = actor {
        audit::record(store, actor, Action::TrustRuleRemoved, Some(id), now).await?;
    }
    Ok(())
}

/// A subject token that passed every check, the rule it matched, and the
/// scope to grant.
#[derive(Debug)]
pub struct Accepted {
    pub rule: TrustRule,
    pub scope: Scopes,
    /// The token's `sub`, for the log.
    pub subject: Option<String>,
}

fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        // NumericDate may have a fraction (RFC 7519 §2); whole seconds are enough.
        Some(Value::Number(n)) => Ok(n.as_f64().map(|f| f.floor() as i64)),
        Some(_) => Err(Refusal::Malformed("a time claim is not a number")),
    }
}

/// `aud` holds `audience` (a string, or an array of strings: RFC 7519 §4.1.3).
fn has_audience(claims: &Map<String, Value>, audience: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// A claim as a rule compares it: strings as they are, numbers and booleans
/// in JSON form; anything else matches nothing.
fn claim_text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) => Some(s.clone()),
        v @ (Value::Number(_) | Value::Bool(_)) => Some(v.to_string()),
        _ => None,
    }
}

/// The first condition of `rule` the claims fail: (claim, its value).
fn mismatch(rule: &TrustRule, claims: &Map<String, Value>) -> Option<(String, String)> {
    let conditions = rule
        .subject
        .iter()
        .map(|s| ("sub", s))
        .chain(rule.claims.iter().map(|(n, p)| (n.as_str(), p)));
    for (name, pattern) in conditions {
        let value = claim_text(claims, name);
        if !value.as_deref().is_some_and(|v| glob_matches(pattern, v)) {
            let shown: String = value.unwrap_or_else(|| "missing".into());
            return Some((name.to_owned(), shown.chars().take(100).collect()));
        }
    }
    None
}

/// Checks `exp`, `nbf` and `iat` against `now`; `exp`. Saturating: a token
/// may carry any number.
fn times(claims: &Map<String, Value>, now: i64) -> Result<i64, Refusal> {
    let exp = numeric(claims, "exp")?.ok_or(Refusal::NoExpiry)?;
    let when = tessera_proto::timestamp::rfc3339;
    if exp.saturating_add(SKEW_SECS) <= now {
        return Err(Refusal::Expired(when(exp)));
    }
    if let Some(nbf) = numeric(claims, "nbf")?
        && nbf.saturating_sub(SKEW_SECS) > now
    {
        return Err(Refusal::NotYetValid(when(nbf)));
    }
    if let Some(iat) = numeric(claims, "iat")?
        && iat.saturating_sub(SKEW_SECS) > now
    {
        return Err(Refusal::IssuedInTheFuture(when(iat)));
    }
    if exp.saturating_sub(now) > MAX_SUBJECT_LIFETIME_SECS {
        return Err(Refusal::TooLongLived);
    }
    Ok(exp)
}

/// A token bound to a key (RFC 7800 `cnf`, RFC 9449 §6.1 `jkt`) is exchanged
/// only by a request that proves that key: a copy of a DPoP-bound token is
/// worthless alone, and must not become a bearer token here.
fn check_binding(claims: &Map<String, Value>, proven_jkt: Option<&str>) -> Result<(), Refusal> {
    let Some(cnf) = claims.get("cnf") else {
        return Ok(());
    };
    match cnf.get("jkt").and_then(Value::as_str) {
        Some(jkt) if proven_jkt == Some(jkt) => Ok(()),
        Some(_) => Err(Refusal::KeyNotProven),
        None => Err(Refusal::UncheckableBinding),
    }
}

/// The one-time-use key of a token: its issuer and `jti`, else its signed
/// part (never the whole token: another valid signature over the same claims
/// would be a new key).
fn use_key(issuer: &str, claims: &Map<String, Value>, signed_part: &str) -> String {
    let mut hash = Sha256::new();
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) => {
            hash.update(b"jti\0");
            hash.update(issuer.as_bytes());
            hash.update(b"\0");
            hash.update(jti.as_bytes());
        }
        None => {
            hash.update(b"token\0");
            hash.update(signed_part.as_bytes());
        }
    }
    base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        hash.finalize(),
    )
}

/// Checks `token` against `client_id`'s trust rules and, when it passes and
/// `requested_scope` is within the rule's, uses it up: the rule it matched,
/// or why not. `proven_jkt` is the thumbprint of the key the request's DPoP
/// proof proves, which a key-bound token needs. A request refused for any
/// reason leaves the token unused.
pub async fn accept(
    store: &Store,
    issuers: &IssuerKeys,
    client_id: &str,
    token: &str,
    requested_scope: Option<&str>,
    proven_jkt: Option<&str>,
    now: i64,
) -> Result<Accepted> {
    let jwt = jws::parse(token)?;
    let issuer = jwt
        .claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(Refusal::NoIssuer)?;
    // The rules come first: only a trusted issuer's keys are ever fetched.
    let rules = store.trust_rules_for(client_id, issuer).await?;
    if rules.is_empty() {
        return Err(Refusal::UntrustedIssuer(issuer.to_owned()).into());
    }
    // One member's rule for this issuer is enough to fetch as members may.
    let reach = if rules.iter().any(|r| r.reach == Reach::Public) {
        Reach::Public
    } else {
        Reach::Anywhere
    };
    let keys = issuers.key(issuer, &jwt.kid, reach, now).await?;
    if !keys.iter().any(|key| jwt.verify(key).is_ok()) {
        return Err(Refusal::BadSignature.into());
    }
    let exp = times(&jwt.claims, now)?;
    let mut candidates = rules
        .into_iter()
        .filter(|r| has_audience(&jwt.claims, &r.audience))
        .peekable();
    let Some(first) = candidates.peek().cloned() else {
        return Err(Refusal::WrongAudience(issuer.to_owned()).into());
    };
    let rule = candidates
        .find(|r| mismatch(r, &jwt.claims).is_none())
        .ok_or_else(|| {
            let (claim, value) = mismatch(&first, &jwt.claims).unwrap_or_default();
            Refusal::ClaimMismatch { claim, value }
        })?;
    let scope = crate::oauth::narrowed(
        requested_scope,
        Scopes::parse(&rule.scope),
        "the requested scope exceeds the trust rule's scope",
    )?;
    check_binding(&jwt.claims, proven_jkt)?;
    let key = use_key(issuer, &jwt.claims, jwt.signed_part());
    // The use is remembered a skew longer than the token is accepted: a
    // request that passed the time check in its last second and then waited
    // (a slow key fetch) must still find it after the pruning at `exp + skew`.
    if !store
        .use_subject_token(&key, exp.saturating_add(2 * SKEW_SECS))
        .await?
    {
        return Err(Refusal::Replayed.into());
    }
    Ok(Accepted {
        rule,
        scope,
        subject: claim_text(&jwt.claims, "sub"),
    })
}

#[cfg(test)]
mod tests;
