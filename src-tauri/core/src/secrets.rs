//! Where this device keeps its secrets: the OS keychain (via `keyring`), or, where no
//! keychain is reachable (headless CI, minimal containers), a JSON file in the data
//! directory that only the user can read (mode 0600), with a clearly stated reason.
//! Never in SQLite, never in logs.
//!
//! Two kinds of secret live here: API tokens (one per server and org, see
//! [`crate::token`]) and the secrets of the device itself ([`DEVICE_SECRETS`], e.g.
//! the store's encryption key). "Forget this device" removes every one of them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{CoreError, Result};

/// Keychain service name.
const SERVICE: &str = "countersign";
/// Set to `off` (or `file`) to skip the keychain entirely (tests, CI).
pub const KEYRING_ENV: &str = "COUNTERSIGN_KEYRING";

/// The encryption key of the local store (256 random bits, hex).
pub const STORE_KEY: &str = "store-key";

/// Every per-device secret, by name. `forget_device` removes each one; a new secret of
/// the device (e.g. a signing key) is added here so it is forgotten with the rest.
pub const DEVICE_SECRETS: &[&str] = &[STORE_KEY];

/// Where a saved secret ended up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SecretLocation {
    Keychain,
    /// Fallback file (mode 0600); `reason` says why the keychain was not used.
    File {
        path: PathBuf,
        reason: String,
    },
}

impl std::fmt::Display for SecretLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretLocation::Keychain => f.write_str("the OS keychain"),
            SecretLocation::File { path, reason } => write!(
                f,
                "{} (readable only by you; no keychain available: {reason})",
                path.display()
            ),
        }
    }
}

/// Whether the environment turned the keychain off.
fn keychain_off_by_env() -> bool {
    std::env::var(KEYRING_ENV)
        .map(|v| v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("file"))
        .unwrap_or(false)
}

/// Secrets filed by name in the keychain, or in one fallback file.
#[derive(Debug, Clone)]
pub struct SecretStore {
    file: PathBuf,
    use_keychain: bool,
    /// Prepended to names in the keychain (which is per user, not per data
    /// directory), so two data directories never share a device secret.
    keychain_prefix: String,
}

impl SecretStore {
    /// A store with fallback `file`; the keychain is used unless `file_only` or
    /// [`KEYRING_ENV`] says otherwise.
    pub fn new(file: PathBuf, file_only: bool, keychain_prefix: String) -> Self {
        SecretStore {
            file,
            use_keychain: !file_only && !keychain_off_by_env(),
            keychain_prefix,
        }
    }

    /// The device's own secrets of data directory `home` ([`DEVICE_SECRETS`]).
    pub fn device(home: &Path, file_only: bool) -> Self {
        Self::new(
            crate::paths::device_secrets_file(home),
            file_only,
            format!("{}:", home.display()),
        )
    }

    fn keychain_name(&self, name: &str) -> String {
        format!("{}{name}", self.keychain_prefix)
    }

    pub fn save(&self, name: &str, secret: &str) -> Result<SecretLocation> {
        let reason = if self.use_keychain {
            match keychain_save(&self.keychain_name(name), secret) {
                Ok(()) => {
                    // A stale fallback copy must not outlive a keychain save.
                    self.file_remove(name)?;
                    return Ok(SecretLocation::Keychain);
                }
                Err(e) => e,
            }
        } else {
            format!("{KEYRING_ENV} is set to off")
        };
        tracing::info!("no keychain ({reason}); storing the secret in a private file");
        self.file_save(name, secret)?;
        Ok(SecretLocation::File {
            path: self.file.clone(),
            reason,
        })
    }

    pub fn load(&self, name: &str) -> Result<Option<String>> {
        if self.use_keychain {
            if let Ok(Some(t)) = keychain_load(&self.keychain_name(name)) {
                return Ok(Some(t));
            }
        }
        Ok(self.file_read()?.remove(name))
    }

    /// Every copy of `name` this device holds (keychain first, then the fallback
    /// file, distinct values), and the keychain's error if it could not be asked. A
    /// secret that must not be mistaken for absent (the store key: a store is moved
    /// aside when its key is gone) is looked up this way: a locked or unreachable
    /// keychain is not "no key", and a stale copy beside the current one is tried too.
    pub fn load_all(&self, name: &str) -> Result<(Vec<String>, Option<String>)> {
        let mut found = Vec::new();
        let mut unreachable = None;
        if self.use_keychain {
            match keychain_load(&self.keychain_name(name)) {
                Ok(Some(t)) => found.push(t),
                Ok(None) => {}
                Err(e) => unreachable = Some(e),
            }
        }
        if let Some(t) = self.file_read()?.remove(name) {
            if !found.contains(&t) {
                found.push(t);
            }
        }
        Ok((found, unreachable))
    }

    /// Where the secret `name` is kept now, if anywhere ("the keychain" only when it
    /// really is there).
    pub fn locate(&self, name: &str) -> Result<Option<SecretLocation>> {
        let keychain_reason = if self.use_keychain {
            match keychain_load(&self.keychain_name(name)) {
                Ok(Some(_)) => return Ok(Some(SecretLocation::Keychain)),
                Ok(None) => "it was saved while no keychain was available".to_string(),
                Err(e) => e,
            }
        } else {
            format!("{KEYRING_ENV} is off")
        };
        Ok(self
            .file_read()?
            .contains_key(name)
            .then(|| SecretLocation::File {
                path: self.file.clone(),
                reason: keychain_reason,
            }))
    }

    /// Names with a secret in the fallback file (the keychain cannot be listed).
    pub fn file_names(&self) -> Result<Vec<String>> {
        Ok(self.file_read()?.into_keys().collect())
    }

    pub fn clear(&self, name: &str) -> Result<()> {
        if self.use_keychain {
            if let Ok(entry) = keyring::Entry::new(SERVICE, &self.keychain_name(name)) {
                // NoEntry or no keychain: nothing to delete there.
                let _ = entry.delete_credential();
            }
        }
        self.file_remove(name)
    }

    fn file_read(&self) -> Result<BTreeMap<String, String>> {
        match std::fs::read(&self.file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CoreError::Token(format!("{} is unreadable: {e}", self.file.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e.into()),
        }
    }

    fn file_save(&self, name: &str, secret: &str) -> Result<()> {
        let mut all = self.file_read().unwrap_or_default();
        all.insert(name.to_string(), secret.to_string());
        self.file_write(&all)
    }

    fn file_remove(&self, name: &str) -> Result<()> {
        if !self.file.exists() {
            return Ok(());
        }
        let mut all = self.file_read().unwrap_or_default();
        all.remove(name);
        if all.is_empty() {
            std::fs::remove_file(&self.file)?;
            Ok(())
        } else {
            self.file_write(&all)
        }
    }

    fn file_write(&self, all: &BTreeMap<String, String>) -> Result<()> {
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.file.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        let body = serde_json::to_vec(all).map_err(|e| CoreError::Token(e.to_string()))?;
        f.write_all(&body)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &self.file)?;
        Ok(())
    }
}

fn keychain_save(account: &str, secret: &str) -> std::result::Result<(), String> {
    let entry = keyring::Entry::new(SERVICE, account).map_err(|e| e.to_string())?;
    entry.set_password(secret).map_err(|e| e.to_string())?;
    // Some backends accept writes they cannot read back (e.g. a locked session
    // keyring); only trust the keychain if the secret round-trips.
    match entry.get_password() {
        Ok(t) if t == secret => Ok(()),
        Ok(_) => Err("keychain returned a different secret".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn keychain_load(account: &str) -> std::result::Result<Option<String>, String> {
    let entry = keyring::Entry::new(SERVICE, account).map_err(|e| e.to_string())?;
    match entry.get_password() {
        Ok(t) => Ok(Some(t)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_secrets_round_trip_in_a_private_file_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let s = SecretStore::device(dir.path(), true);
        assert_eq!(s.load(STORE_KEY).unwrap(), None);
        let loc = s.save(STORE_KEY, "00ff").unwrap();
        assert!(matches!(loc, SecretLocation::File { .. }));
        assert_eq!(s.load(STORE_KEY).unwrap().as_deref(), Some("00ff"));
        assert_eq!(s.file_names().unwrap(), vec![STORE_KEY.to_string()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = crate::paths::device_secrets_file(dir.path());
            let mode = std::fs::metadata(file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        s.clear(STORE_KEY).unwrap();
        assert_eq!(s.load(STORE_KEY).unwrap(), None);
        assert!(!crate::paths::device_secrets_file(dir.path()).exists());
    }
}
