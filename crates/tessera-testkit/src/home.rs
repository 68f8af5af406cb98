//! A temporary `HOME` and working directory for one test, and the binary
//! under test run there with nothing of the test runner's environment: to
//! completion, in the background, or on a pseudo-terminal.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::HANG;

/// `dir/home` is `HOME`; `dir/work` the working directory. Commands get
/// `HOME`, `PATH` (unless [`Home::without_env`]) and the variables added
/// with [`Home::with_env`] and per call, nothing else.
pub struct Home {
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    env: Vec<(String, String)>,
}

impl Home {
    /// `bin` is the binary under test (`env!("CARGO_BIN_EXE_lua")`).
    pub fn new(bin: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("home")).expect("home");
        std::fs::create_dir(dir.path().join("work")).expect("work");
        let path = std::env::var("PATH").unwrap_or_default();
        Self {
            dir,
            bin: PathBuf::from(bin),
            env: vec![("PATH".into(), path)],
        }
    }

    /// A variable every command gets (a config dir, a server URL).
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self = self.without_env(name);
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Drops a variable every command would get (`PATH`: no browser to open).
    pub fn without_env(mut self, name: &str) -> Self {
        self.env.retain(|(n, _)| n != name);
        self
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The working directory commands run in (where `.env` is looked for).
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The binary with only its variables and `vars` in its environment, run
    /// in [`Home::work`], stdin empty (not a terminal).
    pub fn cmd(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut cmd = self.bare_cmd(args, vars);
        cmd.stdin(Stdio::null());
        cmd
    }

    fn bare_cmd(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        self.program_cmd(&self.bin, args, vars)
    }

    fn program_cmd(&self, program: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(vars.iter().copied())
            .current_dir(self.work());
        cmd
    }

    pub fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        Run(self.cmd(args, vars).output().expect("run the binary"))
    }

    /// The binary running in the background with piped output, e.g. to act
    /// on a URL it prints while it waits.
    pub fn spawn(&self, args: &[&str], vars: &[(&str, &str)]) -> Running {
        Running::start(self.cmd(args, vars))
    }

    /// The binary on a pseudo-terminal (80x24, `TERM=xterm`), same environment
    /// as [`Home::cmd`].
    pub fn pty(&self, args: &[&str], vars: &[(&str, &str)]) -> Pty {
        Pty::spawn(self.bare_cmd(args, vars))
    }

    /// [`Home::pty`] with echo on, as a user's terminal is (rexpect turns it
    /// off before the program starts): for checking what the program leaves
    /// behind.
    pub fn pty_echoing(&self, args: &[&str], vars: &[(&str, &str)]) -> Pty {
        self.pty_echoing_after("", args, vars)
    }

    /// [`Home::pty_echoing`] after the shell commands `prelude` (e.g.
    /// `trap '' HUP;`, which the program inherits).
    pub fn pty_echoing_after(&self, prelude: &str, args: &[&str], vars: &[(&str, &str)]) -> Pty {
        let bin = self.bin.to_str().expect("UTF-8 path");
        let script = format!(r#"{prelude} /bin/stty echo && exec "$0" "$@""#);
        let mut sh = self.program_cmd(Path::new("/bin/sh"), &["-c", &script, bin], vars);
        sh.args(args);
        Pty::spawn(sh)
    }
}

/// A process started by [`Home::spawn`].
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Spawns `command` with stdout and stderr piped (stdin as it is set);
    /// stderr is read line by line on a thread.
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the binary");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads stderr until a line satisfies `find`; returns what it found.
    pub fn stderr_until<T>(&mut self, find: impl Fn(&str) -> Option<T>) -> T {
        loop {
            let line = self.lines.recv_timeout(HANG).unwrap_or_else(|_| {
                panic!("not printed; stderr so far:\n{}", self.seen.join("\n"))
            });
            let found = find(&line);
            self.seen.push(line);
            if let Some(found) = found {
                return found;
            }
        }
    }

    /// Waits for the exit; the exit code and all of stderr.
    pub fn finish(mut self) -> (i32, String) {
        while let Ok(line) = self.lines.recv_timeout(HANG) {
            self.seen.push(line);
        }
        let status = self.child.wait().expect("wait");
        (status.code().expect("exit code"), self.seen.join("\n"))
    }
}

/// The outcome of a non-interactive run.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exited normally")
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    pub fn ok(self) -> Self {
        self.expect_code(0)
    }
}

/// A persona process on a pseudo-terminal.
pub struct Pty {
    pub session: rexpect::session::PtySession,
}

/// Keys as a terminal sends them.
pub const DOWN: &str = "\x1b[B";
pub const ENTER: &str = "\r";
pub const CTRL_C: &str = "\x03";

impl Pty {
    fn spawn(mut command: Command) -> Self {
        command.env("TERM", "xterm");
        let session = rexpect::session::spawn_command(command, Some(HANG.as_millis() as u64))
            .expect("spawn on a pty");
        Pty { session }
    }

    /// Waits until `text` has been printed; returns what came before it.
    pub fn expect(&mut self, text: &str) -> String {
        // The session reads bytes as Latin-1 characters; match UTF-8 text
        // (emoji) in that form and decode what is returned.
        let latin1: String = text.bytes().map(char::from).collect();
        let before = self
            .session
            .exp_string(&latin1)
            .unwrap_or_else(|e| panic!("waiting for {text:?}: {e}"));
        from_latin1(&before)
    }

    /// Waits until the program has turned echo off for a password prompt.
    /// Typing earlier would be lost: the prompt flushes pending input when it
    /// switches modes (`TCSAFLUSH`), as `sudo` and `ssh` do.
    pub fn wait_for_hidden_input(&mut self) {
        let start = std::time::Instant::now();
        loop {
            if !self.echoes() {
                return;
            }
            assert!(start.elapsed() < HANG, "the prompt never turned echo off");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether the terminal shows what is typed (its `ECHO` mode), as the
    /// program left it.
    pub fn echoes(&self) -> bool {
        use nix::sys::termios::{LocalFlags, tcgetattr};
        let termios = tcgetattr(&self.session.process.pty).expect("tcgetattr");
        termios.local_flags.contains(LocalFlags::ECHO)
    }

    /// The rest of the current line, without its line ending.
    pub fn read_line(&mut self) -> String {
        let line = self.session.read_line().expect("read a line");
        from_latin1(line.trim_end_matches('\r'))
    }

    pub fn send(&mut self, keys: &str) {
        self.session.send(keys).expect("send keys");
        self.session.flush().expect("flush");
    }

    pub fn send_line(&mut self, line: &str) {
        self.session.send_line(line).expect("send line");
    }

    /// Waits for the process to end; returns its exit code and the rest of
    /// its output.
    pub fn finish(mut self) -> (i32, String) {
        let rest = from_latin1(&self.session.exp_eof().unwrap_or_default());
        let status = self.session.process.wait().expect("wait");
        let code = match status {
            rexpect::process::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("ended abnormally: {other:?}"),
        };
        (code, rest)
    }
}

fn from_latin1(text: &str) -> String {
    let bytes: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
