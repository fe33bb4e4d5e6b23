//! Where the API token lives: the OS keychain (via `keyring`), or, where no keychain
//! is reachable (headless CI, minimal containers), a file in the home directory that
//! only the user can read. Never in SQLite, never in logs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{CoreError, Result};

/// Keychain service name.
const SERVICE: &str = "countersign";
/// Set to `off` (or `file`) to skip the keychain entirely (tests, CI).
pub const KEYRING_ENV: &str = "COUNTERSIGN_KEYRING";

/// Where a saved token ended up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenLocation {
    Keychain,
    /// Fallback file (mode 0600); `reason` says why the keychain was not used.
    File {
        path: PathBuf,
        reason: String,
    },
}

impl std::fmt::Display for TokenLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenLocation::Keychain => f.write_str("the OS keychain"),
            TokenLocation::File { path, reason } => write!(
                f,
                "{} (readable only by you; no keychain available: {reason})",
                path.display()
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenStore {
    file: PathBuf,
    use_keychain: bool,
}

impl TokenStore {
    pub fn new(home: &Path) -> Self {
        let off = std::env::var(KEYRING_ENV)
            .map(|v| v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("file"))
            .unwrap_or(false);
        TokenStore {
            file: crate::paths::token_file(home),
            use_keychain: !off,
        }
    }

    /// A store that never touches the keychain.
    pub fn file_only(home: &Path) -> Self {
        TokenStore {
            file: crate::paths::token_file(home),
            use_keychain: false,
        }
    }

    /// The account name a token is filed under: one token per server and org.
    pub fn account(server_url: &str, org: &str) -> String {
        format!("{org}@{server_url}")
    }

    pub fn save(&self, account: &str, token: &str) -> Result<TokenLocation> {
        let reason = if self.use_keychain {
            match self.keychain_save(account, token) {
                Ok(()) => {
                    // A stale fallback copy must not outlive a keychain login.
                    self.file_remove(account)?;
                    return Ok(TokenLocation::Keychain);
                }
                Err(e) => e,
            }
        } else {
            format!("{KEYRING_ENV} is set to off")
        };
        tracing::info!("no keychain ({reason}); storing the token in a private file");
        self.file_save(account, token)?;
        Ok(TokenLocation::File {
            path: self.file.clone(),
            reason,
        })
    }

    pub fn load(&self, account: &str) -> Result<Option<String>> {
        if self.use_keychain {
            if let Ok(Some(t)) = self.keychain_load(account) {
                return Ok(Some(t));
            }
        }
        Ok(self.file_read()?.remove(account))
    }

    /// Where the token of `account` is kept now, if anywhere: what Settings tells the
    /// approver ("system keychain" only when it really is there).
    pub fn locate(&self, account: &str) -> Result<Option<TokenLocation>> {
        let keychain_reason = if self.use_keychain {
            match self.keychain_load(account) {
                Ok(Some(_)) => return Ok(Some(TokenLocation::Keychain)),
                Ok(None) => "the token was saved while no keychain was available".to_string(),
                Err(e) => e,
            }
        } else {
            format!("{KEYRING_ENV} is off")
        };
        Ok(self
            .file_read()?
            .contains_key(account)
            .then(|| TokenLocation::File {
                path: self.file.clone(),
                reason: keychain_reason,
            }))
    }

    /// Accounts with a token in the fallback file (the keychain cannot be listed).
    pub fn file_accounts(&self) -> Result<Vec<String>> {
        Ok(self.file_read()?.into_keys().collect())
    }

    pub fn clear(&self, account: &str) -> Result<()> {
        if self.use_keychain {
            if let Ok(entry) = keyring::Entry::new(SERVICE, account) {
                // NoEntry or no keychain: nothing to delete there.
                let _ = entry.delete_credential();
            }
        }
        self.file_remove(account)
    }

    fn keychain_save(&self, account: &str, token: &str) -> std::result::Result<(), String> {
        let entry = keyring::Entry::new(SERVICE, account).map_err(|e| e.to_string())?;
        entry.set_password(token).map_err(|e| e.to_string())?;
        // Some backends accept writes they cannot read back (e.g. a locked
        // session keyring); only trust the keychain if the token round-trips.
        match entry.get_password() {
            Ok(t) if t == token => Ok(()),
            Ok(_) => Err("keychain returned a different token".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn keychain_load(&self, account: &str) -> std::result::Result<Option<String>, String> {
        let entry = keyring::Entry::new(SERVICE, account).map_err(|e| e.to_string())?;
        match entry.get_password() {
            Ok(t) => Ok(Some(t)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
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

    fn file_save(&self, account: &str, token: &str) -> Result<()> {
        let mut all = self.file_read().unwrap_or_default();
        all.insert(account.to_string(), token.to_string());
        self.file_write(&all)
    }

    fn file_remove(&self, account: &str) -> Result<()> {
        if !self.file.exists() {
            return Ok(());
        }
        let mut all = self.file_read().unwrap_or_default();
        all.remove(account);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_fallback_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::file_only(dir.path());
        let acct = TokenStore::account("http://127.0.0.1:1", "org-demo");
        assert_eq!(store.load(&acct).unwrap(), None);
        let loc = store.save(&acct, "secret-token").unwrap();
        assert!(matches!(loc, TokenLocation::File { .. }));
        assert_eq!(store.load(&acct).unwrap().as_deref(), Some("secret-token"));
        // Asked later, the store names the file, never the keychain.
        match store.locate(&acct).unwrap() {
            Some(TokenLocation::File { path, .. }) => {
                assert_eq!(path, crate::paths::token_file(dir.path()))
            }
            other => panic!("expected the file, got {other:?}"),
        }
        assert_eq!(store.locate("another-account").unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(crate::paths::token_file(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        store.clear(&acct).unwrap();
        assert_eq!(store.load(&acct).unwrap(), None);
        assert!(!crate::paths::token_file(dir.path()).exists());
    }

    #[test]
    fn corrupt_token_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(crate::paths::token_file(dir.path()), b"\xff\x00garbage").unwrap();
        let store = TokenStore::file_only(dir.path());
        let err = store.load("a").unwrap_err();
        assert_eq!(err.code(), "token_store");
    }
}
