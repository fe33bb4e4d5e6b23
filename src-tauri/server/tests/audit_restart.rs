//! The hash-chained audit trail (and tampering with it), the verify-audit and
//! add-token commands, and restarting on the same port and database file.

#[path = "support/harness.rs"]
mod harness;

use std::process::Command;

use countersign_api::{ApprovalStatus, AuditTrail};
use countersign_server::Verification;
use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_countersign-server");

async fn busy_history(t: &TestServer) {
    for i in 0..4 {
        t.create(new_request(&format!("appr-t{i}"), json!({})))
            .await;
    }
    t.post(ALICE, "/appr-t0/approve", json!({"notes": "fine"}))
        .await;
    t.post(BOB, "/appr-t1/deny", json!({"reason": "no", "notes": "n"}))
        .await;
    t.post(ENGINE, "/appr-t0/result", json!({"outcome": "succeeded"}))
        .await;
}

#[tokio::test]
async fn audit_trail_is_chained_and_complete() {
    let mut t = TestServer::start().await;
    busy_history(&t).await;
    let (s, body) = t.get(ALICE, "/appr-t0/audit").await;
    assert_eq!(s, StatusCode::OK);
    let trail: AuditTrail = serde_json::from_value(body).unwrap();
    let events: Vec<String> = trail
        .entries
        .iter()
        .map(|e| {
            serde_json::to_value(e.event)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(events, vec!["created", "approved", "executed"]);
    assert_eq!(trail.entries[0].actor, "engine");
    assert_eq!(trail.entries[1].actor, "alice");
    assert_eq!(trail.entries[1].notes.as_deref(), Some("fine"));
    assert!(trail.entries.windows(2).all(|w| w[0].seq < w[1].seq));
    let (_, denied) = t.get(ALICE, "/appr-t1/audit").await;
    assert_eq!(denied["entries"][1]["event"], "denied");
    assert_eq!(denied["entries"][1]["reason"], "no");
    let (s, _) = t.get(ALICE, "/appr-none/audit").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Server-wide, each entry's prev_hash is the previous entry's hash.
    let path = t.db_path.clone();
    t.halt().await;
    assert_eq!(
        countersign_server::verify_audit(&path).unwrap(),
        Verification::Ok { entries: 7 }
    );
}

#[tokio::test]
async fn tampering_is_detected_by_verify_audit() {
    let mut t = TestServer::start().await;
    busy_history(&t).await;
    let path = t.db_path.clone();
    t.halt().await;

    let ok = Command::new(BIN)
        .args(["verify-audit", "--db"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK: 7 entries"));

    // The append-only triggers stop casual edits...
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert!(conn
        .execute("UPDATE audit SET notes = 'edited' WHERE seq = 5", [])
        .is_err());
    assert!(conn.execute("DELETE FROM audit WHERE seq = 5", []).is_err());
    // ...and someone who removes them is caught by the chain.
    conn.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
    conn.execute(
        "UPDATE audit SET reason = 'Approved, honest' WHERE seq = 6",
        [],
    )
    .unwrap();
    drop(conn);
    match countersign_server::verify_audit(&path).unwrap() {
        Verification::Broken { seq, .. } => assert_eq!(seq, 6),
        other => panic!("tampering not detected: {other:?}"),
    }
    let bad = Command::new(BIN)
        .args(["verify-audit", "--db"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).contains("BROKEN at seq 6"));
}

#[tokio::test]
async fn deleting_an_entry_is_detected() {
    let mut t = TestServer::start().await;
    busy_history(&t).await;
    let path = t.db_path.clone();
    t.halt().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3;")
        .unwrap();
    drop(conn);
    assert!(matches!(
        countersign_server::verify_audit(&path).unwrap(),
        Verification::Broken { seq: 3, .. }
    ));
}

#[tokio::test]
async fn add_token_prints_a_working_token_and_stores_only_its_hash() {
    let t = TestServer::start().await;
    t.create(new_request("appr-tok", json!({}))).await;
    let out = Command::new(BIN)
        .args([
            "add-token",
            "--org",
            ORG,
            "--role",
            "approver",
            "--subject",
            "dave",
            "--db",
        ])
        .arg(&t.db_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.len() >= 32);
    let (s, body) = t
        .call(
            Method::GET,
            &format!("{}/api/v1/me", t.base),
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["subject"], "dave");
    let (s, _) = t.post(&token, "/appr-tok/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let conn = rusqlite::Connection::open(&t.db_path).unwrap();
    let stored: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM tokens WHERE hash = ?1 OR hash LIKE ?2",
            [&token, &format!("%{}%", &token[3..20])],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 0, "the token itself is never stored");
    let bad = Command::new(BIN)
        .args([
            "add-token",
            "--org",
            ORG,
            "--role",
            "root",
            "--subject",
            "x",
            "--db",
        ])
        .arg(&t.db_path)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    t.stop().await;
}

#[tokio::test]
async fn restart_on_the_same_port_keeps_state_and_idempotency() {
    let mut t = TestServer::start().await;
    t.create(new_request("appr-rs1", json!({}))).await;
    t.create(new_request("appr-rs2", json!({}))).await;
    let (s1, first) = t
        .post_idem(
            ALICE,
            "/appr-rs1/approve",
            json!({"notes": "before"}),
            "offline-retry",
        )
        .await;
    assert_eq!(s1, StatusCode::OK);
    let seq_before = first["change_seq"].as_i64().unwrap();
    let port = t.addr.port();

    t.restart().await;
    assert_eq!(t.addr.port(), port);
    let (s2, replay) = t
        .post_idem(
            ALICE,
            "/appr-rs1/approve",
            json!({"notes": "before"}),
            "offline-retry",
        )
        .await;
    assert_eq!(
        s2,
        StatusCode::OK,
        "a client retrying after the restart gets the first answer"
    );
    assert_eq!(replay, first);
    assert_eq!(t.approval("appr-rs2").await.status, ApprovalStatus::Pending);
    // New changes continue the sequence.
    let (_, resp) = t.post(BOB, "/appr-rs2/deny", json!({"reason": "r"})).await;
    assert!(resp["change_seq"].as_i64().unwrap() > seq_before);
    t.stop().await;
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let mut t = TestServer::start().await;
    let health = format!("{}/healthz", t.base);
    assert!(t
        .http
        .get(&health)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    drop(t.server.take());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // A fresh client each time, so no pooled connection hides the shutdown.
        let fresh = reqwest::Client::new();
        if fresh.get(&health).send().await.is_err() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still serving after drop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    t.restart().await;
    assert!(t
        .http
        .get(&health)
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    t.stop().await;
}
