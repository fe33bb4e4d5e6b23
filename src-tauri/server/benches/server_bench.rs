//! Loopback benchmark of the real server (plain binary, `harness = false`):
//! - decisions per second and p50/p99 latency with concurrent approvers,
//! - the time to serve the `changes` feed for 10,000 approvals.
//!
//! Run with `cargo bench -p countersign-server` (or `make bench`). Client and server
//! share this process and the machine's cores, so figures are conservative.

use std::sync::Arc;
use std::time::{Duration, Instant};

use countersign_api::{AgentRef, Approval, ApprovalStatus, ChangesPage, RiskSnapshot, Role};
use countersign_server::db::approvals::create;
use countersign_server::db::tokens::{insert_token, TokenOwner};
use countersign_server::db::Db;
use countersign_server::{spawn, ServerConfig};
use serde_json::json;

const ORG: &str = "org-bench";
const APPROVER: &str = "bench-approver";
const AGENT: &str = "bench-agent";
const DECISIONS: usize = 4000;
const CLIENTS: usize = 16;
const FEED_SIZE: usize = 10_000;
const FEED_RUNS: usize = 5;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn approval(org: &str, id: String, n: usize) -> Approval {
    let now = chrono::Utc::now();
    Approval {
        id,
        org_id: org.to_string(),
        agent: AgentRef {
            id: format!("bot-{}", n % 7),
            name: Some("Bench Bot".into()),
            version: Some("v1".into()),
        },
        action: "kubernetes:deploy".into(),
        summary: format!("Deploy build {n}"),
        status: ApprovalStatus::Pending,
        reason_code: "requires_approval".into(),
        reason_text: "requires_approval: bench".into(),
        params: json!({"namespace": "production", "image": format!("app:{n}"), "replicas": 3}),
        policy_trace: vec![],
        risk: RiskSnapshot::default(),
        created_at: now,
        expires_at: now + chrono::Duration::hours(24),
        requested_by: AGENT.into(),
        decision: None,
        execution: None,
        required_approvals: 1,
        approvals: Vec::new(),
        change_seq: 0,
        links: None,
    }
}

/// Inserts approvals straight into the file, in one transaction (setup, not measured).
fn seed(db: &Db, org: &str, prefix: &str, n: usize) {
    db.with_writer(|conn| {
        let tx = conn.transaction()?;
        let mut changes = Vec::new();
        for i in 0..n {
            create(
                &tx,
                approval(org, format!("appr-{prefix}{i:06}"), i),
                &mut changes,
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .expect("seed");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // `cargo test --all-targets` runs harness-less bench binaries without --bench: a full
    // run there is minutes of load inside the test suite (and one more thing to flake).
    if !std::env::args().any(|a| a == "--bench") {
        println!("server_bench: run with `cargo bench -p countersign-server --bench server_bench`");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("bench.db");
    let db = Db::open(&db_path).expect("db");
    db.with_writer(|conn| {
        for (token, org, subject, role) in [
            (APPROVER, ORG, "approver", Role::Approver),
            (AGENT, ORG, "agent", Role::Agent),
        ] {
            let owner = TokenOwner {
                org: org.into(),
                subject: subject.into(),
                role,
            };
            insert_token(conn, token, &owner)?;
        }
        Ok(())
    })
    .expect("tokens");
    // The feed lives in its own org, read with its own token.
    db.with_writer(|conn| {
        let owner = TokenOwner {
            org: "org-feed".into(),
            subject: "reader".into(),
            role: Role::Approver,
        };
        insert_token(conn, "bench-feed-reader", &owner)?;
        Ok(())
    })
    .expect("feed token");
    seed(&db, ORG, "d", DECISIONS);
    seed(&db, "org-feed", "f", FEED_SIZE);
    drop(db);

    let mut config = ServerConfig::new("127.0.0.1:0".parse().expect("addr"), &db_path);
    config.sweep_interval = Duration::from_secs(3600);
    // 4,000 decisions from one token in seconds: the per-token rate limit (a guard
    // against a looping agent) would measure the limiter, not the server.
    config.rate_limit_per_minute = 0;
    config.create_rate_limit_per_minute = 0;
    let server = spawn(config).await.expect("server");
    let base = server.base_url();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .expect("client");
    println!(
        "countersign-server benchmark (loopback, {} CPU threads)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // --- decisions -------------------------------------------------------------
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for c in 0..CLIENTS {
        let http = http.clone();
        let base = base.clone();
        let next = Arc::clone(&next);
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= DECISIONS {
                    break;
                }
                let (kind, body) = if i % 3 == 2 {
                    ("deny", json!({"reason": "bench", "notes": "bench run"}))
                } else {
                    ("approve", json!({"notes": "bench run"}))
                };
                let url = format!("{base}/api/v1/orgs/{ORG}/approvals/appr-d{i:06}/{kind}");
                let t = Instant::now();
                let resp = http
                    .post(url)
                    .bearer_auth(APPROVER)
                    .header("Idempotency-Key", format!("bench-{c}-{i}"))
                    .json(&body)
                    .send()
                    .await
                    .expect("request");
                let status = resp.status();
                let body = resp.bytes().await.expect("body");
                lat.push(t.elapsed());
                assert_eq!(
                    status,
                    200,
                    "decision failed: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            lat
        }));
    }
    let mut lat = Vec::with_capacity(DECISIONS);
    for w in workers {
        lat.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    lat.sort();
    println!(
        "decisions: {DECISIONS} over {CLIENTS} concurrent clients in {:.2} s = {:.0} decisions/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        DECISIONS as f64 / elapsed.as_secs_f64(),
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().expect("latencies")),
    );

    // --- changes feed ----------------------------------------------------------
    for limit in [1000u32, 200] {
        let mut runs = Vec::new();
        let mut pages = 0;
        for _ in 0..FEED_RUNS {
            let t = Instant::now();
            let mut after = 0;
            let mut seen = 0;
            pages = 0;
            loop {
                let page: ChangesPage = http
                    .get(format!(
                        "{base}/api/v1/orgs/org-feed/approvals/changes?after={after}&limit={limit}"
                    ))
                    .bearer_auth("bench-feed-reader")
                    .send()
                    .await
                    .expect("changes")
                    .json()
                    .await
                    .expect("page");
                pages += 1;
                seen += page.items.len();
                after = page.next;
                if !page.has_more {
                    break;
                }
            }
            assert_eq!(seen, FEED_SIZE);
            runs.push(t.elapsed());
        }
        runs.sort();
        println!(
            "changes: {FEED_SIZE} approvals in {pages} pages of {limit}: median {:.1} ms (best {:.1}, worst {:.1}) over {FEED_RUNS} runs = {:.0} approvals/s",
            ms(runs[runs.len() / 2]),
            ms(runs[0]),
            ms(*runs.last().expect("runs")),
            FEED_SIZE as f64 / runs[runs.len() / 2].as_secs_f64(),
        );
    }
    server.shutdown().await;
}
