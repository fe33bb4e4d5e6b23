//! The reference approvals server, as a library so the desktop app's demo mode and
//! the tests can run a real server in-process.
//!
//! ```no_run
//! # async fn run() -> Result<(), countersign_server::ServerError> {
//! use countersign_server::{spawn, ServerConfig};
//! let server = spawn(ServerConfig::new("127.0.0.1:0".parse().unwrap(), "demo.db")).await?;
//! println!("listening on {}", server.base_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod expiry;
pub mod extract;
pub mod limits;
pub mod links;
pub mod openapi;
pub mod page;
pub mod quorum;
pub mod receipts;
pub mod routes;
pub mod server_key;
pub mod state;
pub mod strict_json;
pub mod tls;
pub mod validate;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use countersign_api::Role;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

pub use audit::Verification;
pub use config::{parse_duration, ServerConfig};
pub use error::ServerError;

/// Capacity of the change broadcast; a slower listener re-reads the latest seq.
const CHANGE_CHANNEL: usize = 4096;

/// A server running on the current tokio runtime. Dropping it also stops the
/// server, without waiting; `shutdown` waits until everything has stopped.
pub struct RunningServer {
    addr: SocketAddr,
    tls: bool,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    changes: broadcast::Sender<db::Change>,
}

impl RunningServer {
    /// The bound address (the real port when the config asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS), no trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Requests waiting for changes right now (event streams and long-polls): a test
    /// waits for its client to be listening instead of sleeping a guess.
    pub fn change_listeners(&self) -> usize {
        self.changes.receiver_count()
    }

    /// Stops accepting, ends event streams and long-polls, lets in-flight requests
    /// finish, and waits for everything to stop. The port and the database file are
    /// free for a new `spawn` afterwards.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "server task ended abnormally");
            }
        }
    }
}

/// Opens the database (seeding the demo when asked), binds, and serves in the
/// background. `/healthz` answers as soon as this returns.
pub async fn spawn(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let db_path = config.db_path.clone();
    let expiry = config.default_expiry;
    if expiry <= chrono::Duration::zero() || expiry > config::MAX_EXPIRY {
        return Err(ServerError::Config(format!(
            "expiry must be positive and at most {} days",
            config::MAX_EXPIRY.num_days()
        )));
    }
    let demo = config.demo;
    // Read the certificate before touching the database, so a typo in a path fails fast.
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    if config.plain_http_beyond_loopback() {
        tracing::warn!(
            addr = %config.addr,
            "serving plain HTTP beyond loopback: tokens and decisions cross the network \
             unencrypted; use --tls-cert/--tls-key or a TLS proxy in front"
        );
    }
    let db = tokio::task::spawn_blocking(move || -> Result<_, ServerError> {
        let db = db::Db::open(&db_path)?;
        if demo && demo::seed(&db, expiry)? {
            tracing::info!(org = demo::DEMO_ORG, "seeded demo data");
        }
        Ok(db)
    })
    .await
    .map_err(|e| ServerError::Task(e.to_string()))??;

    let audit_key = Arc::new(server_key::AuditKey::load_or_create(
        &config.audit_key_file(),
    )?);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (changes, _) = broadcast::channel(CHANGE_CHANNEL);
    let conn_limits = limits::ConnLimits {
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_connections,
    };
    let limiter = Arc::new(limits::RateLimiter::new(
        config.rate_limit_per_minute,
        config.create_rate_limit_per_minute,
    ));
    let state = state::AppState {
        db,
        config: Arc::new(config),
        audit_key,
        changes,
        shutdown: shutdown_rx.clone(),
        limiter,
    };
    let app = routes::router(state.clone());
    let is_tls = tls.is_some();
    let server = match tls {
        Some(config) => tokio::spawn(limits::serve(
            tls::TlsListener::new(listener, config)?,
            app,
            shutdown_rx.clone(),
            conn_limits,
        )),
        None => tokio::spawn(limits::serve(
            listener,
            app,
            shutdown_rx.clone(),
            conn_limits,
        )),
    };
    let mut tasks = vec![server, tokio::spawn(expiry::run(state.clone()))];
    if let (true, Some(every)) = (state.config.demo, state.config.demo_trickle) {
        tasks.push(tokio::spawn(demo::trickle(state.clone(), every)));
    }
    tracing::info!(%addr, tls = is_tls, db = %state.db.path().display(), "countersign-server listening");
    Ok(RunningServer {
        addr,
        tls: is_tls,
        shutdown: shutdown_tx,
        tasks,
        changes: state.changes.clone(),
    })
}

/// Walks the audit chain of a database file.
pub fn verify_audit(db_path: &Path) -> Result<Verification, ServerError> {
    if !db_path.exists() {
        return Err(ServerError::Config(format!(
            "no database at {}",
            db_path.display()
        )));
    }
    let db = db::Db::open(db_path)?;
    db.with_writer(|conn| audit::verify(conn))
}

/// Creates a token for `subject` in `org` and returns it; only its hash is stored.
pub fn add_token(
    db_path: &Path,
    org: &str,
    role: Role,
    subject: &str,
) -> Result<String, ServerError> {
    add_token_with(
        db_path,
        org,
        role,
        subject,
        &db::tokens::TokenOptions::default(),
    )
}

/// [`add_token`] with an expiry and, for an agent token, the agent ids it may speak
/// for. The subject must follow [`db::tokens::check_subject`] and must not differ only
/// by case from one already in the org (the same spelling again is fine: one person
/// may hold several tokens).
pub fn add_token_with(
    db_path: &Path,
    org: &str,
    role: Role,
    subject: &str,
    options: &db::tokens::TokenOptions,
) -> Result<String, ServerError> {
    validate::org_id(org).map_err(ServerError::Config)?;
    db::tokens::check_subject(subject).map_err(ServerError::Config)?;
    if role != Role::Agent && !options.agents.is_empty() {
        return Err(ServerError::Config(
            "--agent binds agent tokens only (approver tokens read the whole org)".to_string(),
        ));
    }
    for agent in &options.agents {
        db::tokens::check_agent_id(agent).map_err(ServerError::Config)?;
    }
    let db = db::Db::open(db_path)?;
    let token = db::tokens::generate_token();
    let owner = db::tokens::TokenOwner {
        org: org.to_string(),
        subject: subject.to_string(),
        role,
    };
    db.with_writer(|conn| {
        let tx = conn.transaction()?;
        if let Some(existing) = db::tokens::subject_clash(&tx, org, subject)? {
            return Err(ServerError::Config(format!(
                "subject {subject:?} differs only by case from {existing:?}, which already \
                 exists in {org}; subjects are compared ignoring case, so use {existing:?}"
            )));
        }
        db::tokens::insert_token_with(&tx, &token, &owner, options)?;
        tx.commit()?;
        Ok(())
    })?;
    Ok(token)
}

/// The tokens of a database file (of `org` when given), oldest first.
pub fn list_tokens(
    db_path: &Path,
    org: Option<&str>,
) -> Result<Vec<(db::tokens::TokenRecord, Vec<String>)>, ServerError> {
    let db = open_existing(db_path)?;
    db.with_writer(|conn| {
        db::tokens::list(conn, org)?
            .into_iter()
            .map(|t| {
                let devices = db::devices::registered_by(conn, &t.hash)?;
                Ok((t, devices))
            })
            .collect()
    })
}

/// What `revoke-token` revoked: token public ids and device key ids.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Revoked {
    pub tokens: Vec<String>,
    pub devices: usize,
}

/// Which tokens `revoke-token` revokes.
pub enum RevokeTarget<'a> {
    /// One token, by its public id (`tok_…`).
    Id(&'a str),
    /// Every token and device key of a subject in an org (matched ignoring case).
    Subject { org: &'a str, subject: &'a str },
}

/// Revokes tokens (recorded with the time; nothing is deleted). Revoking an already
/// revoked token keeps its first revocation time and is not counted again.
pub fn revoke_tokens(db_path: &Path, target: RevokeTarget<'_>) -> Result<Revoked, ServerError> {
    let db = open_existing(db_path)?;
    let at = db::now();
    let revoked = db.with_writer(|conn| {
        let tx = conn.transaction()?;
        let (records, devices) = match target {
            RevokeTarget::Id(id) => {
                let found = db::tokens::find_by_public_id(&tx, id)?;
                match found.len() {
                    0 => return Err(ServerError::Config(format!("no token with id {id}"))),
                    1 => (found, 0),
                    _ => {
                        return Err(ServerError::Config(format!(
                            "{id} matches several tokens; revoke by --subject instead"
                        )))
                    }
                }
            }
            RevokeTarget::Subject { org, subject } => {
                let found = db::tokens::of_subject(&tx, org, subject)?;
                if found.is_empty() {
                    return Err(ServerError::Config(format!(
                        "no token of {subject:?} in {org}"
                    )));
                }
                let devices = db::devices::revoke_all_of(&tx, org, subject, at)?;
                (found, devices)
            }
        };
        let mut out = Revoked {
            tokens: Vec::new(),
            devices,
        };
        for r in records {
            if db::tokens::revoke_hash(&tx, &r.hash, at)? {
                out.tokens.push(r.id());
            }
        }
        tx.commit()?;
        Ok(out)
    })?;
    // The audit chain records approvals' events only; a revocation goes to the log.
    for id in &revoked.tokens {
        tracing::info!(token = %id, "token revoked");
    }
    if revoked.devices > 0 {
        tracing::info!(
            devices = revoked.devices,
            "device keys revoked with their owner's tokens"
        );
    }
    Ok(revoked)
}

fn open_existing(db_path: &Path) -> Result<Arc<db::Db>, ServerError> {
    if !db_path.exists() {
        return Err(ServerError::Config(format!(
            "no database at {}",
            db_path.display()
        )));
    }
    db::Db::open(db_path)
}
