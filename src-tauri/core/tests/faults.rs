//! Network faults between the engine and the real server, through a loopback proxy.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/proxy.rs"]
mod proxy;

use std::sync::atomic::Ordering;

use countersign_core::api::{ApprovalStatus, AuditEvent};
use countersign_core::OutboxState;
use harness::*;
use proxy::{Mode, Proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_then_dropped_response_is_retried_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let proxy = Proxy::start(server.addr).await;
    let a = create_approval(&base, "lost answer", None).await;
    let engine = engine(&dir.path().join("client"), &proxy.url()).await;
    engine.sync_now().await.unwrap();
    engine.decide_approve(&a.id, Some("once")).unwrap();

    proxy.set(Mode::DropDecisionResponse);
    let err = engine.push_now().await.unwrap_err();
    assert_eq!(err.code(), "network");
    assert_eq!(proxy.dropped.load(Ordering::SeqCst), 1);
    // The server did apply it; the client does not know yet.
    assert_eq!(
        server_approval(&base, &a.id).await.status,
        ApprovalStatus::Approved
    );
    let q = engine.outbox(&[OutboxState::Queued]).unwrap();
    assert_eq!(q.len(), 1);
    let key = q[0].idempotency_key.clone();

    proxy.set(Mode::Pass);
    let s = engine.push_now().await.unwrap();
    assert_eq!((s.delivered, s.rejected), (1, 0), "{s:?}");
    let done = engine.outbox(&[OutboxState::Applied]).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].idempotency_key, key);
    let sent = proxy.keys.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![key.clone(), key],
        "the retry must carry the same key"
    );
    assert_eq!(done[0].attempts, 2);
    let d = decisions(&audit(&base, &a.id).await);
    assert_eq!(d.len(), 1, "applied twice: {d:?}");
    assert_eq!(d[0].0, AuditEvent::Approved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_server_backs_off_and_later_delivers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let proxy = Proxy::start(server.addr).await;
    let first = create_approval(&base, "first", None).await;
    let second = create_approval(&base, "second", None).await;
    let engine = engine(&dir.path().join("client"), &proxy.url()).await;
    engine.sync_now().await.unwrap();
    engine.decide_approve(&first.id, None).unwrap();
    engine.decide_deny(&second.id, "no", None).unwrap();

    proxy.set(Mode::Fail503);
    let err = engine.push_now().await.unwrap_err();
    assert_eq!(err.code(), "network");
    let q = engine.outbox(&[OutboxState::Queued]).unwrap();
    assert_eq!(q.len(), 2);
    // Only the head was tried; the one behind it waits its turn.
    assert_eq!((q[0].attempts, q[1].attempts), (1, 0));
    assert!(q[0].last_error.as_deref().unwrap().contains("503"));
    assert!(q[0].next_attempt_at > q[0].decided_at);

    proxy.set(Mode::Refuse);
    assert_eq!(engine.push_now().await.unwrap_err().code(), "network");

    proxy.set(Mode::Pass);
    let s = engine.push_now().await.unwrap();
    assert_eq!(s.delivered, 2);
    let t1 = decisions(&audit(&base, &first.id).await);
    let t2 = decisions(&audit(&base, &second.id).await);
    assert_eq!((t1.len(), t2.len()), (1, 1));
    assert!(t1[0].2 <= t2[0].2, "delivered out of order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_left_sending_by_a_crash_is_resent_with_its_key_and_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let proxy = Proxy::start(server.addr).await;
    let a = create_approval(&base, "crash while sending", None).await;
    let home = dir.path().join("client");
    let engine = engine(&home, &proxy.url()).await;
    engine.sync_now().await.unwrap();
    engine.decide_deny(&a.id, "crash test", None).unwrap();
    // The request reaches the server and is committed; the answer is lost...
    proxy.set(Mode::DropDecisionResponse);
    let _ = engine.push_now().await.unwrap_err();
    drop(engine);
    // ...and the process died with the row still marked `sending`.
    {
        let store = countersign_core::store::cipher::open_home_file_keyed(&home).unwrap();
        let head = store.outbox_head().unwrap().unwrap();
        store.outbox_mark_sending(head.seq).unwrap();
        assert_eq!(
            store.outbox_entry(head.seq).unwrap().unwrap().state,
            OutboxState::Sending
        );
    }
    proxy.set(Mode::Pass);
    let engine = countersign_core::Engine::open_with(
        &home,
        options(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0))),
    )
    .unwrap();
    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.delivered, 1, "{s:?}");
    let d = decisions(&audit(&base, &a.id).await);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, AuditEvent::Denied);
    assert_eq!(engine.detail(&a.id).unwrap().status, ApprovalStatus::Denied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_event_stream_the_loop_falls_back_to_polling() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let proxy = Proxy::start(server.addr).await;
    proxy.set(Mode::NoEventStream);
    let mut opts = options(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0)));
    opts.poll_interval = std::time::Duration::from_millis(300);
    let engine = engine_at(&dir.path().join("client"), &proxy.url(), opts).await;
    let mut events = engine.subscribe();
    let bg = engine.start();
    // Online after its first pull: with no event stream, only a later poll can find
    // what is created from here on.
    let online = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while engine.conn_state() != countersign_core::ConnState::Online {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(online.is_ok(), "never online: {:?}", engine.conn_state());
    let created = create_approval(&base, "found by polling", None).await;
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Ok(countersign_core::EngineEvent::ApprovalsChanged { ids }) = events.recv().await
            {
                if ids.contains(&created.id) {
                    break;
                }
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "polling never picked up {}", created.id);
    assert_eq!(engine.conn_state(), countersign_core::ConnState::Online);
    bg.shutdown().await;
}

/// Marks the next `n` queued rows `sending`, as a process killed mid-request leaves them.
fn crash_while_sending(home: &std::path::Path, n: usize) -> Vec<String> {
    let store = countersign_core::store::cipher::open_home_file_keyed(home).unwrap();
    let rows = store.outbox_batch(n).unwrap();
    assert_eq!(rows.len(), n);
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    store.outbox_mark_sending_all(&seqs).unwrap();
    rows.into_iter().map(|r| r.idempotency_key).collect()
}

fn reopen(home: &std::path::Path, max_batch: usize) -> countersign_core::Engine {
    let mut opts = options(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0)));
    opts.max_batch = max_batch;
    countersign_core::Engine::open_with(home, opts).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_whose_answers_were_lost_is_regrouped_after_crashes_and_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let proxy = Proxy::start(server.addr).await;
    let pool = create_many(&base, 60, "regrouped").await;
    let ids: Vec<String> = pool.iter().map(|a| a.id.clone()).collect();
    let home = dir.path().join("client");
    let engine = engine(&home, &proxy.url()).await;
    engine.sync_now().await.unwrap();
    let queued = engine.bulk_approve(&ids, Some("all at once")).unwrap();
    assert_eq!(queued.entries.len(), 60);
    let keys: Vec<String> = queued
        .entries
        .iter()
        .map(|e| e.idempotency_key.clone())
        .collect();
    drop(engine);

    // 1. A build that sends one at a time: the head goes alone, is committed, the answer
    //    is lost, the process dies with it `sending`.
    proxy.set(Mode::DropDecisionResponse);
    let engine = reopen(&home, 1);
    assert_eq!(engine.push_now().await.unwrap_err().code(), "network");
    drop(engine);
    assert_eq!(crash_while_sending(&home, 1), keys[..1]);
    // 2. Then 25 to a request: the head again plus 24 more, committed, answer lost, crash.
    let engine = reopen(&home, 25);
    assert_eq!(engine.push_now().await.unwrap_err().code(), "network");
    drop(engine);
    assert_eq!(crash_while_sending(&home, 25), keys[..25]);
    assert_eq!(proxy.dropped.load(Ordering::SeqCst), 2);
    let decided_meanwhile = server_stats(&base).await.totals.approved;
    // 3. Back online with 40 to a request: 25 replays and 15 fresh in one, 20 in the next.
    proxy.set(Mode::Pass);
    let engine = reopen(&home, 40);
    let s = engine.push_now().await.unwrap();
    assert_eq!((s.delivered, s.rejected), (60, 0), "{s:?}");
    assert_eq!(proxy.decision_requests.load(Ordering::SeqCst), 1 + 1 + 2);
    assert_eq!(
        server_stats(&base).await.totals.approved,
        decided_meanwhile + 35,
        "only the 35 never sent were decided by the last drain"
    );

    // Every item went out under its own key each time, however it was grouped...
    let sent = proxy.keys.lock().unwrap().clone();
    let mut expected = vec![keys[0].clone()];
    expected.extend(keys[..25].iter().cloned());
    expected.extend(keys.iter().cloned());
    assert_eq!(sent, expected);
    // ...so the server holds exactly one stored answer per decision, each a 200.
    let mut stored = server_idempotency_keys(&server.db, "alice");
    let mut want: Vec<(String, u16)> = keys.iter().map(|k| (k.clone(), 200)).collect();
    stored.sort();
    want.sort();
    assert_eq!(stored, want);
    let done = engine.outbox(&[OutboxState::Applied]).unwrap();
    assert_eq!(done.len(), 60);
    for e in &done {
        let d = decisions(&audit(&base, &e.approval_id).await);
        assert_eq!(d.len(), 1, "{}: {d:?}", e.approval_id);
        assert_eq!((d[0].0, d[0].1.as_str()), (AuditEvent::Approved, "alice"));
        assert_eq!(
            engine.detail(&e.approval_id).unwrap().status,
            ApprovalStatus::Approved
        );
    }
}
