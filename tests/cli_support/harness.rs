//! Shared by the `cli_*` tests: a real server in-process, the real `countersign`
//! binary as a child process with its own home directory.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use countersign_api::{AgentRef, Approval, AuditTrail, CreateApprovalRequest, Stats};
use countersign_server::tls::TlsFiles;
use countersign_server::{RunningServer, ServerConfig};

pub const ORG: &str = "org-demo";
pub const ALICE: &str = "demo-approver-token";
pub const BOB: &str = "demo-approver2-token";
pub const AGENT: &str = "demo-agent-token";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub rt: tokio::runtime::Runtime,
    pub server: Option<RunningServer>,
    pub addr: SocketAddr,
    pub db: PathBuf,
    /// Set when the server serves HTTPS.
    pub tls: Option<TlsFiles>,
}

impl Env {
    pub fn new() -> Env {
        Self::with_tls(None)
    }

    /// A server serving HTTPS with these files (plain HTTP with `None`).
    pub fn with_tls(tls: Option<TlsFiles>) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let db = dir.path().join("server.db");
        let server = rt.block_on(start(
            db.clone(),
            "127.0.0.1:0".parse().unwrap(),
            tls.clone(),
        ));
        let addr = server.addr();
        Env {
            dir,
            rt,
            server: Some(server),
            addr,
            db,
            tls,
        }
    }

    /// The server's base URL: `http://127.0.0.1:PORT`, or `https://localhost:PORT`
    /// (the name on the test certificate) with TLS.
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("http://{}", self.addr),
            Some(_) => format!("https://localhost:{}", self.addr.port()),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn stop_server(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }

    pub fn start_server(&mut self) {
        let s = self
            .rt
            .block_on(start(self.db.clone(), self.addr, self.tls.clone()));
        self.server = Some(s);
    }

    /// The CLI with this test's home and no keychain.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_countersign"));
        c.args(args)
            .env("COUNTERSIGN_HOME", self.home())
            .env("COUNTERSIGN_KEYRING", "off")
            .env_remove("COUNTERSIGN_LOG")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn login(&self) -> Output {
        self.login_to(&self.url())
    }

    /// `countersign login` with alice's token on stdin, to `server`.
    pub fn login_to(&self, server: &str) -> Output {
        self.login_cmd(server, self.cmd(&[]))
    }

    /// `login` run through `base` (a command with extra environment, for instance).
    pub fn login_cmd(&self, server: &str, mut base: Command) -> Output {
        base.args(["login", "--server", server, "--org", ORG, "--token-stdin"]);
        output_with_stdin(base, &format!("{ALICE}\n"))
    }

    pub fn http(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(20))
            // The test's own agent/approver client, not the one under test: it need not
            // trust the test CA to seed and inspect the server.
            .danger_accept_invalid_certs(self.tls.is_some())
            .build()
            .unwrap()
    }

    pub fn api(&self, rest: &str) -> String {
        format!("{}/api/v1/orgs/{ORG}/approvals{rest}", self.url())
    }

    pub fn create(&self, summary: &str) -> Approval {
        self.create_with(Self::request(summary))
    }

    /// What `create` sends, to adjust before `create_with`.
    pub fn request(summary: &str) -> CreateApprovalRequest {
        CreateApprovalRequest {
            id: None,
            agent: AgentRef {
                id: "cli-bot".into(),
                name: None,
                version: None,
            },
            action: "k8s:deploy".into(),
            summary: summary.into(),
            reason_code: "requires_approval".into(),
            reason_text: "needs a human".into(),
            params: serde_json::json!({"n": summary}),
            policy_trace: vec![],
            risk: Default::default(),
            expires_in_secs: None,
            required_approvals: None,
        }
    }

    pub fn create_with(&self, req: CreateApprovalRequest) -> Approval {
        let r = self
            .http()
            .post(self.api(""))
            .bearer_auth(AGENT)
            .json(&req)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        r.json().unwrap()
    }

    /// A GET on the org's approvals API as alice, decoded.
    pub fn fetch<T: serde::de::DeserializeOwned>(&self, rest: &str) -> T {
        self.http()
            .get(self.api(rest))
            .bearer_auth(ALICE)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    pub fn audit(&self, id: &str) -> AuditTrail {
        self.fetch(&format!("/{id}/audit"))
    }

    pub fn get(&self, id: &str) -> Approval {
        self.fetch(&format!("/{id}"))
    }

    pub fn server_stats(&self) -> Stats {
        self.fetch("/stats")
    }
}

async fn start(db: PathBuf, addr: SocketAddr, tls: Option<TlsFiles>) -> RunningServer {
    let mut cfg = ServerConfig::new(addr, db);
    cfg.demo = true;
    cfg.tls = tls;
    // Expiry tests wait for the sweeper; keep it quick.
    cfg.sweep_interval = Duration::from_millis(200);
    for _ in 0..50 {
        match countersign_server::spawn(cfg.clone()).await {
            Ok(s) => {
                // The demo agent token is bound to the demo's agent ids; the tests
                // raise requests as `cli-bot` too.
                let db = countersign_server::db::Db::open(&cfg.db_path).expect("server db");
                db.with_writer(|conn| {
                    countersign_server::db::tokens::bind_agents(conn, AGENT, &["cli-bot"])
                })
                .expect("bind cli-bot");
                return s;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("server did not start on {addr}");
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn home_exists(p: &Path) -> bool {
    p.join("countersign.db").exists()
}

/// Runs `cmd` with `input` on its standard input; its output.
pub fn output_with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
