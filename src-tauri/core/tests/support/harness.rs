//! Shared test harness: a real `countersign-server` on loopback, agent/approver
//! helpers that talk to it directly, and engines on temp directories.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use countersign_core::api::{
    AgentRef, Approval, AuditEvent, AuditTrail, CreateApprovalRequest, DecisionKind, Stats,
};
use countersign_core::{Engine, EngineOptions};
use countersign_server::{RunningServer, ServerConfig};

pub const ORG: &str = "org-demo";
pub const ALICE: &str = "demo-approver-token";
pub const BOB: &str = "demo-approver2-token";
pub const AGENT: &str = "demo-agent-token";
/// Agent ids the tests raise requests for with [`AGENT`], besides the demo's.
pub const TEST_AGENTS: [&str; 3] = ["test-bot", "quorum-bot", "bulk-bot"];

pub struct Server {
    pub running: Option<RunningServer>,
    pub addr: SocketAddr,
    pub db: PathBuf,
}

impl Server {
    /// A demo server (org, tokens, seeded approvals) on an ephemeral loopback port.
    pub async fn start(dir: &Path) -> Server {
        Self::start_at(dir.join("server.db"), "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_at(db: PathBuf, addr: SocketAddr) -> Server {
        let mut cfg = ServerConfig::new(addr, db.clone());
        cfg.demo = true;
        cfg.sweep_interval = Duration::from_millis(200);
        cfg.heartbeat_interval = Duration::from_secs(1);
        // The port of a just-stopped server may take a moment to be free again.
        let mut tries = 0;
        let running = loop {
            match countersign_server::spawn(cfg.clone()).await {
                Ok(r) => break r,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("server did not start: {e}"),
            }
        };
        let addr = running.addr();
        // The demo agent token is bound to the demo's agent ids; the tests raise
        // requests for their own agents too.
        let server_db = countersign_server::db::Db::open(&db).expect("server db");
        server_db
            .with_writer(|conn| {
                countersign_server::db::tokens::bind_agents(conn, AGENT, &TEST_AGENTS)
            })
            .expect("bind test agents");
        Server {
            running: Some(running),
            addr,
            db,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Same port, same database: the server "comes back".
    pub async fn restart(&mut self) {
        self.stop().await;
        let again = Server::start_at(self.db.clone(), self.addr).await;
        self.running = again.running;
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn api(base: &str, rest: &str) -> String {
    format!("{base}/api/v1/orgs/{ORG}/approvals{rest}")
}

/// The agent side: creates a pending approval.
pub async fn create_approval(base: &str, summary: &str, expires_in_secs: Option<u64>) -> Approval {
    let req = CreateApprovalRequest {
        id: None,
        agent: AgentRef {
            id: "test-bot".into(),
            name: Some("Test Bot".into()),
            version: Some("v1".into()),
        },
        action: "k8s:deploy".into(),
        summary: summary.into(),
        reason_code: "requires_approval".into(),
        reason_text: "needs a human".into(),
        params: serde_json::json!({"namespace": "production", "note": summary}),
        policy_trace: vec![],
        risk: Default::default(),
        expires_in_secs,
        required_approvals: None,
    };
    let resp = http()
        .post(api(base, ""))
        .bearer_auth(AGENT)
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.text().await);
    resp.json().await.unwrap()
}

pub async fn create_many(base: &str, n: usize, prefix: &str) -> Vec<Approval> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(create_approval(base, &format!("{prefix} {i}"), None).await);
    }
    out
}

/// Another approver decides directly on the server.
pub async fn decide_as(base: &str, token: &str, id: &str, kind: DecisionKind) -> u16 {
    let body = match kind {
        DecisionKind::Approve => serde_json::json!({"notes": "from another approver"}),
        DecisionKind::Deny => serde_json::json!({"reason": "not now"}),
    };
    http()
        .post(api(base, &format!("/{id}/{}", kind.as_str())))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A GET on the org's approvals API as alice, decoded.
pub async fn fetch<T: serde::de::DeserializeOwned>(base: &str, rest: &str) -> T {
    http()
        .get(api(base, rest))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn audit(base: &str, id: &str) -> AuditTrail {
    fetch(base, &format!("/{id}/audit")).await
}

pub async fn server_approval(base: &str, id: &str) -> Approval {
    fetch(base, &format!("/{id}")).await
}

pub async fn server_stats(base: &str) -> Stats {
    fetch(base, "/stats").await
}

/// Decision entries (approved/denied) in an approval's audit trail.
pub fn decisions(trail: &AuditTrail) -> Vec<(AuditEvent, String, chrono::DateTime<chrono::Utc>)> {
    trail
        .entries
        .iter()
        .filter(|e| matches!(e.event, AuditEvent::Approved | AuditEvent::Denied))
        .map(|e| (e.event, e.actor.clone(), e.at))
        .collect()
}

/// Options for tests: file token store, fast backoff, a clock that can be moved.
pub fn options(offset_secs: Arc<AtomicI64>) -> EngineOptions {
    EngineOptions {
        clock: Arc::new(move || {
            chrono::Utc::now() + chrono::Duration::seconds(offset_secs.load(Ordering::SeqCst))
        }),
        poll_interval: Duration::from_secs(60),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        page_limit: 1000,
        stream_idle_timeout: Duration::from_secs(10),
        file_token_store: true,
        // Tests run on the encrypted store, as users do.
        encrypt_store: true,
        max_batch: countersign_core::api::MAX_BULK_IDS,
    }
}

pub async fn engine_at(home: &Path, base: &str, opts: EngineOptions) -> Engine {
    let engine = Engine::open_with(home, opts).unwrap();
    engine.login(base, ORG, ALICE).await.unwrap();
    engine
}

pub async fn engine(home: &Path, base: &str) -> Engine {
    engine_at(home, base, options(Arc::new(AtomicI64::new(0)))).await
}

/// The idempotency keys the server stored for `subject`, with the status of each
/// stored answer, read from its database file (read-only, beside the running server).
pub fn server_idempotency_keys(db: &Path, subject: &str) -> Vec<(String, u16)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT key, status FROM idempotency WHERE subject = ?1 ORDER BY key")
        .unwrap();
    let rows = stmt
        .query_map([subject], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    rows
}

/// Ids of the cached approvals with `status` (all when `None`), in queue order.
pub fn cached_ids(
    engine: &countersign_core::Engine,
    status: Option<countersign_core::api::ApprovalStatus>,
) -> Vec<String> {
    engine
        .list(&countersign_core::QueueQuery {
            status,
            limit: 10_000,
            ..Default::default()
        })
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.id)
        .collect()
}

/// Copies a stopped server's database (WAL files included, if any) to `to`, as a
/// backup or a restore would. The server's audit key file beside it stays where it is.
pub fn copy_db(from: &std::path::Path, to: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let src = format!("{}{suffix}", from.display());
        let dst = format!("{}{suffix}", to.display());
        let _ = std::fs::remove_file(&dst);
        if std::path::Path::new(&src).exists() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}
