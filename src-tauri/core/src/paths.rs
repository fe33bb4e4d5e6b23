//! Where Countersign keeps its files.

use std::path::{Path, PathBuf};

/// Environment variable that overrides the data directory (tests, portable installs).
pub const HOME_ENV: &str = "COUNTERSIGN_HOME";

/// The directory holding the database and, where no keychain exists, the token file.
/// `COUNTERSIGN_HOME` wins; otherwise the platform data directory
/// (`~/.local/share/countersign`, `~/Library/Application Support/countersign`,
/// `%APPDATA%\countersign`).
pub fn home_dir() -> PathBuf {
    if let Some(h) = std::env::var_os(HOME_ENV).filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    dirs::data_dir()
        .map(|d| d.join("countersign"))
        // No HOME at all (odd service accounts): the working directory is all we have.
        .unwrap_or_else(|| PathBuf::from(".countersign"))
}

/// The SQLite file inside `home`.
pub fn db_path(home: &Path) -> PathBuf {
    home.join("countersign.db")
}

/// The fallback token file inside `home` (only used when no keychain is reachable).
pub fn token_file(home: &Path) -> PathBuf {
    home.join("token")
}

/// The fallback file of the device's own secrets (the store key; only used when no
/// keychain is reachable).
pub fn device_secrets_file(home: &Path) -> PathBuf {
    home.join("device-secrets")
}
