//! The client remembers the server's signed audit head (issue 16 §6): a server
//! restored from an older copy of its database no longer holds the head this device
//! saw, and the client says so, persistently.

#[path = "support/harness.rs"]
mod harness;

use countersign_core::api::DecisionKind;
use countersign_core::Engine;
use harness::*;

fn notice(engine: &Engine) -> Option<String> {
    engine.status().unwrap().audit_notice
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restored_from_an_older_copy_is_reported_as_having_lost_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let base = server.url();
    let home = dir.path().join("client");
    let engine = engine(&home, &base).await;
    engine.sync_now().await.unwrap();
    assert_eq!(notice(&engine), None);

    // The operator's backup.
    server.stop().await;
    let backup = dir.path().join("backup.db");
    copy_db(&server.db, &backup);
    server.restart().await;

    // More decisions after the backup; the client sees the head move past them.
    for i in 0..3 {
        let a = create_approval(&base, &format!("after the backup {i}"), None).await;
        assert_eq!(
            decide_as(&base, BOB, &a.id, DecisionKind::Approve).await,
            200
        );
    }
    engine.sync_now().await.unwrap();
    engine.sync_now().await.unwrap();
    assert_eq!(notice(&engine), None, "an honest server keeps its head");

    // Stop, put the old file back, start; agents raise more requests on it, so its
    // head moves past the one the client saw, with other entries.
    server.stop().await;
    copy_db(&backup, &server.db);
    server.restart().await;
    create_many(&base, 8, "raised after the restore").await;

    engine.sync_now().await.unwrap();
    let n = notice(&engine).expect("the lost head is reported");
    assert!(n.contains("no longer contains"), "{n}");

    // It stays: the next sync, and the next start of the app, still say it.
    engine.sync_now().await.unwrap();
    assert_eq!(notice(&engine).as_deref(), Some(n.as_str()));
    drop(engine);
    let again = Engine::open_with(
        &home,
        options(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0))),
    )
    .unwrap();
    assert_eq!(notice(&again).as_deref(), Some(n.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_went_back_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let base = server.url();
    server.stop().await;
    let backup = dir.path().join("backup.db");
    copy_db(&server.db, &backup);
    server.restart().await;
    let engine = engine(&dir.path().join("client"), &base).await;
    create_many(&base, 2, "after the backup").await;
    engine.sync_now().await.unwrap();
    assert_eq!(notice(&engine), None);

    server.stop().await;
    copy_db(&backup, &server.db);
    server.restart().await;
    engine.sync_now().await.unwrap();
    assert!(notice(&engine).is_some_and(|n| n.contains("no longer contains")));
}
