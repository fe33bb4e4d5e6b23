//! A revoked token signs the client out (issue 16 §3): the state says "sign in
//! again" (and is pushed to subscribers), the cache stays readable, the queued decision
//! stays queued, and after signing in with a new token it is delivered exactly once.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use countersign_core::api::{ApprovalStatus, AuditEvent, Role};
use countersign_core::{ConnState, EngineEvent, OutboxState};
use countersign_server::db::tokens::{hash_token, public_id};
use countersign_server::RevokeTarget;
use harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_signs_out_and_keeps_the_queued_decision_for_the_next_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let first = countersign_server::add_token(&server.db, ORG, Role::Approver, "alice").unwrap();
    let a = create_approval(&base, "deploy while signed out", None).await;

    let engine = countersign_core::Engine::open_with(
        &dir.path().join("client"),
        options(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0))),
    )
    .unwrap();
    engine.login(&base, ORG, &first).await.unwrap();
    engine.sync_now().await.unwrap();
    engine.decide_approve(&a.id, Some("ship it")).unwrap();

    // The laptop's token is revoked before the decision goes out.
    let revoked = countersign_server::revoke_tokens(
        &server.db,
        RevokeTarget::Id(&public_id(&hash_token(&first))),
    )
    .unwrap();
    assert_eq!(revoked.tokens.len(), 1);

    let mut events = engine.subscribe();
    let err = engine.push_now().await.unwrap_err();
    assert_eq!(err.code(), "signed_out", "{err}");
    let ConnState::Unauthorized { message } = engine.conn_state() else {
        panic!("not signed out: {:?}", engine.conn_state());
    };
    assert!(message.contains("revoked"), "{message}");
    // Subscribers (the app's bridge) are told, not left to poll.
    let pushed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await {
                Ok(EngineEvent::ConnectionChanged {
                    state: ConnState::Unauthorized { .. },
                }) => break,
                Ok(_) => continue,
                Err(e) => panic!("event stream: {e}"),
            }
        }
    })
    .await;
    assert!(pushed.is_ok(), "no ConnectionChanged(unauthorized) event");

    // Queued, not dropped and not failed; the cache is still readable.
    let queued = engine.outbox(&[OutboxState::Queued]).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].approval_id, a.id);
    assert!(engine
        .outbox(&[OutboxState::Rejected, OutboxState::Expired])
        .unwrap()
        .is_empty());
    assert!(cached_ids(&engine, None).contains(&a.id));
    engine.detail(&a.id).unwrap();
    assert_eq!(
        server_approval(&base, &a.id).await.status,
        ApprovalStatus::Pending
    );
    // A sync says the same, and leaves it all as it was.
    assert_eq!(engine.sync_now().await.unwrap_err().code(), "signed_out");
    assert_eq!(engine.outbox(&[OutboxState::Queued]).unwrap().len(), 1);

    // Signing in again with a new token delivers it, once.
    let second = countersign_server::add_token(&server.db, ORG, Role::Approver, "alice").unwrap();
    engine.login(&base, ORG, &second).await.unwrap();
    let s = engine.push_now().await.unwrap();
    assert_eq!((s.delivered, s.rejected), (1, 0), "{s:?}");
    assert_eq!(engine.conn_state(), ConnState::Online);
    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.delivered, 0, "{s:?}");
    assert_eq!(
        server_approval(&base, &a.id).await.status,
        ApprovalStatus::Approved
    );
    let trail = audit(&base, &a.id).await;
    let approvals: Vec<_> = decisions(&trail)
        .into_iter()
        .filter(|d| d.0 == AuditEvent::Approved)
        .collect();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0].1, "alice");
    assert!(engine.outbox(&[OutboxState::Queued]).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_signs_out_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let options_ = countersign_server::db::tokens::TokenOptions {
        expires_at: Some(chrono::Utc::now() + chrono::Duration::seconds(2)),
        agents: Vec::new(),
    };
    let token =
        countersign_server::add_token_with(&server.db, ORG, Role::Approver, "alice", &options_)
            .unwrap();
    let engine = countersign_core::Engine::open_with(
        &dir.path().join("client"),
        options(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0))),
    )
    .unwrap();
    engine.login(&base, ORG, &token).await.unwrap();
    engine.sync_now().await.unwrap();
    // Waits for the expiry to pass (on the server's clock), then syncs once more.
    let err = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match engine.sync_now().await {
                Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => break e,
            }
        }
    })
    .await
    .expect("the token expires");
    assert_eq!(err.code(), "signed_out", "{err}");
    let ConnState::Unauthorized { message } = engine.conn_state() else {
        panic!("not signed out");
    };
    assert!(message.contains("expired"), "{message}");
}
