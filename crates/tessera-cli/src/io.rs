//! Injected input and output, so that every command runs the same in tests.

pub use dialoguer::theme::{SimpleTheme, Theme};
use std::fmt;
use std::io::{self, BufRead, Write};

/// Asks the user things. Only called when stdin is a terminal.
pub trait Prompter {
    fn confirm(&mut self, question: &str) -> io::Result<bool>;
    /// Reads a secret without echoing it.
    fn secret(&mut self, prompt: &str) -> io::Result<String>;
    /// Picks one of `items`; returns its index.
    fn select(&mut self, prompt: &str, items: &[&str]) -> io::Result<usize>;
    /// Reads a line of visible text (an email address, a one-time code).
    fn input(&mut self, prompt: &str) -> io::Result<String>;
}

/// The streams a command reads and writes.
pub struct Io<'a> {
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    pub stdin: &'a mut dyn BufRead,
    /// Whether prompting is possible.
    pub stdin_is_tty: bool,
    /// Whether progress (a spinner) may be drawn on stderr.
    pub stderr_is_tty: bool,
    pub prompter: &'a mut dyn Prompter,
}

impl Io<'_> {
    /// Asks on a terminal; without one, fails naming the flag that skips the question.
    pub fn confirm_or_flag(
        &mut self,
        question: &str,
        what: &str,
        flag: &'static str,
    ) -> Result<bool, crate::CliError> {
        if !self.stdin_is_tty {
            return Err(crate::CliError::NeedsTerminal {
                what: what.to_owned(),
                flag,
            });
        }
        Ok(self.prompter.confirm(question)?)
    }

    pub fn warn(&mut self, message: impl std::fmt::Display) -> io::Result<()> {
        writeln!(self.stderr, "warning: {message}")
    }
}

/// Terminal prompts drawn by a dialoguer theme (on stderr, so stdout stays
/// data): [`dialoguer::theme::SimpleTheme`], or [`Inquirer`] for CLIs whose
/// documented prompts look like Inquirer.js's.
pub struct ThemedPrompter<'t>(pub &'t dyn dialoguer::theme::Theme);

impl Prompter for ThemedPrompter<'_> {
    fn confirm(&mut self, question: &str) -> io::Result<bool> {
        restore_terminal_on_interrupt();
        dialoguer::Confirm::with_theme(self.0)
            .with_prompt(question)
            .default(false)
            .interact()
            .map_err(dialoguer_io)
    }

    fn secret(&mut self, prompt: &str) -> io::Result<String> {
        restore_terminal_on_interrupt();
        dialoguer::Password::with_theme(self.0)
            .with_prompt(prompt)
            .interact()
            .map_err(dialoguer_io)
    }

    fn select(&mut self, prompt: &str, items: &[&str]) -> io::Result<usize> {
        restore_terminal_on_interrupt();
        dialoguer::Select::with_theme(self.0)
            .with_prompt(prompt)
            .items(items)
            .default(0)
            .interact()
            .map_err(dialoguer_io)
    }

    fn input(&mut self, prompt: &str) -> io::Result<String> {
        restore_terminal_on_interrupt();
        dialoguer::Input::<String>::with_theme(self.0)
            .with_prompt(prompt)
            .interact_text()
            .map_err(dialoguer_io)
    }
}

/// Ctrl-C while a prompt has the terminal would leave it as the prompt set it
/// (cursor hidden by a menu, echo off for a secret): the default SIGINT
/// action runs no destructor, and a shell without line editing (`sh`, a
/// script) then shows nothing the user types. So the first prompt saves the
/// terminal's modes and takes SIGINT for the rest of the process; Ctrl-C then
/// ends in [`interrupted`].
fn restore_terminal_on_interrupt() {
    SAVED_TERMINAL.get_or_init(|| {
        // First: the signals it awaits must be blocked in the threads
        // started from here on, ctrlc's among them.
        restore_terminal_on_termination();
        // Fails only if a handler is set already (an embedding CLI's own):
        // that one decides. Not when Ctrl-C is ignored (`trap '' INT`, a job
        // a script started with `&`): a handler would make it end the
        // process where the caller asked that Ctrl-C be let pass.
        #[cfg(unix)]
        let ctrl_c_ignored = ignored(nix::sys::signal::Signal::SIGINT);
        #[cfg(not(unix))]
        let ctrl_c_ignored = false;
        if !ctrl_c_ignored {
            let _ = ctrlc::set_handler(|| interrupted());
        }
        #[cfg(unix)]
        {
            // Prompts read the controlling terminal, whatever stdin is.
            let tty = std::fs::File::open("/dev/tty").ok();
            let modes = tty
                .as_ref()
                .and_then(|t| nix::sys::termios::tcgetattr(t).ok());
            std::sync::Mutex::new(tty.zip(modes))
        }
    });
}

/// SIGTERM (`kill`, a CI job's timeout, systemd) or SIGHUP at a prompt would
/// leave the terminal as the prompt set it, echo off after a hidden one, as
/// Ctrl-C would: `ssh` and `sudo` put it back for these signals too. Unlike
/// Ctrl-C they keep their meaning: both are blocked here (threads started
/// later inherit that; child processes do not, std resets their mask) and
/// awaited on a thread of their own, which puts the terminal back, then
/// raises the signal again unblocked, so it ends the process as it would
/// have (a shell says 143 for SIGTERM). An ignored one (`nohup`) stays ignored.
#[cfg(unix)]
fn restore_terminal_on_termination() {
    use nix::sys::signal::{SigSet, Signal, raise};
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        // Blocked, an ignored one would be queued for the thread, which would
        // put the terminal back (echo on) under a prompt still waiting.
        if !ignored(signal) {
            signals.add(signal);
        }
    }
    if signals == SigSet::empty() || signals.thread_block().is_err() {
        return;
    }
    let waiting = std::thread::Builder::new()
        .name("terminal-restore".into())
        .spawn(move || {
            let Ok(signal) = signals.wait() else { return };
            restore_saved_terminal();
            let _ = io::stderr().write_all(b"\x1b[?25h\n");
            let _ = signals.thread_unblock();
            let _ = raise(signal);
        });
    if waiting.is_err() {
        let _ = signals.thread_unblock();
    }
}

/// Whether the process ignores `signal` (`nohup`, `trap '' HUP`). Only Linux
/// tells without `sigaction`, which is unsafe; elsewhere: not ignored.
#[cfg(unix)]
fn ignored(signal: nix::sys::signal::Signal) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok());
    mask.is_some_and(|mask| mask & (1 << (signal as u32 - 1)) != 0)
}

#[cfg(not(unix))]
fn restore_terminal_on_termination() {}

/// The terminal before the first prompt, for [`interrupted`].
#[cfg(unix)]
static SAVED_TERMINAL: std::sync::OnceLock<
    std::sync::Mutex<Option<(std::fs::File, nix::sys::termios::Termios)>>,
> = std::sync::OnceLock::new();
#[cfg(not(unix))]
static SAVED_TERMINAL: std::sync::OnceLock<()> = std::sync::OnceLock::new();

/// Ctrl-C at a prompt: the terminal's modes as before the first prompt, the
/// cursor shown, exit 130 (what a shell reports for Ctrl-C). Reached from the
/// SIGINT handler, and from the prompt itself, whose read fails with
/// `Interrupted` (the menu reads keys raw and raises SIGINT itself): the
/// first to get here exits, a second waits inside `exit`.
fn interrupted() -> ! {
    restore_saved_terminal();
    let _ = io::stderr().write_all(b"\x1b[?25h\n");
    std::process::exit(crate::Exit::Interrupted.code().into())
}

/// The terminal's modes as before the first prompt.
fn restore_saved_terminal() {
    #[cfg(unix)]
    if let Some(saved) = SAVED_TERMINAL.get()
        && let Ok(saved) = saved.lock()
        && let Some((tty, modes)) = saved.as_ref()
    {
        let _ = nix::sys::termios::tcsetattr(tty, nix::sys::termios::SetArg::TCSANOW, modes);
    }
}

/// Prompts drawn the way Inquirer.js draws them, as Node CLIs' documentation
/// shows: `? This will display your API key. Are you sure you want to continue? Yes`.
pub struct Inquirer;

impl Theme for Inquirer {
    fn format_prompt(&self, f: &mut dyn fmt::Write, prompt: &str) -> fmt::Result {
        write!(f, "? {prompt}")
    }

    fn format_confirm_prompt(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        default: Option<bool>,
    ) -> fmt::Result {
        let choices = match default {
            Some(true) => "(Y/n)",
            Some(false) => "(y/N)",
            None => "(y/n)",
        };
        write!(f, "? {prompt} {choices} ")
    }

    fn format_confirm_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        selection: Option<bool>,
    ) -> fmt::Result {
        match selection {
            Some(true) => write!(f, "? {prompt} Yes"),
            Some(false) => write!(f, "? {prompt} No"),
            None => write!(f, "? {prompt}"),
        }
    }

    fn format_input_prompt(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        _default: Option<&str>,
    ) -> fmt::Result {
        write!(f, "? {prompt} ")
    }

    fn format_input_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
        sel: &str,
    ) -> fmt::Result {
        write!(f, "? {prompt} {sel}")
    }

    fn format_password_prompt(&self, f: &mut dyn fmt::Write, prompt: &str) -> fmt::Result {
        write!(f, "? {prompt} ")
    }

    fn format_password_prompt_selection(
        &self,
        f: &mut dyn fmt::Write,
        prompt: &str,
    ) -> fmt::Result {
        write!(f, "? {prompt} [hidden]")
    }

    fn format_select_prompt_item(
        &self,
        f: &mut dyn fmt::Write,
        text: &str,
        active: bool,
    ) -> fmt::Result {
        write!(f, "{} {text}", if active { "❯" } else { " " })
    }
}

fn dialoguer_io(e: dialoguer::Error) -> io::Error {
    match e {
        dialoguer::Error::IO(e) if e.kind() == io::ErrorKind::Interrupted => interrupted(),
        dialoguer::Error::IO(e) => e,
    }
}

/// A scripted prompter and captured streams, for tests of this crate and of the
/// persona binaries.
pub mod testing {
    use super::*;
    use std::collections::VecDeque;

    #[derive(Default)]
    pub struct ScriptedPrompter {
        pub answers: VecDeque<bool>,
        pub secrets: VecDeque<String>,
        pub selections: VecDeque<usize>,
        /// Answers to `input` prompts.
        pub inputs: VecDeque<String>,
        pub asked: Vec<String>,
    }

    impl Prompter for ScriptedPrompter {
        fn confirm(&mut self, question: &str) -> io::Result<bool> {
            self.asked.push(question.to_owned());
            Ok(self.answers.pop_front().expect("unexpected confirm"))
        }

        fn secret(&mut self, prompt: &str) -> io::Result<String> {
            self.asked.push(prompt.to_owned());
            Ok(self.secrets.pop_front().expect("unexpected secret prompt"))
        }

        fn select(&mut self, prompt: &str, _items: &[&str]) -> io::Result<usize> {
            self.asked.push(prompt.to_owned());
            Ok(self.selections.pop_front().expect("unexpected select"))
        }

        fn input(&mut self, prompt: &str) -> io::Result<String> {
            self.asked.push(prompt.to_owned());
            Ok(self.inputs.pop_front().expect("unexpected input prompt"))
        }
    }

    /// Owns everything an [`Io`] borrows.
    #[derive(Default)]
    pub struct Captured {
        pub stdout: Vec<u8>,
        pub stderr: Vec<u8>,
        pub stdin: io::Cursor<Vec<u8>>,
        pub tty: bool,
        pub prompter: ScriptedPrompter,
    }

    impl Captured {
        pub fn io(&mut self) -> Io<'_> {
            Io {
                stdout: &mut self.stdout,
                stderr: &mut self.stderr,
                stdin: &mut self.stdin,
                stdin_is_tty: self.tty,
                stderr_is_tty: false,
                prompter: &mut self.prompter,
            }
        }

        pub fn stdout(&self) -> String {
            String::from_utf8_lossy(&self.stdout).into_owned()
        }

        pub fn stderr(&self) -> String {
            String::from_utf8_lossy(&self.stderr).into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inquirer_confirmations_read_like_inquirer() {
        let mut out = String::new();
        Inquirer
            .format_confirm_prompt_selection(&mut out, "Sure?", Some(true))
            .unwrap();
        assert_eq!(out, "? Sure? Yes");
    }
}
