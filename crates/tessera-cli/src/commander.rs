//! Help and usage errors laid out as Commander.js lays them out, for CLIs
//! whose documentation is a Commander program's output (lofty-cli): `Usage:`,
//! description, then `Arguments:`, `Options:` and `Commands:` with terms padded
//! to one column and descriptions wrapped at 80 characters, then the text
//! added after; errors as `error: unknown command 'x'`.

use crate::exit::Exit;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::io::Write as _;

const WIDTH: usize = 80;

/// Every command's own `-h, --help` row.
pub const HELP_OPTION: (&str, &str) = ("-h, --help", "display help for command");

/// One command's help page.
pub struct Help<'a> {
    /// The command as the help subcommand names it (`set`).
    pub name: &'a str,
    pub usage: &'a str,
    pub description: &'a str,
    pub arguments: &'a [(&'a str, &'a str)],
    pub options: &'a [(&'a str, &'a str)],
    pub commands: &'a [(&'a str, &'a str)],
    pub after: &'a str,
}

impl Help<'_> {
    pub fn render(&self) -> String {
        let width = self
            .arguments
            .iter()
            .chain(self.options)
            .chain(self.commands)
            .map(|(term, _)| term.len())
            .max()
            .unwrap_or(0);
        let mut out = format!(
            "Usage: {}\n\n{}\n",
            self.usage,
            wrap(self.description, WIDTH, 0)
        );
        for (title, items) in [
            ("Arguments:", self.arguments),
            ("Options:", self.options),
            ("Commands:", self.commands),
        ] {
            if items.is_empty() {
                continue;
            }
            out.push_str(&format!("\n{title}\n"));
            for (term, description) in items {
                let indent = 2 + width + 2;
                out.push_str(&format!(
                    "  {term:width$}  {}\n",
                    wrap(description, WIDTH, indent)
                ));
            }
        }
        if !self.after.is_empty() {
            out.push_str(&format!("\n{}\n", self.after));
        }
        out
    }
}

/// The rendered help of the page named `name`.
pub fn find(pages: &[Help], name: &str) -> Option<String> {
    pages.iter().find(|p| p.name == name).map(Help::render)
}

/// Words of `text` in lines of at most `width` characters, continuation lines
/// indented by `indent` (the first line is placed by the caller).
fn wrap(text: &str, width: usize, indent: usize) -> String {
    let room = width.saturating_sub(indent).max(20);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join(&format!("\n{}", " ".repeat(indent)))
}

/// A refused command line in Commander's words (`error: unknown command 'x'`);
/// for [`crate::host::Persona::usage`], as `usage_error::<Cli>` of the CLI's
/// command tree `Cli`.
pub fn usage_error<A: clap::CommandFactory>(
    e: &clap::Error,
    persona: &crate::host::Persona,
) -> Exit {
    let value = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.first().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let message = match e.kind() {
        ErrorKind::DisplayHelp => {
            let printed = e.print().and_then(|()| std::io::stdout().flush());
            return crate::host::written_or_reported(printed, persona);
        }
        // Commander's `.version()` prints the version alone.
        ErrorKind::DisplayVersion => {
            let text = e.to_string();
            let version = text.split_whitespace().last().unwrap_or_default();
            return crate::host::shown_on_stdout(format!("{version}\n").as_bytes(), persona);
        }
        // A command group given options but no command (`lofty-cli
        // --api-url URL`): Commander shows the group's help, as for the group
        // alone; clap would list every subcommand, hidden ones too.
        ErrorKind::MissingSubcommand => {
            let path = value(ContextKind::InvalidSubcommand);
            let mut command = A::command();
            for name in path.split_whitespace().skip(1) {
                match command.find_subcommand(name) {
                    Some(sub) => command = sub.clone(),
                    None => break,
                }
            }
            let _ = write!(std::io::stderr(), "{}", command.render_help());
            return Exit::Usage;
        }
        ErrorKind::InvalidSubcommand => {
            let name = value(ContextKind::InvalidSubcommand);
            let commands = failing_commands::<A>(e);
            let mut candidates: Vec<String> = (commands.last().into_iter())
                .flat_map(|c| c.get_subcommands().filter(|c| !c.is_hide_set()))
                .map(|c| c.get_name().to_owned())
                .collect();
            candidates.push("help".into());
            format!(
                "unknown command '{name}'{}",
                did_you_mean(similar(&name, &candidates))
            )
        }
        ErrorKind::UnknownArgument if !value(ContextKind::InvalidArg).starts_with('-') => {
            too_many_arguments(e)
        }
        ErrorKind::UnknownArgument => unknown_option::<A>(e, value(ContextKind::InvalidArg)),
        // A flag given a value (`--raw=1`): Commander finds no option that
        // takes one, so the whole word is unknown.
        ErrorKind::TooManyValues => {
            let word = format!(
                "{}={}",
                value(ContextKind::InvalidArg),
                value(ContextKind::InvalidValue)
            );
            unknown_option::<A>(e, word)
        }
        ErrorKind::InvalidValue if value(ContextKind::InvalidValue).is_empty() => format!(
            "option '{}' argument missing",
            value(ContextKind::InvalidArg)
        ),
        ErrorKind::MissingRequiredArgument => format!(
            "missing required argument '{}'",
            value(ContextKind::InvalidArg)
                .trim_start_matches('<')
                .trim_end_matches('>')
        ),
        _ => {
            let _ = e.print();
            return Exit::Usage;
        }
    };
    let _ = writeln!(std::io::stderr(), "error: {message}");
    Exit::Usage
}

/// `unknown option '--rwa'`, with Commander's suggestion among the long
/// options of the command and of the commands above it (`--raw`, `--help`,
/// the root's `--api-url` and `--version`).
fn unknown_option<A: clap::CommandFactory>(e: &clap::Error, word: String) -> String {
    let mut candidates = vec!["--help".to_owned()];
    if !word.starts_with("--") {
        return format!("unknown option '{word}'");
    }
    for command in failing_commands::<A>(e) {
        let visible = command.get_arguments().filter(|a| !a.is_hide_set());
        candidates.extend(
            visible
                .filter_map(|a| a.get_long())
                .map(|l| format!("--{l}")),
        );
        if command.get_version().is_some() {
            candidates.push("--version".into());
        }
    }
    let names: Vec<String> = candidates.iter().map(|c| c[2..].to_owned()).collect();
    let like = similar(&word[2..], &names)
        .into_iter()
        .map(|l| format!("--{l}"));
    format!("unknown option '{word}'{}", did_you_mean(like.collect()))
}

/// The commands of the refused command line, from the root down to the one
/// that refused it, read off clap's usage line (`Usage: lofty-cli auth show
/// [OPTIONS]`).
fn failing_commands<A: clap::CommandFactory>(e: &clap::Error) -> Vec<clap::Command> {
    let usage = match e.get(ContextKind::Usage) {
        Some(ContextValue::StyledStr(usage)) => usage.to_string(),
        _ => String::new(),
    };
    let mut path = vec![A::command()];
    let names = usage
        .split_whitespace()
        .skip_while(|w| *w != "Usage:")
        .skip(2);
    for name in names.take_while(|w| !w.starts_with(['<', '[', '-'])) {
        match path.last().and_then(|c| c.find_subcommand(name)) {
            Some(sub) => path.push(sub.clone()),
            None => break,
        }
    }
    path
}

/// Commander's `suggestSimilar`: the candidates nearest to `word` (edit
/// distance with adjacent transpositions, at most 3, and over 40% of the
/// longer word alike), in order.
fn similar<'a>(word: &str, candidates: &'a [String]) -> Vec<&'a str> {
    let mut best = 3;
    let mut similar: Vec<&str> = Vec::new();
    for candidate in candidates {
        if candidate.chars().count() <= 1 || similar.contains(&candidate.as_str()) {
            continue;
        }
        let distance = edit_distance(word, candidate);
        let length = word.chars().count().max(candidate.chars().count());
        if (length - distance.min(length)) as f64 / length as f64 <= 0.4 {
            continue;
        }
        if distance < best {
            best = distance;
            similar = vec![candidate];
        } else if distance == best {
            similar.push(candidate);
        }
    }
    similar.sort();
    similar
}

/// How Commander adds suggestions to an error: `\n(Did you mean x?)` or
/// `\n(Did you mean one of x, y?)`.
fn did_you_mean<S: AsRef<str>>(like: Vec<S>) -> String {
    let like: Vec<&str> = like.iter().map(AsRef::as_ref).collect();
    match like.as_slice() {
        [] => String::new(),
        [one] => format!("\n(Did you mean {one}?)"),
        many => format!("\n(Did you mean one of {}?)", many.join(", ")),
    }
}

/// Optimal string alignment distance (Damerau-Levenshtein where each
/// substring is edited once), as Commander computes it.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Commander's refusal of a positional argument too many: `too many
/// arguments for 'set'. Expected 1 argument but got 2.` The command and what
/// it expects are read off clap's usage line (`Usage: lofty-cli auth set
/// <customer-key>`); how many were given, off the command line.
fn too_many_arguments(e: &clap::Error) -> String {
    let usage = match e.get(ContextKind::Usage) {
        Some(ContextValue::StyledStr(usage)) => usage.to_string(),
        _ => String::new(),
    };
    let words: Vec<&str> = usage
        .split_whitespace()
        .skip_while(|w| *w != "Usage:")
        .skip(1)
        .collect();
    let expected = words
        .iter()
        .filter(|w| w.starts_with('<') || (w.starts_with('[') && w.to_uppercase() != **w))
        .count();
    let Some(command) = words
        .iter()
        .rev()
        .find(|w| !w.starts_with(['<', '[', '-']))
        .map(|w| w.to_string())
    else {
        return "too many arguments".to_owned();
    };
    let given = std::env::args()
        .skip_while(|a| *a != command)
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .count()
        .max(expected + 1);
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    format!(
        "too many arguments for '{command}'. Expected {expected} argument{} but got {given}.",
        plural(expected)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: Help = Help {
        name: "auth",
        usage: "acme auth [options] [command]",
        description: "Sign in to Acme",
        arguments: &[],
        options: &[HELP_OPTION],
        commands: &[
            (
                "login",
                "Trade the saved key and the vendor's credentials for a short-lived token",
            ),
            ("login-code [options]", "Sign in with a code"),
        ],
        after: "Example:\n  acme auth login",
    };

    #[test]
    fn terms_share_a_column_and_descriptions_wrap_at_80() {
        assert_eq!(
            AUTH.render(),
            "Usage: acme auth [options] [command]\n\nSign in to Acme\n\n\
             Options:\n  -h, --help            display help for command\n\n\
             Commands:\n  login                 Trade the saved key and the vendor's credentials for a\n\
             \x20                       short-lived token\n\
             \x20 login-code [options]  Sign in with a code\n\n\
             Example:\n  acme auth login\n"
        );
    }

    #[test]
    fn a_long_description_wraps_at_80_columns() {
        let help = Help {
            description: "Forget every credential stored on this machine (keys, tokens, sessions) and say which variables are still exported",
            commands: &[],
            ..AUTH
        };
        assert!(help.render().contains(
            "Forget every credential stored on this machine (keys, tokens, sessions) and say\nwhich variables are still exported\n"
        ));
    }
}
