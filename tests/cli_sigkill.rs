//! A `countersign sync` killed with SIGKILL in the middle of draining a big outbox
//! loses nothing and duplicates nothing once it runs again.

#[path = "cli_support/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use countersign_api::AuditEvent;
use harness::*;

const N: usize = 400;

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

    // Decide everything while the server is down: all of it queues.
    env.stop_server();
    let mut args = vec!["bulk-approve"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--notes", "sigkill test"]);
    let out = env.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("queued, will be sent when online"));
    env.start_server();
    let baseline = approved_count(&env);

    // Drain, and kill it hard part-way.
    let mut child = env.spawn(&["sync"]);
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
        assert!(
            child.try_wait().unwrap().is_none(),
            "sync ended before it could be killed"
        );
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
    }
    assert_eq!(approved_count(&env) - baseline, N as u64);
}
