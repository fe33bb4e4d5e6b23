//! SQLite storage: one writer connection behind a mutex (every write is serialised,
//! which is what makes a decision's compare-and-set trivially safe) and a small pool
//! of reader connections, all in WAL mode so reads never wait for the writer.

pub mod approvals;
pub mod decisions;
pub mod devices;
pub mod idempotency;
pub mod rows;
pub mod schema;
pub mod stats;
pub mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use crate::error::ServerError;

/// Readers kept open between requests; more are opened on demand under load.
const MAX_IDLE_READERS: usize = 8;

pub struct Db {
    path: PathBuf,
    /// Read once at open: it never changes for the life of the file.
    epoch: String,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn open_connection(path: &Path) -> Result<Connection, ServerError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // FULL: a commit is on disk before the answer goes out. NORMAL in WAL mode can lose
    // the last transactions on power loss, and an agent may already have acted on an
    // approval it was told about, which the restarted server would then not know.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Makes the database file, and its `-wal` and `-shm` companions, readable by their
/// owner only: it holds token hashes, every request's params and the audit trail.
/// SQLite gives the companions the main file's mode when it creates them, so creating
/// the main file 0600 first covers them; files of an older server are tightened too.
fn make_private(path: &Path) -> Result<(), ServerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !path.exists() {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => {}
                // Created meanwhile by another opener: tightened below like any other.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = Path::new(&name);
            match std::fs::metadata(file) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite half-written (transactions
    // roll back on drop), so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Db {
    /// Opens (creating if needed) the database file and brings the schema up to date.
    pub fn open(path: &Path) -> Result<Arc<Db>, ServerError> {
        make_private(path)?;
        let conn = open_connection(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "SQLite did not switch to WAL; reads will wait for writes");
        }
        schema::migrate(&conn)?;
        let epoch = schema::epoch(&conn)?;
        Ok(Arc::new(Db {
            path: path.to_path_buf(),
            epoch,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database's random identity, made when the file was created.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Runs `f` on the writer connection, off the async runtime.
    pub async fn write<T, E, F>(self: &Arc<Self>, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<ServerError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&db.writer);
            f(&mut conn)
        })
        .await
        .map_err(|e| E::from(ServerError::Task(e.to_string())))?
    }

    /// Runs `f` on a reader connection, off the async runtime.
    pub async fn read<T, E, F>(self: &Arc<Self>, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<ServerError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = match lock(&db.readers).pop() {
                Some(c) => c,
                None => open_connection(&db.path).map_err(E::from)?,
            };
            let out = f(&conn);
            let mut idle = lock(&db.readers);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|e| E::from(ServerError::Task(e.to_string())))?
    }

    /// Synchronous access to the writer, for startup work (seeding) and the CLI.
    pub fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, ServerError>,
    ) -> Result<T, ServerError> {
        let mut conn = lock(&self.writer);
        f(&mut conn)
    }
}

/// Milliseconds since the epoch, the storage form of every approval time.
pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Now, truncated to milliseconds so stored and returned times agree.
pub fn now() -> DateTime<Utc> {
    from_ms(to_ms(Utc::now()))
}

/// One change to one approval, as broadcast to SSE streams and long-polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub org: String,
    pub id: String,
    pub seq: i64,
}
