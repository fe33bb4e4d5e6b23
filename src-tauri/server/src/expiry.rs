//! The sweeper: expires overdue approvals on a timer (reads also expire on demand)
//! and drops idempotency keys past their retention.

use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::db::{decisions, idempotency, now};
use crate::error::ServerError;
use crate::state::AppState;

/// Idempotency keys are purged at most this often.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

async fn sweep(state: &AppState) -> Result<(), ServerError> {
    let at = now();
    let changes = state
        .db
        .write(move |conn| decisions::expire_due(conn, at))
        .await?;
    if !changes.is_empty() {
        tracing::info!(count = changes.len(), "expired overdue approvals");
    }
    state.publish(changes);
    Ok(())
}

async fn purge(state: &AppState) -> Result<(), ServerError> {
    let expiry = state.config.default_expiry;
    let n = state
        .db
        .write(move |conn| idempotency::purge(conn, now(), expiry))
        .await?;
    if n > 0 {
        tracing::info!(count = n, "purged old idempotency keys");
    }
    Ok(())
}

pub async fn run(state: AppState) {
    let mut shutdown = state.shutdown.clone();
    let mut tick = tokio::time::interval(state.config.sweep_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_purge: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = sweep(&state).await {
            tracing::error!(error = %e, "expiry sweep failed");
        }
        crate::page::release_memory();
        let purge_due = match last_purge {
            None => true,
            Some(t) => t.elapsed() >= PURGE_EVERY,
        };
        if purge_due {
            last_purge = Some(tokio::time::Instant::now());
            if let Err(e) = purge(&state).await {
                tracing::error!(error = %e, "idempotency purge failed");
            }
        }
    }
}
