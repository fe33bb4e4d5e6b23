//! A laptop clock days off the server's: expiry follows the server's time, which the
//! engine measures on every answer and keeps for offline use. The device clock is
//! skewed through `EngineOptions.clock`; the server runs on the real one.

#[path = "support/harness.rs"]
mod harness;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use countersign_core::api::ApprovalStatus;
use countersign_core::Engine;
use harness::*;

const TWO_DAYS: i64 = 2 * 86_400;

async fn skewed(home: &std::path::Path, base: &str, secs: i64) -> Engine {
    engine_at(home, base, options(Arc::new(AtomicI64::new(secs)))).await
}

fn pending_ids(engine: &Engine) -> Vec<String> {
    cached_ids(engine, Some(ApprovalStatus::Pending))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_two_days_fast_does_not_block_a_valid_decision() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    // 22 hours left on the server's clock; "expired" 26 hours ago on this laptop's.
    let a = create_approval(&base, "22 hours left", Some(22 * 3600)).await;
    let engine = skewed(&dir.path().join("client"), &base, TWO_DAYS).await;
    engine.sync_now().await.unwrap();

    let st = engine.status().unwrap();
    let off = st.clock_offset_ms.expect("measured");
    assert!((off + TWO_DAYS * 1000).abs() < 2_000, "{off}");
    assert!(st.clock_off, "a clock two days off is worth saying");
    assert!((engine.now() - chrono::Utc::now()).num_seconds().abs() <= 2);
    assert!(pending_ids(&engine).contains(&a.id));
    let d = engine.detail(&a.id).unwrap();
    assert_eq!(d.status, ApprovalStatus::Pending);
    assert!(!d.locally_expired);

    let q = engine
        .decide_approve(&a.id, Some("clock is wrong, decision is not"))
        .unwrap();
    assert_eq!(q.entries.len(), 1, "{:?}", q.skipped);
    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.delivered, 1, "{s:?}");
    assert_eq!(
        server_approval(&base, &a.id).await.status,
        ApprovalStatus::Approved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_two_days_slow_does_not_show_an_expired_approval_as_pending_even_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path()).await;
    let base = server.url();
    let a = create_approval(&base, "expires in two seconds", Some(2)).await;
    let home = dir.path().join("client");
    let engine = skewed(&home, &base, -TWO_DAYS).await;
    engine.sync_now().await.unwrap();
    assert!(pending_ids(&engine).contains(&a.id));
    let off = engine.status().unwrap().clock_offset_ms.unwrap();
    assert!((off - TWO_DAYS * 1000).abs() < 2_000, "{off}");

    // Offline from here: only the measured offset tells the time.
    server.stop().await;
    drop(engine);
    let engine = Engine::open_with(&home, options(Arc::new(AtomicI64::new(-TWO_DAYS)))).unwrap();
    assert_eq!(
        engine.status().unwrap().clock_offset_ms,
        Some(off),
        "the offset outlives a restart"
    );
    // Until the approval expires on the server's clock as this device estimates it (the
    // `Date` header has whole seconds, so the estimate may lag the real one by up to one).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while engine.now() <= a.expires_at {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!pending_ids(&engine).contains(&a.id));
    let d = engine.detail(&a.id).unwrap();
    assert_eq!(d.status, ApprovalStatus::Expired);
    assert!(d.locally_expired);
    let q = engine.decide_approve(&a.id, None).unwrap();
    assert!(q.entries.is_empty());
    assert_eq!(q.skipped[0].1, "expired");
}

/// Signed in and synced with a right clock, then the device clock jumps 23 hours ahead
/// (a wrong NTP answer, someone setting it). Approvals with 22 hours left are still
/// decided: in the running engine the time since the last answer counts, not the jump;
/// in a process started after the jump (the CLI), whose stored offset is from before it,
/// the server is asked before the local clock may refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_that_jumps_a_day_ahead_after_syncing_does_not_refuse_a_valid_decision() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let running = create_approval(&base, "22 hours left, app open", Some(22 * 3600)).await;
    let later = create_approval(&base, "22 hours left, CLI after", Some(22 * 3600)).await;
    let home = dir.path().join("client");
    let jump = Arc::new(AtomicI64::new(0));
    let engine = engine_at(&home, &base, options(jump.clone())).await;
    engine.sync_now().await.unwrap();
    assert!(pending_ids(&engine).contains(&running.id));

    jump.store(23 * 3600, std::sync::atomic::Ordering::SeqCst);
    assert!(
        (engine.now() - chrono::Utc::now()).num_seconds().abs() <= 2,
        "the jump is not time passing: {}",
        engine.now()
    );
    assert!(pending_ids(&engine).contains(&running.id));
    let q = engine.decide_approve(&running.id, None).unwrap();
    assert_eq!(q.entries.len(), 1, "refused: {:?}", q.skipped);
    assert_eq!(engine.push_now().await.unwrap().delivered, 1);
    assert_eq!(
        server_approval(&base, &running.id).await.status,
        ApprovalStatus::Approved
    );
    drop(engine);

    let cli = Engine::open_with(&home, options(jump.clone())).unwrap();
    assert!(
        cli.detail(&later.id).unwrap().locally_expired,
        "the offset from before the jump makes it look expired"
    );
    cli.ask_server_about_expired(std::slice::from_ref(&later.id))
        .await;
    let q = cli.decide_approve(&later.id, None).unwrap();
    assert_eq!(q.entries.len(), 1, "refused: {:?}", q.skipped);
    assert_eq!(cli.push_now().await.unwrap().delivered, 1);
    assert_eq!(
        server_approval(&base, &later.id).await.status,
        ApprovalStatus::Approved
    );
}
