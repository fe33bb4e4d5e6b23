//! The one error type of the core. Every variant has a stable `code()` so the
//! shell (GUI or CLI) can branch on it and pass it to the UI without parsing text.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CoreError {
    /// The local database failed (disk full, corrupt file, locked too long).
    #[error("local database error: {0}")]
    Db(#[from] rusqlite::Error),

    #[error("file error: {0}")]
    Io(#[from] std::io::Error),

    /// No server/org configured yet, or no token stored: the user must sign in.
    #[error("not signed in: run `countersign login --server URL --org ORG`")]
    NotConfigured,

    /// The server refused the token (401/403).
    #[error("sign in again: {0}")]
    Unauthorized(String),

    /// The server revoked the token or it expired (401 `token_revoked` /
    /// `token_expired`): signed out. The cache stays readable and queued decisions stay
    /// queued; they are sent once the user signs in again.
    #[error("signed out: sign in again ({0})")]
    SignedOut(String),

    /// The server could not be reached, or answered 5xx/429: worth retrying later.
    #[error("server unreachable: {0}")]
    Network(String),

    /// TLS failed: the server's certificate is not trusted, or the server does not speak
    /// TLS at all. Retrying does not help until someone changes something, so this is
    /// its own connection state rather than "offline".
    #[error("{0}")]
    Tls(String),

    /// The server answered something that is not the API (garbage, truncated,
    /// oversized or hostile body).
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),

    /// The server refused the request for good (4xx other than auth).
    #[error("server rejected the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },

    #[error("approval {0} is not in the local cache; run `countersign sync`")]
    NotFound(String),

    /// The user asked for something that cannot be done (bad id, empty reason,
    /// deciding twice).
    #[error("{0}")]
    Invalid(String),

    /// Keychain or token file trouble.
    #[error("token store: {0}")]
    Token(String),

    #[error("bad settings value: {0}")]
    Settings(String),

    /// A blocking task of the engine panicked or was cancelled (a bug, not the user's doing).
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// Stable, machine-readable code (`snake_case`), part of the public contract.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Db(_) => "db_error",
            CoreError::Io(_) => "io_error",
            CoreError::NotConfigured => "not_configured",
            CoreError::Unauthorized(_) => "unauthorized",
            CoreError::SignedOut(_) => "signed_out",
            CoreError::Network(_) => "network",
            CoreError::Tls(_) => "tls",
            CoreError::Protocol(_) => "protocol",
            CoreError::Rejected { .. } => "rejected",
            CoreError::NotFound(_) => "not_found",
            CoreError::Invalid(_) => "invalid_input",
            CoreError::Token(_) => "token_store",
            CoreError::Settings(_) => "settings",
            CoreError::Internal(_) => "internal",
        }
    }

    /// The database file is damaged or is not a database at all.
    pub fn is_damaged_db(&self) -> bool {
        matches!(
            self.sqlite_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        )
    }

    /// Another process held the database lock longer than the busy timeout.
    pub fn is_busy_db(&self) -> bool {
        matches!(
            self.sqlite_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }

    fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            CoreError::Db(rusqlite::Error::SqliteFailure(f, _)) => Some(f.code),
            _ => None,
        }
    }

    /// Whether retrying later may succeed without the user doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, CoreError::Network(_))
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        let all = [
            CoreError::NotConfigured,
            CoreError::Unauthorized("x".into()),
            CoreError::SignedOut("x".into()),
            CoreError::Network("x".into()),
            CoreError::Protocol("x".into()),
            CoreError::Tls("x".into()),
            CoreError::Rejected {
                status: 409,
                code: "already_decided".into(),
                message: "m".into(),
            },
            CoreError::NotFound("appr-1".into()),
            CoreError::Invalid("x".into()),
            CoreError::Token("x".into()),
            CoreError::Settings("x".into()),
            CoreError::Internal("x".into()),
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(CoreError::NotConfigured.code(), "not_configured");
        assert!(CoreError::Network("x".into()).is_transient());
        assert!(!CoreError::Unauthorized("x".into()).is_transient());
    }
}
