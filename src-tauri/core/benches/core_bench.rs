//! `cargo bench -p countersign-core`: the figures the issue asks for.
//! - first sync of 10,000 approvals from a loopback server
//! - incremental sync of 100 changes
//! - filtered + full-text query over 100,000 cached approvals (p50/p95)
//! - draining 1,000 queued decisions: on loopback, and over a proxy adding 50 ms per
//!   request one decision per request (before) beside batched (after)
//!
//! Plain timing with `std::time::Instant` (harness = false); numbers go to stdout.

#[path = "../tests/support/proxy.rs"]
mod proxy;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::Utc;
use countersign_core::api::{AgentRef, Approval, ApprovalStatus, CreateApprovalRequest};
use countersign_core::store::Store;
use countersign_core::{Engine, EngineOptions, QueueQuery, SortOrder};
use countersign_server::{RunningServer, ServerConfig};

const ORG: &str = "org-demo";
const ALICE: &str = "demo-approver-token";
const BOB: &str = "demo-approver2-token";

const AGENTS: [&str; 8] = [
    "deployment-bot",
    "customer-bot",
    "analytics-bot",
    "billing-bot",
    "support-bot",
    "infra-bot",
    "security-bot",
    "hr-bot",
];
const ACTIONS: [&str; 6] = [
    "kubernetes:deploy",
    "crm:delete",
    "export:run",
    "payments:refund",
    "email:send_bulk",
    "iam:grant",
];
const REASONS: [&str; 5] = [
    "REQUIRES_APPROVAL",
    "AMOUNT_THRESHOLD",
    "NEW_COUNTERPARTY",
    "RATE_LIMIT",
    "PRIVILEGE_ESCALATION",
];
const WORDS: [&str; 12] = [
    "production",
    "staging",
    "customer",
    "invoice",
    "partner",
    "records",
    "namespace",
    "refund",
    "outage",
    "export",
    "replicas",
    "quarterly",
];

fn synthetic(i: usize) -> CreateApprovalRequest {
    let w = |k: usize| WORDS[(i / (k + 1) + k * 7) % WORDS.len()];
    CreateApprovalRequest {
        id: Some(format!("appr-b{i:07}")),
        agent: AgentRef {
            id: AGENTS[i % AGENTS.len()].into(),
            name: None,
            version: Some("v1".into()),
        },
        action: ACTIONS[i % ACTIONS.len()].into(),
        summary: format!("{} {} {} item {i}", w(0), w(1), w(2)),
        reason_code: REASONS[i % REASONS.len()].into(),
        reason_text: "needs a human".into(),
        params: serde_json::json!({"target": w(3), "count": i % 1000, "region": w(4)}),
        policy_trace: vec![],
        risk: Default::default(),
        expires_in_secs: None,
    }
}

/// Server DB with the demo tokens plus `n` approvals, written directly (setup, not measured).
async fn server_with(dir: &Path, n: usize) -> RunningServer {
    let db_path = dir.join("server.db");
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), db_path.clone());
    cfg.demo = true;
    countersign_server::spawn(cfg.clone())
        .await
        .unwrap()
        .shutdown()
        .await;
    let db = countersign_server::db::Db::open(&db_path).unwrap();
    db.with_writer(|conn| {
        let tx = conn.transaction()?;
        let mut changes = Vec::new();
        for i in 0..n {
            let a = countersign_server::routes::agent::new_approval(
                synthetic(i),
                ORG,
                "policy-engine",
                chrono::Duration::hours(24),
            );
            countersign_server::db::approvals::create(&tx, a, &mut changes)?;
        }
        tx.commit()?;
        Ok(())
    })
    .unwrap();
    drop(db);
    countersign_server::spawn(cfg).await.unwrap()
}

fn opts() -> EngineOptions {
    EngineOptions {
        file_token_store: true,
        ..EngineOptions::default()
    }
}

async fn fresh_engine(home: &Path, base: &str) -> Engine {
    let e = Engine::open_with(home, opts()).unwrap();
    e.login(base, ORG, ALICE).await.unwrap();
    e
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn bench_sync() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), 10_000).await;
    let base = server.base_url();

    let mut firsts = Vec::new();
    let mut engine = None;
    for run in 0..3 {
        let e = fresh_engine(&dir.path().join(format!("client{run}")), &base).await;
        let t = Instant::now();
        let s = e.sync_now().await.unwrap();
        firsts.push(t.elapsed());
        assert!(s.pulled >= 10_000);
        engine = Some(e);
    }
    firsts.sort();
    println!(
        "first sync, 10,000+ approvals (loopback):   median {}  min {}  ({} runs)",
        ms(firsts[1]),
        ms(firsts[0]),
        firsts.len()
    );

    let engine = engine.unwrap();
    let http = reqwest::Client::new();
    let mut incs = Vec::new();
    for round in 0..5 {
        for i in 0..100 {
            let id = format!("appr-b{:07}", round * 100 + i);
            let r = http
                .post(format!("{base}/api/v1/orgs/{ORG}/approvals/{id}/approve"))
                .bearer_auth(BOB)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
        let t = Instant::now();
        let s = engine.sync_now().await.unwrap();
        incs.push(t.elapsed());
        assert_eq!(s.pulled, 100);
    }
    incs.sort();
    println!(
        "incremental sync, 100 changes:              median {}  min {}  max {}  ({} runs)",
        ms(incs[2]),
        ms(incs[0]),
        ms(incs[4]),
        incs.len()
    );

    // Drain 1,000 queued decisions.
    let ids: Vec<String> = (1000..2000).map(|i| format!("appr-b{i:07}")).collect();
    for chunk in ids.chunks(500) {
        let q = engine.bulk_approve(chunk, Some("bench")).unwrap();
        assert_eq!(q.entries.len(), chunk.len());
    }
    let t = Instant::now();
    let s = engine.push_now().await.unwrap();
    let took = t.elapsed();
    assert_eq!(s.delivered, 1000);
    println!(
        "drain 1,000 queued decisions (loopback):    {}  ({:.2} ms per decision, {:.0} decisions/s)",
        ms(took),
        took.as_secs_f64() * 1000.0 / 1000.0,
        1000.0 / took.as_secs_f64()
    );
    bench_drain_over_slow_link(server.addr(), dir.path()).await;
    server.shutdown().await;
}

/// The same drain over a link adding 50 ms to every request: one request per
/// decision (the old behaviour, forced with `max_batch = 1`) beside batched, same run,
/// each with its floor (requests x the added latency).
async fn bench_drain_over_slow_link(server: std::net::SocketAddr, dir: &Path) {
    const DELAY: Duration = Duration::from_millis(50);
    let proxy = proxy::Proxy::start(server).await;
    let runs = [
        ("one request per decision (before)", 1, 2000..3000),
        (
            "batched (after)",
            countersign_core::api::MAX_BULK_IDS,
            3000..4000,
        ),
    ];
    for (label, max_batch, range) in runs {
        proxy.set_delay(Duration::ZERO);
        let e = Engine::open_with(
            &dir.join(format!("drain-{max_batch}")),
            EngineOptions {
                max_batch,
                ..opts()
            },
        )
        .unwrap();
        e.login(&proxy.url(), ORG, ALICE).await.unwrap();
        e.sync_now().await.unwrap();
        let ids: Vec<String> = range.map(|i| format!("appr-b{i:07}")).collect();
        for chunk in ids.chunks(500) {
            let q = e.bulk_approve(chunk, Some("bench")).unwrap();
            assert_eq!(q.entries.len(), chunk.len());
        }
        proxy.set_delay(DELAY);
        let before = proxy.decision_requests.load(Ordering::SeqCst);
        let t = Instant::now();
        let s = e.push_now().await.unwrap();
        let took = t.elapsed();
        let requests = proxy.decision_requests.load(Ordering::SeqCst) - before;
        assert_eq!((s.delivered, s.rejected), (1000, 0), "{s:?}");
        println!(
            "drain 1,000 over +50 ms/request, {label:<34} {:>10}  {requests:>4} requests  {:.3} round trips per decision  (floor {})",
            ms(took),
            requests as f64 / 1000.0,
            ms(DELAY * requests as u32),
        );
    }
}

fn bench_query() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("client");
    std::fs::create_dir_all(&home).unwrap();
    {
        let mut store = Store::open(&countersign_core::paths::db_path(&home)).unwrap();
        let now = Utc::now();
        let batch: Vec<Approval> = (0..100_000)
            .map(|i| {
                let req = synthetic(i);
                let created = now - chrono::Duration::minutes(i as i64);
                Approval {
                    id: req.id.unwrap(),
                    org_id: ORG.into(),
                    agent: req.agent,
                    action: req.action,
                    summary: req.summary,
                    status: ApprovalStatus::ALL[i % 4],
                    reason_code: req.reason_code,
                    reason_text: req.reason_text,
                    params: req.params,
                    policy_trace: vec![],
                    risk: Default::default(),
                    created_at: created,
                    expires_at: created + chrono::Duration::hours(24 * 30),
                    requested_by: "policy-engine".into(),
                    decision: None,
                    execution: None,
                    change_seq: i as i64 + 1,
                    links: None,
                }
            })
            .collect();
        let t = Instant::now();
        for chunk in batch.chunks(1000) {
            store.upsert_approvals(chunk).unwrap();
        }
        println!("(setup) cached 100,000 approvals in {}", ms(t.elapsed()));
    }
    let engine = Engine::open_with(&home, opts()).unwrap();
    let queries: Vec<QueueQuery> = (0..8)
        .map(|k| QueueQuery {
            status: Some(ApprovalStatus::ALL[k % 4]),
            agent: (k % 2 == 0).then(|| AGENTS[k % AGENTS.len()].to_string()),
            action: (k % 3 == 0).then(|| ACTIONS[k % ACTIONS.len()].to_string()),
            reason: None,
            from: (k % 4 == 1).then(|| Utc::now() - chrono::Duration::days(40)),
            to: None,
            search: Some(format!(
                "{} {}",
                WORDS[k % WORDS.len()],
                &WORDS[(k + 5) % WORDS.len()][..4]
            )),
            sort: if k % 2 == 0 {
                SortOrder::NewestFirst
            } else {
                SortOrder::ExpiringFirst
            },
            limit: 50,
            offset: 0,
            after: None,
            before: None,
        })
        .collect();
    // Warm the page cache once, as an open app would be.
    for q in &queries {
        engine.list(q).unwrap();
    }
    let mut times = Vec::new();
    let mut hits = 0u64;
    for round in 0..50 {
        for q in &queries {
            let t = Instant::now();
            let page = engine.list(q).unwrap();
            times.push(t.elapsed());
            if round == 0 {
                hits += page.total;
            }
        }
    }
    times.sort();
    println!(
        "filtered + text-search query, 100,000 cached: p50 {}  p95 {}  max {}  ({} queries, {} matches over the 8 shapes)",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.95)),
        ms(*times.last().unwrap()),
        times.len(),
        hits
    );
    // Plain status filter without search, for comparison.
    let mut plain = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        engine
            .list(&QueueQuery {
                status: Some(ApprovalStatus::Pending),
                limit: 50,
                ..Default::default()
            })
            .unwrap();
        plain.push(t.elapsed());
    }
    plain.sort();
    println!(
        "status filter only, 100,000 cached:          p50 {}  p95 {}",
        ms(percentile(&plain, 0.50)),
        ms(percentile(&plain, 0.95))
    );
}

fn main() {
    // `cargo test --benches` runs bench binaries with --bench absent; keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("core_bench: run with `cargo bench -p countersign-core`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench_sync());
    bench_query();
}
