//! Secret settings: the master key and the metrics token ([`Secret`]) and URLs
//! that may carry a password — database, SMTP, Redis ([`SecretUrl`]). Their `Debug` and
//! `Display` never show the secret, so no log line, error message or settings
//! dump can; the value is reachable only through `expose()`. Both come from
//! flags (clap `value_parser`) and the TOML file (serde) already wrapped, so the
//! plain text never sits in a printable struct.

/// Query parameters whose values are credentials in the URLs we accept
/// (libpq's `password`/`sslpassword`, and anything named like a secret).
const SECRET_PARAMS: [&str; 4] = ["pass", "secret", "token", "key"];

const HIDDEN: &str = "***";

/// Whether a URL's query parameter named `name` holds a credential.
pub fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| lower.contains(s))
}

/// A URL shown with its password (and password-like query parameters) as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// For clap's `value_parser`: any text is accepted here and checked where
    /// it is used, with an error that does not repeat it.
    pub fn from_arg(url: &str) -> Result<Self, std::convert::Infallible> {
        Ok(Self::new(url))
    }

    /// The URL with its password, for the one place that connects with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the URL (or any of a comma-separated list, as Redis Cluster seeds
    /// are) carries a password or a secret query parameter.
    pub fn holds_password(&self) -> bool {
        self.0.split(',').any(|part| {
            url::Url::parse(part.trim()).is_ok_and(|url| {
                url.password().is_some()
                    || url.query_pairs().any(|(name, _)| is_secret_param(&name))
            })
        })
    }

    /// The URL as it may be shown.
    pub fn redacted(&self) -> String {
        let Ok(mut url) = url::Url::parse(&self.0) else {
            // Unparseable text may still hold a password: show none of it.
            return "(a URL that does not parse)".to_owned();
        };
        if url.password().is_some() {
            let _ = url.set_password(Some(HIDDEN));
        }
        if url.query().is_some() {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(name, value)| {
                    let value = if is_secret_param(&name) {
                        HIDDEN.to_owned()
                    } else {
                        value.into()
                    };
                    (name.into_owned(), value)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretUrl({})", self.redacted())
    }
}

impl std::fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl<'de> serde::Deserialize<'de> for SecretUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

/// Secret text (the master key as configured, the metrics token): shown as
/// `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// For clap's `value_parser`, as [`SecretUrl::from_arg`].
    pub fn from_arg(text: &str) -> Result<Self, std::convert::Infallible> {
        Ok(Self::new(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, in constant time (a token a client
    /// sends, e.g. `/metrics`' bearer token).
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_urls_hold_passwords() {
        for url in [
            "postgres://app:hunter2@db.internal/tessera",
            "postgres://app@db.internal/tessera?password=hunter2",
            "smtp://mailer:hunter2@smtp.internal:587",
            "redis://:hunter2@10.0.0.1:6379",
            "redis://10.0.0.1:7000,redis://:hunter2@10.0.0.2:7000",
        ] {
            assert!(SecretUrl::new(url).holds_password(), "{url}");
        }
        for url in [
            "/var/lib/tesserad/tesserad.db",
            "postgres://app@db.internal/tessera?sslmode=verify-full",
            "redis://10.0.0.1:7000,redis://10.0.0.2:7000",
        ] {
            assert!(!SecretUrl::new(url).holds_password(), "{url}");
        }
    }

    #[test]
    fn url_passwords_never_print() {
        let url = SecretUrl::new("postgres://app:hunter2@db.internal:5432/tessera?sslmode=require");
        assert_eq!(
            url.to_string(),
            "postgres://app:***@db.internal:5432/tessera?sslmode=require"
        );
        assert_eq!(
            format!("{url:?}"),
            "SecretUrl(postgres://app:***@db.internal:5432/tessera?sslmode=require)"
        );
        assert!(url.expose().contains("hunter2"));

        let query = SecretUrl::new("postgres://h/db?user=app&password=hunter2&sslpassword=x1");
        assert_eq!(
            query.to_string(),
            "postgres://h/db?user=app&password=***&sslpassword=***"
        );
        let smtp = SecretUrl::new("smtps://mailer:p%40ss@smtp.example.com");
        assert_eq!(smtp.to_string(), "smtps://mailer:***@smtp.example.com");
        let redis = SecretUrl::new("redis://:hunter2@127.0.0.1:6379/0");
        assert_eq!(redis.to_string(), "redis://:***@127.0.0.1:6379/0");
        let broken = SecretUrl::new("postgres://app:hunter2@[::1");
        assert!(!broken.to_string().contains("hunter2"));
        assert!(!format!("{broken:?}").contains("hunter2"));
        // Without a password nothing changes.
        let plain = SecretUrl::new("smtp://127.0.0.1:25");
        assert_eq!(plain.to_string(), "smtp://127.0.0.1:25");
    }

    #[test]
    fn secret_text_never_prints() {
        let key = Secret::new("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
        assert_eq!(format!("{key:?}"), "Secret([redacted])");
        assert_eq!(key.to_string(), "[redacted]");
        let parsed: Option<Secret> = serde_json::from_str(r#""s3cret""#).unwrap();
        let parsed = parsed.unwrap();
        assert_eq!(parsed.expose(), "s3cret");
        assert!(parsed.matches("s3cret"));
        assert!(!parsed.matches("s3cre") && !parsed.matches("s3cret!"));
    }
}
