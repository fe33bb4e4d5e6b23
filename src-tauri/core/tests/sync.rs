//! The sync engine against the real server on loopback.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/proxy.rs"]
mod proxy;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use countersign_core::api::{ApprovalStatus, AuditEvent, DecisionKind};
use countersign_core::{ConnState, EngineEvent, OutboxState, QueueQuery};
use harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_pages_through_everything_then_incremental_sync_gets_only_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    create_many(&base, 230, "bulk item").await;
    let total = server_stats(&base).await.totals.total();
    assert!(total >= 230);

    let mut opts = options(Arc::new(AtomicI64::new(0)));
    opts.page_limit = 50; // several pages
    let engine = engine_at(&dir.path().join("client"), &base, opts).await;
    let first = engine.sync_now().await.unwrap();
    assert_eq!(first.pulled as u64, total);
    let all = engine
        .list(&QueueQuery {
            limit: 10_000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.total, total);
    // Local stats agree with the server's.
    let local = engine.local_stats(None, None).unwrap();
    assert_eq!(local.totals, server_stats(&base).await.totals);

    // Incremental: only what changed since the cursor.
    let fresh = create_approval(&base, "the new one", None).await;
    let victim = all
        .items
        .iter()
        .find(|i| i.status == ApprovalStatus::Pending && i.summary.starts_with("bulk item"))
        .unwrap()
        .id
        .clone();
    assert_eq!(
        decide_as(&base, BOB, &victim, DecisionKind::Deny).await,
        200
    );
    let second = engine.sync_now().await.unwrap();
    assert_eq!(second.pulled, 2, "{second:?}");
    let d = engine.detail(&victim).unwrap();
    assert_eq!(d.status, ApprovalStatus::Denied);
    assert_eq!(d.approval.decision.as_ref().unwrap().by, "bob");
    assert_eq!(
        engine.detail(&fresh.id).unwrap().status,
        ApprovalStatus::Pending
    );
    // Nothing new: nothing pulled.
    assert_eq!(engine.sync_now().await.unwrap().pulled, 0);
    // Search finds the new one by a word of its summary and by a param value.
    let hits = engine
        .list(&QueueQuery {
            search: Some("new one".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.items.len(), 1);
    assert_eq!(hits.items[0].id, fresh.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_delivers_new_approvals_without_polling() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    // Polling every 60 s: anything arriving sooner came over the event stream.
    let engine = engine(&dir.path().join("client"), &base).await;
    let mut events = engine.subscribe();
    let bg = engine.start();
    // Wait until the loop is online and following the stream.
    let online = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if engine.conn_state() == ConnState::Online {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(online.is_ok(), "engine never came online");
    // ...and the event stream is open on the server (Online comes with the first pull).
    let listening = tokio::time::timeout(Duration::from_secs(10), async {
        while server.running.as_ref().unwrap().change_listeners() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(listening.is_ok(), "the event stream never opened");
    let created = create_approval(&base, "live one", None).await;
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await {
                Ok(EngineEvent::ApprovalsChanged { ids }) if ids.contains(&created.id) => break,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event channel closed: {e}"),
            }
        }
    })
    .await;
    assert!(got.is_ok(), "no change event for {} over SSE", created.id);
    assert_eq!(
        engine.detail(&created.id).unwrap().status,
        ApprovalStatus::Pending
    );
    // And a decision queued while the loop runs is delivered by it.
    engine.decide_approve(&created.id, Some("live")).unwrap();
    let delivered = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = engine.outbox(&[]).unwrap();
            if e.iter().any(|e| e.state == OutboxState::Applied) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(delivered.is_ok(), "background loop did not deliver");
    bg.shutdown().await;
    assert_eq!(
        server_approval(&base, &created.id).await.status,
        ApprovalStatus::Approved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_decision_is_delivered_exactly_once_when_the_server_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let base = server.url();
    let a = create_approval(&base, "decide me offline", None).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();

    server.stop().await;
    let q = engine
        .decide_deny(&a.id, "Not during the freeze", Some("offline"))
        .unwrap();
    assert_eq!(q.entries.len(), 1);
    // The local view changes at once.
    assert_eq!(engine.detail(&a.id).unwrap().status, ApprovalStatus::Denied);
    let err = engine.push_now().await.unwrap_err();
    assert_eq!(err.code(), "network");
    assert!(matches!(engine.conn_state(), ConnState::Offline { .. }));
    // Retries while down do not lose or duplicate anything.
    let _ = engine.sync_now().await.unwrap_err();
    let _ = engine.push_now().await.unwrap_err();
    let e = engine.outbox(&[OutboxState::Queued]).unwrap();
    assert_eq!(e.len(), 1);
    assert!(e[0].attempts >= 2);
    assert!(e[0].last_error.is_some());

    server.restart().await;
    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.delivered, 1);
    assert_eq!(s.remaining, 0);
    assert_eq!(engine.conn_state(), ConnState::Online);
    assert_eq!(engine.sync_now().await.unwrap().delivered, 0);

    let trail = audit(&base, &a.id).await;
    let d = decisions(&trail);
    assert_eq!(d.len(), 1, "{trail:?}");
    assert_eq!(d[0].0, AuditEvent::Denied);
    assert_eq!(d[0].1, "alice");
    let applied = engine.outbox(&[OutboxState::Applied]).unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(engine.detail(&a.id).unwrap().status, ApprovalStatus::Denied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_on_something_another_approver_decided_is_rejected_and_the_queue_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let taken = create_approval(&base, "bob gets there first", None).await;
    let free = create_approval(&base, "still free", None).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();

    assert_eq!(
        decide_as(&base, BOB, &taken.id, DecisionKind::Approve).await,
        200
    );
    engine.decide_deny(&taken.id, "too risky", None).unwrap();
    engine.decide_approve(&free.id, None).unwrap();
    let s = engine.push_now().await.unwrap();
    assert_eq!((s.delivered, s.rejected), (1, 1), "{s:?}");

    let rejected = engine.outbox(&[OutboxState::Rejected]).unwrap();
    assert_eq!(rejected.len(), 1);
    let r = &rejected[0];
    assert_eq!(r.approval_id, taken.id);
    assert!(
        r.last_error.as_deref().unwrap_or("").contains("409"),
        "{r:?}"
    );
    let current = r.server_approval.as_ref().expect("current state kept");
    assert_eq!(current.decision.as_ref().unwrap().by, "bob");
    let msg = r.explain();
    assert!(msg.starts_with("bob approved it at "), "{msg}");
    assert!(
        !msg.contains("409"),
        "the raw status code is not the explanation: {msg}"
    );
    assert!(msg.contains("your deny, queued at"), "{msg}");
    assert!(msg.contains("was not applied"), "{msg}");
    // The local view shows the truth again.
    assert_eq!(
        engine.detail(&taken.id).unwrap().status,
        ApprovalStatus::Approved
    );
    // The one behind it went through.
    assert_eq!(
        server_approval(&base, &free.id).await.status,
        ApprovalStatus::Approved
    );
    // Bob's approval is the only decision.
    assert_eq!(decisions(&audit(&base, &taken.id).await).len(), 1);
    // It is announced once.
    let plan = engine.plan_notifications().unwrap();
    let rej: Vec<_> = plan
        .iter()
        .filter(|p| p.kind == countersign_core::NotificationKind::DecisionRejected)
        .collect();
    assert_eq!(rej.len(), 1);
    engine.mark_announced(&plan).unwrap();
    assert!(engine.plan_notifications().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_decision_on_an_approval_that_expired_meanwhile_is_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let short = create_approval(&base, "expires quickly", Some(2)).await;
    let device_clock = Arc::new(AtomicI64::new(0));
    let engine = engine_at(
        &dir.path().join("client"),
        &base,
        options(device_clock.clone()),
    )
    .await;
    engine.sync_now().await.unwrap();
    engine.decide_approve(&short.id, Some("too late")).unwrap();
    // Offline for longer than the approval lives: the device clock moves 3 s on (the
    // server's, real, runs on, so the sync below sees it expired or about to).
    device_clock.store(3, std::sync::atomic::Ordering::SeqCst);
    // Shown as expired locally, even before talking to the server.
    let d = engine.detail(&short.id).unwrap();
    assert_eq!(d.status, ApprovalStatus::Expired);
    let local = d.local_decision.unwrap();
    assert_eq!(local.state, OutboxState::Expired);
    assert_eq!(local.attempts, 0);
    assert!(
        local.explain().contains("expired before"),
        "{}",
        local.explain()
    );

    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.delivered, 0);
    let trail = audit(&base, &short.id).await;
    assert!(decisions(&trail).is_empty(), "sent anyway: {trail:?}");
    assert!(!trail.entries.iter().any(|e| e.actor == "alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_loop_instead_of_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let engine = engine(&dir.path().join("client"), &base).await;
    // Replace the stored token with one the server does not know.
    let tokens = countersign_core::TokenStore::file_only(&dir.path().join("client"));
    tokens
        .save(
            &countersign_core::TokenStore::account(&base, ORG),
            "revoked-token",
        )
        .unwrap();
    let engine =
        countersign_core::Engine::open_with(engine.home(), options(Arc::new(AtomicI64::new(0))))
            .unwrap();
    let err = engine.sync_now().await.unwrap_err();
    assert_eq!(err.code(), "unauthorized");
    assert!(matches!(
        engine.conn_state(),
        ConnState::Unauthorized { .. }
    ));
    // The background loop parks instead of retrying.
    let bg = engine.start();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(matches!(
        engine.conn_state(),
        ConnState::Unauthorized { .. }
    ));
    // Signing in again wakes it.
    engine.login(&base, ORG, ALICE).await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(10), async {
        while engine.conn_state() != ConnState::Online {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(back.is_ok());
    bg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_approval_refusal_rejects_that_decision_and_does_not_ask_to_sign_in_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    // An agent token under alice's own identity: whatever it raises, alice may not decide.
    let alice_agent = countersign_server::add_token_with(
        &server.db,
        ORG,
        countersign_core::api::Role::Agent,
        "alice",
        &countersign_server::db::tokens::TokenOptions {
            expires_at: None,
            agents: vec!["alice-script".into()],
        },
    )
    .unwrap();
    let req = serde_json::json!({
        "agent": {"id": "alice-script"},
        "action": "db:migrate",
        "summary": "raised by alice herself",
        "reason_code": "requires_approval",
        "reason_text": "needs a human",
    });
    let resp = http()
        .post(api(&base, ""))
        .bearer_auth(&alice_agent)
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let own: countersign_core::api::Approval = resp.json().await.unwrap();
    let free = create_approval(&base, "still free", None).await;

    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();
    engine.decide_approve(&own.id, None).unwrap();
    engine.decide_approve(&free.id, None).unwrap();
    let s = engine.push_now().await.unwrap();
    assert_eq!((s.delivered, s.rejected), (1, 1), "{s:?}");

    assert!(
        !matches!(
            engine.status().unwrap().conn,
            ConnState::Unauthorized { .. }
        ),
        "a per-request refusal must not look like a bad token"
    );
    let rejected = engine.outbox(&[OutboxState::Rejected]).unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].approval_id, own.id);
    assert_eq!(
        server_approval(&base, &own.id).await.status,
        ApprovalStatus::Pending
    );
    assert_eq!(
        server_approval(&base, &free.id).await.status,
        ApprovalStatus::Approved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_parked_on_a_refused_token_picks_up_a_login_made_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let home = dir.path().join("client");
    drop(engine(&home, &base).await);
    let account = countersign_core::TokenStore::account(&base, ORG);
    let tokens = countersign_core::TokenStore::file_only(&home);
    tokens.save(&account, "revoked-token").unwrap();

    let mut opts = options(Arc::new(AtomicI64::new(0)));
    opts.poll_interval = Duration::from_millis(200);
    let app = countersign_core::Engine::open_with(&home, opts).unwrap();
    let bg = app.start();
    let parked = tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(app.conn_state(), ConnState::Unauthorized { .. }) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(parked.is_ok(), "the refused token parks the loop");
    // Several recheck periods pass with the same refused token: it stays parked.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(matches!(app.conn_state(), ConnState::Unauthorized { .. }));

    // `countersign login` in a terminal: a separate engine on the same data directory.
    let cli =
        countersign_core::Engine::open_with(&home, options(Arc::new(AtomicI64::new(0)))).unwrap();
    cli.login(&base, ORG, ALICE).await.unwrap();
    drop(cli);

    let back = tokio::time::timeout(Duration::from_secs(10), async {
        while app.conn_state() != ConnState::Online {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(back.is_ok(), "still {:?}", app.conn_state());
    bg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_decision_can_be_dismissed_and_stays_dismissed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let taken = create_approval(&base, "bob decides first", None).await;
    let mine = create_approval(&base, "alice's to keep", None).await;
    let home = dir.path().join("client");
    let engine = engine(&home, &base).await;
    engine.sync_now().await.unwrap();
    assert_eq!(
        decide_as(&base, BOB, &taken.id, DecisionKind::Approve).await,
        200
    );
    engine.decide_deny(&taken.id, "too risky", None).unwrap();
    engine.push_now().await.unwrap();
    let rejected = engine.outbox(&[OutboxState::Rejected]).unwrap();
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let seq = rejected[0].seq;

    // A queued decision, then the same one applied, cannot be dismissed.
    engine.decide_approve(&mine.id, None).unwrap();
    let queued = engine.outbox(&[OutboxState::Queued]).unwrap();
    assert_eq!(queued.len(), 1);
    let err = engine.dismiss_outbox(queued[0].seq).unwrap_err();
    assert_eq!(err.code(), "invalid_input", "{err}");
    engine.push_now().await.unwrap();
    let err = engine.dismiss_outbox(queued[0].seq).unwrap_err();
    assert_eq!(err.code(), "invalid_input", "{err}");
    assert!(err.to_string().contains("applied"), "{err}");
    assert_eq!(
        engine.dismiss_outbox(999_999).unwrap_err().code(),
        "invalid_input"
    );

    assert!(engine
        .plan_notifications()
        .unwrap()
        .iter()
        .any(|n| n.approval_id.as_deref() == Some(taken.id.as_str())));
    let mut events = engine.subscribe();
    let d = engine.dismiss_outbox(seq).unwrap();
    let first_at = d.dismissed_at.expect("dismissed_at set");
    assert_eq!(events.try_recv().unwrap(), EngineEvent::OutboxChanged);
    // Idempotent: the first acknowledgement time is kept, no second event.
    let again = engine.dismiss_outbox(seq).unwrap();
    assert_eq!(again.dismissed_at, Some(first_at));
    assert!(
        events.try_recv().is_err(),
        "no event for a repeated dismiss"
    );

    let check = |engine: &countersign_core::Engine| {
        let failed = [OutboxState::Rejected, OutboxState::Expired];
        assert!(
            engine.outbox(&failed).unwrap().is_empty(),
            "hidden by default"
        );
        assert!(engine.outbox(&[]).unwrap().iter().all(|e| e.seq != seq));
        let kept = engine.outbox_including_dismissed(&failed).unwrap();
        assert_eq!(kept.len(), 1, "kept for the record");
        assert_eq!(kept[0].seq, seq);
        assert_eq!(kept[0].approval_id, taken.id);
        assert_eq!(kept[0].dismissed_at, Some(first_at));
        // A dismissed rejection is not announced (again) either.
        let planned = engine.plan_notifications().unwrap();
        assert!(
            planned
                .iter()
                .all(|n| n.approval_id.as_deref() != Some(taken.id.as_str())),
            "{planned:?}"
        );
    };
    check(&engine);
    drop(engine);
    let reopened =
        countersign_core::Engine::open_with(&home, options(Arc::new(AtomicI64::new(0)))).unwrap();
    check(&reopened);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_decisions_made_offline_in_one_bulk_approve_leave_in_a_handful_of_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let proxy = proxy::Proxy::start(server.addr).await;
    let pool = create_many(&base, 60, "offline bulk").await;
    let ids: Vec<String> = pool.iter().map(|a| a.id.clone()).collect();
    let engine = engine(&dir.path().join("client"), &proxy.url()).await;
    engine.sync_now().await.unwrap();
    let before = server_stats(&base).await.totals.approved;

    proxy.set(proxy::Mode::Refuse);
    let queued = engine.bulk_approve(&ids, Some("train ride")).unwrap();
    assert_eq!(queued.entries.len(), 60);
    assert_eq!(engine.push_now().await.unwrap_err().code(), "network");

    proxy.set(proxy::Mode::Pass);
    let mut events = engine.subscribe();
    let s = engine.push_now().await.unwrap();
    assert_eq!((s.delivered, s.rejected, s.remaining), (60, 0, 0), "{s:?}");
    let requests = proxy
        .decision_requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(requests <= 3, "60 decisions took {requests} requests");
    // One change event for the request, naming all of its approvals.
    let mut changed = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let EngineEvent::ApprovalsChanged { ids } = ev {
            changed.push(ids);
        }
    }
    assert_eq!(changed.len(), requests, "{changed:?}");
    let mut seen: Vec<String> = changed.concat();
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want);

    // Exactly once: one decision each on the server, alice's, and nothing else decided.
    assert_eq!(server_stats(&base).await.totals.approved, before + 60);
    for id in &ids {
        let d = decisions(&audit(&base, id).await);
        assert_eq!(d.len(), 1, "{id}: {d:?}");
        assert_eq!((d[0].0, d[0].1.as_str()), (AuditEvent::Approved, "alice"));
        let local = engine.detail(id).unwrap();
        assert_eq!(local.status, ApprovalStatus::Approved);
        assert_eq!(
            local.approval.decision.as_ref().unwrap().notes.as_deref(),
            Some("train ride")
        );
    }
    let applied = engine.outbox(&[OutboxState::Applied]).unwrap();
    assert_eq!(applied.len(), 60);
}

/// Undo (issue 12 §3): a decision made in the app waits out the undo window on the
/// device; taken back within it, the server never sees it, even after "sync now".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_taken_back_within_the_undo_window_never_reaches_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let a = create_approval(&base, "undo me", None).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();
    engine.set_undo_window_secs(60).unwrap();

    let q = engine
        .decide_undoable(
            std::slice::from_ref(&a.id),
            DecisionKind::Approve,
            None,
            None,
        )
        .unwrap();
    let seq = q.entries[0].seq;
    assert!(q.entries[0].send_after.is_some());
    assert_eq!(
        engine.detail(&a.id).unwrap().status,
        ApprovalStatus::Approved
    );
    // "Sync now" does not send a decision that can still be taken back.
    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.delivered, 0, "{s:?}");
    assert_eq!(
        server_approval(&base, &a.id).await.status,
        ApprovalStatus::Pending
    );

    assert_eq!(engine.cancel_queued(seq).unwrap(), a.id);
    let d = engine.detail(&a.id).unwrap();
    assert_eq!(d.status, ApprovalStatus::Pending);
    assert!(d.decidable);
    assert!(engine.outbox(&[]).unwrap().iter().all(|e| e.seq != seq));
    engine.sync_now().await.unwrap();
    assert_eq!(
        server_approval(&base, &a.id).await.status,
        ApprovalStatus::Pending
    );
    assert!(decisions(&audit(&base, &a.id).await).is_empty());
}

/// After the window the background loop sends the held decision by itself (it wakes at
/// `send_after`: polling is every 60 s here), exactly once; Undo then refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_undo_window_the_loop_sends_the_decision_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let a = create_approval(&base, "send me later", None).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();
    engine.set_undo_window_secs(1).unwrap();
    let bg = engine.start();
    let q = engine
        .decide_undoable(
            std::slice::from_ref(&a.id),
            DecisionKind::Approve,
            Some("fine"),
            None,
        )
        .unwrap();
    let seq = q.entries[0].seq;
    let sent = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if server_approval(&base, &a.id).await.status == ApprovalStatus::Approved {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(sent.is_ok(), "the held decision was never sent");
    let trail = decisions(&audit(&base, &a.id).await);
    assert_eq!(trail.len(), 1, "{trail:?}");
    let err = engine.cancel_queued(seq).unwrap_err().to_string();
    assert!(
        err.contains("cannot be undone") || err.contains("no longer"),
        "{err}"
    );
    bg.shutdown().await;
}
