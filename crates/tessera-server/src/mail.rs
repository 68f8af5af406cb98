//! Outgoing mail (one-time codes). Over SMTP (lettre) when `--smtp-url` is set;
//! otherwise one `.eml` file per message in the outbox directory
//! (`--mail-outbox`, default `outbox/` beside the SQLite file). `serve --dev`
//! also prints each message to the terminal. Message bodies carry secrets, so
//! they never go to the log.
//!
//! SMTP over TLS trusts the operating system's CA certificates, or the PEM bundle
//! in `SSL_CERT_FILE` (or the directories in `SSL_CERT_DIR`) instead, as OpenSSL
//! does, so a relay with a company CA's certificate works. The bundle is checked
//! at start-up; a delivery refused for the relay's certificate says why and what
//! to do.

use crate::error::{Error, Result};
use crate::settings::Settings;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
};
use std::path::PathBuf;
use std::time::Duration;

/// The most one SMTP delivery may take, from connecting to the relay's last
/// answer. lettre's own timeout covers only the connect: a relay that accepts
/// and then says nothing (or stops answering mid-`DATA`) held the delivery,
/// and its task and socket, for good, and the code never came nor was logged.
pub const SMTP_DEADLINE: Duration = Duration::from_secs(30);

/// A plain-text message.
pub struct Mail {
    pub to: String,
    pub subject: String,
    /// May contain a secret (a one-time code): never logged.
    pub body: String,
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// `serve --dev`: print every message to stdout as well.
    echo_to_terminal: bool,
    /// [`SMTP_DEADLINE`]; shorter in tests.
    smtp_deadline: Duration,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        let from: Mailbox = settings.mail_from.parse().map_err(|e| {
            Error::Config(format!("invalid mail sender {:?}: {e}", settings.mail_from))
        })?;
        let transport = match &settings.smtp_url {
            Some(url) => {
                refuse_password_in_the_clear(url.expose())?;
                if uses_tls(url.expose()) {
                    check_trusted_roots()?;
                }
                Transport::Smtp(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                        // lettre's message does not include the URL (it may hold a password).
                        .map_err(|e| Error::Config(format!("invalid SMTP URL: {e}")))?
                        .build(),
                )
            }
            None => {
                check_outbox(&settings.mail_outbox)?;
                Transport::Outbox(settings.mail_outbox.clone())
            }
        };
        Ok(Self {
            transport,
            from,
            echo_to_terminal: settings.dev,
            smtp_deadline: SMTP_DEADLINE,
        })
    }

    /// Where mail goes, for the startup log line.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "SMTP".to_owned(),
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
        }
    }

    pub async fn send(&self, mail: Mail) -> Result<()> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| Error::BadRequest("not a valid email address".into()))?;
        let message = Message::builder()
            // lettre adds none by itself; RFC 5322 asks for one, and large
            // providers refuse or junk mail without it.
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| Error::internal(format!("building a mail message: {e}")))?;
        if self.echo_to_terminal {
            // Development mode only: the one place a message body may be shown.
            println!(
                "--- mail to {} ---\nSubject: {}\n\n{}\n--- end of mail ---",
                mail.to, mail.subject, mail.body
            );
        }
        match &self.transport {
            Transport::Smtp(smtp) => {
                tokio::time::timeout(self.smtp_deadline, smtp.send(message))
                    .await
                    .map_err(|_| {
                        Error::internal(format!(
                            "SMTP delivery failed: the relay did not finish within {:?}",
                            self.smtp_deadline
                        ))
                    })?
                    .map_err(|e| {
                        Error::internal(format!(
                            "SMTP delivery failed: {e}{}",
                            certificate_hint(&e)
                        ))
                    })?;
            }
            Transport::Outbox(dir) => {
                create_private_dir(dir).map_err(|e| {
                    Error::internal(format!(
                        "cannot create the mail outbox {}: {e}",
                        dir.display()
                    ))
                })?;
                AsyncFileTransport::<Tokio1Executor>::new(dir)
                    .send(message)
                    .await
                    .map_err(|e| {
                        Error::internal(format!("writing to the mail outbox failed: {e}"))
                    })?;
            }
        }
        tracing::info!(transport = %self.describe(), "mail sent");
        Ok(())
    }
}

/// Whether a message can be addressed to `address` (lettre's syntax of an
/// address, which [`Mailer::send`] applies).
pub fn deliverable(address: &str) -> bool {
    address.parse::<lettre::Address>().is_ok()
}

/// `smtps://…`, or `smtp://…?tls=required|opportunistic` (lettre's URL forms).
fn uses_tls(smtp_url: &str) -> bool {
    url::Url::parse(smtp_url).is_ok_and(|u| {
        u.scheme() == "smtps" || u.query_pairs().any(|(k, v)| k == "tls" && v != "none")
    })
}

/// lettre sends `AUTH PLAIN` over whatever connection it has: with plain
/// `smtp://` (or `tls=opportunistic`, which a man in the middle turns into
/// plain by hiding STARTTLS) the relay password crossed the network readable.
/// A password needs TLS that cannot be skipped, unless the relay is this machine.
fn refuse_password_in_the_clear(smtp_url: &str) -> Result<()> {
    let Ok(url) = url::Url::parse(smtp_url) else {
        return Ok(()); // lettre says what is wrong with it
    };
    // lettre logs in (`AUTH PLAIN`) only when there is a password.
    let has_password = url.password().is_some();
    // The `tls` lettre acts on is the first one: a later `tls=required`
    // after `tls=opportunistic` leaves STARTTLS optional.
    let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v);
    let tls_required = url.scheme() == "smtps" || tls.as_deref() == Some("required");
    // `smtp:` is no special scheme to the URL parser: `127.0.0.1` stays a name.
    let this_machine = crate::urls::is_loopback(&url)
        || (url.host_str())
            .and_then(|h| h.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback());
    if has_password && !tls_required && !this_machine {
        return Err(Error::Config(format!(
            "--smtp-url {} would send the relay password unencrypted: use smtps://… or \
             smtp://…?tls=required",
            crate::urls::without_password(smtp_url)
        )));
    }
    Ok(())
}

/// The CA certificates TLS will trust (what lettre loads): a bad `SSL_CERT_FILE`
/// or an empty store would otherwise refuse every delivery, one log line at a time.
fn check_trusted_roots() -> Result<()> {
    let found = rustls_native_certs::load_native_certs();
    if let Some(e) = found.errors.first() {
        return Err(Error::Config(format!(
            "cannot load the CA certificates for SMTP over TLS ({e}); \
             fix or unset SSL_CERT_FILE / SSL_CERT_DIR, or install the ca-certificates package"
        )));
    }
    if found.certs.is_empty() {
        return Err(Error::Config(
            "no CA certificates to trust for SMTP over TLS: install the ca-certificates \
             package, or set SSL_CERT_FILE to a PEM bundle"
                .into(),
        ));
    }
    Ok(())
}

/// What to do when the relay's certificate was refused; empty for other failures.
fn certificate_hint(error: &lettre::transport::smtp::Error) -> &'static str {
    use crate::tls::Refused;
    match crate::tls::refused_certificate(error) {
        Some(Refused::UnknownIssuer) => {
            " (the relay's certificate is not issued by a CA this host trusts: \
             add that CA to the OS store, or set SSL_CERT_FILE to a PEM bundle with it)"
        }
        Some(Refused::OtherName) => {
            " (the relay's certificate is for another name: use that host name in --smtp-url)"
        }
        Some(_) => " (the relay's TLS certificate was refused)",
        None => "",
    }
}

/// The outbox holds one-time codes: owner-only.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// At start-up: the outbox can be made and written. Found only at the first
/// message, every sign-in code would be lost (logged, while the client is
/// told a code is on its way and `/readyz` says ready) until someone looks.
///
/// A directory that was already there keeps its mode, and the messages are
/// written with the process's umask (0644 under the usual 022): in an
/// outbox others can read, any local user who asks for a code for someone
/// else's address reads it there and signs in as them.
fn check_outbox(dir: &std::path::Path) -> Result<()> {
    create_private_dir(dir)
        .and_then(|()| tempfile::tempfile_in(dir).map(drop))
        .map_err(|e| {
            Error::Config(format!(
                "cannot write the mail outbox {}: {e}; give --mail-outbox (TESSERAD_MAIL_OUTBOX, \
                 mail_outbox) a directory tesserad can write, or send mail with --smtp-url",
                dir.display()
            ))
        })?;
    match crate::files::open_to_others(dir, 0o044) {
        Some(mode) => Err(Error::Config(format!(
            "the mail outbox {dir} can be read by other users of this host (mode {mode:04o}); \
             its messages hold sign-in codes: `chmod 700 {dir}`, or send mail with --smtp-url",
            dir = dir.display()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::settings::{ServeOverrides, SettingsArgs, resolve};
    use crate::master_key::MasterKey;
    use crate::secret::{Secret, SecretUrl};

    fn smtp_settings(dir: &std::path::Path, smtp_url: String) -> crate::settings::Settings {
        let args = SettingsArgs {
            database: Some(SecretUrl::new(dir.join("t.db").display().to_string())),
            smtp_url: Some(SecretUrl::new(smtp_url)),
            ..Default::default()
        };
        let key = Secret::new(MasterKey::generate().encode());
        resolve(&args, ServeOverrides::default(), Some(key)).unwrap()
    }

    fn a_code() -> super::Mail {
        super::Mail {
            to: "someone@example.com".into(),
            subject: "Your code".into(),
            body: "123456".into(),
        }
    }

    /// A relay password goes only over TLS that cannot be skipped, or to this machine.
    #[test]
    fn a_relay_password_is_never_sent_in_the_clear() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            "smtp://mailer:s3cret@mail.example:25",
            "smtp://mailer:s3cret@mail.example:587?tls=opportunistic",
            "smtp://mailer:s3cret@mail.example:587?tls=none",
        ] {
            let refused = super::Mailer::from_settings(&smtp_settings(dir.path(), url.into()));
            let Err(crate::error::Error::Config(message)) = refused else {
                panic!("{url} not refused");
            };
            assert!(message.contains("unencrypted"), "{message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
        for url in [
            "smtp://mail.example:25",
            "smtp://mailer:s3cret@127.0.0.1:25",
            "smtp://mailer:s3cret@mail.example:587?tls=required",
        ] {
            let made = super::Mailer::from_settings(&smtp_settings(dir.path(), url.into()));
            assert!(made.is_ok(), "{url} refused");
        }
    }

    /// lettre reads the first `tls` parameter only: a later
    /// `tls=required` does not make it require TLS, so it must not let the
    /// password through either.
    #[test]
    fn only_the_tls_parameter_lettre_reads_counts() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            "smtp://mailer:s3cret@mail.example:587?tls=opportunistic&tls=required",
            "smtp://mailer:s3cret@mail.example:587?tls=opportunistic&x=1&tls=required",
        ] {
            let refused = super::Mailer::from_settings(&smtp_settings(dir.path(), url.into()));
            let Err(crate::error::Error::Config(message)) = refused else {
                panic!("{url} not refused");
            };
            assert!(message.contains("unencrypted"), "{message}");
        }
        let url = "smtp://mailer:s3cret@mail.example:587?tls=required&tls=opportunistic";
        let made = super::Mailer::from_settings(&smtp_settings(dir.path(), url.into()));
        assert!(made.is_ok(), "{url} refused");
    }

    /// lettre logs in only when the URL has a password: a user name alone
    /// sends nothing secret, and was usable before the check came.
    #[test]
    fn a_user_name_without_a_password_is_no_password() {
        let dir = tempfile::tempdir().unwrap();
        let url = "smtp://tesserad@mail.example:25";
        let made = super::Mailer::from_settings(&smtp_settings(dir.path(), url.into()));
        assert!(made.is_ok(), "{url} refused");
    }

    /// Each message has a Date and a Message-ID (RFC 5322 3.6).
    #[tokio::test]
    async fn a_message_has_a_date_and_a_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let args = SettingsArgs {
            database: Some(SecretUrl::new(
                dir.path().join("t.db").display().to_string(),
            )),
            mail_outbox: Some(dir.path().join("outbox")),
            ..Default::default()
        };
        let key = Secret::new(MasterKey::generate().encode());
        let settings = resolve(&args, ServeOverrides::default(), Some(key)).unwrap();
        let mailer = super::Mailer::from_settings(&settings).unwrap();
        mailer.send(a_code()).await.unwrap();
        let file = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "eml"))
            .expect("a message in the outbox");
        let text = std::fs::read_to_string(file).unwrap();
        let head = text.split("\r\n\r\n").next().unwrap();
        assert!(head.lines().any(|l| l.starts_with("Date: ")), "{head}");
        assert!(
            head.lines().any(|l| l.starts_with("Message-ID: <")),
            "{head}"
        );
    }

    /// A relay that accepts the connection and never says a word (or stops
    /// answering mid-conversation) fails the delivery at the deadline; it does
    /// not hold it, its task and its socket, for ever.
    #[tokio::test]
    async fn a_relay_that_never_answers_fails_the_delivery_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", relay.local_addr().unwrap());
        let mut mailer = super::Mailer::from_settings(&smtp_settings(dir.path(), url)).unwrap();
        assert_eq!(mailer.smtp_deadline, super::SMTP_DEADLINE);
        mailer.smtp_deadline = std::time::Duration::from_millis(200);
        // A bound for the test, well past the deadline.
        let sent = tokio::time::timeout(std::time::Duration::from_secs(20), mailer.send(a_code()));
        let Ok(Err(crate::error::Error::Internal(message))) = sent.await else {
            panic!("the delivery did not fail by itself at its deadline");
        };
        assert!(message.contains("did not finish within 200ms"), "{message}");
        let _still_listening = relay;
    }

    /// An outbox that cannot be made stops start-up with a setting error that
    /// names it; one that can is made (owner-only) before any mail.
    #[test]
    fn the_outbox_is_checked_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let settings = |outbox: std::path::PathBuf| {
            let args = SettingsArgs {
                database: Some(SecretUrl::new(
                    dir.path().join("t.db").display().to_string(),
                )),
                mail_outbox: Some(outbox),
                ..Default::default()
            };
            let key = Secret::new(MasterKey::generate().encode());
            resolve(&args, ServeOverrides::default(), Some(key)).unwrap()
        };
        let refused = super::Mailer::from_settings(&settings(file.join("outbox")));
        let Err(crate::error::Error::Config(message)) = refused else {
            panic!("not refused as a setting");
        };
        assert!(message.contains("a-file/outbox"), "{message}");
        assert!(message.contains("--mail-outbox"), "{message}");

        let outbox = dir.path().join("new").join("outbox");
        super::Mailer::from_settings(&settings(outbox.clone())).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&outbox).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert_eq!(
            std::fs::read_dir(&outbox).unwrap().count(),
            0,
            "nothing left in it"
        );
    }

    /// An outbox made beforehand that others can read (`mkdir` under umask
    /// 022) would show every sign-in code to them: refused at start-up.
    #[cfg(unix)]
    #[test]
    fn an_outbox_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        std::fs::create_dir(&outbox).unwrap();
        std::fs::set_permissions(&outbox, std::fs::Permissions::from_mode(0o755)).unwrap();
        let args = SettingsArgs {
            database: Some(SecretUrl::new(
                dir.path().join("t.db").display().to_string(),
            )),
            mail_outbox: Some(outbox.clone()),
            ..Default::default()
        };
        let key = Secret::new(MasterKey::generate().encode());
        let settings = resolve(&args, ServeOverrides::default(), Some(key)).unwrap();
        let refused = super::Mailer::from_settings(&settings);
        let Err(crate::error::Error::Config(message)) = refused else {
            panic!("not refused as a setting");
        };
        assert!(
            message.contains("mode 0755") && message.contains("`chmod 700 "),
            "{message}"
        );
        std::fs::set_permissions(&outbox, std::fs::Permissions::from_mode(0o700)).unwrap();
        super::Mailer::from_settings(&settings).unwrap();
    }
}
