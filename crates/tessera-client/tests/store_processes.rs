//! The store under real processes: writers killed at random moments, and 16
//! writers at once. The writers are this test binary re-run with `child_writer`
//! selected and its instructions in environment variables.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tessera_client::{ApiKey, Store, TESSERA};

const CHILD_DIR: &str = "TESSERA_TEST_CHILD_DIR";
const CHILD_PROFILE: &str = "TESSERA_TEST_CHILD_PROFILE";
const CHILD_WRITES: &str = "TESSERA_TEST_CHILD_WRITES";
const CHILD_START: &str = "TESSERA_TEST_CHILD_START";

/// Large enough that a write is more than one `write(2)` of a page, so a torn
/// file would be visible.
const PADDING: usize = 6000;

fn value(profile: &str, i: u64) -> String {
    format!("{profile}-{i}-{}", "x".repeat(PADDING))
}

/// Parses a stored value back into its write number, or panics if torn.
fn write_number(profile: &str, stored: &str) -> u64 {
    let rest = stored
        .strip_prefix(&format!("{profile}-"))
        .unwrap_or_else(|| panic!("foreign value for {profile}"));
    let (n, pad) = rest.split_once('-').expect("torn value");
    assert_eq!(pad.len(), PADDING, "torn value for {profile}");
    n.parse().expect("torn write number")
}

/// Not a test on its own: the body of a writer process.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let profile = std::env::var(CHILD_PROFILE).unwrap();
    let writes: u64 = std::env::var(CHILD_WRITES).unwrap().parse().unwrap();
    let start: u64 = std::env::var(CHILD_START).unwrap().parse().unwrap();
    let store = Store::in_dir(dir, &TESSERA);
    for i in start.. {
        if writes != 0 && i >= start + writes {
            break;
        }
        store
            .update(|config, creds| {
                config.set_current_profile("default", &profile);
                config
                    .profiles
                    .get_mut(&profile)
                    .unwrap()
                    .settings
                    .insert("writes".into(), i.to_string());
                creds.profiles.entry(profile.clone()).or_default().api_key =
                    Some(ApiKey::new(value(&profile, i)));
                Ok(())
            })
            .unwrap();
        // Printed only after the rename and the directory fsync returned.
        println!("wrote {i}");
    }
}

/// Starts a writer whose write numbers begin at `start`; `writes == 0` writes
/// until killed.
fn spawn_writer(dir: &Path, profile: &str, start: u64, writes: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_PROFILE, profile)
        .env(CHILD_WRITES, writes.to_string())
        .env(CHILD_START, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// A small xorshift generator: the kill points need to vary, not be secure.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn writers_killed_at_random_moments_never_tear_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cfg");
    let store = Store::in_dir(&dir, &TESSERA);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let profiles = ["a", "b", "c"];
    let mut acknowledged = [None::<u64>; 3];
    // Bounded by rounds and by wall time, whichever ends first; not an assertion.
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut rounds = 0;
    while rounds < 40 && Instant::now() < deadline {
        rounds += 1;
        let mut children: Vec<_> = profiles
            .iter()
            .map(|p| {
                // Each round numbers its writes above the last, so "stored >=
                // acknowledged" holds across rounds.
                let mut child = spawn_writer(&dir, p, rounds * 1_000_000, 0);
                let stdout = BufReader::new(child.stdout.take().unwrap());
                (child, stdout.lines())
            })
            .collect();
        for (idx, (child, lines)) in children.iter_mut().enumerate() {
            // Let each writer finish a random number of writes, then kill it
            // wherever it happens to be in the next one.
            let want = rng.next(4);
            let mut seen = 0;
            while seen < want {
                let line = lines.next().expect("writer exited early").unwrap();
                if let Some(n) = line.strip_prefix("wrote ") {
                    acknowledged[idx] = Some(n.parse().unwrap());
                    seen += 1;
                }
            }
            child.kill().unwrap();
            child.wait().unwrap();
        }

        let config = store.read_config().expect("config.toml parses");
        let creds = store
            .read_credentials()
            .expect("credentials.toml parses")
            .file;
        for (idx, p) in profiles.iter().enumerate() {
            let Some(acked) = acknowledged[idx] else {
                continue;
            };
            let stored = creds.profiles[*p].api_key.as_ref().unwrap().expose_secret();
            let n = write_number(p, stored);
            assert!(
                n >= acked,
                "{p}: acknowledged write {acked} lost (found {n})"
            );
            assert!(config.profiles.contains_key(*p));
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    // A writer killed between creating and renaming its temp file leaves one
    // behind until the next lock; never more than one per killed writer.
    assert!(leftovers.len() <= profiles.len(), "{leftovers:?}");
    eprintln!("{rounds} rounds");
}

#[test]
fn sixteen_concurrent_writers_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cfg");
    let writes = 10;
    let names: Vec<String> = (0..16).map(|i| format!("p{i:02}")).collect();
    let children: Vec<Child> = names
        .iter()
        .map(|n| spawn_writer(&dir, n, 0, writes))
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let store = Store::in_dir(&dir, &TESSERA);
    let config = store.read_config().unwrap();
    let creds = store.read_credentials().unwrap();
    assert!(creds.warnings.is_empty());
    for name in &names {
        let stored = creds.file.profiles[name].api_key.as_ref().unwrap();
        assert_eq!(write_number(name, stored.expose_secret()), writes - 1);
        assert_eq!(
            config.profiles[name].settings["writes"],
            (writes - 1).to_string()
        );
    }
    assert_eq!(creds.file.profiles.len(), 16);
    assert_eq!(config.profiles.len(), 16);
}
