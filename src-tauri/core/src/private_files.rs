//! The data directory holds request parameters, notes and decisions (and, without a
//! keychain, the token): only the user may read it. On Unix the directory is made
//! `0700` and every file in it `0600`, whatever the umask, and a directory found
//! wider (made by an older build, or by hand) is tightened on start, with a log line.
//!
//! Windows and macOS: the default locations (`%APPDATA%`, `~/Library/Application
//! Support`) are per-user and not readable by other accounts already (the user's
//! profile ACL; the home directory's `0700`/`0750` on macOS keeps `Library` private),
//! so nothing is changed there. A `COUNTERSIGN_HOME` elsewhere gets the Unix treatment
//! on macOS (it is Unix) and is the user's choice on Windows.

use std::path::Path;

use crate::error::Result;

/// Creates `home` if needed and makes it and the files directly in it private.
pub fn secure_home(home: &Path) -> Result<()> {
    if !home.exists() {
        if let Some(parent) = home.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        create_private_dir(home)?;
    }
    tighten(home)
}

#[cfg(unix)]
fn create_private_dir(home: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(home) {
        Ok(()) => Ok(()),
        // Another process (the app and the CLI start together) made it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn create_private_dir(home: &Path) -> Result<()> {
    std::fs::create_dir_all(home)?;
    Ok(())
}

#[cfg(unix)]
fn tighten(home: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let set = |path: &Path, want: u32| -> Result<()> {
        let meta = std::fs::symlink_metadata(path)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode != want {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(want))?;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), from = format!("{mode:o}"), to = format!("{want:o}"),
                    "tightened permissions: other accounts could read this");
            }
        }
        Ok(())
    };
    set(home, 0o700)?;
    for entry in std::fs::read_dir(home)? {
        let entry = entry?;
        // Symlinks are left alone: chmod would follow them out of the directory.
        if entry.file_type()?.is_file() {
            set(&entry.path(), 0o600)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_home: &Path) -> Result<()> {
    Ok(())
}

/// Creates `path` empty and private if it does not exist, so that SQLite (which
/// gives its `-wal` and `-shm` files the database file's mode) never makes a file
/// another account can read, even for a moment.
pub fn precreate_private_file(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?;
    Ok(())
}
