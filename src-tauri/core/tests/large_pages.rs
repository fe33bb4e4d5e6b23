//! Big approvals: pages bounded by bytes on the server, any legal page taken by the
//! client, and smaller pages asked for when one is still too large.

#[path = "support/fake.rs"]
mod fake;
#[path = "support/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;

use countersign_core::api::{self, AgentRef, Approval, ApprovalStatus, RiskSnapshot};
use countersign_core::{Engine, QueueQuery};
use countersign_server::db::approvals::create;
use countersign_server::db::Db;
use fake::{http, Answer, Fake, ME};
use harness::*;

/// Writes `n` approvals with `bytes` of params straight into the running server's
/// database (setup; creating them over HTTP would take minutes in a debug build).
fn seed_big(db: &std::path::Path, n: usize, bytes: usize) {
    let db = Db::open(db).unwrap();
    let now = chrono::Utc::now();
    db.with_writer(|conn| {
        let tx = conn.transaction()?;
        let mut changes = Vec::new();
        for i in 0..n {
            let a = Approval {
                id: format!("appr-big{i:05}"),
                org_id: ORG.into(),
                agent: AgentRef {
                    id: "bulk-bot".into(),
                    name: None,
                    version: None,
                },
                action: "storage:write".into(),
                summary: format!("Big request {i}"),
                status: ApprovalStatus::Pending,
                reason_code: "requires_approval".into(),
                reason_text: "big".into(),
                params: serde_json::json!({ "blob": "x".repeat(bytes), "i": i }),
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
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_approvals_of_48_kb_sync_through_the_real_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    seed_big(&server.db, 1000, 48 * 1024);

    // The server's pages stay within the byte bound however many items are asked for.
    let resp = http_get(&format!("{}?limit=1000&status=all", api(&base, ""))).await;
    assert!(resp.len() <= api::MAX_PAGE_BYTES, "{} bytes", resp.len());
    let list: api::ApprovalList = serde_json::from_slice(&resp).unwrap();
    assert!(list.items.len() < 1000 && !list.items.is_empty());
    assert!(list.next_cursor.is_some());
    let resp = http_get(&api(&base, "/changes?after=0&limit=1000")).await;
    assert!(resp.len() <= api::MAX_PAGE_BYTES, "{} bytes", resp.len());
    let page: api::ChangesPage = serde_json::from_slice(&resp).unwrap();
    assert!(page.has_more);

    let engine = engine(&dir.path().join("client"), &base).await;
    let s = engine.sync_now().await.unwrap();
    let total = server_stats(&base).await.totals.total();
    assert_eq!(s.pulled as u64, total, "{s:?}");
    let big = engine
        .list(&QueueQuery {
            agent: Some("bulk-bot".into()),
            limit: 10_000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(big.total, 1000);
    let d = engine.detail("appr-big00999").unwrap();
    assert_eq!(d.approval.params["blob"].as_str().unwrap().len(), 48 * 1024);
    // And later syncs keep working.
    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.pulled, 0);
}

async fn http_get(url: &str) -> Vec<u8> {
    let resp = harness::http()
        .get(url)
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    resp.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_too_large_for_the_client_makes_it_ask_for_smaller_pages() {
    // An older server that does not bound its pages: anything over 10 items is
    // announced as 40 MB; 10 or fewer come back as a real page.
    let asked = Arc::new(AtomicU32::new(0));
    let seen = asked.clone();
    let fake = Fake::start(Arc::new(move |path: &str| {
        if path.starts_with("/api/v1/me") {
            return Answer::Bytes(http("200 OK", "application/json", ME.as_bytes()));
        }
        if path.contains("/devices") || path.contains("/audit/head") {
            // An older server: no device keys (decisions go unsigned), no signed head.
            let body = br#"{"error":{"code":"not_found","message":"no such endpoint"}}"#;
            return Answer::Bytes(http("404 Not Found", "application/json", body));
        }
        let limit: u32 = path
            .split("limit=")
            .nth(1)
            .and_then(|v| v.split('&').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        seen.fetch_add(1, Ordering::SeqCst);
        if limit > 10 {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 41931760\r\nconnection: close\r\n\r\n";
            Answer::Bytes(head.as_bytes().to_vec())
        } else {
            let body = r#"{"items":[],"next":0,"has_more":false}"#;
            Answer::Bytes(http("200 OK", "application/json", body.as_bytes()))
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_with(dir.path(), options(Arc::new(AtomicI64::new(0)))).unwrap();
    engine.login(&fake.url(), ORG, "any-token").await.unwrap();
    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.pulled, 0);
    // 1000, 500, 250, 125, 62, 31, 15, then 7 fits.
    assert_eq!(asked.load(Ordering::SeqCst), 8);
}
