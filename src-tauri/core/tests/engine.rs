//! Engine behaviour around the sync: notification planning across restarts,
//! settings, account switches that would misattribute queued decisions.

#[path = "support/harness.rs"]
mod harness;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use countersign_core::{Engine, NotificationKind, OutboxState};
use harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_planned_once_and_not_repeated_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let home = dir.path().join("client");
    let engine = engine(&home, &base).await;
    // 45 minutes, not the default hour: a demo approval expires about an hour after the
    // server starts, so with an hour it crosses the line while the test runs and is
    // (rightly) announced between two plans that must be equal.
    engine.set_expiring_soon_secs(2700).unwrap();
    engine.sync_now().await.unwrap();

    // The demo's backlog arrives at once: one summary (plus anything expiring soon).
    let plan = engine.plan_notifications().unwrap();
    let summaries: Vec<_> = plan
        .iter()
        .filter(|p| p.kind == NotificationKind::NewApprovalsSummary)
        .collect();
    assert_eq!(summaries.len(), 1, "{plan:?}");
    assert!(!plan.iter().any(|p| p.kind == NotificationKind::NewApproval));
    engine.mark_announced(&plan).unwrap();
    assert!(engine.plan_notifications().unwrap().is_empty());

    // Restart: nothing is repeated.
    drop(engine);
    let engine = Engine::open_with(&home, options(Arc::new(AtomicI64::new(0)))).unwrap();
    assert!(engine.plan_notifications().unwrap().is_empty());

    // Two new ones: one notification each; one expiring within 45 minutes: also "expiring soon".
    let a = create_approval(&base, "first new", None).await;
    let b = create_approval(&base, "second new", Some(1800)).await;
    engine.sync_now().await.unwrap();
    let plan = engine.plan_notifications().unwrap();
    let new_ids: Vec<_> = plan
        .iter()
        .filter(|p| p.kind == NotificationKind::NewApproval)
        .map(|p| p.approval_id.clone().unwrap())
        .collect();
    assert_eq!(new_ids, vec![a.id.clone(), b.id.clone()]);
    let expiring: Vec<_> = plan
        .iter()
        .filter(|p| p.kind == NotificationKind::ExpiringSoon)
        .collect();
    // b expires in 30 minutes; a (24 h) is not expiring; others (the demo's) are not counted.
    let expiring_ids: Vec<_> = expiring
        .iter()
        .map(|p| p.approval_id.clone().unwrap())
        .collect();
    assert!(expiring_ids.contains(&b.id), "{plan:?}");
    assert!(!expiring_ids.contains(&a.id), "{plan:?}");
    engine.mark_announced(&plan).unwrap();
    assert!(engine.plan_notifications().unwrap().is_empty());

    // Turning notifications off plans nothing; the threshold is a setting.
    create_approval(&base, "third new", None).await;
    engine.sync_now().await.unwrap();
    engine.set_notifications_enabled(false).unwrap();
    assert!(engine.plan_notifications().unwrap().is_empty());
    engine.set_notifications_enabled(true).unwrap();
    let again = engine.plan_notifications().unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(engine.set_expiring_soon_secs(5).is_err());
    engine.set_expiring_soon_secs(7200).unwrap();
    assert_eq!(engine.settings().unwrap().expiring_soon_secs, 7200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_account_with_queued_decisions_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let a = create_approval(&base, "alice's to decide", None).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();
    engine.decide_approve(&a.id, None).unwrap();

    let err = engine.login(&base, ORG, BOB).await.unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    assert!(err.to_string().contains("still queued"), "{err}");
    assert_eq!(engine.outbox(&[OutboxState::Queued]).unwrap().len(), 1);
    // The same person may sign in again; the decision goes out under her name.
    engine.login(&base, ORG, ALICE).await.unwrap();
    assert_eq!(engine.sync_now().await.unwrap().delivered, 1);
    let d = decisions(&audit(&base, &a.id).await);
    assert_eq!(d[0].1, "alice");
    // With nothing queued, switching is allowed.
    engine.login(&base, ORG, BOB).await.unwrap();
    assert_eq!(engine.settings().unwrap().subject.as_deref(), Some("bob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_the_loop_still_reports_approvals_passing_their_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let base = server.url();
    let short = create_approval(&base, "about to expire", Some(3)).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();
    server.stop().await;
    let mut events = engine.subscribe();
    let bg = engine.start();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            if let Ok(countersign_core::EngineEvent::ApprovalsChanged { ids }) = events.recv().await
            {
                if ids.contains(&short.id) {
                    break;
                }
            }
        }
    })
    .await;
    assert!(
        seen.is_ok(),
        "no change event when {} expired offline",
        short.id
    );
    assert!(matches!(
        engine.conn_state(),
        countersign_core::ConnState::Offline { .. }
    ));
    let d = engine.detail(&short.id).unwrap();
    assert_eq!(d.status, countersign_core::api::ApprovalStatus::Expired);
    assert!(d.locally_expired);
    bg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_execution_arrives_as_a_row_change_and_is_announced_once_across_a_restart() {
    use countersign_core::api::{ApprovalStatus, DecisionKind, ExecutionOutcome};
    use countersign_core::{EngineEvent, QueueQuery};

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let home = dir.path().join("client");
    let engine = engine(&home, &base).await;
    engine.sync_now().await.unwrap();
    // The demo's backlog is announced (or not) first; this test is about what follows.
    engine
        .mark_announced(&engine.plan_notifications().unwrap())
        .unwrap();

    let a = create_approval(&base, "migrate the billing database", None).await;
    assert_eq!(
        decide_as(&base, BOB, &a.id, DecisionKind::Approve).await,
        200
    );
    engine.sync_now().await.unwrap();
    engine
        .mark_announced(&engine.plan_notifications().unwrap())
        .unwrap();
    let outcome_of = |e: &Engine| {
        e.list(&QueueQuery {
            status: Some(ApprovalStatus::Approved),
            limit: 1000,
            ..QueueQuery::default()
        })
        .unwrap()
        .items
        .into_iter()
        .find(|i| i.id == a.id)
        .expect("the approved row")
        .outcome
    };
    assert_eq!(outcome_of(&engine), None, "approved, not yet executed");

    // The agent reports a failure; the next pull names the row.
    let mut events = engine.subscribe();
    let r = http()
        .post(api(&base, &format!("/{}/result", a.id)))
        .bearer_auth(AGENT)
        .json(&serde_json::json!({"outcome": "failed", "output": {"error": "lock timeout"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    engine.sync_now().await.unwrap();
    let mut named = false;
    while let Ok(ev) = events.try_recv() {
        if let EngineEvent::ApprovalsChanged { ids } = ev {
            named |= ids.contains(&a.id);
        }
    }
    assert!(named, "the pull named {} as changed", a.id);
    assert_eq!(outcome_of(&engine), Some(ExecutionOutcome::Failed));
    let detail = engine.detail(&a.id).unwrap();
    let x = detail.approval.execution.expect("the result is cached");
    assert_eq!(x.output["error"], "lock timeout");

    // Announced once, and not again after a restart.
    let plan = engine.plan_notifications().unwrap();
    let failed: Vec<_> = plan
        .iter()
        .filter(|p| p.kind == NotificationKind::ExecutionFailed)
        .collect();
    assert_eq!(failed.len(), 1, "{plan:?}");
    assert_eq!(failed[0].approval_id.as_deref(), Some(a.id.as_str()));
    assert_eq!(failed[0].body, "migrate the billing database");
    engine.mark_announced(&plan).unwrap();
    assert!(engine.plan_notifications().unwrap().is_empty());
    drop(engine);
    let engine = Engine::open_with(&home, options(Arc::new(AtomicI64::new(0)))).unwrap();
    assert!(engine.plan_notifications().unwrap().is_empty());
    assert_eq!(outcome_of(&engine), Some(ExecutionOutcome::Failed));
}

/// The API's one rule for reasons (countersign_api::check_reason) on the decide path the
/// CLI and the app share: an invisible reason is refused before anything is queued, not
/// queued to be refused by the server later. And login takes only org ids the server's
/// add-token would issue a token for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_reasons_and_bad_org_ids_are_refused_before_anything_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let a = create_approval(&base, "deny me visibly", None).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();

    for reason in [
        "\u{200B}",
        "\u{0}",
        "\u{200B}\u{FEFF}",
        " \u{2800} ",
        "ok\u{0}ok",
    ] {
        let err = engine.decide_deny(&a.id, reason, None).unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{reason:?}: {err}");
        let err = engine
            .bulk_deny(std::slice::from_ref(&a.id), reason, None)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{reason:?}: {err}");
    }
    assert!(engine.outbox(&[OutboxState::Queued]).unwrap().is_empty());
    assert_eq!(
        engine.detail(&a.id).unwrap().status,
        countersign_api::ApprovalStatus::Pending
    );

    for org in ["bad org/..", "..", "a/b"] {
        let err = engine.login(&base, org, ALICE).await.unwrap_err();
        assert!(err.to_string().contains("org id"), "{org:?}: {err}");
    }
    // A visible reason with a zero-width character inside is fine.
    engine.decide_deny(&a.id, "no\u{200B}pe", None).unwrap();
    assert_eq!(engine.sync_now().await.unwrap().delivered, 1);
}
