//! Accounts and their projects.

use crate::error::{Error, Result};
use crate::store::{Account, Project, Store};

/// An email address as accounts are found by: trimmed and lower-cased; one
/// `@` between a local part and a domain (`localhost` and intranet names
/// too, no empty label), at most 254 bytes, nothing
/// that is not part of an address (spaces, `<>`, `,`, quotes: a list or a
/// display name pasted in) and no invisible or text-direction character (a
/// second account that reads as someone else's).
pub fn normalize_email(email: &str) -> Result<String> {
    let email = canonical_email(email);
    let invisible = |c: char| {
        tessera_proto::text::acted_on(c)
            || matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
    };
    let not_in_an_address = |c: char| c.is_whitespace() || "<>()[]\\,;:\"".contains(c);
    let plausible = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains("..")
        })
        && !email.chars().any(|c| invisible(c) || not_in_an_address(c))
        // What the mailer can write a message to: a dot at either end of
        // the local part, two in a row, or a domain label starting with `-`
        // made an account that no one-time code could ever reach.
        && crate::mail::deliverable(&email);
    if plausible {
        Ok(email)
    } else if email.len() > 254 {
        // Not repeated: it may be as long as a request body.
        Err(Error::BadRequest(
            "an email address has at most 254 characters".into(),
        ))
    } else {
        Err(Error::BadRequest(format!(
            "{} is not an email address",
            tessera_proto::text::printable(&format!("{email:?}"))
        )))
    }
}

/// How addresses are compared, before any check: trimmed, lower-case and
/// composed (NFC), so that an `é` typed as one character or as `e` and an
/// accent is one address.
pub fn canonical_email(email: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    email.trim().to_lowercase().nfc().collect()
}

/// Creates an account for [`normalize_email`]'s form of `email`.
pub async fn create(store: &Store, email: &str, now: i64) -> Result<Account> {
    let email = normalize_email(email)?;
    let account = Account {
        id: crate::ids::account(),
        email,
        created_at: now,
    };
    store.insert_account(&account).await?;
    Ok(account)
}

/// The account with this email, or `NotFound`.
pub async fn by_email(store: &Store, email: &str) -> Result<Account> {
    store
        .account_by_email(&canonical_email(email))
        .await?
        .ok_or_else(|| Error::NotFound(format!("no account with email {email}")))
}

/// Creates a project in an account.
pub async fn create_project(
    store: &Store,
    account_id: &str,
    name: &str,
    now: i64,
) -> Result<Project> {
    if name.trim().is_empty() {
        return Err(Error::BadRequest("a project needs a name".into()));
    }
    let name = crate::label::check("the project's name", name)?;
    let project = Project {
        id: crate::ids::project(),
        account_id: account_id.to_owned(),
        name: name.to_owned(),
        created_at: now,
    };
    store.insert_project(&project).await?;
    Ok(project)
}

#[cfg(test)]
mod tests {
    use super::normalize_email;

    #[test]
    fn emails_are_addresses_and_nothing_else() {
        assert_eq!(normalize_email(" A@Example.com ").unwrap(), "a@example.com");
        assert_eq!(
            normalize_email("josé@example.com").unwrap(),
            "josé@example.com"
        );
        assert_eq!(
            normalize_email("Jose\u{0301}@example.com").unwrap(),
            "jos\u{e9}@example.com",
            "one address however the accent was typed"
        );
        assert_eq!(normalize_email("ops@localhost").unwrap(), "ops@localhost");
        for bad in [
            "nope",
            "a@",
            "@b",
            "a b@example.com",
            "\u{202E}moc.elpmaxe@eve",
            "eve\u{200B}@example.com",
            "<alice@example.com>",
            "a@@b.com",
            "alice@example.com,bob@example.com",
            "alice@example.com.",
            "alice@example..com",
            ".alice@example.com",
            "alice.@example.com",
            "al..ice@example.com",
            "alice@-example.com",
            &format!("{}@example.com", "a".repeat(250)),
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }
}
