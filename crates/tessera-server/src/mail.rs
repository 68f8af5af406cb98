//! Outgoing mail (one-time codes). Over SMTP (lettre) when `--smtp-url` is set;
//! otherwise one `.eml` file per message in the outbox directory
//! (`--mail-outbox`, default `outbox/` beside the SQLite file). `serve --dev`
//! also prints each message to the terminal. Message bodies carry secrets, so
//! they never go to the log.

use crate::error::{Error, Result};
use crate::settings::Settings;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
};
use std::path::PathBuf;

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
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    // lettre's message does not include the URL (it may hold a password).
                    .map_err(|e| Error::Config(format!("invalid SMTP URL: {e}")))?
                    .build(),
            ),
            None => Transport::Outbox(settings.mail_outbox.clone()),
        };
        Ok(Self {
            transport,
            from,
            echo_to_terminal: settings.dev,
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
                smtp.send(message)
                    .await
                    .map_err(|e| Error::internal(format!("SMTP delivery failed: {e}")))?;
            }
            Transport::Outbox(dir) => {
                create_private_dir(dir)?;
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

/// The outbox holds one-time codes: owner-only.
fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        Error::internal(format!(
            "cannot create the mail outbox {}: {e}",
            dir.display()
        ))
    })
}
