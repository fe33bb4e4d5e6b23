//! The server's own Ed25519 key, which signs the audit chain's head
//! (`GET /api/v1/orgs/{org}/audit/head`).
//!
//! The key lives in a file of its own (beside the database by default, mode 0600),
//! never in the SQLite file. Why: the signed head is evidence about the database, so
//! it must not travel with it. A copy of the database (a backup restored over a
//! newer one, a file handed to someone) then carries no key to sign a head with, and a
//! client that remembers a head the server signed earlier holds proof that the
//! server's chain once reached that point, whatever the database says now. Keeping it
//! in a separate file also lets an operator put it on other storage (`--audit-key`).

use std::io::Write;
use std::path::Path;

use countersign_api::receipt::{public_key_hex, ReceiptError};
use countersign_api::{AuditHead, AuditHeadSigned};
use rand::RngCore;

use crate::error::ServerError;

pub struct AuditKey {
    secret: [u8; 32],
    public_hex: String,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("AuditKey")
            .field("public_key", &self.public_hex)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// Reads the key file, or makes a new key and writes it (0600) when there is none.
    pub fn load_or_create(path: &Path) -> Result<AuditKey, ServerError> {
        let secret = match std::fs::read_to_string(path) {
            Ok(text) => hex::decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    ServerError::Config(format!(
                        "{} is not an audit key (64 hex digits)",
                        path.display()
                    ))
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut secret);
                write_private(path, &hex::encode(secret))?;
                tracing::info!(path = %path.display(), "made a new audit-head signing key");
                secret
            }
            Err(e) => return Err(e.into()),
        };
        Ok(AuditKey {
            public_hex: public_key_hex(&secret),
            secret,
        })
    }

    pub fn public_key(&self) -> &str {
        &self.public_hex
    }

    pub fn sign(&self, signed: AuditHeadSigned) -> Result<AuditHead, ServerError> {
        AuditHead::sign(&self.secret, signed)
            .map_err(|e: ReceiptError| ServerError::Corrupt(e.to_string()))
    }
}

/// Creates `path` readable by its owner only, failing if it exists (two servers
/// starting at once must not overwrite each other's key).
fn write_private(path: &Path, text: &str) -> Result<(), ServerError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}
