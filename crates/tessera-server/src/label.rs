//! Names people give things (API keys, projects, apps). Others see them: an
//! operator's terminal (`tesserad admin … list`), the console, the consent
//! page. So a name may not carry what a terminal or a text renderer acts on:
//! control characters (escape sequences that rewrite a line or set the window
//! title, a line break that fakes a row) and bidirectional overrides (text that
//! reads other than it is stored), nor a tower of combining marks (drawn
//! outside the name's line, over the consent page's heading or the lines
//! below it, the redirect host among them).

use crate::error::{Error, Result};
use tessera_proto::text::acted_on;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The longest name, in characters.
pub const MAX_CHARS: usize = 200;

/// The most non-spacing marks in a row. Real words stack a few (Vietnamese
/// two, Hebrew pointing and Indic or Tibetan clusters three or four); more is
/// only a drawing that climbs out of its line. Spacing marks (Mc) take room
/// of their own on the line, as a letter does, and start a new stack:
/// Burmese writes five marks in a row in everyday words ("လျှော့စျေး",
/// a discount), three of them spacing.
pub const MAX_MARKS_IN_A_ROW: usize = 4;

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
    let mut in_a_row = 0;
    for c in value.chars() {
        let stacks = matches!(
            c.general_category(),
            GeneralCategory::NonspacingMark | GeneralCategory::EnclosingMark
        );
        in_a_row = if stacks { in_a_row + 1 } else { 0 };
        if in_a_row > MAX_MARKS_IN_A_ROW {
            return Err(Error::BadRequest(format!(
                "{what} stacks more than {MAX_MARKS_IN_A_ROW} accents or other combining marks on one letter; use plain text"
            )));
        }
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
        // Words that stack marks pass; a tower of them does not.
        for word in [
            "Tiếng Việt",
            "שָׁלוֹם",
            "क्षत्रिय",
            "လျှော့စျေး",
            "မျှော်လင့်",
            "ချွှေး",
            "ཧྲཱིཿ",
            "བསྒྲུབས",
            "وَٱلصَّٰٓفَّٰتِ",
            "กี่น้ำ",
            "e\u{301}\u{302}\u{303}\u{304}",
        ] {
            assert!(check("the name", word).is_ok(), "{word:?}");
        }
        let tower = format!("Photo{}", "\u{344}".repeat(90));
        let err = check("the name", &tower).unwrap_err().to_string();
        assert!(err.contains("combining marks"), "{err}");
        assert!(check("the name", "e\u{301}\u{302}\u{303}\u{304}\u{323}").is_err());
    }
}
