//! Server memory under the largest lists (plain binary, `harness = false`): the real
//! `countersign-server` binary in its own process, 100 approvals of about 1 MiB (the
//! body limit) each, and 20 concurrent clients each paging through all of them with
//! `GET /approvals?limit=1000&status=all`. Prints the server's resident memory at
//! rest before (the floor), its peak during, and after, next to the 300 MiB bound.
//!
//! The params are one long string (1 MiB of text is about 1 MiB in memory). Params
//! made of many small values (a 1 MiB array of numbers) cost ~16x more while one
//! approval is being written out; that case is not measured here (it ran for more
//! than 20 minutes on a shared 2-core machine).
//!
//! Run with `cargo bench -p countersign-server --bench server_memory` (or `make bench`).
//! Linux only (reads `/proc`).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use countersign_api::{AgentRef, Approval, ApprovalList, ApprovalStatus, RiskSnapshot, Role};
use countersign_server::db::approvals::create;
use countersign_server::db::tokens::{insert_token, TokenOwner};
use countersign_server::db::Db;
use serde_json::Value;

const ORG: &str = "org-mem";
const TOKEN: &str = "bench-mem-reader";
const APPROVALS: usize = 100;
const CLIENTS: usize = 20;
const BOUND_MIB: f64 = 300.0;

fn seed(path: &Path, params: impl Fn(usize) -> Value) {
    let db = Db::open(path).expect("db");
    let now = chrono::Utc::now();
    db.with_writer(|conn| {
        insert_token(
            conn,
            TOKEN,
            &TokenOwner {
                org: ORG.into(),
                subject: "reader".into(),
                role: Role::Approver,
            },
        )?;
        let tx = conn.transaction()?;
        let mut changes = Vec::new();
        for i in 0..APPROVALS {
            let a = Approval {
                id: format!("appr-mem{i:04}"),
                org_id: ORG.into(),
                agent: AgentRef {
                    id: "bulk-bot".into(),
                    name: None,
                    version: None,
                },
                action: "storage:write".into(),
                summary: format!("Large request {i}"),
                status: ApprovalStatus::Pending,
                reason_code: "requires_approval".into(),
                reason_text: "bench".into(),
                params: params(i),
                policy_trace: vec![],
                risk: RiskSnapshot::default(),
                created_at: now,
                expires_at: now + chrono::Duration::hours(24),
                requested_by: "agent".into(),
                decision: None,
                execution: None,
                required_approvals: 1,
                approvals: Vec::new(),
                change_seq: 0,
                links: None,
            };
            create(&tx, a, &mut changes)?;
        }
        tx.commit()?;
        Ok(())
    })
    .expect("seed");
}

/// Resident set size of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run(label: &str, params: impl Fn(usize) -> Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("mem.db");
    seed(&db, params);
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_countersign-server"))
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--sweep-interval",
            "1s",
            // Bursts of the largest lists from one token: measure memory, not the limiter.
            "--rate-limit",
            "0",
            "--db",
        ])
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server binary");
    let server = Server(child);
    let pid = server.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let list_url = format!("{base}/api/v1/orgs/{ORG}/approvals?limit=1000&status=all");
    // One request first, so the floor includes a warm connection and statement cache.
    http.get(format!("{list_url}&q=none"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("warm");
    let floor = rss(pid);

    let peak = Arc::new(AtomicU64::new(floor));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (http, list_url) = (http.clone(), list_url.clone());
        clients.push(tokio::spawn(async move {
            let (mut cursor, mut items, mut pages, mut biggest) = (None::<String>, 0, 0, 0);
            loop {
                let url = match &cursor {
                    Some(c) => format!("{list_url}&cursor={c}"),
                    None => list_url.clone(),
                };
                let body = http
                    .get(url)
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .expect("list")
                    .bytes()
                    .await
                    .expect("body");
                biggest = biggest.max(body.len());
                let page: ApprovalList = serde_json::from_slice(&body).expect("page");
                items += page.items.len();
                pages += 1;
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return (items, pages, biggest),
                }
            }
        }));
    }
    let mut biggest = 0;
    let mut pages = 0;
    for c in clients {
        let (items, p, b) = c.await.expect("client");
        assert_eq!(items, APPROVALS);
        biggest = biggest.max(b);
        pages = p;
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    // Memory handed back: the lowest reading over the 3 s at rest that follow (the
    // sweeper, every second here, trims after large pages).
    let mut after = rss(pid);
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = after.min(rss(pid));
    }
    let peak = peak.load(Ordering::Relaxed);
    println!(
        "memory ({label}): {CLIENTS} clients x {APPROVALS} approvals of ~1 MiB, {pages} pages each (largest {:.1} MiB) in {:.1} s: \
         server RSS floor {:.0} MiB, peak {:.0} MiB (bound {BOUND_MIB:.0} MiB: {}), after {:.0} MiB",
        mib(biggest as u64),
        elapsed.as_secs_f64(),
        mib(floor),
        mib(peak),
        if mib(peak) <= BOUND_MIB { "within" } else { "OVER" },
        mib(after),
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo test --all-targets` runs bench binaries without --bench; keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "server_memory: run with `cargo bench -p countersign-server --bench server_memory`"
        );
        return;
    }
    if !Path::new("/proc/self/status").exists() {
        println!("memory: skipped (needs /proc)");
        return;
    }
    // ~1 MiB of params, just under the 1 MiB request body limit.
    let size = countersign_api::MAX_BODY_BYTES - 4096;
    run(
        "string params",
        |i| serde_json::json!({ "i": i, "blob": "x".repeat(size) }),
    )
    .await;
}
