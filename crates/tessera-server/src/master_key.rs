//! The master key: 32 bytes that seal the signing keys' private halves at rest
//! (AES-256-GCM) and key the hashes of low-entropy secrets (one-time codes).
//! Parsed from `TESSERAD_MASTER_KEY` or the config, or kept in `master.key`
//! beside a SQLite database.

use crate::error::{Error, Result};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::path::Path;

/// The key that seals signing keys at rest (32 bytes).
pub struct MasterKey {
    raw: [u8; 32],
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        Self { raw: self.raw }
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        aws_lc_rs::rand::fill(&mut raw).expect("the OS random number generator failed");
        Self { raw }
    }

    /// 32 bytes as base64 (standard or URL-safe, padded or not) or 64 hex digits.
    pub fn parse(encoded: &str) -> Result<Self> {
        let s = encoded.trim();
        let bytes = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16))
                .collect::<std::result::Result<Vec<u8>, _>>()
                .ok()
        } else {
            let unpadded = s.trim_end_matches('=');
            URL_SAFE_NO_PAD
                .decode(unpadded.replace('+', "-").replace('/', "_"))
                .ok()
        };
        let raw: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
            Error::Config(
                "the master key must be 32 bytes, base64 or hex (e.g. `openssl rand -base64 32`)"
                    .into(),
            )
        })?;
        Ok(Self { raw })
    }

    /// Standard base64.
    pub fn encode(&self) -> String {
        STANDARD.encode(self.raw)
    }

    /// Reads the key file, or creates it (mode 0600) with a new key. A file that
    /// group or others may read is used, with a warning that says how to fix it.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match read_key_file(path) {
            Ok(text) => {
                let key = Self::parse(&text)
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
                if let Some(warning) = exposed(path) {
                    tracing::warn!("{warning}");
                }
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if write_private_file(path, key.encode().as_bytes())? {
                    Ok(key)
                } else {
                    // Another process starting on the same database made it
                    // first: theirs is the key.
                    Self::load_or_create(path)
                }
            }
            Err(e) => Err(Error::Config(format!(
                "cannot read master key {}: {e}",
                path.display()
            ))),
        }
    }

    /// HMAC-SHA256 of `message` under a key derived from the master key for
    /// `purpose`: for low-entropy secrets (one-time codes) whose plain hash could
    /// be brute-forced from a database copy.
    pub fn keyed_hash(&self, purpose: &str, message: &[u8]) -> String {
        use aws_lc_rs::hmac;
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &self.raw),
            purpose.as_bytes(),
        );
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
            message,
        );
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.raw).expect("32-byte AES key"))
    }

    /// base64url(nonce || ciphertext || tag).
    pub(crate) fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::internal("random nonce"))?;
        let mut buf = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::internal("sealing a signing key failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    pub(crate) fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| Error::internal(format!("signing key {kid} is not valid base64")))?;
        if bytes.len() < NONCE_LEN {
            return Err(Error::internal(format!("signing key {kid} is truncated")));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::internal("nonce"))?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| {
                Error::Config(format!(
                    "cannot decrypt signing key {kid}: is the master key (TESSERAD_MASTER_KEY, \
                     master_key in the config, or master.key beside a SQLite database) the one \
                     this database was created with?"
                ))
            })?;
        Ok(plain.to_vec())
    }
}

/// The warning for a key file that other users may read.
fn exposed(path: &Path) -> Option<String> {
    let mode = crate::files::open_to_others(path, 0o077)?;
    Some(format!(
        "master key {path} is open to other users of this host (mode {mode:04o}): \
         `chmod 600 {path}`",
        path = path.display()
    ))
}

/// Writes a new file readable by its owner alone, whole or not at all: a
/// temporary file, linked into place only if nothing is there yet, so a
/// reader never sees it half-written. `false` when a file was there first.
fn write_private_file(path: &Path, contents: &[u8]) -> Result<bool> {
    use std::io::Write as _;
    let io = |e: std::io::Error| Error::Config(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".master.key.").suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    let mut file = builder.tempfile_in(dir).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    match file.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io(e.error)),
    }
}

/// The key file's text. A FIFO would block the open until a writer came (the
/// server or admin command would hang without a word), and a device such as
/// `/dev/zero` would be read forever: only a regular file is read, and only
/// as much as a key can be.
fn read_key_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        rustix::fs::OFlags::NONBLOCK.bits() as i32,
    );
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (check what it is with `ls -l`, and move it away)",
        ));
    }
    let mut text = String::new();
    file.take(4096).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Processes starting together on a new database agree on one key.
    #[test]
    fn racing_creators_share_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let keys: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| MasterKey::load_or_create(&path).unwrap().encode()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "{}", keys.len());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        // A broken key file is named.
        std::fs::write(&path, "").unwrap();
        let err = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("master.key"), "{err}");
    }

    /// A FIFO or a device where the key file should be is refused by name at
    /// once, rather than waited on (a FIFO) or read forever (`/dev/zero`).
    #[cfg(unix)]
    #[test]
    fn a_key_file_that_is_no_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("master.key");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        let zero = dir.path().join("zero.key");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for path in [fifo, zero] {
            let err = MasterKey::load_or_create(&path).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("not a regular file"), "{err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let created = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(exposed(&path), None, "created 0600");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let said = exposed(&path).expect("a warning");
        assert!(
            said.contains("mode 0640") && said.contains("`chmod 600 "),
            "{said}"
        );
        let loaded = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(loaded.encode(), created.encode(), "still used");
    }

    #[test]
    fn master_key_round_trips_and_seals() {
        let key = MasterKey::generate();
        let parsed = MasterKey::parse(&key.encode()).unwrap();
        let sealed = key.seal("kid1", b"private").unwrap();
        assert_eq!(parsed.open("kid1", &sealed).unwrap(), b"private");
        // The kid is bound in: a sealed key moved to another row does not open.
        assert!(parsed.open("kid2", &sealed).is_err());
        assert!(MasterKey::generate().open("kid1", &sealed).is_err());
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
        let hex: String = (0..32).map(|i| format!("{i:02x}")).collect();
        assert!(MasterKey::parse(&hex).is_ok());
        assert!(MasterKey::parse("short").is_err());
    }
}
