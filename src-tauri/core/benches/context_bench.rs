//! `cargo bench -p countersign-core --bench context_bench`: the cost of the detail's
//! context to decide well (issue 8 §2), each beside a floor measured in the same run.
//! - `Engine::approval_context` (recent activity counts + last decisions + the params
//!   diff against the last approved request) over 100,000 cached approvals, beside
//!   `Engine::detail` of the same ids (what opening a detail already costs), and beside
//!   the same activity count without the v8 `(agent, action, created_at, ...)` index
//!   (forced onto the agent index that existed before);
//! - `params_diff::diff` of ~2 MB parameters (40,000 array items), beside parsing that
//!   JSON once (what reading the approval from the cache already costs).
//!
//! Plain timing with `std::time::Instant` (harness = false); numbers go to stdout.

use std::time::{Duration, Instant};

use chrono::Utc;
use countersign_core::api::{AgentRef, Approval, ApprovalStatus, Decision, DecisionKind};
use countersign_core::store::Store;
use countersign_core::{params_diff, Engine, EngineOptions};

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
const N: usize = 100_000;

fn approval(i: usize, now: chrono::DateTime<Utc>) -> Approval {
    let created = now - chrono::Duration::minutes(i as i64);
    let status = ApprovalStatus::ALL[i % 4];
    let kind = match status {
        ApprovalStatus::Approved => Some(DecisionKind::Approve),
        ApprovalStatus::Denied => Some(DecisionKind::Deny),
        _ => None,
    };
    Approval {
        id: format!("appr-c{i:07}"),
        org_id: "org-demo".into(),
        agent: AgentRef {
            id: AGENTS[i % AGENTS.len()].into(),
            name: None,
            version: None,
        },
        // i / 8 so each agent sees every action.
        action: ACTIONS[(i / AGENTS.len()) % ACTIONS.len()].into(),
        summary: format!("item {i}"),
        status,
        reason_code: "requires_approval".into(),
        reason_text: "needs a human".into(),
        params: serde_json::json!({"spec": {"replicas": i % 7, "image": format!("app:v{}", i % 3)},
                                   "namespace": "production", "labels": {"team": "web", "n": i}}),
        policy_trace: vec![],
        risk: Default::default(),
        created_at: created,
        expires_at: created + chrono::Duration::hours(24),
        requested_by: "policy-engine".into(),
        decision: kind.map(|kind| Decision {
            kind,
            by: "alice@demo".into(),
            at: created + chrono::Duration::minutes(5),
            notes: Some("looked fine".into()),
            reason: (kind == DecisionKind::Deny).then(|| "no".into()),
            receipt: None,
        }),
        execution: None,
        required_approvals: 1,
        approvals: Vec::new(),
        change_seq: i as i64 + 1,
        links: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// p50 / p95 of `n` runs of `f`, in milliseconds.
fn timed(n: usize, mut f: impl FnMut(usize)) -> String {
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    times.sort();
    format!(
        "p50 {:>7.3} ms  p95 {:>7.3} ms",
        percentile(&times, 0.50).as_secs_f64() * 1000.0,
        percentile(&times, 0.95).as_secs_f64() * 1000.0
    )
}

fn bench_context() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("client");
    std::fs::create_dir_all(&home).unwrap();
    let db = countersign_core::paths::db_path(&home);
    let now = Utc::now();
    {
        let mut store = Store::open(&db, None).unwrap();
        let batch: Vec<Approval> = (0..N).map(|i| approval(i, now)).collect();
        for chunk in batch.chunks(1000) {
            store.upsert_approvals(chunk).unwrap();
        }
    }
    let engine = Engine::open_with(
        &home,
        EngineOptions {
            file_token_store: true,
            ..EngineOptions::default()
        },
    )
    .unwrap();
    // Ids spread over the whole history, newest to oldest.
    let ids: Vec<String> = (0..200)
        .map(|k| format!("appr-c{:07}", k * (N / 200)))
        .collect();
    let runs = 400;
    println!("detail context over {N} cached approvals ({runs} runs, ids across the history):");
    println!(
        "  floor: Engine::detail            {}",
        timed(runs, |i| {
            engine.detail(&ids[i % ids.len()]).unwrap();
        })
    );
    println!(
        "  Engine::approval_context         {}",
        timed(runs, |i| {
            engine.approval_context(&ids[i % ids.len()]).unwrap();
        })
    );
    // The 30-day count as it would run without the v8 index.
    let conn = rusqlite::Connection::open_with_flags(
        &db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let count = |index: &str, i: usize| {
        let sql = format!(
            "SELECT status, COUNT(*) FROM approvals INDEXED BY {index}
             WHERE agent = ?1 AND action = ?2 AND created_at >= ?3 GROUP BY status"
        );
        let mut st = conn.prepare_cached(&sql).unwrap();
        let since = (now - chrono::Duration::days(30)).timestamp_millis();
        st.query_map(
            rusqlite::params![AGENTS[i % 8], ACTIONS[i % 6], since],
            |r| r.get::<_, i64>(1),
        )
        .unwrap()
        .count();
    };
    println!(
        "  30-day count, v8 agent+action index {}",
        timed(runs, |i| count("approvals_agent_action_key", i))
    );
    println!(
        "  30-day count, agent index only     {}",
        timed(runs, |i| count("approvals_agent_key", i))
    );
}

fn bench_diff() {
    let items = |v: usize| -> serde_json::Value {
        serde_json::Value::Array(
            (0..40_000)
                .map(|i| serde_json::json!({"id": i, "name": format!("item-{i}"), "v": if i % 10 == 0 { v } else { 0 }}))
                .collect(),
        )
    };
    let old = serde_json::json!({"items": items(1), "note": "x".repeat(100_000)});
    let new = serde_json::json!({"items": items(2), "note": "y".repeat(100_000)});
    let text = serde_json::to_string(&new).unwrap();
    let runs = 20;
    println!(
        "params diff of {:.1} MB parameters ({runs} runs):",
        text.len() as f64 / 1e6
    );
    println!(
        "  floor: parse the JSON once       {}",
        timed(runs, |_| {
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        })
    );
    let d = params_diff::diff(&old, &new);
    println!(
        "  params_diff::diff                {}   ({} changed, {} listed, +{} more)",
        timed(runs, |_| {
            params_diff::diff(&old, &new);
        }),
        d.changed,
        d.entries.len(),
        d.more_entries
    );
}

fn main() {
    // `cargo test --benches` runs bench binaries with --bench absent; keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("context_bench: run with `cargo bench -p countersign-core --bench context_bench`");
        return;
    }
    bench_context();
    bench_diff();
}
