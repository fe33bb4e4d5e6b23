//! A `countersign sync` killed with SIGKILL in the middle of draining a big outbox
//! (sent in small batches) loses nothing and duplicates nothing once it runs again
//! with other batch sizes, which regroups what was in flight.

#[path = "cli_support/harness.rs"]
mod harness;

use std::process::Stdio;
use std::time::{Duration, Instant};

use countersign_api::AuditEvent;
use harness::*;

const N: usize = 400;
/// The tail of the outbox queued one `approve` at a time: alike, so they join the bulk.
const SINGLES: usize = 20;

fn approved_count(env: &Env) -> u64 {
    env.server_stats().totals.approved
}

#[test]
fn sigkill_mid_drain_loses_and_duplicates_nothing() {
    let mut env = Env::new();
    let ids: Vec<String> = (0..N)
        .map(|i| env.create(&format!("kill test {i}")).id)
        .collect();
    let login = env.login();
    assert!(login.status.success(), "{}", stderr(&login));

    // Decide everything while the server is down: all of it queues, most as one bulk
    // selection, the rest one at a time with the same notes.
    env.stop_server();
    let mut args = vec!["bulk-approve"];
    args.extend(ids[..N - SINGLES].iter().map(String::as_str));
    args.extend(["--notes", "sigkill test"]);
    let out = env.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("queued, will be sent when online"));
    for id in &ids[N - SINGLES..] {
        let out = env.run(&["approve", id, "--notes", "sigkill test"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    env.start_server();
    let baseline = approved_count(&env);

    // Drain five to a request, and kill it hard part-way.
    let mut child = env
        .cmd(&["sync"])
        .env(countersign_core::PUSH_BATCH_ENV, "5")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let done = approved_count(&env) - baseline;
        if done >= 25 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "drain never started"
        );
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "sync ended before it could be killed ({done} approved): {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());

    let outbox = env.run(&["outbox", "--json"]);
    let left: Vec<serde_json::Value> = serde_json::from_slice(&outbox.stdout).unwrap();
    assert!(
        !left.is_empty(),
        "the drain had finished before the kill; the test proved nothing"
    );

    // A second run killed too, 13 to a request: what was in flight is regrouped.
    let before_second = approved_count(&env);
    let mut child = env
        .cmd(&["sync"])
        .env(countersign_core::PUSH_BATCH_ENV, "13")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while approved_count(&env) < before_second + 13 && child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "second drain stuck"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();

    // The rest, as much as fits in one request.
    let again = env.run(&["sync"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let outbox = env.run(&["outbox", "--json"]);
    let left: Vec<serde_json::Value> = serde_json::from_slice(&outbox.stdout).unwrap();
    assert!(left.is_empty(), "still queued or rejected: {left:?}");

    for id in &ids {
        let trail = env.audit(id);
        let decided: Vec<_> = trail
            .entries
            .iter()
            .filter(|e| matches!(e.event, AuditEvent::Approved | AuditEvent::Denied))
            .collect();
        assert_eq!(decided.len(), 1, "{id}: {decided:?}");
        assert_eq!(decided[0].event, AuditEvent::Approved);
        assert_eq!(decided[0].actor, "alice");
        // Signed at decide time (offline), delivered signed through every regrouping.
        assert!(
            decided[0].data.get("receipt").is_some(),
            "{id} applied unsigned: {:?}",
            decided[0].data
        );
    }
    assert_eq!(approved_count(&env) - baseline, N as u64);
    // Each decision kept its own key through every regrouping: the server stored one
    // answer per decision, all successes, and no other key of alice's.
    let stored = countersign_server::db::Db::open(&env.db)
        .unwrap()
        .with_writer(|conn| {
            Ok(conn.query_row(
                "SELECT count(*), count(DISTINCT key), sum(status = 200) FROM idempotency
                 WHERE subject = 'alice'",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )?)
        })
        .unwrap();
    assert_eq!(stored, (N as i64, N as i64, N as i64));
}
