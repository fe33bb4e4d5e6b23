//! Shared test harness: a real server on an ephemeral loopback port with a
//! tempfile SQLite database, plus a small typed client over reqwest.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use countersign_api::{Approval, Role};
use countersign_server::db::tokens::{bind_agents, insert_token, TokenOwner};
use countersign_server::db::Db;
use countersign_server::{spawn, RunningServer, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const ORG: &str = "org-test";
pub const OTHER_ORG: &str = "org-other";
/// alice and bob approve; `engine` raises requests; `carol` holds both roles so
/// self-approval can be tried; `mallory` approves in another org.
pub const ALICE: &str = "alice-token";
pub const BOB: &str = "bob-token";
pub const ENGINE: &str = "engine-token";
pub const CAROL_AGENT: &str = "carol-agent-token";
pub const CAROL_APPROVER: &str = "carol-approver-token";
pub const MALLORY: &str = "mallory-token";
pub const OTHER_AGENT: &str = "other-agent-token";
/// The agent ids the tests' agent tokens raise approvals for (agent tokens are bound
/// to the agent ids they may speak for; see `add-token --agent`).
/// The longest agent id the identifier rule allows (128 characters, with a `/`).
pub const LONGEST_AGENT: &str = "ops/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
pub const TEST_AGENTS: [&str; 6] = [
    "deployment-bot",
    "bot",
    "bot-a",
    "bot-b",
    "bot-c",
    LONGEST_AGENT,
];

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub base: String,
    pub addr: SocketAddr,
    pub db_path: PathBuf,
    pub config: ServerConfig,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub fn test_config(db_path: PathBuf) -> ServerConfig {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().expect("addr"), db_path);
    config.sweep_interval = Duration::from_millis(200);
    config.heartbeat_interval = Duration::from_secs(1);
    config
}

fn add_tokens(db_path: &std::path::Path) {
    let db = Db::open(db_path).expect("open db");
    let tokens = [
        (ALICE, ORG, "alice", Role::Approver),
        (BOB, ORG, "bob", Role::Approver),
        (ENGINE, ORG, "engine", Role::Agent),
        (CAROL_AGENT, ORG, "carol", Role::Agent),
        (CAROL_APPROVER, ORG, "carol", Role::Approver),
        (MALLORY, OTHER_ORG, "mallory", Role::Approver),
        (OTHER_AGENT, OTHER_ORG, "other-engine", Role::Agent),
    ];
    db.with_writer(|conn| {
        for (token, org, subject, role) in tokens {
            let owner = TokenOwner {
                org: org.to_string(),
                subject: subject.to_string(),
                role,
            };
            insert_token(conn, token, &owner)?;
            if role == Role::Agent {
                bind_agents(conn, token, &TEST_AGENTS)?;
            }
        }
        Ok(())
    })
    .expect("insert tokens");
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_path = dir.path().join("server.db");
        add_tokens(&db_path);
        let mut config = test_config(db_path.clone());
        adjust(&mut config);
        let server = spawn(config.clone()).await.expect("server starts");
        let addr = server.addr();
        TestServer {
            base: server.base_url(),
            addr,
            server: Some(server),
            db_path,
            config,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Stops the server and starts it again on the same port with the same file.
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        let mut config = self.config.clone();
        config.addr = self.addr;
        let server = spawn(config).await.expect("server restarts");
        assert_eq!(server.addr(), self.addr);
        self.server = Some(server);
    }

    /// Stops the server but keeps the database file (for offline checks).
    pub async fn halt(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }

    pub fn url(&self, org: &str, suffix: &str) -> String {
        format!("{}/api/v1/orgs/{org}/approvals{suffix}", self.base)
    }

    /// Any request; returns status and the JSON body (Null when empty/not JSON).
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
        idem: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = idem {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, token: &str, suffix: &str) -> (StatusCode, Value) {
        self.call(Method::GET, &self.url(ORG, suffix), Some(token), None, None)
            .await
    }

    pub async fn post(&self, token: &str, suffix: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &self.url(ORG, suffix),
            Some(token),
            Some(&body),
            None,
        )
        .await
    }

    pub async fn post_idem(
        &self,
        token: &str,
        suffix: &str,
        body: Value,
        key: &str,
    ) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &self.url(ORG, suffix),
            Some(token),
            Some(&body),
            Some(key),
        )
        .await
    }

    /// Raises an approval as `engine`; panics unless it is created.
    pub async fn create(&self, req: Value) -> Approval {
        self.create_as(ENGINE, req).await
    }

    pub async fn create_as(&self, token: &str, req: Value) -> Approval {
        let (status, body) = self.post(token, "", req).await;
        assert_eq!(status, StatusCode::CREATED, "create failed: {body}");
        serde_json::from_value(body).expect("approval")
    }

    pub async fn approval(&self, id: &str) -> Approval {
        let (status, body) = self.get(ALICE, &format!("/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).expect("approval")
    }
}

/// A valid create request; `overrides` replaces top-level fields.
pub fn new_request(id: &str, overrides: Value) -> Value {
    let mut v = json!({
        "id": id,
        "agent": {"id": "deployment-bot", "name": "Deployment Bot", "version": "v2.1.0"},
        "action": "kubernetes:deploy",
        "summary": format!("Deploy for {id}"),
        "reason_code": "requires_approval",
        "reason_text": "requires_approval: Action 'kubernetes:deploy' requires human approval",
        "params": {"namespace": "production", "image": "app:v2.0.0", "replicas": 3},
        "policy_trace": [
            {"step": "manifest_validation", "result": "pass"},
            {"step": "tool_authorization", "result": "escalate", "detail": "requires approval"}
        ],
        "risk": {"budget_used": 12, "budget_limit": 50, "budget_unit": "actions"}
    });
    if let (Some(base), Some(extra)) = (v.as_object_mut(), overrides.as_object()) {
        for (k, val) in extra {
            base.insert(k.clone(), val.clone());
        }
    }
    v
}

pub fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Rewrites every audit entry's hash so the chain is consistent again after a test
/// edited an entry by SQL: what an attacker with the database file would do.
pub fn rehash_chain(conn: &rusqlite::Connection) {
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update;")
        .expect("drop trigger");
    let rows: Vec<(i64, Vec<Value>)> = conn
        .prepare("SELECT seq, org, approval_id, event, actor, at, notes, reason, data FROM audit ORDER BY seq")
        .expect("prepare")
        .query_map([], |r| {
            let text = |i: usize| -> rusqlite::Result<Value> {
                Ok(r.get::<_, Option<String>>(i)?.map_or(Value::Null, Value::from))
            };
            Ok((
                r.get(0)?,
                vec![
                    Value::from(r.get::<_, i64>(0)?),
                    text(1)?,
                    text(2)?,
                    text(3)?,
                    text(4)?,
                    text(5)?,
                    text(6)?,
                    text(7)?,
                    text(8)?,
                ],
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut prev = "0".repeat(64);
    for (seq, fields) in rows {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(prev.as_bytes());
        h.update(b"\n");
        h.update(Value::Array(fields).to_string().as_bytes());
        let hash = hex::encode(h.finalize());
        conn.execute(
            "UPDATE audit SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .expect("rewrite");
        prev = hash;
    }
}
