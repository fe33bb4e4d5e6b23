//! Shared state of a running server.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::config::ServerConfig;
use crate::db::{decisions, Change, Db};
use crate::error::{ApiError, ApiResult};

#[derive(Clone)]
pub struct AppState {
    pub db: Arc<Db>,
    pub config: Arc<ServerConfig>,
    /// Signs the audit chain's head (kept outside the database; see `server_key`).
    pub audit_key: Arc<crate::server_key::AuditKey>,
    /// Every committed change, for SSE streams and long-polls.
    pub changes: broadcast::Sender<Change>,
    /// Turns true when the server is shutting down; ends streams and long-polls.
    pub shutdown: watch::Receiver<bool>,
    /// Per-token request budgets (see [`crate::limits`]).
    pub limiter: Arc<crate::limits::RateLimiter>,
}

impl AppState {
    pub fn publish(&self, changes: Vec<Change>) {
        for change in changes {
            // No receivers is normal (nobody listening); nothing to do then.
            let _ = self.changes.send(change);
        }
    }

    /// Check-on-read: expires overdue approvals before a read so nobody ever sees a
    /// pending approval past its expiry, even between sweeps.
    pub async fn expire_overdue(&self) -> ApiResult<()> {
        let now = crate::db::now();
        let due = self
            .db
            .read(move |conn| decisions::any_due(conn, now).map_err(ApiError::from))
            .await?;
        if due {
            let changes = self
                .db
                .write(move |conn| decisions::expire_due(conn, now).map_err(ApiError::from))
                .await?;
            self.publish(changes);
        }
        Ok(())
    }
}
