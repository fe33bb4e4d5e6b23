//! Command-line syntax (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "countersign",
    version,
    about = "Review and decide the approval requests your software agents escalate",
    long_about = "Without arguments, opens the desktop app. With a command, works in the terminal \
                  on the same local store: decisions made offline are queued and delivered by the \
                  next `countersign sync` (or by the app).\n\nExit codes: 0 ok (a decision queued \
                  offline included), 1 error (server unreachable, local trouble), 2 usage, 3 sign-in \
                  needed, 4 a decision was not applied (the server rejected it, it does not exist \
                  there, it was already decided or expired, or it expired before it could be sent), \
                  5 a receipt does not verify, 6 signed out: the server revoked this device's token \
                  or it expired (sign in again with `countersign login`; queued decisions stay \
                  queued and are sent after). With --json, an error is also printed on stdout as {\"error\": {\"code\", \"message\", \
                  \"exit_code\"}}."
)]
pub struct Cli {
    /// Log what the engine does (to stderr).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in: checks the token against the server, keeps it in the OS keychain.
    Login {
        /// Server base URL, e.g. https://countersign.example.com
        #[arg(long)]
        server: String,
        /// Organisation id, e.g. org-demo
        #[arg(long)]
        org: String,
        /// Read the token from standard input instead of prompting.
        #[arg(long)]
        token_stdin: bool,
        /// Allow a plain http:// server beyond this machine. Without it only https://,
        /// or http:// to 127.0.0.1, ::1 or localhost, is accepted: over http:// the
        /// token and every decision cross the network in clear. Remembered, and every
        /// command warns while it lasts.
        #[arg(long)]
        allow_insecure_http: bool,
    },
    /// Forget the stored token of this server and org (cached approvals and queued
    /// decisions stay); lists the tokens still stored on this device.
    Logout {
        /// Remove every token this device stored, for every server and org.
        #[arg(long)]
        all: bool,
        /// Also remove the local store (cached approvals, queued decisions, stores
        /// kept aside as unreadable) and its encryption key: nothing of this account is
        /// left on the device.
        #[arg(long)]
        forget_device: bool,
    },
    /// Pull changes from the server and deliver queued decisions.
    Sync {
        #[arg(long)]
        json: bool,
    },
    /// List cached approvals (pending first by default).
    Queue(QueueArgs),
    /// Show one approval in detail (refreshed from the server when reachable).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve an approval request.
    Approve {
        id: String,
        #[command(flatten)]
        notes: NotesArgs,
        #[arg(long)]
        json: bool,
    },
    /// Deny an approval request; a reason is required.
    Deny {
        id: String,
        #[command(flatten)]
        reason: ReasonArgs,
        #[command(flatten)]
        notes: NotesArgs,
        #[arg(long)]
        json: bool,
    },
    /// Approve several approval requests (an id given twice is decided once).
    BulkApprove {
        #[arg(required = true, num_args = 1..)]
        ids: Vec<String>,
        #[command(flatten)]
        notes: NotesArgs,
        #[arg(long)]
        json: bool,
    },
    /// Deny several approval requests with one reason.
    BulkDeny {
        #[arg(required = true, num_args = 1..)]
        ids: Vec<String>,
        #[command(flatten)]
        reason: ReasonArgs,
        #[command(flatten)]
        notes: NotesArgs,
        #[arg(long)]
        json: bool,
    },
    /// Totals by status, average response time, by agent and by reason code (from the local cache).
    Stats {
        /// Created on or after (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Created before (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Decisions queued, being sent, rejected or expired unsent (dismissed ones hidden).
    Outbox {
        /// Include applied and dismissed decisions too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check offline that a decision's receipt was signed by one of the org's devices
    /// and binds exactly this approval, its parameters and its decision. FILE holds the
    /// approval JSON as the agent got it (`GET …/approvals/ID`, with
    /// `decision.receipt`), or `{"receipt": …, "approval": …}`. Exit 0 verified, 5 not
    /// verified (unsigned, unknown or revoked key, bad signature, mismatch), 2 unreadable
    /// input, 1 no keys available.
    VerifyReceipt {
        /// The JSON file (`-` for standard input).
        file: PathBuf,
        /// The org's device keys (the JSON of `GET /api/v1/orgs/ORG/devices`) instead
        /// of asking the server (or, offline, the copy cached by the last ask).
        #[arg(long, value_name = "FILE")]
        keys: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge the rejected or expired decision(s) on an approval: they leave
    /// `outbox` (still listed by `outbox --all`); nothing is deleted or re-sent.
    Dismiss {
        /// The approval id (appr-...) shown by `outbox`.
        id: String,
        #[arg(long)]
        json: bool,
    },
}

impl Command {
    /// Whether the command was asked for JSON output (errors then go to stdout as JSON too).
    pub fn json(&self) -> bool {
        match self {
            Command::Login { .. } | Command::Logout { .. } => false,
            Command::Queue(q) => q.json,
            Command::Sync { json }
            | Command::Show { json, .. }
            | Command::Approve { json, .. }
            | Command::Deny { json, .. }
            | Command::BulkApprove { json, .. }
            | Command::BulkDeny { json, .. }
            | Command::Stats { json, .. }
            | Command::Outbox { json, .. }
            | Command::Dismiss { json, .. }
            | Command::VerifyReceipt { json, .. } => *json,
        }
    }
}

/// Notes as an argument, or from a file (`-` for standard input) when they are longer
/// than an argument list allows or should not show in `ps`.
#[derive(Debug, clap::Args)]
pub struct NotesArgs {
    #[arg(long, conflicts_with = "notes_file")]
    pub notes: Option<String>,
    /// Read the notes from this file (`-` for standard input).
    #[arg(long, value_name = "PATH")]
    pub notes_file: Option<PathBuf>,
}

/// The reason of a deny, as an argument or from a file (`-` for standard input).
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ReasonArgs {
    #[arg(long)]
    pub reason: Option<String>,
    /// Read the reason from this file (`-` for standard input).
    #[arg(long, value_name = "PATH")]
    pub reason_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Pending,
    /// Quorum approvals you approved that wait for other approvers.
    Waiting,
    Approved,
    Denied,
    Expired,
    All,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    Newest,
    Oldest,
    Expiring,
}

#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    #[arg(long, value_enum, default_value = "pending")]
    pub status: StatusArg,
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub action: Option<String>,
    /// Reason code, e.g. requires_approval.
    #[arg(long)]
    pub reason: Option<String>,
    /// Text search over summary, agent, action and parameters.
    #[arg(long)]
    pub search: Option<String>,
    /// Created on or after (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Created before (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long, value_enum, default_value = "newest")]
    pub sort: SortArg,
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    #[arg(long)]
    pub json: bool,
}
