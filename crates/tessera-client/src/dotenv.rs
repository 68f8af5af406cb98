//! Reading one key from a `.env` file.
//!
//! Only the requested key is looked up; nothing is loaded into the process
//! environment, so a `.env` full of unrelated settings cannot change how this
//! process (or its children) behave.
//!
//! Hand-written rather than `dotenvy::from_read_iter`, which was tried against
//! the table below: dotenvy rejects a whole line whose unquoted value has
//! trailing whitespace (`KEY=abc `, common in hand-edited files), so the key
//! would silently not be found, and it expands `$NAME` in unquoted and
//! double-quoted values from the process environment, so a key containing
//! `$` would change. A key file is data, not a shell script.

/// The value of the last assignment to `key` in `contents`.
///
/// Accepts what shells and the common dotenv loaders accept: `export ` prefixes,
/// single quotes (literal), double quotes (with `\n`, `\"`, `\\` escapes), `#`
/// comment lines and trailing ` # comments` on unquoted values, CRLF line
/// endings, and a UTF-8 byte order mark at the start (Windows editors write
/// one). Later assignments win, as when a shell sources the file; a later
/// assignment this cannot read (an unterminated quote, a value across lines)
/// gives no key rather than an earlier one, which it was meant to replace
/// (a revoked key, most likely).
pub fn lookup(contents: &str, key: &str) -> Option<String> {
    let contents = contents.strip_prefix('\u{feff}').unwrap_or(contents);
    let mut found = None;
    for line in contents.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map_or(line, str::trim_start);
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.trim_end() != key {
            continue;
        }
        found = parse_value(value.trim_start());
    }
    found
}

fn parse_value(raw: &str) -> Option<String> {
    if let Some(rest) = raw.strip_prefix('\'') {
        return rest.find('\'').map(|end| rest[..end].to_owned());
    }
    if let Some(rest) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        return None; // unterminated quote: ignore rather than guess
    }
    let value = match raw.find(" #").or_else(|| raw.find("\t#")) {
        Some(comment) => &raw[..comment],
        None => raw,
    };
    Some(value.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::lookup;

    const K: &str = "TESSERA_API_KEY";

    #[test]
    fn table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("TESSERA_API_KEY=abc", Some("abc")),
            ("export TESSERA_API_KEY=abc", Some("abc")),
            ("export\tTESSERA_API_KEY = abc ", Some("abc")),
            ("TESSERA_API_KEY=abc\t", Some("abc")),
            ("TESSERA_API_KEY=a$HOME", Some("a$HOME")),
            ("TESSERA_API_KEY=\"abc def\"", Some("abc def")),
            ("TESSERA_API_KEY='a#b \\n'", Some("a#b \\n")),
            ("TESSERA_API_KEY=\"a\\\"b\\n\"", Some("a\"b\n")),
            ("TESSERA_API_KEY=abc # a comment", Some("abc")),
            (
                "TESSERA_API_KEY=abc#not-a-comment",
                Some("abc#not-a-comment"),
            ),
            ("# TESSERA_API_KEY=commented", None),
            ("  # TESSERA_API_KEY=commented", None),
            ("TESSERA_API_KEY=abc\r\n", Some("abc")),
            ("A=1\r\nTESSERA_API_KEY=crlf\r\nB=2\r\n", Some("crlf")),
            ("TESSERA_API_KEY=\"abc\"\r\n", Some("abc")),
            ("TESSERA_API_KEY_2=no", None),
            ("XTESSERA_API_KEY=no", None),
            ("exportTESSERA_API_KEY=no", None),
            ("TESSERA_API_KEY=\"unterminated", None),
            (
                "TESSERA_API_KEY=first\nTESSERA_API_KEY=second",
                Some("second"),
            ),
            ("TESSERA_API_KEY=", Some("")),
            ("\u{feff}TESSERA_API_KEY=bom", Some("bom")),
            ("\u{feff}\u{feff}TESSERA_API_KEY=bom", None),
            (
                "TESSERA_API_KEY=stale\nTESSERA_API_KEY=\"new_line1\nnew_line2\"",
                None,
            ),
            (
                "TESSERA_API_KEY='unterminated\nTESSERA_API_KEY=last",
                Some("last"),
            ),
            ("", None),
        ];
        for (contents, want) in cases {
            assert_eq!(lookup(contents, K).as_deref(), *want, "{contents:?}");
        }
    }
}
