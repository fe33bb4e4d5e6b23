//! Decision receipts against a real server: device keys, verification before a
//! decision applies (nothing applied when refused), the receipt in the audit chain and
//! in what the agent reads, and verify-audit re-checking every receipt.

#[path = "support/harness.rs"]
mod harness;

use countersign_api::receipt::{public_key_hex, Expected, ReceiptSigned};
use countersign_api::{
    Approval, ApprovalStatus, AuditTrail, BulkResponse, DecisionKind, DeviceList, Receipt,
};
use countersign_server::Verification;
use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ALICE_KEY: [u8; 32] = [11; 32];

fn devices_url(t: &TestServer, suffix: &str) -> String {
    format!("{}/api/v1/orgs/{ORG}/devices{suffix}", t.base)
}

/// Another token of alice's (several devices, several tokens).
fn second_alice_token(t: &TestServer) -> String {
    countersign_server::add_token(&t.db_path, ORG, countersign_api::Role::Approver, "alice")
        .expect("token")
}

async fn register(t: &TestServer, token: &str, secret: &[u8; 32], name: &str) -> String {
    let body = json!({"public_key": public_key_hex(secret), "name": name});
    let (s, resp) = t
        .call(
            Method::POST,
            &devices_url(t, ""),
            Some(token),
            Some(&body),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{resp}");
    resp["key_id"].as_str().expect("key_id").to_string()
}

fn sign(
    secret: &[u8; 32],
    key_id: &str,
    a: &Approval,
    kind: DecisionKind,
    notes: Option<&str>,
    reason: Option<&str>,
) -> Receipt {
    let expected = Expected {
        org_id: &a.org_id,
        approval_id: &a.id,
        kind,
        params: &a.params,
        notes,
        reason,
        request: None,
    };
    Receipt::sign(
        secret,
        key_id,
        ReceiptSigned::for_decision(&expected, chrono::Utc::now()),
    )
    .expect("signs")
}

/// The approval is still pending and its trail holds only its creation.
async fn nothing_applied(t: &TestServer, id: &str) {
    assert_eq!(t.approval(id).await.status, ApprovalStatus::Pending);
    let (_, trail) = t.get(ALICE, &format!("/{id}/audit")).await;
    let trail: AuditTrail = serde_json::from_value(trail).expect("trail");
    assert_eq!(trail.entries.len(), 1, "{trail:?}");
}

#[tokio::test]
async fn a_signed_decision_is_applied_audited_and_handed_to_the_agent() {
    let mut t = TestServer::start().await;
    let key_id = register(&t, ALICE, &ALICE_KEY, "Countersign on laptop-a").await;
    // The same key again names the same device.
    assert_eq!(register(&t, ALICE, &ALICE_KEY, "again").await, key_id);
    let a = t.create(new_request("appr-s1", json!({}))).await;
    let receipt = sign(
        &ALICE_KEY,
        &key_id,
        &a,
        DecisionKind::Approve,
        Some("ok"),
        None,
    );
    let (s, body) = t
        .post(
            ALICE,
            "/appr-s1/approve",
            json!({"notes": "ok", "receipt": receipt}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // The agent gets the receipt with the decision, and can check it offline.
    let (s, body) = t.get(ENGINE, "/appr-s1?wait=5").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let got: Approval = serde_json::from_value(body).expect("approval");
    let d = got.decision.expect("decided");
    assert_eq!(d.receipt.as_ref(), Some(&receipt));
    let (_, devices) = t
        .call(Method::GET, &devices_url(&t, ""), Some(ENGINE), None, None)
        .await;
    let devices: DeviceList = serde_json::from_value(devices).expect("devices");
    let device = devices
        .items
        .iter()
        .find(|d| d.key_id == key_id)
        .expect("listed");
    assert_eq!(device.owner, "alice");
    receipt
        .verify_signature(&device.public_key)
        .expect("verifies");

    // The audit entry carries the receipt and the device's name; unsigned is marked.
    t.create(new_request("appr-s2", json!({}))).await;
    let (s, _) = t.post(BOB, "/appr-s2/deny", json!({"reason": "no"})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, trail) = t.get(ALICE, "/appr-s1/audit").await;
    let trail: AuditTrail = serde_json::from_value(trail).expect("trail");
    let data = &trail.entries[1].data;
    assert_eq!(data["device"], "Countersign on laptop-a");
    assert_eq!(data["receipt"]["signature"], json!(receipt.signature));
    let (_, trail) = t.get(ALICE, "/appr-s2/audit").await;
    assert_eq!(trail["entries"][1]["data"], json!({"unsigned": true}));

    let path = t.db_path.clone();
    t.halt().await;
    assert_eq!(
        countersign_server::verify_audit(&path).expect("verifies"),
        Verification::Ok { entries: 4 }
    );
}

#[tokio::test]
async fn bad_receipts_are_refused_with_their_code_and_nothing_is_applied() {
    let t = TestServer::start().await;
    // The laptop registers its key with its own token: revoking the key below revokes
    // that token (issue 16 §3), not the one this test goes on deciding with.
    let laptop = second_alice_token(&t);
    let key_id = register(&t, &laptop, &ALICE_KEY, "laptop").await;
    let a = t.create(new_request("appr-r1", json!({}))).await;
    let other = t
        .create(new_request(
            "appr-r2",
            json!({"params": {"namespace": "staging", "image": "app:v2.0.0", "replicas": 3}}),
        ))
        .await;

    // A tampered signature.
    let mut tampered = sign(&ALICE_KEY, &key_id, &a, DecisionKind::Approve, None, None);
    let mut sig = hex::decode(&tampered.signature).expect("hex");
    sig[0] ^= 1;
    tampered.signature = hex::encode(sig);
    // Signed content changed after signing (the notes), signature left as it was.
    let mut edited = sign(
        &ALICE_KEY,
        &key_id,
        &a,
        DecisionKind::Approve,
        Some("a"),
        None,
    );
    edited.signed.notes = Some("b".into());
    // A receipt over other parameters (what the approver saw is not what runs).
    let mut other_params = a.clone();
    other_params.params = other.params.clone();
    let for_other_params = sign(
        &ALICE_KEY,
        &key_id,
        &other_params,
        DecisionKind::Approve,
        None,
        None,
    );
    // A replay of a valid receipt for appr-r2 on appr-r1.
    let replay = sign(
        &ALICE_KEY,
        &key_id,
        &other,
        DecisionKind::Approve,
        None,
        None,
    );
    // Signed as a deny, sent as an approve.
    let wrong_kind = sign(&ALICE_KEY, &key_id, &a, DecisionKind::Deny, None, Some("x"));
    // A key nobody registered.
    let unknown = sign(
        &[99; 32],
        "dev-0000000000000000",
        &a,
        DecisionKind::Approve,
        None,
        None,
    );

    let cases = [
        (tampered, json!({}), "bad_signature"),
        (edited, json!({"notes": "b"}), "bad_signature"),
        (for_other_params, json!({}), "receipt_mismatch"),
        (replay, json!({}), "receipt_mismatch"),
        (wrong_kind, json!({}), "receipt_mismatch"),
        (unknown, json!({}), "unknown_device"),
    ];
    for (receipt, mut body, code) in cases {
        body["receipt"] = serde_json::to_value(&receipt).expect("json");
        let (s, resp) = t.post(ALICE, "/appr-r1/approve", body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {resp}");
        assert_eq!(error_code(&resp), code, "{resp}");
        nothing_applied(&t, "appr-r1").await;
    }
    // Notes in the body that the receipt does not say.
    let plain = sign(&ALICE_KEY, &key_id, &a, DecisionKind::Approve, None, None);
    let (s, resp) = t
        .post(
            ALICE,
            "/appr-r1/approve",
            json!({"notes": "added", "receipt": plain}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&resp), "receipt_mismatch");
    nothing_applied(&t, "appr-r1").await;

    // A revoked key: refused, even for a receipt made before the revocation.
    let before = sign(&ALICE_KEY, &key_id, &a, DecisionKind::Approve, None, None);
    let (s, _) = t
        .call(
            Method::DELETE,
            &devices_url(&t, &format!("/{key_id}")),
            Some(ALICE),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, resp) = t
        .post(ALICE, "/appr-r1/approve", json!({"receipt": before}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&resp), "unknown_device");
    nothing_applied(&t, "appr-r1").await;

    // The same refusals hold per item in a bulk request; good items still apply.
    let key2 = register(&t, ALICE, &[12; 32], "laptop 2").await;
    let good = sign(&[12; 32], &key2, &other, DecisionKind::Approve, None, None);
    let bad = sign(&[12; 32], &key2, &other, DecisionKind::Approve, None, None);
    let (s, resp) = t
        .post(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-r1", "appr-r2"], "receipts": [bad, good]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{resp}");
    let resp: BulkResponse = serde_json::from_value(resp).expect("bulk");
    assert_eq!(resp.results[0].status, 422);
    assert_eq!(
        resp.results[0].error.as_ref().map(|e| e.code.as_str()),
        Some("receipt_mismatch")
    );
    assert_eq!(resp.results[1].status, 200);
    nothing_applied(&t, "appr-r1").await;
    let (s, _) = t
        .post(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-r1"], "receipts": []}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    t.stop().await;
}

#[tokio::test]
async fn devices_are_registered_listed_and_revoked_by_their_owner_only() {
    let t = TestServer::start().await;
    let key_id = register(&t, ALICE, &ALICE_KEY, "laptop").await;
    let url = devices_url(&t, "");
    // Someone else's key, an agent, a bad key, a blank name.
    let body = json!({"public_key": public_key_hex(&ALICE_KEY), "name": "mine now"});
    let (s, resp) = t
        .call(Method::POST, &url, Some(BOB), Some(&body), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{resp}");
    let (s, _) = t
        .call(Method::POST, &url, Some(ENGINE), Some(&body), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for bad in [
        json!({"public_key": "abc", "name": "x"}),
        json!({"public_key": public_key_hex(&[3; 32]), "name": "  "}),
        json!({"public_key": public_key_hex(&[3; 32]), "name": "x", "extra": 1}),
    ] {
        let (s, resp) = t
            .call(Method::POST, &url, Some(BOB), Some(&bad), None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {resp}");
    }
    // Another org sees none of them.
    let (s, _) = t.call(Method::GET, &url, Some(MALLORY), None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let revoke = devices_url(&t, &format!("/{key_id}"));
    let (s, resp) = t.call(Method::DELETE, &revoke, Some(BOB), None, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{resp}");
    let (s, _) = t
        .call(
            Method::DELETE,
            &devices_url(&t, "/dev-nope"),
            Some(ALICE),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .call(Method::DELETE, &revoke, Some(ALICE), None, None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = t.call(Method::GET, &url, Some(BOB), None, None).await;
    let list: DeviceList = serde_json::from_value(list).expect("list");
    assert_eq!(list.items.len(), 1);
    assert!(list.items[0].revoked_at.is_some());
    // Revoking the key revoked the token that registered it (issue 16 §3).
    let (s, resp) = t
        .call(Method::POST, &url, Some(ALICE), Some(&body), None)
        .await;
    assert_eq!(
        (s, error_code(&resp)),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    // A revoked key cannot be registered again, whatever the token.
    let other = second_alice_token(&t);
    let (s, _) = t
        .call(Method::POST, &url, Some(&other), Some(&body), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    t.stop().await;
}

#[tokio::test]
async fn verify_audit_checks_every_receipt_and_survives_a_later_revocation() {
    let mut t = TestServer::start().await;
    let key_id = register(&t, ALICE, &ALICE_KEY, "laptop").await;
    let a = t.create(new_request("appr-v1", json!({}))).await;
    let receipt = sign(
        &ALICE_KEY,
        &key_id,
        &a,
        DecisionKind::Deny,
        None,
        Some("no"),
    );
    let (s, body) = t
        .post(
            ALICE,
            "/appr-v1/deny",
            json!({"reason": "no", "receipt": receipt}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // Revoking the key afterwards does not undo the decision it signed.
    let (s, _) = t
        .call(
            Method::DELETE,
            &devices_url(&t, &format!("/{key_id}")),
            Some(ALICE),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let path = t.db_path.clone();
    t.halt().await;
    assert_eq!(
        countersign_server::verify_audit(&path).expect("verifies"),
        Verification::Ok { entries: 2 }
    );

    // Someone with the database edits the decision's reason, the stored receipt's
    // reason to match, and rewrites the whole hash chain: the chain holds, the
    // receipt's signature does not.
    let conn = rusqlite::Connection::open(&path).expect("open");
    let data: String = conn
        .query_row("SELECT data FROM audit WHERE seq = 2", [], |r| r.get(0))
        .expect("data");
    let mut data: Value = serde_json::from_str(&data).expect("json");
    data["receipt"]["signed"]["reason"] = json!("approved after all");
    conn.execute_batch("DROP TRIGGER audit_no_update;")
        .expect("drop");
    conn.execute(
        "UPDATE audit SET reason = 'approved after all', data = ?1 WHERE seq = 2",
        [data.to_string()],
    )
    .expect("edit");
    conn.execute_batch(
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
         BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;",
    )
    .expect("trigger");
    rehash_chain(&conn);
    drop(conn);
    match countersign_server::verify_audit(&path).expect("runs") {
        Verification::Broken { seq, problem } => {
            assert_eq!(seq, 2);
            assert!(problem.contains("receipt"), "{problem}");
        }
        other => panic!("forged receipt not detected: {other:?}"),
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_countersign-server"))
        .args(["verify-audit", "--db"])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN at seq 2"));
}
