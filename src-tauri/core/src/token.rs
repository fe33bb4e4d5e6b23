//! Where the API token lives: the OS keychain (via `keyring`), or, where no keychain
//! is reachable (headless CI, minimal containers), a file in the home directory that
//! only the user can read. Never in SQLite, never in logs. The mechanism is
//! [`crate::secrets`], shared with the device's own secrets.

use std::path::Path;

use crate::error::Result;
use crate::secrets::SecretStore;

/// Prefix of the account this device's signing key is filed under, beside the token.
const DEVICE_KEY_PREFIX: &str = "device-key:";
/// Set to `off` (or `file`) to skip the keychain entirely (tests, CI).
pub use crate::secrets::KEYRING_ENV;

/// Where a saved token ended up.
pub type TokenLocation = crate::secrets::SecretLocation;

/// The API tokens, filed by account (`org@server`) in the secret storage of
/// [`crate::secrets`], with their own fallback file.
#[derive(Debug, Clone)]
pub struct TokenStore {
    secrets: SecretStore,
}

impl TokenStore {
    pub fn new(home: &Path) -> Self {
        TokenStore {
            secrets: SecretStore::new(crate::paths::token_file(home), false, String::new()),
        }
    }

    /// A store that never touches the keychain.
    pub fn file_only(home: &Path) -> Self {
        TokenStore {
            secrets: SecretStore::new(crate::paths::token_file(home), true, String::new()),
        }
    }

    /// The account name a token is filed under: one token per server and org.
    pub fn account(server_url: &str, org: &str) -> String {
        format!("{org}@{server_url}")
    }

    pub fn save(&self, account: &str, token: &str) -> Result<TokenLocation> {
        self.secrets.save(account, token)
    }

    pub fn load(&self, account: &str) -> Result<Option<String>> {
        self.secrets.load(account)
    }

    /// Where the token of `account` is kept now, if anywhere: what Settings tells the
    /// approver ("system keychain" only when it really is there).
    pub fn locate(&self, account: &str) -> Result<Option<TokenLocation>> {
        self.secrets.locate(account)
    }

    /// Accounts with a token in the fallback file (the keychain cannot be listed).
    pub fn file_accounts(&self) -> Result<Vec<String>> {
        Ok(self
            .secrets
            .file_names()?
            .into_iter()
            .filter(|a| !a.starts_with(DEVICE_KEY_PREFIX))
            .collect())
    }

    /// Stores this device's signing key (serialized) for `account`, the same way as
    /// the token: keychain, else the private file.
    pub fn save_device_key(&self, account: &str, key: &str) -> Result<TokenLocation> {
        self.save(&format!("{DEVICE_KEY_PREFIX}{account}"), key)
    }

    pub fn load_device_key(&self, account: &str) -> Result<Option<String>> {
        self.load(&format!("{DEVICE_KEY_PREFIX}{account}"))
    }

    /// Removes the token of `account` and this device's signing key registered with it
    /// (a new login makes and registers a new key), so logging out leaves no secret.
    pub fn clear(&self, account: &str) -> Result<()> {
        self.secrets.clear(account)?;
        self.secrets.clear(&format!("{DEVICE_KEY_PREFIX}{account}"))
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
