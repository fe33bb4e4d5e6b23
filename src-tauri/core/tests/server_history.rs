//! A server whose history is not the one the client followed: restored from an
//! older copy of its database, or rebuilt from scratch. The real server is stopped,
//! its database file swapped, and started again on the same port.

#[path = "support/harness.rs"]
mod harness;

use countersign_core::api::ApprovalStatus;
use countersign_core::{Engine, OutboxState, QueueQuery};
use harness::*;

fn ids(engine: &Engine) -> Vec<String> {
    cached_ids(engine, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restored_from_an_older_backup_is_resynced_and_nothing_decided_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let base = server.url();
    // Pending in the backup: alice's decision on it will be lost with the restore.
    let in_backup = create_approval(&base, "in the backup", None).await;
    server.stop().await;
    let backup = dir.path().join("backup.db");
    copy_db(&server.db, &backup);
    server.restart().await;

    // After the backup: approvals the restored server will not have.
    let untouched = create_approval(&base, "lost, never looked at", None).await;
    let decided = create_approval(&base, "lost, approved by alice", None).await;
    let queued = create_approval(&base, "lost, approved offline", None).await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();
    engine.decide_approve(&decided.id, None).unwrap();
    engine.decide_approve(&in_backup.id, None).unwrap();
    let s = engine.push_now().await.unwrap();
    assert_eq!(s.delivered, 2, "{s:?}");
    server.stop().await;
    // Offline: a decision waits in the outbox.
    engine.decide_approve(&queued.id, None).unwrap();

    // Restore the older copy, and let agents raise new requests on it.
    copy_db(&backup, &server.db);
    server.restart().await;
    let fresh = create_many(&base, 3, "raised after the restore").await;

    let s = engine.sync_now().await.unwrap();
    let r = s.resync.clone().expect("a full resync");
    assert!(
        r.reason.contains("restored") || r.reason.contains("replaced"),
        "{}",
        r.reason
    );
    assert_eq!(
        r.gone,
        vec![decided.id.clone(), queued.id.clone()].tap_sort()
    );
    assert_eq!(r.removed, 1, "the untouched lost approval goes");
    assert_eq!(r.rejected, vec![queued.id.clone()]);
    assert_eq!(r.undone, vec![in_backup.id.clone()]);
    assert_eq!(
        s.delivered, 0,
        "nothing sent for an approval the server lacks"
    );

    // The server's truth: new approvals visible, the lost untouched one gone...
    let local = ids(&engine);
    for a in &fresh {
        assert!(local.contains(&a.id), "new approval {} visible", a.id);
    }
    assert!(!local.contains(&untouched.id));
    // ...the decided ones kept and marked, never decidable again...
    let d = engine.detail(&decided.id).unwrap();
    assert!(d.gone_at.is_some());
    let q = engine.detail(&queued.id).unwrap();
    assert!(q.gone_at.is_some());
    let local_q = q.local_decision.unwrap();
    assert_eq!(local_q.state, OutboxState::Rejected);
    assert!(
        local_q.explain().contains("no longer has"),
        "{}",
        local_q.explain()
    );
    let again = engine.decide_approve(&queued.id, None).unwrap();
    assert!(again.entries.is_empty(), "{again:?}");
    assert!(
        again.skipped[0].1.contains("no longer has"),
        "{:?}",
        again.skipped
    );
    // ...and the one the backup shows pending again is pending here too.
    assert_eq!(
        engine.detail(&in_backup.id).unwrap().status,
        ApprovalStatus::Pending
    );
    let pending = engine
        .list(&QueueQuery {
            status: Some(ApprovalStatus::Pending),
            limit: 10_000,
            ..Default::default()
        })
        .unwrap();
    assert!(
        pending.items.iter().all(|i| i.gone_at.is_none()),
        "gone approvals are not offered as pending"
    );

    // The next sync is an ordinary one, and sees later changes.
    let later = create_approval(&base, "after the resync", None).await;
    let s = engine.sync_now().await.unwrap();
    assert!(s.resync.is_none(), "{s:?}");
    assert_eq!(s.pulled, 1);
    assert!(ids(&engine).contains(&later.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_server_that_moved_past_the_old_cursor_or_a_rebuilt_one_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let base = server.url();
    server.stop().await;
    let backup = dir.path().join("backup.db");
    copy_db(&server.db, &backup);
    server.restart().await;
    let lost = create_many(&base, 2, "lost").await;
    let engine = engine(&dir.path().join("client"), &base).await;
    engine.sync_now().await.unwrap();

    // Restored, then busier than before: its latest change is past our cursor, and
    // the change numbers we saw now name other approvals.
    server.stop().await;
    copy_db(&backup, &server.db);
    server.restart().await;
    let fresh = create_many(&base, 5, "after the restore").await;
    assert!(fresh.last().unwrap().change_seq > lost.last().unwrap().change_seq);
    let s = engine.sync_now().await.unwrap();
    let r = s.resync.expect("reused change numbers are noticed");
    assert!(r.reason.contains("history was replaced"), "{}", r.reason);
    assert_eq!(r.removed, 2);
    let local = ids(&engine);
    assert!(fresh.iter().all(|a| local.contains(&a.id)));
    assert!(lost.iter().all(|a| !local.contains(&a.id)));

    // Rebuilt: a new database (a new epoch) at the same address.
    server.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", server.db.display()));
    }
    server.restart().await;
    let s = engine.sync_now().await.unwrap();
    let r = s.resync.expect("a new epoch is noticed");
    assert!(r.reason.contains("epoch"), "{}", r.reason);
    assert!(ids(&engine)
        .iter()
        .all(|id| !fresh.iter().any(|a| &a.id == id)));

    // A decision offline on the new server goes through as usual afterwards.
    let next = create_approval(&base, "on the rebuilt server", None).await;
    engine.sync_now().await.unwrap();
    engine.decide_approve(&next.id, None).unwrap();
    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.delivered, 1);
    assert!(s.resync.is_none());
    assert_eq!(
        server_approval(&base, &next.id).await.status,
        ApprovalStatus::Approved
    );
}

trait TapSort {
    fn tap_sort(self) -> Self;
}

impl TapSort for Vec<String> {
    fn tap_sort(mut self) -> Self {
        self.sort();
        self
    }
}
