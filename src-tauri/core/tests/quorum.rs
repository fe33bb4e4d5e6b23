//! Quorum approvals in the client (issue 8 §4): "Waiting for others" once I approved,
//! pending counts of what waits for me, and offline approves explained when the
//! server's answer differs. Real server (demo: alice is this app, bob the other).

#[path = "support/harness.rs"]
mod harness;

use countersign_core::api::{Approval, ApprovalStatus, DecisionKind};
use countersign_core::{Engine, OutboxState, QueueQuery};
use harness::*;

/// A pending approval needing `n` approvals, raised by the demo agent.
async fn create_quorum(base: &str, summary: &str, n: u8) -> Approval {
    let req = serde_json::to_value(countersign_core::api::CreateApprovalRequest {
        id: None,
        agent: countersign_core::api::AgentRef {
            id: "quorum-bot".into(),
            name: None,
            version: None,
        },
        action: "kubernetes:delete".into(),
        summary: summary.into(),
        reason_code: "requires_approval".into(),
        reason_text: "two people must agree".into(),
        params: serde_json::json!({"namespace": "production"}),
        policy_trace: vec![],
        risk: Default::default(),
        expires_in_secs: None,
        required_approvals: Some(i64::from(n)),
    })
    .unwrap();
    let resp = http()
        .post(api(base, ""))
        .bearer_auth(AGENT)
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    resp.json().await.unwrap()
}

fn ids(engine: &Engine, q: QueueQuery) -> Vec<String> {
    engine
        .list(&QueueQuery { limit: 10_000, ..q })
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.id)
        .collect()
}

fn pending_total(engine: &Engine) -> u64 {
    engine
        .list(&QueueQuery {
            status: Some(ApprovalStatus::Pending),
            limit: 1,
            ..Default::default()
        })
        .unwrap()
        .total
}

fn waiting() -> QueueQuery {
    QueueQuery {
        waiting: true,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_i_approved_waits_for_others_and_leaves_my_pending_count() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let q = create_quorum(&base, "delete the staging cluster", 2).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();
    let pending_before = pending_total(&engine);
    let item = engine
        .list(&QueueQuery::default())
        .unwrap()
        .items
        .into_iter()
        .find(|i| i.id == q.id)
        .unwrap();
    assert_eq!((item.approvals, item.required_approvals), (0, 2));
    assert!(item.decidable && !item.waiting_for_others);

    // Queued (not yet sent): already waiting for others, not pending for me.
    engine
        .decide_approve(&q.id, Some("checked the backup"))
        .unwrap();
    let d = engine.detail(&q.id).unwrap();
    assert_eq!(
        d.status,
        ApprovalStatus::Pending,
        "one of two is not approved"
    );
    assert!(d.waiting_for_others && !d.decidable);
    assert_eq!(pending_total(&engine), pending_before - 1);
    assert_eq!(ids(&engine, waiting()), vec![q.id.clone()]);

    let s = engine.push_now().await.unwrap();
    assert_eq!(s.delivered, 1, "{s:?}");
    let applied = engine.outbox(&[OutboxState::Applied]).unwrap();
    let msg = applied[0].explain();
    assert!(msg.contains("was applied: 1 of 2 approvals"), "{msg}");
    engine.sync_now().await.unwrap();
    let d = engine.detail(&q.id).unwrap();
    assert_eq!(d.approval.approvals.len(), 1);
    assert_eq!(d.approval.approvals[0].by, "alice");
    assert!(d.waiting_for_others && !d.decidable);
    assert_eq!(pending_total(&engine), pending_before - 1);
    let item = engine
        .list(&waiting())
        .unwrap()
        .items
        .into_iter()
        .next()
        .expect("waiting row");
    assert_eq!(
        (item.id.as_str(), item.approvals, item.required_approvals),
        (q.id.as_str(), 1, 2)
    );
    assert!(item.waiting_for_others && !item.decidable);
    // Not offered again: a second approve is refused here, before any request.
    let again = engine.decide_approve(&q.id, None).unwrap();
    assert!(again.entries.is_empty());
    assert!(
        again.skipped[0].1.contains("you already approved it"),
        "{:?}",
        again.skipped
    );

    // Bob completes the quorum: approved, nothing waits any more.
    assert_eq!(
        decide_as(&base, BOB, &q.id, DecisionKind::Approve).await,
        200
    );
    engine.sync_now().await.unwrap();
    let d = engine.detail(&q.id).unwrap();
    assert_eq!(d.status, ApprovalStatus::Approved);
    assert!(!d.waiting_for_others);
    assert!(ids(&engine, waiting()).is_empty());
    assert_eq!(pending_total(&engine), pending_before - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_approve_is_explained_when_someone_denied_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let q = create_quorum(&base, "rotate the root keys", 2).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();

    engine.decide_approve(&q.id, None).unwrap();
    assert_eq!(decide_as(&base, BOB, &q.id, DecisionKind::Deny).await, 200);
    let s = engine.push_now().await.unwrap();
    assert_eq!((s.delivered, s.rejected), (0, 1), "{s:?}");
    let rejected = engine.outbox(&[OutboxState::Rejected]).unwrap();
    let msg = rejected[0].explain();
    assert!(msg.starts_with("bob denied it at "), "{msg}");
    assert!(msg.contains(": 'not now'"), "{msg}");
    assert!(msg.contains("your approve, queued at"), "{msg}");
    let d = engine.detail(&q.id).unwrap();
    assert_eq!(d.status, ApprovalStatus::Denied);
    assert!(!d.waiting_for_others);
    assert!(ids(&engine, waiting()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approve_already_recorded_from_another_device_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let q = create_quorum(&base, "open the firewall", 2).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();

    engine.decide_approve(&q.id, None).unwrap();
    // The same approver, from another device, first.
    assert_eq!(
        decide_as(&base, ALICE, &q.id, DecisionKind::Approve).await,
        200
    );
    let s = engine.push_now().await.unwrap();
    assert_eq!(s.rejected, 1, "{s:?}");
    let msg = engine.outbox(&[OutboxState::Rejected]).unwrap()[0].explain_for(Some("alice"));
    assert!(
        msg.starts_with("you already approved it on another device at "),
        "{msg}"
    );
    assert!(msg.contains("1 of 2 approvals"), "{msg}");
    // Still waiting for others: the server has my approve.
    let d = engine.detail(&q.id).unwrap();
    assert_eq!(d.status, ApprovalStatus::Pending);
    assert!(d.waiting_for_others && !d.decidable);
}
