//! Reminders from the engine's side, on real stores and a real server: a snooze
//! re-announces its approval after the hour (and survives a reopen), the daily digest
//! fires once per slot and not again after a restart, and deny reason suggestions.

#[path = "support/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{Duration, Local, NaiveTime, TimeZone, Utc};
use countersign_core::api::DecisionKind;
use countersign_core::{Engine, NotificationKind, PlannedNotification};
use harness::*;

fn reminders_for(plan: &[PlannedNotification], id: &str) -> usize {
    plan.iter()
        .filter(|p| p.kind == NotificationKind::Reminder && p.approval_id.as_deref() == Some(id))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snoozed_approval_is_announced_again_after_the_hour_even_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let home = dir.path().join("client");
    let offset = Arc::new(AtomicI64::new(0));
    let engine = engine_at(&home, &base, options(offset.clone())).await;
    let a = create_approval(&base, "snoozed, still pending", None).await;
    let b = create_approval(&base, "snoozed, then decided by bob", None).await;
    engine.sync_now().await.unwrap();
    let plan = engine.plan_notifications().unwrap();
    engine.mark_announced(&plan).unwrap();

    let until = engine.snooze(&a.id, Duration::hours(1)).unwrap();
    engine.snooze(&b.id, Duration::hours(1)).unwrap();
    // The bridge's wake-up includes the snooze (nothing else of ours is due earlier:
    // both expire in a day, and what the demo seeded was announced above).
    let due = engine.next_notification_due().unwrap().unwrap();
    assert!(due <= until, "{due} after the snooze's end {until}");
    assert_eq!(
        reminders_for(&engine.plan_notifications().unwrap(), &a.id),
        0
    );
    // b is decided meanwhile by another approver: it must not come back.
    assert_eq!(
        decide_as(&base, BOB, &b.id, DecisionKind::Approve).await,
        200
    );
    engine.sync_now().await.unwrap();

    // The app restarts within the hour: the snooze is still there, not yet due.
    drop(engine);
    let engine = Engine::open_with(&home, options(offset.clone())).unwrap();
    assert_eq!(
        reminders_for(&engine.plan_notifications().unwrap(), &a.id),
        0
    );
    // An hour later (the device clock moves; the server offset learned at the last
    // sync stays): announced again, once.
    offset.store(3601, Ordering::SeqCst);
    let plan = engine.plan_notifications().unwrap();
    assert_eq!(reminders_for(&plan, &a.id), 1, "{plan:?}");
    assert_eq!(reminders_for(&plan, &b.id), 0, "{plan:?}");
    engine.mark_announced(&plan).unwrap();
    assert_eq!(
        reminders_for(&engine.plan_notifications().unwrap(), &a.id),
        0
    );
    drop(engine);
    let engine = Engine::open_with(&home, options(offset)).unwrap();
    assert_eq!(
        reminders_for(&engine.plan_notifications().unwrap(), &a.id),
        0
    );
    // Snoozing something that is not an approval id is refused, not stored.
    assert!(engine.snooze("../etc", Duration::hours(1)).is_err());
}

#[test]
fn the_digest_fires_once_per_slot_and_not_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("client");
    // Pin the engine's clock to today 12:00 local time, whatever time the test runs.
    let noon = Local
        .from_local_datetime(&Local::now().date_naive().and_hms_opt(12, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    // Whole seconds truncate toward zero: before noon UTC the offset is positive and
    // would put the clock a fraction of a second *before* noon (and 11 h later before
    // 23:00, so the evening slot is not due yet). One more second keeps it just after.
    let offset = Arc::new(AtomicI64::new((noon - Utc::now()).num_seconds() + 1));
    let digests = |e: &Engine| {
        e.plan_notifications()
            .unwrap()
            .into_iter()
            .filter(|p| p.kind == NotificationKind::Digest)
            .collect::<Vec<_>>()
    };
    let engine = Engine::open_with(&home, options(offset.clone())).unwrap();
    // Off by default.
    assert!(digests(&engine).is_empty());
    assert!(engine
        .set_digest(true, &["25:00".into(), "17:00".into()])
        .is_err());
    engine
        .set_digest(true, &["11:00".into(), "23:00".into()])
        .unwrap();
    // 11:00 passed today (the app was not running then): given once, now.
    let d = digests(&engine);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].title, "No approvals waiting");
    engine.mark_announced(&d).unwrap();
    assert!(digests(&engine).is_empty());
    let evening = Local
        .from_local_datetime(
            &Local::now()
                .date_naive()
                .and_time(NaiveTime::from_hms_opt(23, 0, 0).unwrap()),
        )
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(engine.next_notification_due().unwrap(), Some(evening));
    // A restart does not give it again.
    drop(engine);
    let engine = Engine::open_with(&home, options(offset.clone())).unwrap();
    assert!(digests(&engine).is_empty());
    // At 23:00 the second slot comes, once.
    offset.fetch_add(11 * 3600, Ordering::SeqCst);
    let d = digests(&engine);
    assert_eq!(d.len(), 1, "{d:?} at {}", engine.now());
    engine.mark_announced(&d).unwrap();
    assert!(digests(&engine).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_reasons_offer_mine_first_then_the_orgs_most_used() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();
    let engine = engine(&dir.path().join("client"), &base).await;
    let deny = |id: String, reason: &'static str| {
        let base = base.clone();
        async move {
            let s = http()
                .post(api(&base, &format!("/{id}/deny")))
                .bearer_auth(BOB)
                .json(&serde_json::json!({ "reason": reason }))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(s.as_u16(), 200);
        }
    };
    for a in create_many(&base, 3, "window").await {
        deny(a.id, "Outside the change window — retry after 18:00").await;
    }
    for a in create_many(&base, 2, "budget").await {
        deny(a.id, "Budget exceeded").await;
    }
    let mine = create_approval(&base, "mine to deny", None).await;
    engine.sync_now().await.unwrap();
    // Queued on this device, not yet sent: already offered, first, verbatim.
    engine
        .decide_deny(&mine.id, "  Needs a ticket: see RUNBOOK-7  ", None)
        .unwrap();
    let r = engine.deny_reasons(50).unwrap();
    let texts: Vec<&str> = r.iter().map(|d| d.text.as_str()).collect();
    let pos = |t: &str| texts.iter().position(|x| *x == t);
    assert_eq!(texts[0], "Needs a ticket: see RUNBOOK-7", "{r:?}");
    assert!(r[0].recent);
    let window = pos("Outside the change window — retry after 18:00").expect("window reason");
    let budget = pos("Budget exceeded").expect("budget reason");
    assert!(window < budget, "{r:?}");
    assert_eq!(r[window].uses, 3);
    assert_eq!(r[budget].uses, 2);
    assert!(!r[window].recent);
    // Each offered once, and the limit holds.
    let mut unique = texts.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), texts.len());
    assert_eq!(engine.deny_reasons(2).unwrap().len(), 2);
}
