//! Names people give things (API keys, projects, apps). Others see them: an
//! operator's terminal (`tesserad admin … list`), the console, the consent
//! page. So a name may not carry what a terminal or a text renderer acts on:
//! control characters (escape sequences that rewrite a line or set the window
//! title, a line break that fakes a row) and bidirectional overrides (text that
//! reads other than it is stored).

use crate::error::{Error, Result};
use tessera_proto::text::acted_on;

/// The longest name, in characters.
pub const MAX_CHARS: usize = 200;

/// `value` trimmed; `BadRequest` naming `what` when it is empty, too long or
/// carries a character from the list above.
pub fn check(what: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::BadRequest(format!("{what} is empty")));
    }
    if value.chars().count() > MAX_CHARS {
        return Err(Error::BadRequest(format!(
            "{what} is longer than {MAX_CHARS} characters"
        )));
    }
    if value.chars().any(acted_on) {
        return Err(Error::BadRequest(format!(
            "{what} contains a control or text-direction character; use plain text"
        )));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_text() {
        assert_eq!(check("the name", "  CI key ").unwrap(), "CI key");
        assert_eq!(
            check("the name", "Clé de l’équipe").unwrap(),
            "Clé de l’équipe"
        );
        for bad in [
            "",
            "   ",
            "a\nb",
            "x\u{1b}]0;pwned\u{7}",
            "\u{202E}txt.exe",
            "a\rb",
        ] {
            assert!(check("the name", bad).is_err(), "{bad:?}");
        }
        assert!(check("the name", &"x".repeat(MAX_CHARS + 1)).is_err());
        assert!(check("the name", &"é".repeat(MAX_CHARS)).is_ok());
    }
}
