//! Countersign's local-first engine. No GUI dependency: everything here runs headless.
//!
//! Entry point: [`Engine`]. Open it on [`paths::home_dir`], query the cached queue,
//! queue decisions (they return at once and survive crashes), and let
//! [`Engine::start`] (or [`Engine::sync_now`]) talk to the server.

pub use countersign_api as api;

pub mod client;
pub mod conn_state;
pub mod engine;
pub mod error;
pub mod notify_plan;
pub mod params_diff;
pub mod paths;
pub mod private_files;
pub mod receipt;
pub mod reminders;
pub mod risk;
pub mod secrets;
pub mod server_clock;
pub mod settings;
pub mod store;
pub mod sync;
pub mod token;

pub use conn_state::{ConnState, EngineEvent, SyncStatus};
pub use engine::{
    Clock, Engine, EngineOptions, ForgottenDevice, LoginOutcome, LogoutOutcome, Queued,
    SyncSummary, PUSH_BATCH_ENV,
};
pub use error::{CoreError, Result};
pub use notify_plan::{NotificationKind, PlannedNotification};
pub use params_diff::{DiffChange, DiffEntry, ParamsDiff, UnchangedEntry};
pub use risk::{RiskChip, RiskKind};
pub use settings::Settings;
pub use store::activity::{
    ApprovalContext, DiffBase, ParamsComparison, RecentActivity, RecentDecision,
};
pub use store::approvals::{
    is_decidable, ApprovalDetail, Facets, PendingDecision, QueueItem, QueuePage, QueueQuery,
    RowKey, SortOrder,
};
pub use store::cipher::StoreRecovery;
pub use store::outbox::{OutboxEntry, OutboxItem, OutboxState};
pub use store::resync::ResyncReport;
pub use sync::Background;
pub use token::{TokenLocation, TokenStore};
