//! `cargo bench -p countersign-core`: the figures the issue asks for.
//! - first sync of 10,000 approvals from a loopback server
//! - incremental sync of 100 changes
//! - filtered + full-text query over 100,000 cached approvals (p50/p95)
//! - draining 1,000 queued decisions: on loopback, and over a proxy adding 50 ms per
//!   request one decision per request (before) beside batched (after)
//! - the cost of the encrypted store: first sync, query p95 and drain on a SQLCipher
//!   store beside the same on a plaintext one, same run (`-- encryption` runs only this)
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
    "requires_approval",
    "amount_threshold",
    "new_counterparty",
    "rate_limit",
    "privilege_escalation",
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
        required_approvals: None,
    }
}

/// Server DB with the demo tokens plus `n` approvals, written directly (setup, not measured).
async fn server_with(dir: &Path, n: usize) -> RunningServer {
    let db_path = dir.join("server.db");
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), db_path.clone());
    cfg.demo = true;
    // The drains and syncs send thousands of requests with one token; the per-token
    // rate limit would measure the limiter, not the engine.
    cfg.rate_limit_per_minute = 0;
    cfg.create_rate_limit_per_minute = 0;
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

/// p50 / p95 of `n` runs of `f`.
fn timed(n: usize, mut f: impl FnMut(usize)) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    times.sort();
    (percentile(&times, 0.50), percentile(&times, 0.95))
}

fn pq((p50, p95): (Duration, Duration)) -> String {
    format!(
        "{:>5.2} {:>5.2}",
        p50.as_secs_f64() * 1000.0,
        p95.as_secs_f64() * 1000.0
    )
}

/// The query path before keyset paging, kept here as the baseline: exact count plus
/// `LIMIT/OFFSET`, search joined by materialising every match.
fn old_list(conn: &rusqlite::Connection, q: &QueueQuery, now_ms: i64) -> (usize, i64) {
    let mut w = vec!["1 = 1".to_string()];
    let mut args: Vec<(String, rusqlite::types::Value)> = vec![(":now".into(), now_ms.into())];
    if let Some(st) = q.status {
        w.push(match st {
            ApprovalStatus::Pending => "(a.status = 'pending' AND a.expires_at > :now)".into(),
            ApprovalStatus::Expired => {
                "(a.status = 'expired' OR (a.status = 'pending' AND a.expires_at <= :now))".into()
            }
            other => format!("a.status = '{}'", other.as_str()),
        });
    }
    for (col, val, name) in [
        ("a.agent", &q.agent, ":agent"),
        ("a.action", &q.action, ":action"),
    ] {
        if let Some(v) = val {
            w.push(format!("{col} = {name}"));
            args.push((name.into(), v.clone().into()));
        }
    }
    if let Some(from) = q.from {
        w.push("a.created_at >= :from".into());
        args.push((":from".into(), from.timestamp_millis().into()));
    }
    if let Some(to) = q.to {
        w.push("a.created_at < :to".into());
        args.push((":to".into(), to.timestamp_millis().into()));
    }
    if let Some(fq) = q
        .search
        .as_deref()
        .and_then(countersign_core::store::approvals::fts_query)
    {
        w.push("a.rowid IN (SELECT rowid FROM approvals_fts WHERE approvals_fts MATCH :q)".into());
        args.push((":q".into(), fq.into()));
    }
    let cond = w.join(" AND ");
    let order = match q.sort {
        SortOrder::NewestFirst => "a.created_at DESC, a.id DESC",
        SortOrder::OldestFirst => "a.created_at ASC, a.id ASC",
        SortOrder::ExpiringFirst => "a.expires_at ASC, a.id ASC",
    };
    let bind = |sql: &str| -> Vec<(&str, &dyn rusqlite::ToSql)> {
        args.iter()
            .filter(|(k, _)| sql.contains(k.as_str()))
            .map(|(k, v)| (k.as_str(), v as &dyn rusqlite::ToSql))
            .collect()
    };
    let count_sql = format!("SELECT count(*) FROM approvals a WHERE {cond}");
    let total: i64 = conn
        .query_row(&count_sql, bind(&count_sql).as_slice(), |r| r.get(0))
        .unwrap();
    let list_cond = if q.sort == SortOrder::ExpiringFirst {
        cond.clone()
    } else {
        cond.replace("a.expires_at", "+a.expires_at")
    };
    let sql = format!(
        "SELECT a.id, a.status, a.agent, json_extract(a.json, '$.agent.name'), a.action,
                a.reason_code, a.summary, a.created_at, a.expires_at, o.kind, o.state, o.decided_at
         FROM approvals a
         LEFT JOIN outbox o ON o.approval_id = a.id AND o.state IN ('queued', 'sending')
         WHERE {list_cond} ORDER BY {order} LIMIT {} OFFSET {}",
        q.limit, q.offset
    );
    let mut stmt = conn.prepare_cached(&sql).unwrap();
    let n = stmt
        .query_map(bind(&sql).as_slice(), |r| r.get::<_, String>(0))
        .unwrap()
        .count();
    (n, total)
}

/// The `i`-th of the synthetic approvals as the cache holds them: a mix of statuses,
/// a minute apart, created `i` minutes before `now`.
fn cached(i: usize, now: chrono::DateTime<Utc>) -> Approval {
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
        required_approvals: 1,
        approvals: Vec::new(),
        change_seq: i as i64 + 1,
        links: None,
    }
}

fn bench_query() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("client");
    std::fs::create_dir_all(&home).unwrap();
    let db = countersign_core::paths::db_path(&home);
    {
        let mut store = Store::open(&db, None).unwrap();
        let now = Utc::now();
        let batch: Vec<Approval> = (0..100_000).map(|i| cached(i, now)).collect();
        let t = Instant::now();
        for chunk in batch.chunks(1000) {
            store.upsert_approvals(chunk).unwrap();
        }
        println!("(setup) cached 100,000 approvals in {}", ms(t.elapsed()));
    }
    // Plaintext: the old path below reads the file on raw connections. What
    // encryption adds to these queries is measured in `bench_encryption`.
    let engine = Engine::open_with(
        &home,
        EngineOptions {
            encrypt_store: false,
            ..opts()
        },
    )
    .unwrap();
    let reader = Store::open_reader(&db, None).unwrap();
    // The old path on a connection of its own, as the store opened them before.
    let old = rusqlite::Connection::open_with_flags(
        &db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let now = Utc::now();
    let q = |f: &dyn Fn(&mut QueueQuery)| {
        let mut q = QueueQuery {
            limit: 50,
            ..QueueQuery::default()
        };
        f(&mut q);
        q
    };
    let shapes: Vec<(&str, QueueQuery)> = vec![
        ("all, newest first", q(&|_| {})),
        (
            "status pending",
            q(&|q| q.status = Some(ApprovalStatus::Pending)),
        ),
        ("agent", q(&|q| q.agent = Some(AGENTS[2].into()))),
        ("action", q(&|q| q.action = Some(ACTIONS[1].into()))),
        (
            "date range (20 days)",
            q(&|q| {
                q.from = Some(now - chrono::Duration::days(40));
                q.to = Some(now - chrono::Duration::days(20));
            }),
        ),
        ("search one word", q(&|q| q.search = Some("invoice".into()))),
        (
            "search 1-letter prefix",
            q(&|q| q.search = Some("p".into())),
        ),
        (
            "search 2-letter prefix",
            q(&|q| q.search = Some("re".into())),
        ),
        (
            "search rare word",
            q(&|q| q.search = Some("item 4242".into())),
        ),
        (
            "search+status+agent",
            q(&|q| {
                q.search = Some("production".into());
                q.status = Some(ApprovalStatus::Pending);
                q.agent = Some(AGENTS[0].into());
            }),
        ),
        (
            "expiring first, pending",
            q(&|q| {
                q.status = Some(ApprovalStatus::Pending);
                q.sort = SortOrder::ExpiringFirst;
            }),
        ),
        (
            "expiring first, search",
            q(&|q| {
                q.search = Some("refund".into());
                q.sort = SortOrder::ExpiringFirst;
            }),
        ),
    ];
    // Warm the page cache once, as an open app would be.
    for (_, s) in &shapes {
        engine.list(s).unwrap();
        old_list(&old, s, now.timestamp_millis());
    }
    const N: usize = 40;
    println!(
        "query shapes over 100,000 cached approvals, page of 50; p50 p95 in ms ({N} runs each)"
    );
    println!(
        "{:<26}{:>7} | {:>11} | {:>11} | {:>11} | {:>11} | {:>11} | {:>11} | {:>11} | {:>11} | {:>11}",
        "shape", "matches", "new: pg+cnt", "first page", "next (key)", "prev (key)", "count", "count memo", "jump 1/2",
        "position", "old: +count"
    );
    let mut worst = Duration::ZERO;
    for (name, s) in &shapes {
        let first = engine.page(s).unwrap();
        let total = reader.count(s, engine.now()).unwrap();
        let first_page = timed(N, |_| {
            engine.page(s).unwrap();
        });
        // Walk forward page by page from the first; then back up the same way.
        let mut keys = Vec::new();
        let mut after = first.last().map(|i| i.key.clone());
        let next = timed(N, |_| {
            let mut n = s.clone();
            n.after = after.clone();
            let p = engine.page(&n).unwrap();
            after = p.last().map(|i| i.key.clone()).or(after.clone());
            keys.push(p.first().map(|i| i.key.clone()));
        });
        let prev = timed(N, |i| {
            let mut n = s.clone();
            n.before = keys[keys.len() - 1 - i].clone();
            engine.page(&n).unwrap();
        });
        let count = timed(N, |_| {
            reader.count(s, engine.now()).unwrap();
        });
        let memo = timed(N, |_| {
            engine.count(s).unwrap();
        });
        let mut mid = None;
        let jump = timed(N, |i| {
            let mut n = s.clone();
            n.offset = (total / 2) as u32 + i as u32;
            let p = engine.page(&n).unwrap();
            mid = p.first().map(|i| i.id.clone()).or(mid.clone());
        });
        let position = timed(N, |_| {
            if let Some(id) = &mid {
                engine.position(s, id).unwrap();
            }
        });
        // A new filter or search text: nothing loaded or memoised yet (another search
        // ran in between), first page plus exact count on a reader of its own.
        let other = QueueQuery {
            search: Some("zzz".into()),
            ..QueueQuery::default()
        };
        let mut cold_times = Vec::new();
        for _ in 0..N {
            reader.page(&other, now).unwrap();
            let t = Instant::now();
            reader.page(s, now).unwrap();
            reader.count(s, now).unwrap();
            cold_times.push(t.elapsed());
        }
        cold_times.sort();
        let cold = (percentile(&cold_times, 0.5), percentile(&cold_times, 0.95));
        let old_path = timed(N, |_| {
            old_list(&old, s, engine.now().timestamp_millis());
        });
        for (_, p95) in [cold, first_page, next, prev, memo, jump, position] {
            worst = worst.max(p95);
        }
        println!(
            "{name:<26}{total:>7} | {} | {} | {} | {} | {} | {} | {} | {} | {}",
            pq(cold),
            pq(first_page),
            pq(next),
            pq(prev),
            pq(count),
            pq(memo),
            pq(jump),
            pq(position),
            pq(old_path)
        );
    }
    println!(
        "worst p95 over all shapes and columns except the cold count and the old path: {}",
        ms(worst)
    );
    // The floor: bare indexed queries on a raw connection, no filters, no join.
    let floor_page = timed(N * 5, |_| {
        let mut st = old
            .prepare_cached("SELECT id FROM approvals ORDER BY created_at DESC LIMIT 50")
            .unwrap();
        st.query_map([], |r| r.get::<_, String>(0)).unwrap().count();
    });
    let floor_fts = timed(N * 5, |_| {
        let mut st = old
            .prepare_cached(
                "SELECT rowid FROM approvals_fts WHERE approvals_fts MATCH 'invoice'
                 ORDER BY rowid DESC LIMIT 50",
            )
            .unwrap();
        st.query_map([], |r| r.get::<_, i64>(0)).unwrap().count();
    });
    let floor_count = timed(N * 5, |_| {
        old.query_row(
            "SELECT count(*) FROM approvals WHERE status = 'approved'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap();
    });
    println!(
        "floor (raw SQLite): top-50 by created_at {}  |  FTS top-50 by rowid {}  |  count(status) {}",
        pq(floor_page),
        pq(floor_fts),
        pq(floor_count)
    );
}

/// What encryption at rest costs: each figure on a SQLCipher store (as users run)
/// beside a plaintext store (the floor), interleaved in the same run.
async fn bench_encryption() {
    const CACHED: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), 10_000).await;
    let base = server.base_url();
    let modes = [("plaintext", false), ("encrypted", true)];
    let mode_opts = |encrypt_store: bool| EngineOptions {
        encrypt_store,
        ..opts()
    };

    // First sync of 10,000 approvals, three runs per mode, alternating.
    let mut firsts: [Vec<Duration>; 2] = Default::default();
    for run in 0..3 {
        for (m, (name, encrypt)) in modes.iter().enumerate() {
            let home = dir.path().join(format!("sync-{name}-{run}"));
            let e = Engine::open_with(&home, mode_opts(*encrypt)).unwrap();
            e.login(&base, ORG, ALICE).await.unwrap();
            let t = Instant::now();
            let s = e.sync_now().await.unwrap();
            firsts[m].push(t.elapsed());
            assert!(s.pulled >= 10_000);
        }
    }

    // Drain 1,000 queued decisions over loopback.
    let mut drains = [Duration::ZERO; 2];
    for (m, (name, encrypt)) in modes.iter().enumerate() {
        let home = dir.path().join(format!("drain-{name}"));
        let e = Engine::open_with(&home, mode_opts(*encrypt)).unwrap();
        e.login(&base, ORG, ALICE).await.unwrap();
        e.sync_now().await.unwrap();
        let from = 4000 + m * 1000;
        let ids: Vec<String> = (from..from + 1000)
            .map(|i| format!("appr-b{i:07}"))
            .collect();
        for chunk in ids.chunks(500) {
            let q = e.bulk_approve(chunk, Some("bench")).unwrap();
            assert_eq!(q.entries.len(), chunk.len());
        }
        let t = Instant::now();
        let s = e.push_now().await.unwrap();
        drains[m] = t.elapsed();
        assert_eq!((s.delivered, s.rejected), (1000, 0), "{s:?}");
    }
    server.shutdown().await;

    // Queries over 100,000 cached approvals: the engine's first page of each shape.
    let mut engines = Vec::new();
    for (name, encrypt) in modes {
        let home = dir.path().join(format!("query-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        let engine = Engine::open_with(&home, mode_opts(encrypt)).unwrap();
        let mut store = if encrypt {
            countersign_core::store::cipher::open_home_file_keyed(&home).unwrap()
        } else {
            Store::open(&countersign_core::paths::db_path(&home), None).unwrap()
        };
        let now = Utc::now();
        let batch: Vec<Approval> = (0..CACHED).map(|i| cached(i, now)).collect();
        for chunk in batch.chunks(1000) {
            store.upsert_approvals(chunk).unwrap();
        }
        engines.push(engine);
    }
    let shapes: Vec<QueueQuery> = vec![
        QueueQuery::default(),
        QueueQuery {
            status: Some(ApprovalStatus::Pending),
            ..QueueQuery::default()
        },
        QueueQuery {
            agent: Some(AGENTS[2].into()),
            ..QueueQuery::default()
        },
        QueueQuery {
            search: Some("invoice".into()),
            ..QueueQuery::default()
        },
        QueueQuery {
            search: Some("production".into()),
            status: Some(ApprovalStatus::Pending),
            agent: Some(AGENTS[0].into()),
            ..QueueQuery::default()
        },
    ]
    .into_iter()
    .map(|q| QueueQuery { limit: 50, ..q })
    .collect();
    const N: usize = 40;
    let mut queries: [Vec<Duration>; 2] = Default::default();
    for (m, engine) in engines.iter().enumerate() {
        for s in &shapes {
            engine.list(s).unwrap(); // warm, as an open app is
        }
        for _ in 0..N {
            for s in &shapes {
                let t = Instant::now();
                engine.list(s).unwrap();
                queries[m].push(t.elapsed());
            }
        }
        queries[m].sort();
    }

    println!("encrypted store (SQLCipher) beside plaintext, same run:");
    println!("{:<44}{:>14}{:>14}", "", "plaintext", "encrypted");
    for f in firsts.iter_mut() {
        f.sort();
    }
    println!(
        "{:<44}{:>14}{:>14}",
        "first sync, 10,000 approvals (median of 3)",
        ms(firsts[0][1]),
        ms(firsts[1][1])
    );
    println!(
        "{:<44}{:>14}{:>14}",
        "queue page + count, 100,000 cached: p50",
        ms(percentile(&queries[0], 0.5)),
        ms(percentile(&queries[1], 0.5))
    );
    println!(
        "{:<44}{:>14}{:>14}",
        format!("                      p95 ({} shapes x {N})", shapes.len()),
        ms(percentile(&queries[0], 0.95)),
        ms(percentile(&queries[1], 0.95))
    );
    println!(
        "{:<44}{:>14}{:>14}",
        "drain 1,000 queued decisions (loopback)",
        ms(drains[0]),
        ms(drains[1])
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
    if std::env::args().any(|a| a == "encryption") {
        rt.block_on(bench_encryption());
        return;
    }
    rt.block_on(bench_sync());
    bench_query();
    rt.block_on(bench_encryption());
}
