//! OAuth apps (clients): registering them, the grant types they may use, and what
//! the developer console and the sessions page do to them (every change is in the
//! account's audit trail).

use crate::audit::{self, Action, Actor};
use crate::error::{Error, Result};
use crate::store::{App, AppMode, Store};
use crate::{digest, oauth};
use tessera_proto::{ClientSecret, Scopes};

/// The redirect URI public apps get by default: what `tessera auth login --web`
/// listens on, any port.
pub const LOOPBACK_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// The public app of the `tessera` CLI, by name and well-known client id.
pub const TESSERA_CLI: (&str, &str) = ("Tessera CLI", "tessera-cli");
/// The public apps of the seed CLIs built on Tessera (`personas/`).
pub const PERSONA_APPS: [(&str, &str); 2] = [("Lofty CLI", "lofty-cli"), ("llamactl", "llamactl")];
/// The first party's other names: the product, and `lua`, the seed CLI that
/// signs in with API keys and email codes (so it has no app).
const FIRST_PARTY_NAMES: [&str; 2] = ["Tessera", "lua"];

/// Whether `name` is one of the first party's, give or take case, spaces,
/// punctuation and look-alike letters ("TESSERA_CLI", "Ｔｅｓｓｅｒａ ＣＬＩ",
/// "Тessera" with a Cyrillic Т, "Tessera CLl"): the product, or the name or
/// client id of one of its apps ([`TESSERA_CLI`], [`PERSONA_APPS`]). A consent
/// page says "NAME wants to access your account": a name that reads as ours
/// there is ours.
pub fn first_party_name(name: &str) -> bool {
    fn folded(name: &str) -> String {
        use unicode_normalization::UnicodeNormalization as _;
        // NFKC folds width and font variants (ｔ, ℂ); the table, the letters
        // of other scripts and small capitals that only look Latin (a short
        // list in the spirit of UTS #39's confusables); then the letters that
        // look alike in Latin itself.
        let letters = name.nfkc().flat_map(char::to_lowercase).map(|c| match c {
            'а' | 'α' | 'ᴀ' => 'a',
            'в' | 'ʙ' => 'b',
            'с' | 'ϲ' | 'ᴄ' => 'c',
            'ԁ' | 'ᴅ' => 'd',
            'е' | 'ε' | 'ᴇ' => 'e',
            'ɡ' | 'ɢ' => 'g',
            'һ' | 'н' | 'ʜ' => 'h',
            'і' | 'ι' | 'ɪ' | 'ӏ' | 'ʟ' | 'l' | '1' | '|' | 'ı' => 'i',
            'ј' | 'ᴊ' => 'j',
            'к' | 'κ' | 'ᴋ' => 'k',
            'м' | 'ᴍ' => 'm',
            'п' | 'ɴ' => 'n',
            'о' | 'ο' | 'ᴏ' | '0' => 'o',
            'р' | 'ρ' | 'ᴘ' => 'p',
            'ʀ' | 'г' => 'r',
            'ѕ' | 'ꜱ' => 's',
            'т' | 'τ' | 'ᴛ' => 't',
            'υ' | 'ᴜ' => 'u',
            'ν' | 'ᴠ' => 'v',
            'ԝ' | 'ᴡ' => 'w',
            'х' | 'χ' => 'x',
            'у' | 'ʏ' => 'y',
            'ᴢ' => 'z',
            c => c,
        });
        // The Hangul fillers are letters (Lo) that show as nothing at all
        // (Default_Ignorable_Code_Point): "Tessera CLI\u{3164}" reads as ours.
        let shown = |c: &char| !matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}');
        letters
            .filter(|c| c.is_alphanumeric() && shown(c))
            .collect()
    }
    let name = folded(name);
    let apps = std::iter::once(TESSERA_CLI).chain(PERSONA_APPS);
    let names = apps.flat_map(|(name, client_id)| [name, client_id]);
    names
        .chain(FIRST_PARTY_NAMES)
        .any(|ours| folded(ours) == name)
}

/// Grant types an app may use (the OAuth token endpoint's `grant_type`, with the
/// device grant's URN shortened).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Grant {
    #[value(name = "client_credentials")]
    ClientCredentials,
    #[value(name = "authorization_code")]
    AuthorizationCode,
    #[value(name = "refresh_token")]
    RefreshToken,
    #[value(
        name = "device_code",
        alias = "urn:ietf:params:oauth:grant-type:device_code"
    )]
    DeviceCode,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "device_code",
        }
    }

    /// DESIGN.md: confidential apps get all four; public apps all but
    /// client_credentials (they cannot keep a secret).
    pub fn defaults(public: bool) -> Vec<Grant> {
        let mut grants = vec![
            Self::AuthorizationCode,
            Self::RefreshToken,
            Self::DeviceCode,
        ];
        if !public {
            grants.insert(0, Self::ClientCredentials);
        }
        grants
    }
}

/// What to register.
#[derive(Clone, Debug)]
pub struct NewApp {
    pub name: String,
    pub mode: AppMode,
    /// Exact redirect URIs; loopback ones match any port.
    pub redirect_uris: Vec<String>,
    /// A public client (a CLI or native app): no secret, PKCE required.
    pub public: bool,
    /// A fixed client id, e.g. the well-known id a CLI ships with.
    pub client_id: Option<String>,
    /// Empty: [`Grant::defaults`].
    pub grants: Vec<Grant>,
    /// Requests per minute, instead of the mode's default.
    pub rate_limit: Option<u32>,
    /// Restricted scopes ([`oauth::RESTRICTED_SCOPES`]) the app may be granted.
    pub scopes: Scopes,
    /// Whether token requests must carry a DPoP proof. Off by default: see
    /// [`NewApp::named`].
    pub dpop_required: bool,
    /// Registered by a member in the developer portal ([`register`]), not by
    /// an operator.
    pub self_service: bool,
}

impl NewApp {
    /// A confidential development-mode app with the default grants and no
    /// redirect URIs; change fields with struct update syntax.
    ///
    /// DPoP is not required, of public apps either: the Lofty API sends OAuth
    /// tokens as `Bearer`, and stock clients (an SPA or mobile app with PKCE,
    /// a server-side library) send no proofs. A client that sends them
    /// (`tessera-client` does whenever the server advertises DPoP) still gets
    /// bound tokens, whose refresh then needs the same key; an app whose
    /// clients all can opts in with `--dpop required`.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            mode: AppMode::Development,
            redirect_uris: Vec::new(),
            public: false,
            client_id: None,
            grants: Vec::new(),
            rate_limit: None,
            scopes: Scopes::default(),
            dpop_required: false,
            self_service: false,
        }
    }

    /// A public app (a CLI) with a well-known client id and the loopback
    /// redirect URI.
    pub fn public_client(name: &str, client_id: &str) -> Self {
        Self {
            public: true,
            client_id: Some(client_id.to_owned()),
            redirect_uris: vec![LOOPBACK_REDIRECT_URI.to_owned()],
            ..Self::named(name)
        }
    }
}

/// What `create` made: the app, and the secret when it is confidential.
pub struct CreatedApp {
    pub app: App,
    pub client_secret: Option<ClientSecret>,
}

fn valid_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Why `uri` cannot be a redirect URI, if it cannot. RFC 6749 §3.1.2:
/// absolute, no fragment; not a scheme that runs or shows something in the
/// browser instead of reaching the client (an error redirect to `javascript:`
/// would run the attacker's script on the authorization server's say-so).
/// Private-use schemes of native apps (`com.example.app:/cb`, RFC 8252 §7.1)
/// stay allowed. Plain `http` only to a loopback host (RFC 9700 §2.1, RFC 8252
/// §7.3): elsewhere the code would cross the network in the clear. No user
/// name (`https://good.example@evil.example/` reads as good.example) and no
/// whitespace or control character, which the URL parser silently drops, so
/// that the string matched is the address the browser goes to.
fn redirect_uri_fault(uri: &str) -> Option<&'static str> {
    const NOT_A_CLIENT: [&str; 6] = ["javascript", "data", "vbscript", "file", "blob", "about"];
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("holds a space or control character: percent-encode it");
    }
    let Some(u) = url::Url::parse(uri).ok().filter(|u| !u.cannot_be_a_base()) else {
        return Some("must be an absolute URL such as https://app.example/callback");
    };
    if u.fragment().is_some() {
        Some("must not have a fragment (#…)")
    } else if NOT_A_CLIENT.contains(&u.scheme()) {
        Some("uses a scheme that runs in the browser instead of reaching the app")
    } else if !u.username().is_empty() || u.password().is_some() {
        Some("must not carry a user name or password")
    } else if u.scheme() == "http" && !crate::urls::is_loopback(&u) {
        Some("must be https unless it is a loopback address (127.0.0.1, [::1], localhost)")
    } else if uri.len() > 2048 {
        Some("is longer than 2048 characters")
    } else if u.as_str() != uri && u.as_str() != format!("{uri}/") {
        // Matched as written, redirected to as parsed: the two must agree.
        Some(
            "is not written as browsers read it (upper case, a default port, `.` or `..`): write it as the address bar shows it",
        )
    } else {
        None
    }
}

/// Registers an app for `account_id`; a confidential app's secret is returned
/// here only (the store keeps its hash).
pub async fn create(store: &Store, account_id: &str, args: NewApp, now: i64) -> Result<CreatedApp> {
    create_within(store, account_id, args, None, now).await
}

/// [`create`], refused when the account already has `cap` apps.
async fn create_within(
    store: &Store,
    account_id: &str,
    args: NewApp,
    cap: Option<i64>,
    now: i64,
) -> Result<CreatedApp> {
    if args.name.trim().is_empty() {
        return Err(Error::BadRequest("an app needs a name".into()));
    }
    let name = crate::label::check("the app's name", &args.name)?;
    let client_id = match args.client_id {
        Some(id) if valid_client_id(&id) => id,
        Some(id) => {
            return Err(Error::BadRequest(format!(
                "client id {id:?}: use 1-128 letters, digits, `-`, `_`, `.` or `:`"
            )));
        }
        None => crate::ids::app(),
    };
    for uri in &args.redirect_uris {
        if let Some(fault) = redirect_uri_fault(uri) {
            let uri = crate::urls::without_password(uri);
            return Err(Error::BadRequest(format!("redirect URI {uri:?} {fault}")));
        }
    }
    // A public app is a CLI or native app: without explicit redirect URIs it gets
    // the loopback one, which matches any port (RFC 8252 §7.3).
    let redirect_uris = if args.public && args.redirect_uris.is_empty() {
        vec![LOOPBACK_REDIRECT_URI.to_owned()]
    } else {
        args.redirect_uris
    };
    let mut grants = if args.grants.is_empty() {
        Grant::defaults(args.public)
    } else {
        args.grants
    };
    // Each grant once, in the order given (`dedup` alone keeps non-neighbours).
    let mut seen = Vec::with_capacity(grants.len());
    grants.retain(|g| {
        let first = !seen.contains(g);
        seen.push(*g);
        first
    });
    if args.public && grants.contains(&Grant::ClientCredentials) {
        return Err(Error::BadRequest(
            "a public app cannot use client_credentials: it has no secret".into(),
        ));
    }
    if let Some(other) = args
        .scopes
        .iter()
        .find(|s| !oauth::RESTRICTED_SCOPES.contains(s))
    {
        let why = match oauth::SCOPES_SUPPORTED.contains(&other) {
            true => "needs no registration",
            false => "is not a scope of this server",
        };
        return Err(Error::BadRequest(format!(
            "scope {other:?} {why}; an app is registered only for the restricted scopes: {}",
            oauth::RESTRICTED_SCOPES.join(", ")
        )));
    }
    let client_secret = (!args.public).then(|| ClientSecret::new(digest::random_token(32)));
    let app = App {
        client_id,
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        mode: args.mode,
        public: args.public,
        client_secret_hash: client_secret
            .as_ref()
            .map(|s| digest::secret_hash(s.expose_secret())),
        redirect_uris,
        grant_types: grants.iter().map(|g| g.as_str().to_owned()).collect(),
        rate_limit_per_min: args.rate_limit.map(i64::from),
        dpop_required: args.dpop_required,
        created_at: now,
        scopes: args.scopes,
        self_service: args.self_service,
    };
    match cap {
        None => store.insert_app(&app).await?,
        Some(cap) => {
            // Counted and inserted together: counted first, requests at the
            // same moment each saw room and all registered their app.
            if !store.insert_app_within(&app, cap).await? {
                return Err(Error::Conflict(format!(
                    "This account has {cap} apps, the most it may have: delete the \
                     apps it no longer needs first."
                )));
            }
        }
    }
    Ok(CreatedApp { app, client_secret })
}

/// The developer console's answer for an app the account does not own.
fn not_yours() -> Error {
    Error::NotFound("There is no such app in your account.".into())
}

/// One of the account's apps, with when it asked for production mode (while
/// that waits for an admin).
pub async fn owned(store: &Store, account_id: &str, client_id: &str) -> Result<(App, Option<i64>)> {
    let app = match store.app_by_client_id(client_id).await? {
        Some(app) if app.account_id == account_id => app,
        _ => return Err(not_yours()),
    };
    let requested = store
        .production_requests_of(account_id)
        .await?
        .into_iter()
        .find(|(id, _)| *id == app.client_id)
        .map(|(_, at)| at);
    Ok((app, requested))
}

/// How a switch of mode went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeChange {
    Switched,
    /// Production needs an admin's approval (`--production-requires-approval`):
    /// recorded as a request that `tesserad admin app approve` grants.
    Requested,
}

/// The most apps an account may register from the console: beyond any real
/// use. Without it a member's script, within the console's 100 creations per
/// 15 minutes, added apps for good (each up to 20 redirect URIs of 2 KB:
/// hundreds of MB a day) and the apps page listed every one.
pub const MAX_APPS_PER_ACCOUNT: i64 = 100;

/// Registers an app from the console: in production right away only where no
/// review is required, else with a pending request. Returns the app and when
/// production was requested.
pub async fn register(
    store: &Store,
    actor: Actor<'_>,
    new: NewApp,
    approval_required: bool,
    now: i64,
) -> Result<(CreatedApp, Option<i64>)> {
    // People see an app's name when they approve it: one of the first party's
    // would have them grant access to "Tessera CLI" that is a stranger's app.
    // Operators still may (`admin app create`, which calls `create`).
    if first_party_name(&new.name) {
        return Err(Error::BadRequest(format!(
            "The name “{}” belongs to this service's own apps, and people see an app's \
             name when they approve it. Choose a name of your own.",
            new.name.trim()
        )));
    }
    let wants_production = new.mode == AppMode::Production;
    let new = NewApp {
        mode: if approval_required {
            AppMode::Development
        } else {
            new.mode
        },
        self_service: true,
        ..new
    };
    let cap = Some(MAX_APPS_PER_ACCOUNT);
    let created = create_within(store, actor.account_id, new, cap, now).await?;
    let client_id = &created.app.client_id;
    audit::record(store, actor, Action::AppRegistered, Some(client_id), now).await?;
    let requested = if wants_production && approval_required {
        request_production(store, actor, client_id, now).await?;
        Some(now)
    } else {
        None
    };
    Ok((created, requested))
}

async fn request_production(
    store: &Store,
    actor: Actor<'_>,
    client_id: &str,
    now: i64,
) -> Result<()> {
    store
        .set_app_production_request(actor.account_id, client_id, Some(now))
        .await?;
    audit::record(
        store,
        actor,
        Action::AppProductionRequested,
        Some(client_id),
        now,
    )
    .await
}

/// Switches one of the account's apps to `mode` (production may wait for an
/// admin, see [`ModeChange::Requested`]).
pub async fn switch_mode(
    store: &Store,
    actor: Actor<'_>,
    client_id: &str,
    mode: AppMode,
    approval_required: bool,
    now: i64,
) -> Result<ModeChange> {
    if mode == AppMode::Production && approval_required {
        request_production(store, actor, client_id, now).await?;
        return Ok(ModeChange::Requested);
    }
    store
        .set_app_mode(actor.account_id, client_id, mode)
        .await?;
    audit::record(store, actor, Action::AppModeChanged, Some(client_id), now).await?;
    Ok(ModeChange::Switched)
}

/// What there is to say about rotating a public app's secret.
pub fn no_secret() -> Error {
    Error::BadRequest("A public app has no client secret.".into())
}

/// A new client secret for a confidential app of the account, shown once.
pub async fn rotate_secret(
    store: &Store,
    actor: Actor<'_>,
    app: &App,
    now: i64,
) -> Result<ClientSecret> {
    if app.public {
        return Err(no_secret());
    }
    let secret = ClientSecret::new(digest::random_token(32));
    let hash = digest::secret_hash(secret.expose_secret());
    let previous = app.client_secret_hash.as_deref().unwrap_or_default();
    let store_it = store.set_app_secret_hash(actor.account_id, &app.client_id, previous, &hash);
    if !store_it.await? {
        // Two rotations at once (a double submit, two tabs): only the one
        // that replaced the secret it read may show its own, or the page
        // could show a secret that no longer works.
        return Err(match store.app_by_client_id(&app.client_id).await? {
            Some(now_app) if now_app.account_id == actor.account_id => Error::Conflict(
                "the secret was rotated by another request at the same moment; rotate again to see a new one".into(),
            ),
            _ => not_yours(),
        });
    }
    audit::record(
        store,
        actor,
        Action::AppSecretRotated,
        Some(&app.client_id),
        now,
    )
    .await?;
    Ok(secret)
}

/// Deletes one of the account's apps. Its users' grants end first: the access
/// tokens in them go on the revocation list before the rows that name them are
/// deleted with the app.
pub async fn delete(store: &Store, actor: Actor<'_>, client_id: &str, now: i64) -> Result<()> {
    owned(store, actor.account_id, client_id).await?;
    for family in store.live_token_families(client_id, None).await? {
        oauth::issue::revoke_family(store, &family, now).await?;
    }
    if !store.delete_app(actor.account_id, client_id).await? {
        return Err(not_yours());
    }
    audit::record(store, actor, Action::AppDeleted, Some(client_id), now).await
}

/// The account approved the app for `scope` (consent, device approval): shown
/// on the sessions page, and in the audit trail as `action`.
pub async fn authorize(
    store: &Store,
    actor: Actor<'_>,
    client_id: &str,
    scope: &Scopes,
    action: Action,
    now: i64,
) -> Result<()> {
    store
        .upsert_app_authorization(actor.account_id, client_id, &scope.to_string(), now)
        .await?;
    audit::record(store, actor, action, Some(client_id), now).await
}

/// Withdraws the account's authorization of an app: every grant the account
/// gave it ends, its tokens and the codes and device approvals not yet
/// redeemed ([`Store::withdraw_app_authorization`]).
pub async fn revoke_authorization(
    store: &Store,
    actor: Actor<'_>,
    client_id: &str,
    now: i64,
) -> Result<()> {
    if !store
        .withdraw_app_authorization(actor.account_id, client_id, now)
        .await?
    {
        return Err(Error::NotFound("That app is not authorized.".into()));
    }
    audit::record(
        store,
        actor,
        Action::AppAuthorizationRevoked,
        Some(client_id),
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_testkit::Backend;

    tessera_testkit::backend_tests!(apps_registered_at_the_same_moment_stop_at_the_cap);

    /// Registrations at the same moment each counted the account's apps,
    /// saw room, and all registered. Now exactly one gets the last place.
    async fn apps_registered_at_the_same_moment_stop_at_the_cap(backend: Backend) {
        let Some(fx) = crate::testing::Fixture::on(backend).await else {
            return;
        };
        let account = fx.account("race@example.com").await;
        let (store, now) = (&fx.state.store, fx.clock_now());
        for i in 1..MAX_APPS_PER_ACCOUNT {
            fx.app(&account, NewApp::named(&format!("app {i}"))).await;
        }
        let tries = (0..16).map(|i| {
            let (store, account) = (store.clone(), account.clone());
            tokio::spawn(async move {
                let actor = Actor {
                    account_id: &account,
                    ip: None,
                };
                let new = NewApp::named(&format!("racer {i}"));
                register(&store, actor, new, false, now).await.map(drop)
            })
        });
        let answers = futures_util::future::join_all(tries).await;
        let made = crate::testing::one_made_the_rest_refused(answers);
        let apps = store.app_count_of(&account).await.unwrap();
        assert_eq!((made, apps), (1, MAX_APPS_PER_ACCOUNT));
    }

    #[tokio::test]
    async fn each_grant_is_registered_once_in_the_order_given() {
        let fx = crate::testing::Fixture::new().await;
        let account = fx.account("a@example.com").await;
        let grants = vec![
            Grant::DeviceCode,
            Grant::ClientCredentials,
            Grant::DeviceCode,
        ];
        let created = fx
            .app(
                &account,
                NewApp {
                    grants,
                    ..NewApp::named("Twice")
                },
            )
            .await;
        assert_eq!(
            created.app.grant_types,
            ["device_code", "client_credentials"]
        );
    }

    #[test]
    fn first_party_names_are_recognised_however_written() {
        for ours in [
            "Tessera",
            "tessera",
            " TESSERA ",
            "Tessera CLI",
            "tessera-cli",
            "TESSERA_CLI",
            "tessera.cli!",
            "Lofty CLI",
            "lofty-cli",
            "LoftyCLI",
            "llamactl",
            "Llama-CTL",
            "lua",
            "L U A",
            "Ｔｅｓｓｅｒａ ＣＬＩ",
            "Тessera CLI",
            "Tesserа CLI",
            "Tessera ℂLI",
            "ᴛᴇssᴇʀᴀ",
            "Tessera CLl",
            "L1amactl",
            "Tessera CLI\u{3164}",
            "Tessera\u{115F}\u{1160} CLI",
            "llama\u{FFA0}ctl",
        ] {
            assert!(first_party_name(ours), "{ours}");
        }
        for theirs in [
            "Tessera CLI Pro",
            "Lofty",
            "lua-tools",
            "My llamactl",
            "",
            "--",
        ] {
            assert!(!first_party_name(theirs), "{theirs}");
        }
    }

    /// A console member may not take a first-party name; an operator may
    /// (`admin app create` calls `create`).
    #[tokio::test]
    async fn only_operators_register_first_party_names() {
        let fx = crate::testing::Fixture::new().await;
        let account = fx.account("a@example.com").await;
        let actor = Actor {
            account_id: &account,
            ip: None,
        };
        let now = fx.clock_now();
        let named = |name| NewApp::named(name);
        for name in ["Tessera CLI", "lofty cli", "LLAMACTL", "Lua", "tessera"] {
            let refused = register(&fx.state.store, actor, named(name), false, now).await;
            let Err(Error::BadRequest(message)) = refused else {
                panic!("{name}: registered");
            };
            assert!(message.contains("Choose a name of your own"), "{message}");
        }
        assert!(fx.state.store.apps_of(&account).await.unwrap().is_empty());
        let mine = register(&fx.state.store, actor, named("Tessera reports"), false, now).await;
        assert!(mine.is_ok());
        let operators = create(&fx.state.store, &account, named("Tessera CLI"), now).await;
        assert!(operators.is_ok());
    }

    /// A member registers a bounded number of apps; deleting one makes room.
    #[tokio::test]
    async fn an_account_registers_a_bounded_number_of_apps() {
        let fx = crate::testing::Fixture::new().await;
        let account = fx.account("apps@example.com").await;
        let actor = Actor {
            account_id: &account,
            ip: None,
        };
        let (store, now) = (&fx.state.store, fx.clock_now());
        let mut first = None;
        for i in 0..MAX_APPS_PER_ACCOUNT {
            let (created, _) =
                register(store, actor, NewApp::named(&format!("app {i}")), false, now)
                    .await
                    .unwrap();
            first.get_or_insert(created.app.client_id);
        }
        let refused = register(store, actor, NewApp::named("one more"), false, now).await;
        let Err(Error::Conflict(message)) = refused else {
            panic!("registered past the cap");
        };
        assert!(message.contains("delete"), "{message}");
        assert_eq!(
            store.app_count_of(&account).await.unwrap(),
            MAX_APPS_PER_ACCOUNT
        );
        delete(store, actor, &first.unwrap(), now).await.unwrap();
        register(store, actor, NewApp::named("one more"), false, now)
            .await
            .unwrap();
    }

    /// Two rotations from the same read of the app (a double submit): the
    /// second finds the secret replaced and shows none of its own.
    #[tokio::test]
    async fn a_rotation_that_lost_the_race_shows_no_secret() {
        let fx = crate::testing::Fixture::new().await;
        let account = fx.account("a@example.com").await;
        let actor = Actor {
            account_id: &account,
            ip: None,
        };
        let app = fx.app(&account, NewApp::named("Backend")).await.app;
        let now = fx.clock_now();
        let store = &fx.state.store;
        assert!(rotate_secret(store, actor, &app, now).await.is_ok());
        let lost = rotate_secret(store, actor, &app, now).await;
        assert!(matches!(lost, Err(Error::Conflict(_))), "{lost:?}");
    }

    #[test]
    fn redirect_uris_reach_a_client() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1/callback",
            "http://[::1]:8080/callback",
            "http://localhost:3000/callback",
            "com.example.app:/oauth",
            "https://app.example",
            "https://app.example/cb?x=%2F",
        ] {
            assert_eq!(redirect_uri_fault(ok), None, "{ok}");
        }
        for bad in [
            "javascript://%0Aalert(1)",
            "data://text/html,x",
            "file:///etc/passwd",
            "https://app.example/cb#frag",
            "mailto:a@example.com",
            "/relative",
            "http://app.example/cb",
            "http://10.0.0.8/cb",
            "https://app.example@evil.example/cb",
            "https://user:pw@app.example/cb",
            "https://evil.example\t.app.example/cb",
            "https://app.example/cb\n",
            " https://app.example/cb",
            "https://app.example/c b",
            "HTTPS://APP.example/cb/../x",
            "https://app.example:443/cb",
            "https://app.example/a/./cb",
            &format!("https://app.example/{}", "a".repeat(2048)),
        ] {
            assert!(redirect_uri_fault(bad).is_some(), "{bad}");
        }
    }

    /// The refusal quotes the URI without the password it should not hold.
    #[tokio::test]
    async fn a_refused_redirect_uri_is_quoted_without_its_password() {
        let fx = crate::testing::Fixture::new().await;
        let account = fx.account("o@example.com").await;
        let args = NewApp {
            redirect_uris: vec!["https://user:hunter2@app.example/cb".into()],
            ..NewApp::named("Leaky")
        };
        let err = create(&fx.state.store, &account, args, fx.clock_now())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("user:***@app.example"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
