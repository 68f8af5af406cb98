//! Crash safety of the store, from the outside: the real `tessera` binary is
//! SIGKILLed at random moments while it writes (API-key logins to several
//! profiles, logouts, client-credentials logins and token renewals against
//! a real tesserad), and after every kill both files still parse, every
//! profile no process was changing is exactly as it was, and the one being
//! changed is as before or as after. Then 16 processes write 16 profiles at
//! once, and none is lost.
//!
//! The offsets are random over each operation's measured running time, so
//! kills land before, during and after its writes. `TESSERA_KILL_SEED=N`
//! replays a run; the seed is printed when the test fails.

use super::Tessera;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tessera_testkit::Tesserad;

/// At least this many processes are killed while running.
const KILLS: usize = 500;
/// Profiles a killed process never targets: they must survive untouched.
const BYSTANDERS: [(&str, &str); 3] = [
    ("keep-a", "lk_keep-a-0123456789"),
    ("keep-b", "lk_keep-b-0123456789"),
    ("keep-c", "lk_keep-c-0123456789"),
];

/// What the credentials file says about a profile: its API key, and its
/// OAuth access token.
#[derive(Clone, Debug, PartialEq)]
struct Stored {
    key: Option<String>,
    token: Option<String>,
}

/// What a profile looks like once an operation is done with it.
#[derive(Debug)]
enum After {
    Gone,
    Exactly(Stored),
    /// The same key with a new access token (renewed or logged in again).
    NewToken(Option<String>),
}

impl After {
    fn holds(&self, got: &Option<Stored>, before: &Option<Stored>) -> bool {
        match (self, got) {
            (After::Gone, None) => true,
            (After::Exactly(want), Some(got)) => want == got,
            (After::NewToken(key), Some(got)) => {
                got.key == *key
                    && got.token.is_some()
                    && got.token != before.as_ref().and_then(|b| b.token.clone())
            }
            _ => false,
        }
    }
}

/// xorshift64*: enough randomness to pick operations and offsets, with a
/// seed that replays a failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A config directory and what must be in it.
struct World {
    tessera: Tessera,
    /// Kept running for the renewals.
    _server: Tesserad,
    customer_key: String,
}

impl World {
    fn start() -> World {
        // Tokens live 30 s: under the CLI's one-minute margin, so every
        // `auth token` of a client-credentials profile renews and writes.
        let server = Tesserad::start_with(&["--access-token-ttl", "30s", "--no-rate-limit"]);
        let email = server.account();
        let (_, customer_key) = server.api_key(&email);
        let client = server.confidential_app(&email);
        let tessera = Tessera::new(&server.url)
            .with_env("TESSERA_CLIENT_ID", &client.0)
            .with_env("TESSERA_CLIENT_SECRET", &client.1);
        World {
            tessera,
            _server: server,
            customer_key,
        }
    }

    fn cfg(&self) -> &Path {
        &self.tessera.config
    }

    fn command(&self, args: &[impl AsRef<str>]) -> Command {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let mut cmd = self.tessera.command(&args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    }

    /// An unverified API-key login to `profile`.
    fn login_command(&self, profile: &str, key: &str) -> Command {
        self.command(&[
            "auth",
            "login",
            "--api-key",
            key,
            "--no-verify",
            "--profile",
            profile,
        ])
    }

    /// [`World::login_command`], which must succeed.
    fn login(&self, profile: &str, key: &str) {
        let out = self.login_command(profile, key).output().unwrap();
        assert!(out.status.success(), "login to {profile}");
    }

    fn run_ok(&self, args: &[impl AsRef<str> + std::fmt::Debug]) {
        let out = self.command(args).stderr(Stdio::piped()).output().unwrap();
        assert!(
            out.status.success(),
            "tessera {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Both files parse; what the credentials file holds per profile.
    fn read(&self) -> Result<BTreeMap<String, Stored>, String> {
        let parse = |path: &Path| -> Result<toml::Table, String> {
            match std::fs::read_to_string(path) {
                Ok(text) => text
                    .parse::<toml::Table>()
                    .map_err(|e| format!("{} does not parse: {e}\n{text}", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
                Err(e) => Err(format!("{}: {e}", path.display())),
            }
        };
        parse(&self.cfg().join("config.toml"))?;
        let creds = parse(&self.cfg().join("credentials.toml"))?;
        let profiles = creds
            .get("profiles")
            .and_then(|p| p.as_table())
            .cloned()
            .unwrap_or_default();
        Ok(profiles
            .iter()
            .map(|(name, p)| {
                let text = |v: Option<&toml::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
                let token = p.get("oauth").and_then(|o| o.get("access_token"));
                let stored = Stored {
                    key: text(p.get("api_key")),
                    token: text(token),
                };
                (name.clone(), stored)
            })
            .collect())
    }
}

/// One write a process may be killed in.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `auth login --api-key K --profile P` (verified with /v1/me or not).
    Login {
        verify: bool,
    },
    Logout,
    /// `auth login --client-credentials` (the customer key with it).
    ClientCredentials,
    /// `auth token`: the client-credentials token is always due for renewal.
    Renew,
}

const OPS: [Op; 5] = [
    Op::Login { verify: false },
    Op::Login { verify: true },
    Op::Logout,
    Op::ClientCredentials,
    Op::Renew,
];

/// The profiles the loop changes: API-key ones, and OAuth ones.
const KEY_PROFILES: [&str; 4] = ["p0", "p1", "p2", "p3"];
const OAUTH_PROFILES: [&str; 2] = ["cc0", "cc1"];

fn args_of(op: Op, profile: &str, key: &str) -> Vec<String> {
    let words: Vec<&str> = match op {
        Op::Login { verify: true } => vec!["auth", "login", "--api-key", key],
        Op::Login { verify: false } => vec!["auth", "login", "--api-key", key, "--no-verify"],
        Op::Logout => vec!["auth", "logout", profile, "--force"],
        Op::ClientCredentials => vec!["auth", "login", "--client-credentials", "--api-key", key],
        Op::Renew => vec!["auth", "token"],
    };
    let mut args: Vec<String> = words.into_iter().map(str::to_owned).collect();
    args.extend(["--profile".to_owned(), profile.to_owned()]);
    args
}

#[test]
fn sigkill_at_random_moments_never_tears_a_file_or_loses_another_profile() {
    let seed = std::env::var("TESSERA_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    let world = World::start();
    // The API key logins use keys the server accepts, so that verified
    // logins succeed: the customer key itself, and made-up ones unverified.
    let good = world.customer_key.clone();
    for (name, key) in BYSTANDERS {
        world.login(name, key);
    }
    for name in OAUTH_PROFILES {
        world.run_ok(&args_of(Op::ClientCredentials, name, &good));
    }
    // How long each operation takes when left alone, to spread the kills
    // over its whole run: the fastest of five, because runs slowed by a burst
    // of load elsewhere (the whole suite starting) would put most kill times
    // past the end of every later run, and leave a fast operation unkilled.
    let mut typical = BTreeMap::new();
    for op in OPS {
        let profile = match op {
            Op::ClientCredentials | Op::Renew => OAUTH_PROFILES[0],
            _ => KEY_PROFILES[0],
        };
        let args = args_of(op, profile, &good);
        let fastest = (0..5)
            .map(|_| {
                if matches!(op, Op::Logout) {
                    world.login(profile, &good);
                }
                let started = Instant::now();
                world.run_ok(&args);
                started.elapsed()
            })
            .min()
            .expect("five runs");
        typical.insert(format!("{op:?}"), fastest);
    }

    let mut expected: BTreeMap<String, Stored> = world.read().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut kills, mut runs) = (0, 0);
    // Per operation: kills that left the old state, and the new one.
    let mut outcomes: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    while kills < KILLS {
        assert!(
            Instant::now() < deadline,
            "only {kills} kills in {runs} runs (seed {seed})"
        );
        runs += 1;
        let op = OPS[rng.below(OPS.len() as u64) as usize];
        let (profile, key) = match op {
            Op::ClientCredentials | Op::Renew => {
                (OAUTH_PROFILES[rng.below(2) as usize], good.clone())
            }
            Op::Login { verify: true } => (KEY_PROFILES[rng.below(4) as usize], good.clone()),
            // A logged-in profile, when there is one: logging out of
            // nothing writes nothing.
            Op::Logout => {
                let present: Vec<&str> = KEY_PROFILES
                    .into_iter()
                    .filter(|p| expected.contains_key(*p))
                    .collect();
                let pick = match present.is_empty() {
                    true => KEY_PROFILES[0],
                    false => present[rng.below(present.len() as u64) as usize],
                };
                (pick, String::new())
            }
            Op::Login { verify: false } => {
                let profile = KEY_PROFILES[rng.below(4) as usize];
                (profile, format!("lk_{profile}-{}", rng.below(1_000_000)))
            }
        };
        let after = match op {
            Op::Logout => After::Gone,
            Op::Login { .. } => After::Exactly(Stored {
                key: Some(key.clone()),
                token: None,
            }),
            Op::ClientCredentials | Op::Renew => After::NewToken(Some(key.clone())),
        };
        let mut child: Child = world.command(&args_of(op, profile, &key)).spawn().unwrap();
        // Anywhere from at once to a little past the usual end; half the
        // time in the last part, where the writes are.
        let usual = typical[&format!("{op:?}")].as_micros() as u64;
        let offset = match rng.below(2) {
            0 => rng.below(usual * 5 / 4),
            _ => usual * 3 / 5 + rng.below(usual / 2),
        };
        // The offset is what this test is about; nothing waits for a state.
        std::thread::sleep(Duration::from_micros(offset));
        let killed = match child.try_wait().unwrap() {
            Some(_) => false,
            None => {
                child.kill().unwrap();
                true
            }
        };

        let status = child.wait().unwrap();
        let now = world
            .read()
            .unwrap_or_else(|e| panic!("{e}\n(after {op:?}, seed {seed})"));
        let before = expected.get(profile).cloned();
        let got = now.get(profile).cloned();
        if killed {
            kills += 1;
            let tally = outcomes.entry(format!("{op:?}")).or_default();
            match got == before {
                true => tally.0 += 1,
                false => tally.1 += 1,
            }
            assert!(
                got == before || after.holds(&got, &before),
                "{op:?} on {profile} killed: {got:?}, expected {before:?} or {after:?} (seed {seed})"
            );
        } else if status.success() {
            assert!(
                after.holds(&got, &before),
                "{op:?} on {profile}: {got:?}, expected {after:?} (seed {seed})"
            );
        }
        match got {
            Some(state) => expected.insert(profile.to_owned(), state),
            None => expected.remove(profile),
        };
        for (name, state) in &expected {
            assert_eq!(
                now.get(name),
                Some(state),
                "profile {name} changed by {op:?} on {profile} (seed {seed})"
            );
        }
        assert_eq!(now.len(), expected.len(), "{now:?} (seed {seed})");
    }
    for (name, key) in BYSTANDERS {
        let untouched = Stored {
            key: Some(key.to_owned()),
            token: None,
        };
        assert_eq!(expected[name], untouched);
    }
    // The next write clears what killed writers left behind.
    world.login("p0", &good);
    let leftovers: Vec<_> = std::fs::read_dir(world.cfg())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    eprintln!("{kills} kills in {runs} runs (seed {seed}); (old, new) per operation: {outcomes:?}");
    for op in OPS {
        let (old, new) = outcomes
            .get(&format!("{op:?}"))
            .copied()
            .unwrap_or_default();
        assert!(
            old + new >= KILLS / 50,
            "{op:?} was killed only {} times",
            old + new
        );
    }
}

#[test]
fn sixteen_processes_writing_sixteen_profiles_at_once_lose_none() {
    let world = World::start();
    let names: Vec<String> = (0..16).map(|i| format!("parallel-{i}")).collect();
    for round in 0..3 {
        let children: Vec<(String, Child)> = names
            .iter()
            .map(|name| {
                let key = format!("lk_{name}-round-{round}");
                let child = world.login_command(name, &key).spawn().unwrap();
                (key, child)
            })
            .collect();
        for (key, mut child) in children {
            assert!(child.wait().unwrap().success(), "{key}");
        }
        let now = world.read().unwrap();
        for name in &names {
            let key = format!("lk_{name}-round-{round}");
            let stored = Stored {
                key: Some(key),
                token: None,
            };
            assert_eq!(now.get(name), Some(&stored), "round {round}");
        }
        let config = std::fs::read_to_string(world.cfg().join("config.toml")).unwrap();
        let config: toml::Table = config.parse().unwrap();
        assert_eq!(
            config["profiles"].as_table().unwrap().len(),
            16,
            "round {round}"
        );
    }
}
