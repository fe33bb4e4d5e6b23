//! Library errors turned into what is wrong and what to do, for a terminal user.

use std::path::Path;

use countersign_core::CoreError;

use super::{CliError, EXIT_OTHER};

/// The message for a core error; the raw library text stays at the end for support.
pub fn core_error(e: &CoreError) -> String {
    match e {
        CoreError::Db(db) if e.is_damaged_db() => format!(
            "the local database is damaged ({db}); the cache can be rebuilt from the server"
        ),
        CoreError::Db(db) if e.is_busy_db() => format!(
            "the local database stayed locked by another countersign process ({db}); \
             try again in a moment"
        ),
        CoreError::Db(db) => format!("the local database failed ({db})"),
        CoreError::Network(m) => {
            format!(
                "cannot reach the server ({m}); check the URL and your network, or try again later"
            )
        }
        CoreError::Protocol(m) => format!("unexpected answer from the server: {m}"),
        CoreError::SignedOut(m) => format!(
            "signed out: {m}. Sign in again with `countersign login` and a new token; the \
             local cache stays readable and queued decisions stay queued until then"
        ),
        // The settings checks already say what to type; "bad settings value" adds nothing.
        CoreError::Settings(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Adds the database file and the next step to a local database error.
pub fn with_db_path(mut err: CliError, home: &Path) -> CliError {
    if err.kind != "db_error" {
        return err;
    }
    let db = countersign_core::paths::db_path(home);
    let db = db.display();
    if err.message.contains("damaged") {
        err.message.push_str(&format!(
            ".\nThe file is {db}. Move it aside (mv \"{db}\" \"{db}.damaged\") and sign in \
             again with `countersign login`: approvals are fetched again from the server. \
             Decisions still queued in the damaged file cannot be sent from it."
        ));
    } else {
        err.message.push_str(&format!(
            ".\nThe file is {db}: check the free disk space and that you may write to it."
        ));
    }
    err
}

/// Why the data directory cannot be opened, naming the directory and where it came from.
pub fn home_error(home: &Path, e: CoreError) -> CliError {
    let from_env =
        std::env::var_os(countersign_core::paths::HOME_ENV).is_some_and(|h| !h.is_empty());
    let fix = if from_env {
        format!(
            "point {} at a directory (or unset it to use the default)",
            countersign_core::paths::HOME_ENV
        )
    } else {
        "move that file away, or set COUNTERSIGN_HOME to a directory".to_string()
    };
    let shown = home.display();
    if home.exists() && !home.is_dir() {
        return CliError::new(
            EXIT_OTHER,
            format!("the data directory {shown} is a file, not a directory: {fix}"),
        );
    }
    match e {
        CoreError::Io(io) => CliError::new(
            EXIT_OTHER,
            format!(
                "cannot create or open the data directory {shown} ({io}): {}",
                if from_env {
                    format!(
                        "point {} at a directory you may write to",
                        countersign_core::paths::HOME_ENV
                    )
                } else {
                    "set COUNTERSIGN_HOME to a directory you may write to".to_string()
                }
            ),
        ),
        other => with_db_path(CliError::from(other), home),
    }
}
