//! What shells and packagers need from a binary, generated from its clap
//! definitions: `completion SHELL` prints a completion script (as
//! `gh completion` does), `man DIR` writes a manual page per command.
//!
//! Neither reads the store or the environment, so the host runs them
//! without a context: they work in a build chroot without a home directory.

use crate::error::CliError;
use crate::io::Io;
use clap::CommandFactory;
use clap_mangen::roff::{Roff, roman};
use std::io::Write as _;
use std::path::PathBuf;

/// The commands, for a binary to mount (`#[command(flatten)]`), or to
/// declare hidden where its documented help must not change.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum DocsCommand {
    /// Print a shell completion script: bash, zsh, fish, powershell or elvish.
    #[command(help_template = COMPLETION_HELP)]
    Completion(CompletionArgs),
    /// Write a manual page for every command to DIR (created if missing).
    #[command(hide = true)]
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    pub dir: PathBuf,
}

const COMPLETION_HELP: &str = crate::with_examples!(
    "  # bash: in ~/.bashrc
  source <({command} bash)
  # zsh: in ~/.zshrc, after compinit
  source <({command} zsh)
  # fish: in ~/.config/fish/config.fish
  {command} fish | source
  # PowerShell: in $PROFILE
  {command} powershell | Out-String | Invoke-Expression"
);

/// Runs a docs command for the binary whose command tree is `A`.
pub fn run<A: CommandFactory>(command: &DocsCommand, io: &mut Io) -> Result<(), CliError> {
    run_naming::<A>(command, io, &str::to_owned)
}

/// [`run`], with every page and script passed through `own_names`: the
/// command host's, which writes what the library's commands say in Tessera's
/// names (`TESSERA_CLIENT_ID`, `` `tessera api` ``) in the persona's.
pub(crate) fn run_naming<A: CommandFactory>(
    command: &DocsCommand,
    io: &mut Io,
    own_names: &dyn Fn(&str) -> String,
) -> Result<(), CliError> {
    match command {
        DocsCommand::Completion(args) => {
            let mut cmd = A::command();
            let name = cmd.get_name().to_owned();
            // Into memory first: clap_complete panics on a failed write
            // (`| head`), this says it.
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, name, &mut script);
            let script = own_names(&String::from_utf8_lossy(&script));
            Ok(io.stdout.write_all(script.as_bytes())?)
        }
        DocsCommand::Man(args) => {
            let written = man_pages(A::command(), &args.dir, own_names)?;
            writeln!(
                io.stderr,
                "Wrote {} manual pages to {}.",
                written.len(),
                args.dir.display()
            )?;
            Ok(())
        }
    }
}

/// One page per command that is not hidden, named `tessera-auth-login.1`,
/// each written whole (temp file, rename), so an interrupted run leaves no
/// half page; each page's text passed through `own_names`. Returns the paths.
pub fn man_pages(
    cmd: clap::Command,
    dir: &std::path::Path,
    own_names: &dyn Fn(&str) -> String,
) -> Result<Vec<PathBuf>, CliError> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    // Every page's footer names the program and its version, not the
    // subcommand.
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    let mut pages = Vec::new();
    collect(&cmd, &mut pages);
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::Usage(format!(
            "cannot create the directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut written = Vec::new();
    for page in pages {
        let examples = examples_of(&page);
        let man = clap_mangen::Man::new(page).source(source.trim_end());
        let mut text = Vec::new();
        man.render(&mut text)?;
        if let Some(examples) = examples {
            examples_section(&examples).to_writer(&mut text)?;
        }
        let path = dir.join(man.get_filename());
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(own_names(&String::from_utf8_lossy(&text)).as_bytes())?;
        tmp.persist(&path).map_err(|e| e.error)?;
        written.push(path);
    }
    Ok(written)
}

/// The `Examples:` of a command's help ([`crate::with_examples`]), with the
/// command's name filled in.
fn examples_of(page: &clap::Command) -> Option<String> {
    let help = page.clone().render_long_help().to_string();
    let (_, examples) = help.split_once("\nExamples:\n")?;
    let examples = crate::texts::name_the_command(&help, examples);
    Some(examples.trim_end().to_owned())
}

/// `.SH EXAMPLES`, lines kept as they are (no fill).
fn examples_section(examples: &str) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["EXAMPLES"]).control("nf", []);
    for line in examples.lines() {
        roff.text([roman(line)]);
    }
    roff.control("fi", []);
    roff
}

fn collect(cmd: &clap::Command, pages: &mut Vec<clap::Command>) {
    pages.push(cmd.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::testing::Captured;

    #[test]
    fn a_page_per_visible_command_with_its_examples() {
        let dir = tempfile::tempdir().unwrap();
        let written = man_pages(crate::Cli::command(), dir.path(), &str::to_owned).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for page in [
            "tessera.1",
            "tessera-auth-login.1",
            "tessera-auth-env-add.1",
            "tessera-api.1",
        ] {
            assert!(names.iter().any(|n| n == page), "{page}: {names:?}");
        }
        assert!(
            !names.iter().any(|n| n.contains("-man")),
            "hidden: {names:?}"
        );
        let login = std::fs::read_to_string(dir.path().join("tessera-auth-login.1")).unwrap();
        assert!(login.contains(".SH EXAMPLES"), "{login}");
        assert!(login.contains("tessera auth login \\-\\-web"), "{login}");
        assert!(!login.contains("{command}"), "{login}");
    }

    #[test]
    fn completion_scripts_know_every_command_and_flag() {
        use clap::ValueEnum as _;
        for shell in clap_complete::Shell::value_variants() {
            let mut cap = Captured::default();
            let command = DocsCommand::Completion(CompletionArgs { shell: *shell });
            run::<crate::Cli>(&command, &mut cap.io()).unwrap();
            let script = cap.stdout();
            assert!(script.contains("secure-storage"), "{shell}");
            assert!(script.contains("git-credential"), "{shell}");
        }
    }
}
