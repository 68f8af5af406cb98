//! Helpers for the words every CLI prints: templates with named values,
//! times, credential sources and column tables. The words themselves belong to
//! each CLI (a persona's texts file, or the `tessera` command modules).

use tessera_client::Source;

/// A help template: clap's default layout, then an `Examples:` section in
/// which `{command}` stands for the command as typed (`tessera auth login`;
/// `acme auth login` in a CLI that mounts the same commands), so examples
/// name the binary that shows them ([`name_the_command`]). `man DIR` puts
/// the section in the manual pages too.
#[macro_export]
macro_rules! with_examples {
    ($examples:literal) => {
        concat!(
            "{before-help}{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}\n\nExamples:\n",
            $examples
        )
    };
}

/// A help page with `{command}` replaced by the command its `Usage:` line
/// names (the words before the first `[`, `<` or `-`): clap's own `{bin}`
/// joins them with `-`.
pub fn name_the_command(help: &str, shown: &str) -> String {
    let command = help
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("Usage: "))
        .map(|usage| {
            let words = usage.split_whitespace();
            let words = words.take_while(|w| !w.starts_with(['[', '<', '-']));
            words.collect::<Vec<_>>().join(" ")
        })
        .unwrap_or_default();
    shown.replace("{command}", &command)
}

/// `template` with each `{name}` replaced by its value. Texts are templates so
/// that a CLI can reorder or drop values without code.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Values this program did not write itself (a key's unverified claims, a
/// file's contents or path, a server's answer) are printed with what a
/// terminal acts on escaped.
pub use tessera_proto::text::{printable, printable_lines};

/// RFC 3339 for a Unix time; the number itself if out of range.
pub use tessera_proto::timestamp::rfc3339 as format_time;

/// How a CLI names the places a credential is found in, beyond the flag and
/// the environment variable, which every CLI names alike. Templates: `{path}`,
/// and `{key}` (the variable read from the `.env` file).
pub struct SourceWords {
    pub credentials_file: &'static str,
    pub dotenv: &'static str,
}

/// Where a key came from, in a CLI's own words; a path is printable
/// ([`printable`]: a working directory's name is anyone's choice).
pub fn describe(source: &Source, words: &SourceWords) -> String {
    let described = match source {
        Source::Flag | Source::EnvVar(_) => source.to_string(),
        Source::Profile { path, .. } => fill(
            words.credentials_file,
            &[("path", &path.display().to_string())],
        ),
        Source::DotEnv { path, key } => fill(
            words.dotenv,
            &[("path", &path.display().to_string()), ("key", key)],
        ),
    };
    printable(&described).into_owned()
}

/// Columns padded to their widest cell, two spaces apart, each row led by
/// `*` when marked: the layout of every `list` command. Cells come from
/// files and servers, so they are printed [`printable`].
pub fn table(
    out: &mut dyn std::io::Write,
    header: &[&str],
    rows: &[(bool, Vec<String>)],
) -> std::io::Result<()> {
    let rows: Vec<(bool, Vec<String>)> = rows
        .iter()
        .map(|(mark, cells)| {
            let cells = cells.iter().map(|c| printable(c).into_owned());
            (*mark, cells.collect())
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|(_, cells)| cells[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for (mark, cells) in std::iter::once((false, &header)).chain(rows.iter().map(|(m, c)| (*m, c)))
    {
        let mut line = String::from(if mark { "*" } else { " " });
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                line.push_str(&format!(" {cell}"));
            } else {
                line.push_str(&format!(" {cell:width$} ", width = widths[i]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn what_a_terminal_acts_on_is_escaped_and_ordinary_text_is_not() {
        for plain in [
            "key_01J",
            "THIRD_PARTY_OPERATION",
            "dev@example.com",
            "Clé de l’équipe",
            "a b",
        ] {
            assert!(matches!(printable(plain), Cow::Borrowed(_)), "{plain}");
        }
        assert_eq!(
            printable("\u{1b}]0;PWNED\u{7}\u{1b}[2J"),
            "\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J"
        );
        assert_eq!(printable("a\r\nb\u{9b}"), "a\\u{d}\\u{a}b\\u{9b}");
        assert_eq!(printable("admin\u{202E}gpj.exe"), "admin\\u{202e}gpj.exe");
        assert_eq!(printable("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
        assert_eq!(printable_lines("one\ntwo\u{1b}"), "one\ntwo\\u{1b}");
    }

    #[test]
    fn table_cells_are_printable() {
        let mut out = Vec::new();
        let rows = [(true, vec!["a\u{1b}[2J".to_owned(), "b".to_owned()])];
        table(&mut out, &["X", "Y"], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  X           Y\n* a\\u{1b}[2J  b\n"
        );
    }

    #[test]
    fn examples_name_the_command_of_the_usage_line() {
        let help =
            "About\n\nUsage: acme auth switch [OPTIONS] <NAME>\n\nExamples:\n  {command} work\n";
        assert!(name_the_command(help, help).ends_with("  acme auth switch work\n"));
        let help = "Usage: acme api --flag\n{command}";
        assert_eq!(name_the_command(help, "{command} x"), "acme api x");
    }

    #[test]
    fn templates_take_named_values() {
        assert_eq!(
            fill("open {url} ({url}) in {n}", &[("url", "u"), ("n", "1")]),
            "open u (u) in 1"
        );
    }

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let mut out = Vec::new();
        let rows = [
            (true, vec!["default".into(), "a".into(), "x".into()]),
            (false, vec!["b".into(), "longer".into(), "y".into()]),
        ];
        table(&mut out, &["NAME", "P", "URL"], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  NAME     P       URL\n* default  a       x\n  b        longer  y\n"
        );
    }

    #[test]
    fn sources_in_a_clis_words() {
        let words = SourceWords {
            credentials_file: "{path}",
            dotenv: ".env file ({path})",
        };
        let dotenv = Source::DotEnv {
            path: "/w/.env".into(),
            key: "K",
        };
        assert_eq!(describe(&dotenv, &words), ".env file (/w/.env)");
        assert_eq!(
            describe(&Source::EnvVar("K"), &words),
            "K environment variable"
        );
    }
}
