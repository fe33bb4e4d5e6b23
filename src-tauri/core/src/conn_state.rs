//! The connection state machine the UI and tray show, and the events the engine emits.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Driven only by real connection outcomes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnState {
    /// No server, org or token yet.
    NotConfigured,
    /// Talking to the server right now (first contact or after being offline).
    Syncing,
    Online,
    /// Last attempt failed with a transient error; retrying with backoff.
    Offline {
        since: DateTime<Utc>,
        last_error: String,
    },
    /// The server refused the token: the loop stopped until the user signs in again.
    Unauthorized {
        message: String,
    },
    /// No secure connection: the server's certificate is not trusted (or the server
    /// does not speak TLS). The loop retries only at the slow poll interval, since
    /// someone has to fix the certificate or the trust store first.
    Untrusted {
        message: String,
    },
}

impl ConnState {
    pub fn label(&self) -> &'static str {
        match self {
            ConnState::NotConfigured => "not signed in",
            ConnState::Syncing => "syncing",
            ConnState::Online => "online",
            ConnState::Offline { .. } => "offline",
            ConnState::Unauthorized { .. } => "sign in again",
            ConnState::Untrusted { .. } => "certificate not trusted",
        }
    }
}

/// A snapshot for status bars.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub conn: ConnState,
    pub last_synced: Option<DateTime<Utc>>,
    /// Decisions still to deliver.
    pub outbox_pending: u64,
    /// Server time minus this device's clock, in milliseconds, once measured.
    #[serde(default)]
    pub clock_offset_ms: Option<i64>,
    /// This device's clock is off by more than a minute: say so (times shown are
    /// the server's anyway).
    #[serde(default)]
    pub clock_off: bool,
    /// Set when, on this start, the local store could not be read with this device's
    /// key and was moved aside: what happened, where the file is, what was lost.
    #[serde(default)]
    pub store_notice: Option<String>,
    /// Set when the server's audit trail no longer contains the signed head this
    /// device saw (restored from an older copy, cut back, or signed with another
    /// key): what happened. Stays until this device signs in to another server or org.
    #[serde(default)]
    pub audit_notice: Option<String>,
}

/// What changed, for subscribers (GUI windows, tray, notification shell).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// Cached approvals changed (pulled, decided locally, expired locally).
    ApprovalsChanged {
        ids: Vec<String>,
    },
    ConnectionChanged {
        state: ConnState,
    },
    /// The outbox changed (queued, delivered, rejected, expired).
    OutboxChanged,
    /// A pull completed.
    Synced {
        at: DateTime<Utc>,
    },
}
