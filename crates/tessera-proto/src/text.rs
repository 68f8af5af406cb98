//! Text from elsewhere (a server's answer, a file, a key's claims, a name
//! someone typed) printed where a terminal acts on what it is given: control
//! characters (escape sequences that set the window title or clear the
//! screen, a line break or carriage return that fakes a line) and
//! bidirectional overrides and isolates (text that reads other than it is).
//! Both ends print such text, so both escape it the same way.

use std::borrow::Cow;

/// Whether a terminal or a text renderer acts on `c` rather than showing it.
pub fn acted_on(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `value` with every character a terminal acts on escaped (`\u{1b}`).
/// Ordinary text comes back unchanged (and unallocated).
pub fn printable(value: &str) -> Cow<'_, str> {
    escaped(value, acted_on)
}

/// [`printable`] for a whole message of several lines (an error and its
/// hint, a report): line breaks stay, everything else is escaped.
pub fn printable_lines(value: &str) -> Cow<'_, str> {
    escaped(value, |c| c != '\n' && acted_on(c))
}

fn escaped(value: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !value.chars().any(&escape) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(
        value
            .chars()
            .map(|c| match escape(c) {
                true => c.escape_unicode().to_string(),
                false => c.to_string(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_terminal_acts_on_is_escaped() {
        assert!(matches!(printable("Clé de l’équipe"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[2Kb"), "a\\u{1b}[2Kb");
        assert_eq!(printable("row\nfake"), "row\\u{a}fake");
        assert_eq!(printable("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        assert_eq!(printable_lines("row\nnext\r"), "row\nnext\\u{d}");
    }
}
