//! The store is encrypted at rest with SQLCipher. This module holds the key, opens the
//! store of a data directory with it, migrates a plaintext store in place, and moves
//! aside a store whose key is gone.
//!
//! The key is 256 random bits kept with the device's secrets ([`crate::secrets`]),
//! never in SQLite, never in logs. It is handed to SQLCipher as a *raw* key
//! (`x'<hex>'`), so no passphrase KDF runs: the key already has full entropy, and
//! every connection (the writer and each pooled reader) opens without a PBKDF2 cost.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rand::RngCore;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{CoreError, Result};
use crate::secrets::{SecretStore, STORE_KEY};

/// The first 16 bytes of every plaintext SQLite file; an encrypted one starts with
/// random salt instead.
const PLAINTEXT_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Test hook: the migration aborts the process right after the named step (see
/// [`MIGRATION_STEPS`]), as a power cut or SIGKILL would stop it.
pub const ABORT_AFTER_ENV: &str = "COUNTERSIGN_TEST_ABORT_MIGRATION_AFTER";

/// The steps of the in-place migration, in order. Until `rename` the plaintext file is
/// the store; after it the encrypted one is.
pub const MIGRATION_STEPS: &[&str] = &["key", "checkpoint", "export", "fsync", "rename", "cleanup"];

/// A 256-bit SQLCipher key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreKey([u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the bytes: this may end up in a log line.
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    pub fn generate() -> StoreKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        StoreKey(k)
    }

    fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn from_hex(s: &str) -> Option<StoreKey> {
        let s = s.trim();
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut k = [0u8; 32];
        for (i, byte) in k.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(StoreKey(k))
    }
}

/// Keys `conn` (must be its first statement) and proves the key by reading the schema,
/// so a wrong key fails here with `SQLITE_NOTADB` rather than at some later query.
pub fn apply_key(conn: &Connection, key: &StoreKey) -> Result<()> {
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.to_hex()))?;
    // SQLCipher's own logger writes to stderr (a wrong key prints "error decrypting
    // page 1"); the caller reports the failure itself, as a `CoreError`.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(())
}

/// A store that could not be read with this device's key, and where it went.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreRecovery {
    /// The unreadable file, kept (with its `-wal`/`-shm`) under this name.
    pub moved_to: PathBuf,
    pub at: DateTime<Utc>,
    /// Why it was unreadable (no key on this device, or the key does not open it).
    pub reason: String,
    /// Decisions that were waiting to be sent in it (never sent, lost with it), as last
    /// noted beside the store; `None` when no count was kept (an older version).
    #[serde(default)]
    pub lost_queued: Option<u64>,
}

impl StoreRecovery {
    /// What the user is told, with the number of queued decisions lost with the old
    /// file (noted beside it, since its outbox is unreadable without the key).
    pub fn message(&self) -> String {
        let lost = match self.lost_queued {
            Some(0) => "No decision was waiting to be sent in it.".to_string(),
            Some(1) => "1 decision queued offline in it was never sent and cannot be \
                        recovered: check the history and decide that approval again."
                .to_string(),
            Some(n) => format!(
                "{n} decisions queued offline in it were never sent and cannot be \
                 recovered: check the history and decide those approvals again."
            ),
            None => "Any decisions queued offline in it were never sent and cannot be \
                     recovered (how many is unknown). Check the history and decide those \
                     approvals again."
                .to_string(),
        };
        format!(
            "The local store could not be opened ({}). It was moved to {} and a new one \
             is filled from the server. {lost}",
            self.reason,
            self.moved_to.display()
        )
    }
}

/// The store of a data directory, open and keyed.
pub struct Opened {
    pub store: Store,
    pub key: StoreKey,
    /// Set when an unreadable store was moved aside on this open.
    pub recovered: Option<StoreRecovery>,
}

/// What the secret storage says about the key.
enum KeyLookup {
    /// Every copy found (usually one), in the order to try them.
    Found(Vec<StoreKey>),
    Absent,
    /// No copy found, and the keychain could not be asked: the key may well be in it.
    Unreachable(String),
}

fn load_key(secrets: &SecretStore) -> Result<KeyLookup> {
    let (copies, unreachable) = secrets.load_all(STORE_KEY)?;
    // A mangled entry opens nothing: skipped, as if absent.
    let keys: Vec<StoreKey> = copies
        .iter()
        .filter_map(|h| StoreKey::from_hex(h))
        .collect();
    Ok(match (keys.is_empty(), unreachable) {
        (false, _) => KeyLookup::Found(keys),
        (true, Some(e)) => KeyLookup::Unreachable(e),
        (true, None) => KeyLookup::Absent,
    })
}

/// The key to create a store with (fresh, or migrating a plaintext one, so nothing
/// is yet encrypted under any older copy): the first one found, or a new one.
fn key_for_new_store(secrets: &SecretStore) -> Result<StoreKey> {
    match load_key(secrets)? {
        KeyLookup::Found(mut keys) => Ok(keys.swap_remove(0)),
        KeyLookup::Absent | KeyLookup::Unreachable(_) => new_key(secrets),
    }
}

fn new_key(secrets: &SecretStore) -> Result<StoreKey> {
    let key = StoreKey::generate();
    let loc = secrets.save(STORE_KEY, &key.to_hex())?;
    tracing::info!(location = %loc, "new store encryption key saved");
    Ok(key)
}

/// What is on disk at the store's path.
enum FileState {
    /// Missing or empty (pre-created private file): a new store.
    Fresh,
    Plaintext,
    /// Anything else: encrypted, or garbage.
    Other,
}

fn file_state(path: &Path) -> Result<FileState> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Fresh),
        Err(e) => return Err(e.into()),
    };
    let mut head = Vec::with_capacity(16);
    f.by_ref().take(16).read_to_end(&mut head)?;
    Ok(if head.is_empty() {
        FileState::Fresh
    } else if head.as_slice() == PLAINTEXT_HEADER {
        FileState::Plaintext
    } else {
        FileState::Other
    })
}

/// The half-written encrypted copy during a migration.
pub fn migration_tmp(db: &Path) -> PathBuf {
    sibling(db, ".encrypting")
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Where the store notes how many decisions wait to be sent (see
/// `Store::note_queued_count`).
pub fn queued_count_file(db: &Path) -> PathBuf {
    sibling(db, ".queued")
}

/// The files SQLite keeps next to `db` in WAL mode.
pub fn side_files(db: &Path) -> [PathBuf; 2] {
    [sibling(db, "-wal"), sibling(db, "-shm")]
}

/// Opens (creating, migrating or recovering as needed) the encrypted store at `db`,
/// with its key from `secrets`.
pub fn open_encrypted(db: &Path, secrets: &SecretStore) -> Result<Opened> {
    // The app and the CLI may start at once: one of them migrates or recovers, the
    // other waits and then finds an encrypted store (no two exports into one copy).
    let lock_path = open_lock(db);
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::private_files::precreate_private_file(&lock_path)?;
    let lock = std::fs::OpenOptions::new().write(true).open(&lock_path)?;
    lock.lock()?;
    let opened = open_locked(db, secrets);
    // Released on close as well; explicit so the order is plain.
    let _ = lock.unlock();
    opened
}

/// The file locked while a store is opened (empty; its lock is what counts).
fn open_lock(db: &Path) -> PathBuf {
    sibling(db, ".open-lock")
}

fn open_locked(db: &Path, secrets: &SecretStore) -> Result<Opened> {
    // Left by a migration that stopped before its rename: the plaintext file is still
    // the store, so the copy is discarded and the migration starts over.
    remove_if_exists(&migration_tmp(db))?;
    match file_state(db)? {
        FileState::Fresh => {
            let key = key_for_new_store(secrets)?;
            // A `-wal` without a main file belongs to nothing we can read.
            for f in side_files(db) {
                remove_if_exists(&f)?;
            }
            let store = Store::open(db, Some(&key))?;
            Ok(Opened {
                store,
                key,
                recovered: None,
            })
        }
        FileState::Plaintext => {
            // A key saved by an earlier, interrupted migration is reused.
            let key = key_for_new_store(secrets)?;
            step_done("key");
            migrate_plaintext(db, &key)?;
            let store = Store::open(db, Some(&key))?;
            Ok(Opened {
                store,
                key,
                recovered: None,
            })
        }
        FileState::Other => {
            let reason = match load_key(secrets)? {
                KeyLookup::Found(keys) => {
                    let copies = keys.len();
                    for key in keys {
                        match Store::open(db, Some(&key)) {
                            Ok(store) => {
                                if copies > 1 {
                                    // A stale copy beside it: the one that opened the
                                    // store is kept, the other dropped.
                                    secrets.save(STORE_KEY, &key.to_hex())?;
                                }
                                return Ok(Opened {
                                    store,
                                    key,
                                    recovered: None,
                                });
                            }
                            Err(e) if e.is_unreadable_db() => {}
                            Err(e) => return Err(e),
                        }
                    }
                    // Encrypted pages are authenticated: a damaged first page and
                    // another key fail alike.
                    "this device's key does not open it, or it is damaged".to_string()
                }
                KeyLookup::Absent => "its key is not on this device".to_string(),
                KeyLookup::Unreachable(e) => {
                    // Never move a store aside because the keychain is locked.
                    return Err(CoreError::Token(format!(
                        "the local store is encrypted and its key is in the OS keychain, \
                         which cannot be reached ({e}); nothing was changed. Unlock the \
                         keychain and try again (if the key is gone for good, move {} \
                         aside and start again)",
                        db.display()
                    )));
                }
            };
            let recovered = move_aside(db, reason)?;
            tracing::warn!(moved_to = %recovered.moved_to.display(), "unreadable local store moved aside");
            let key = new_key(secrets)?;
            let store = Store::open(db, Some(&key))?;
            Ok(Opened {
                store,
                key,
                recovered: Some(recovered),
            })
        }
    }
}

/// The encrypted store of data directory `home` with its secrets in the fallback file
/// only (what the engine opens with `file_token_store`): for tests and tools that
/// reach into a store the engine left.
pub fn open_home_file_keyed(home: &Path) -> Result<Store> {
    let secrets = SecretStore::device(home, true);
    Ok(open_encrypted(&crate::paths::db_path(home), &secrets)?.store)
}

/// Renames the unreadable store and its side files to `<db>.unreadable-<timestamp>`.
fn move_aside(db: &Path, reason: String) -> Result<StoreRecovery> {
    let at = Utc::now();
    let suffix = format!(".unreadable-{}", at.format("%Y%m%dT%H%M%S%.3fZ"));
    let moved_to = sibling(db, &suffix);
    // What was waiting to be sent in it, as last noted beside it (the outbox itself is
    // unreadable now).
    let count_file = queued_count_file(db);
    let lost_queued = std::fs::read_to_string(&count_file)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    // Side files first: a crash in between leaves the main file in place, and the next
    // start moves it (a `-wal` alone is removed as belonging to nothing). The count
    // goes with the old store: the new one starts with nothing queued.
    let sides = side_files(db);
    for (side, tag) in sides
        .iter()
        .chain([&count_file])
        .zip(["-wal", "-shm", ".queued"])
    {
        if side.exists() {
            std::fs::rename(side, sibling(&moved_to, tag))?;
        }
    }
    std::fs::rename(db, &moved_to)?;
    sync_dir(db)?;
    Ok(StoreRecovery {
        moved_to,
        at,
        reason,
        lost_queued,
    })
}

/// Encrypts the plaintext store at `db` in place. Every step leaves a state the next
/// start recovers from: before `rename` the plaintext file is authoritative (a
/// leftover copy is discarded); the rename is atomic; after it the encrypted file is.
fn migrate_plaintext(db: &Path, key: &StoreKey) -> Result<()> {
    tracing::info!(path = %db.display(), "encrypting the local store");
    // checkpoint: fold the WAL (plaintext pages) into the main file and leave WAL
    // mode, so SQLite deletes `-wal`/`-shm` on close.
    {
        let conn = Connection::open(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        conn.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    }
    for f in side_files(db) {
        remove_if_exists(&f)?;
    }
    step_done("checkpoint");

    // export: a complete encrypted copy next to the store.
    let tmp = migration_tmp(db);
    crate::private_files::precreate_private_file(&tmp)?;
    {
        let conn = Connection::open(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        conn.execute(
            "ATTACH DATABASE ?1 AS encrypted KEY ?2",
            [
                tmp.to_string_lossy().into_owned(),
                format!("x'{}'", key.to_hex()),
            ],
        )?;
        conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
        // The schema version is a header field, not a table: carry it over.
        conn.execute_batch(&format!("PRAGMA encrypted.user_version = {version};"))?;
        conn.execute_batch("DETACH DATABASE encrypted;")?;
    }
    step_done("export");

    // fsync: the copy is on disk before it replaces anything.
    std::fs::File::open(&tmp)?.sync_all()?;
    step_done("fsync");

    std::fs::rename(&tmp, db)?;
    sync_dir(db)?;
    step_done("rename");

    // cleanup: nothing plaintext may remain beside the store.
    for f in side_files(db) {
        remove_if_exists(&f)?;
    }
    step_done("cleanup");
    Ok(())
}

fn step_done(step: &str) {
    if std::env::var(ABORT_AFTER_ENV).is_ok_and(|v| v == step) {
        eprintln!("{ABORT_AFTER_ENV}: aborting after step {step}");
        std::process::abort();
    }
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Makes a rename in `path`'s directory durable (Unix; Windows has no directory fsync).
fn sync_dir(path: &Path) -> Result<()> {
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Removes the store at `db` (with its side files and any migration leftover) and the
/// device's secrets: what `logout --forget-device` does once the tokens are gone.
pub fn forget_store(db: &Path, secrets: &SecretStore) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let [wal, shm] = side_files(db);
    let mut files = vec![
        db.to_path_buf(),
        wal,
        shm,
        migration_tmp(db),
        open_lock(db),
        queued_count_file(db),
    ];
    // Stores moved aside as unreadable are this account's data too.
    if let (Some(dir), Some(name)) = (db.parent(), db.file_name()) {
        let prefix = format!("{}.unreadable-", name.to_string_lossy());
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                files.push(entry.path());
            }
        }
    }
    for f in files {
        if f.exists() {
            std::fs::remove_file(&f)?;
            removed.push(f);
        }
    }
    for name in crate::secrets::DEVICE_SECRETS {
        secrets.clear(name)?;
    }
    Ok(removed)
}

impl CoreError {
    /// The file is not a database this key opens (wrong key, or not SQLite at all).
    pub fn is_unreadable_db(&self) -> bool {
        matches!(
            self,
            CoreError::Db(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::NotADatabase
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(dir: &Path) -> SecretStore {
        SecretStore::device(dir, true)
    }

    #[test]
    fn key_hex_round_trips_and_debug_hides_it() {
        let k = StoreKey::generate();
        assert_eq!(StoreKey::from_hex(&k.to_hex()), Some(k.clone()));
        assert_eq!(format!("{k:?}"), "StoreKey(..)");
        assert_eq!(StoreKey::from_hex("zz"), None);
    }

    #[test]
    fn fresh_store_is_encrypted_and_reopens_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let s = secrets(dir.path());
        {
            let o = open_encrypted(&db, &s).unwrap();
            o.store.set_cursor(7).unwrap();
        }
        let head = std::fs::read(&db).unwrap();
        assert_ne!(&head[..16], PLAINTEXT_HEADER);
        let o = open_encrypted(&db, &s).unwrap();
        assert!(o.recovered.is_none());
        assert_eq!(o.store.cursor().unwrap(), 7);
        // Without the key it is not a database.
        let err = Store::open(&db, None).err().unwrap();
        assert!(err.is_unreadable_db(), "{err}");
        let err = Store::open(&db, Some(&StoreKey::generate())).err().unwrap();
        assert!(err.is_unreadable_db(), "{err}");
    }

    #[test]
    fn plaintext_store_is_migrated_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        {
            let store = Store::open(&db, None).unwrap();
            store.set_cursor(42).unwrap();
        }
        let o = open_encrypted(&db, &secrets(dir.path())).unwrap();
        assert_eq!(o.store.cursor().unwrap(), 42);
        assert!(!migration_tmp(&db).exists());
        assert_ne!(&std::fs::read(&db).unwrap()[..16], PLAINTEXT_HEADER);
    }

    #[test]
    fn a_mangled_key_is_treated_as_lost() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let s = secrets(dir.path());
        {
            let o = open_encrypted(&db, &s).unwrap();
            o.store.set_cursor(5).unwrap();
        }
        // A mangled copy opens nothing and is skipped; the store stays.
        s.save(STORE_KEY, "not hex").unwrap();
        let o = open_encrypted(&db, &s).unwrap();
        assert!(o.recovered.is_some(), "no usable key: moved aside");
        drop(o);
        let moved: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".unreadable-")
            })
            .collect();
        assert!(!moved.is_empty());
    }

    #[test]
    fn lost_key_moves_the_store_aside_and_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let s = secrets(dir.path());
        {
            let o = open_encrypted(&db, &s).unwrap();
            o.store.set_cursor(9).unwrap();
        }
        s.clear(STORE_KEY).unwrap();
        let o = open_encrypted(&db, &s).unwrap();
        let rec = o.recovered.expect("recovery reported");
        assert!(rec.moved_to.exists());
        assert!(rec.message().contains(&rec.moved_to.display().to_string()));
        assert_eq!(o.store.cursor().unwrap(), 0, "a fresh store");
    }
}
