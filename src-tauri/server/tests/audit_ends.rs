//! Tamper evidence that covers the ends (issue 16 §6): the `created` entry records
//! what was raised, `verify-audit` holds the approvals table against the chain (a
//! row flipped to approved by SQL, a chain whose tail was cut off), and the chain's
//! head is signed with the server's own key, kept outside the database.

#[path = "support/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;

use countersign_api::{AuditHead, AuditTrail, ServerKey};
use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_countersign-server");

/// Runs `countersign-server verify-audit` and returns its exit code and stdout.
fn verify_audit(db: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["verify-audit", "--db"])
        .arg(db)
        .output()
        .expect("verify-audit runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn history(t: &TestServer) {
    for id in ["appr-e1", "appr-e2", "appr-e3"] {
        t.create(new_request(id, json!({}))).await;
    }
    let (s, body) = t.post(BOB, "/appr-e2/deny", json!({"reason": "no"})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = t.post(ALICE, "/appr-e3/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_created_entry_records_what_was_raised() {
    let t = TestServer::start().await;
    let a = t
        .create(new_request("appr-c1", json!({"required_approvals": 2})))
        .await;
    let (_, trail) = t.get(ALICE, "/appr-c1/audit").await;
    let trail: AuditTrail = serde_json::from_value(trail).expect("trail");
    let data = &trail.entries[0].data;
    assert_eq!(
        data["params_sha256"],
        json!(countersign_api::receipt::params_sha256(&a.params))
    );
    assert_eq!(data["summary"], json!(a.summary));
    assert_eq!(data["required_approvals"], 2);
    t.stop().await;
}

#[tokio::test]
async fn an_approval_flipped_to_approved_by_sql_is_reported() {
    let mut t = TestServer::start().await;
    history(&t).await;
    t.halt().await;
    assert_eq!(verify_audit(&t.db_path).0, 0);
    let conn = rusqlite::Connection::open(&t.db_path).expect("open");
    conn.execute(
        "UPDATE approvals SET status = 'approved', decision_kind = 'approve',
             decided_by = 'alice', decided_at = created_at + 1000
         WHERE id = 'appr-e1'",
        [],
    )
    .expect("flip");
    drop(conn);
    let (code, out) = verify_audit(&t.db_path);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("BROKEN") && out.contains("appr-e1"), "{out}");
}

#[tokio::test]
async fn rewritten_params_or_summary_in_the_row_are_reported() {
    let mut t = TestServer::start().await;
    history(&t).await;
    t.halt().await;
    let conn = rusqlite::Connection::open(&t.db_path).expect("open");
    conn.execute(
        "UPDATE approvals SET params = '{\"namespace\":\"production\",\"replicas\":300}'
         WHERE id = 'appr-e3'",
        [],
    )
    .expect("edit params");
    drop(conn);
    let (code, out) = verify_audit(&t.db_path);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("appr-e3") && out.contains("params"), "{out}");
}

#[tokio::test]
async fn cutting_off_the_chains_tail_is_reported() {
    let mut t = TestServer::start().await;
    history(&t).await;
    t.halt().await;
    // The last entry is alice's approve of appr-e3: gone, with the trigger dropped.
    let conn = rusqlite::Connection::open(&t.db_path).expect("open");
    conn.execute_batch(
        "DROP TRIGGER audit_no_delete;
         DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit);",
    )
    .expect("cut the tail");
    drop(conn);
    let (code, out) = verify_audit(&t.db_path);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("appr-e3"), "{out}");

    // Deleting all of the last approval's entries (its row still there) is caught too.
    // (Opening the file with the server put the trigger back.)
    let conn = rusqlite::Connection::open(&t.db_path).expect("open");
    conn.execute_batch(
        "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE approval_id = 'appr-e3';",
    )
    .expect("delete");
    drop(conn);
    let (code, out) = verify_audit(&t.db_path);
    assert_eq!(code, 2, "{out}");
}

async fn head(t: &TestServer, token: &str, query: &str) -> (StatusCode, serde_json::Value) {
    let url = format!("{}/api/v1/orgs/{ORG}/audit/head{query}", t.base);
    t.call(Method::GET, &url, Some(token), None, None).await
}

#[tokio::test]
async fn the_signed_head_verifies_and_moves_with_each_append() {
    let mut t = TestServer::start().await;
    let (s, key) = t
        .call(
            Method::GET,
            &format!("{}/api/v1/server-key", t.base),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{key}");
    let key: ServerKey = serde_json::from_value(key).expect("key");

    // The key lives beside the database, readable by the server's user only.
    let key_file = t.config.audit_key_file();
    assert!(key_file.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let secret = std::fs::read_to_string(&key_file).expect("read");
    let db_bytes = std::fs::read(&t.db_path).expect("db");
    assert!(
        !db_bytes
            .windows(secret.trim().len())
            .any(|w| w == secret.trim().as_bytes()),
        "the key is not in the database"
    );

    // No entries yet: seq 0.
    let (s, body) = head(&t, ALICE, "").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let empty: AuditHead = serde_json::from_value(body).expect("head");
    assert_eq!(empty.signed.seq, 0);
    empty.verify(&key.public_key).expect("verifies");

    let mut last = empty;
    for id in ["appr-h1", "appr-h2"] {
        t.create(new_request(id, json!({}))).await;
        let (_, trail) = t.get(ALICE, &format!("/{id}/audit")).await;
        let trail: AuditTrail = serde_json::from_value(trail).expect("trail");
        let entry = trail.entries.last().expect("entry");
        // Agents read it too.
        let (s, body) = head(&t, ENGINE, "").await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let h: AuditHead = serde_json::from_value(body).expect("head");
        h.verify(&key.public_key).expect("verifies");
        assert_eq!(
            (h.signed.seq, h.signed.hash.as_str()),
            (entry.seq, entry.hash.as_str())
        );
        assert!(h.signed.seq > last.signed.seq);
        assert_ne!(h.signed.hash, last.signed.hash);
        // Tampering with the signed statement breaks the signature.
        let mut forged = h.clone();
        forged.signed.seq += 1;
        assert!(forged.verify(&key.public_key).is_err());
        last = h;
    }
    // An earlier entry on request, signed alike; none where the org has none.
    let (s, body) = head(&t, ALICE, "?seq=1").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let first: AuditHead = serde_json::from_value(body).expect("head");
    first.verify(&key.public_key).expect("verifies");
    assert_eq!(first.signed.seq, 1);
    let (s, _) = head(&t, ALICE, "?seq=99").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = head(&t, ALICE, "?seq=-1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Another org's token sees only its own org.
    let (s, _) = head(&t, MALLORY, "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = head(&t, "", "").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The same key after a restart.
    t.restart().await;
    let (_, body) = head(&t, ALICE, "").await;
    let again: AuditHead = serde_json::from_value(body).expect("head");
    assert_eq!(again.public_key, key.public_key);
    assert_eq!(again.signed.seq, last.signed.seq);
    t.stop().await;
}
