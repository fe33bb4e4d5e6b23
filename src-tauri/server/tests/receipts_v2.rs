//! Receipts v2 (issue 16 §2): a receipt names its signer and the whole request, so
//! one approver cannot post another's receipt (the "Bob posts Alice's receipt"
//! attack), a receipt cannot stand for a request changed after it was signed or for
//! another server database, `verify-audit` holds signer = decider, and
//! `--require-receipts` refuses decisions without a valid v2 receipt.

#[path = "support/harness.rs"]
mod harness;

use countersign_api::receipt::{public_key_hex, Expected, ReceiptSigned};
use countersign_api::{Approval, ApprovalStatus, AuditTrail, BulkResponse, DecisionKind, Receipt};
use countersign_server::Verification;
use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ALICE_KEY: [u8; 32] = [21; 32];
const BOB_KEY: [u8; 32] = [22; 32];

async fn register(t: &TestServer, token: &str, secret: &[u8; 32]) -> String {
    let body = json!({"public_key": public_key_hex(secret), "name": format!("device of {token}")});
    let url = format!("{}/api/v1/orgs/{ORG}/devices", t.base);
    let (s, resp) = t
        .call(Method::POST, &url, Some(token), Some(&body), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{resp}");
    resp["key_id"].as_str().expect("key_id").to_string()
}

async fn epoch(t: &TestServer) -> String {
    let url = format!("{}/api/v1/me", t.base);
    let (s, me) = t.call(Method::GET, &url, Some(ALICE), None, None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    me["epoch"].as_str().expect("epoch").to_string()
}

/// A v2 receipt by `signer` for the server of `epoch`, over `a` as given.
fn sign_v2(
    secret: &[u8; 32],
    key_id: &str,
    a: &Approval,
    signer: &str,
    epoch: &str,
    kind: DecisionKind,
    notes: Option<&str>,
) -> Receipt {
    let reason = (kind == DecisionKind::Deny).then_some("no");
    let expected = Expected::for_approval(a, kind, notes, reason, signer, Some(epoch));
    Receipt::sign(
        secret,
        key_id,
        ReceiptSigned::for_decision(&expected, chrono::Utc::now()),
    )
    .expect("signs")
}

/// A v1 receipt (what clients before v2 sent): org, id, kind, params, notes, reason.
fn sign_v1(secret: &[u8; 32], key_id: &str, a: &Approval, notes: Option<&str>) -> Receipt {
    let expected = Expected {
        request: None,
        ..Expected::for_approval(a, DecisionKind::Approve, notes, None, "", None)
    };
    Receipt::sign(
        secret,
        key_id,
        ReceiptSigned::for_decision(&expected, chrono::Utc::now()),
    )
    .expect("signs")
}

async fn receipt_in_trail(t: &TestServer, token: &str, id: &str, entry: usize) -> Value {
    let (s, trail) = t.get(token, &format!("/{id}/audit")).await;
    assert_eq!(s, StatusCode::OK, "{trail}");
    let trail: AuditTrail = serde_json::from_value(trail).expect("trail");
    trail.entries[entry].data["receipt"].clone()
}

#[tokio::test]
async fn bob_cannot_post_alices_receipt_as_his_own_vote() {
    let mut t = TestServer::start_with(|c| {
        c.quorum = vec![countersign_server::quorum::QuorumRule::parse("kubernetes:*=2").unwrap()]
    })
    .await;
    let alice_key = register(&t, ALICE, &ALICE_KEY).await;
    let epoch = epoch(&t).await;
    // A receipt of each version: v1 is what today's clients in the field send.
    for (id, v2) in [("appr-steal1", false), ("appr-steal2", true)] {
        let a = t.create(new_request(id, json!({}))).await;
        assert_eq!(a.required_approvals, 2);
        let receipt = if v2 {
            sign_v2(
                &ALICE_KEY,
                &alice_key,
                &a,
                "alice",
                &epoch,
                DecisionKind::Approve,
                None,
            )
        } else {
            sign_v1(&ALICE_KEY, &alice_key, &a, None)
        };
        let (s, body) = t
            .post(
                ALICE,
                &format!("/{id}/approve"),
                json!({"receipt": receipt}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["approval"]["status"], "pending");

        // Bob reads her receipt from the audit trail and posts it with his approve.
        let stolen = receipt_in_trail(&t, BOB, id, 1).await;
        assert_eq!(stolen["key_id"], json!(alice_key));
        let (s, body) = t
            .post(BOB, &format!("/{id}/approve"), json!({"receipt": stolen}))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(error_code(&body), "receipt_mismatch", "{body}");
        // Not counted as a vote: still one of two, and nothing more in the trail.
        let now = t.approval(id).await;
        assert_eq!(now.status, ApprovalStatus::Pending);
        assert_eq!(now.approvals.len(), 1);
        assert_eq!(now.approvals[0].by, "alice");
        let (_, trail) = t.get(ALICE, &format!("/{id}/audit")).await;
        assert_eq!(trail["entries"].as_array().map(Vec::len), Some(2));
        // In a bulk, the same.
        let (s, body) = t
            .post(
                BOB,
                "/bulk-approve",
                json!({"approval_ids": [id], "receipts": [stolen]}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let bulk: BulkResponse = serde_json::from_value(body).expect("bulk");
        assert_eq!(bulk.results[0].status, 422);
        assert_eq!(t.approval(id).await.approvals.len(), 1);
    }

    // Bob with his own key completes the quorum; each vote keeps its own receipt.
    let bob_key = register(&t, BOB, &BOB_KEY).await;
    let a = t.approval("appr-steal2").await;
    let mine = sign_v2(
        &BOB_KEY,
        &bob_key,
        &a,
        "bob",
        &epoch,
        DecisionKind::Approve,
        None,
    );
    let (s, body) = t
        .post(BOB, "/appr-steal2/approve", json!({"receipt": mine}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let a = t.approval("appr-steal2").await;
    assert_eq!(a.status, ApprovalStatus::Approved);
    let signers: Vec<_> = a
        .approvals
        .iter()
        .map(|v| v.receipt.as_ref().map(|r| r.key_id.clone()))
        .collect();
    assert_eq!(signers, [Some(alice_key), Some(bob_key)]);
    t.halt().await;
    assert!(matches!(
        countersign_server::verify_audit(&t.db_path).expect("verify"),
        Verification::Ok { .. }
    ));
}

#[tokio::test]
async fn verify_audit_reports_a_receipt_whose_signer_is_not_the_decider() {
    // What the attack left behind where it succeeded (before v2): bob's decision
    // carrying alice's receipt, in a chain whose hashes all hold.
    let mut t = TestServer::start().await;
    let alice_key = register(&t, ALICE, &ALICE_KEY).await;
    let a = t.create(new_request("appr-planted", json!({}))).await;
    let receipt = sign_v1(&ALICE_KEY, &alice_key, &a, None);
    let (s, body) = t
        .post(ALICE, "/appr-planted/approve", json!({"receipt": receipt}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    t.halt().await;
    assert!(matches!(
        countersign_server::verify_audit(&t.db_path).expect("verify"),
        Verification::Ok { entries: 2 }
    ));
    let conn = rusqlite::Connection::open(&t.db_path).expect("open");
    conn.execute_batch(
        "UPDATE approvals SET decided_by = 'bob', approvals = replace(approvals, '\"alice\"', '\"bob\"');",
    )
    .expect("edit row");
    conn.execute_batch("DROP TRIGGER audit_no_update;")
        .expect("drop");
    conn.execute("UPDATE audit SET actor = 'bob' WHERE seq = 2", [])
        .expect("edit entry");
    rehash_chain(&conn);
    drop(conn);
    match countersign_server::verify_audit(&t.db_path).expect("verify") {
        Verification::Broken { seq: 2, problem } => {
            assert!(
                problem.contains("alice") && problem.contains("bob"),
                "{problem}"
            )
        }
        other => panic!("signer != decider not reported: {other:?}"),
    }
}

#[tokio::test]
async fn a_v2_receipt_binds_the_whole_request_and_the_server_epoch() {
    let t = TestServer::start().await;
    let key = register(&t, ALICE, &ALICE_KEY).await;
    let epoch = epoch(&t).await;
    let a = t
        .create(new_request("appr-b1", json!({"required_approvals": 1})))
        .await;
    let sign = |a: &Approval, signer: &str, epoch: &str| {
        sign_v2(
            &ALICE_KEY,
            &key,
            a,
            signer,
            epoch,
            DecisionKind::Approve,
            None,
        )
    };
    let changed = |f: fn(&mut Approval)| {
        let mut c = a.clone();
        f(&mut c);
        c
    };
    let cases = [
        ("another epoch", sign(&a, "alice", "some-other-database")),
        ("another signer", sign(&a, "bob", &epoch)),
        (
            "another action",
            sign(
                &changed(|c| c.action = "kubernetes:delete".into()),
                "alice",
                &epoch,
            ),
        ),
        (
            "another agent",
            sign(
                &changed(|c| c.agent.id = "other-bot".into()),
                "alice",
                &epoch,
            ),
        ),
        (
            "another summary",
            sign(
                &changed(|c| c.summary = "Deploy to staging".into()),
                "alice",
                &epoch,
            ),
        ),
        (
            "a later expiry",
            sign(
                &changed(|c| c.expires_at += chrono::Duration::hours(1)),
                "alice",
                &epoch,
            ),
        ),
        (
            "another quorum",
            sign(&changed(|c| c.required_approvals = 2), "alice", &epoch),
        ),
    ];
    for (what, receipt) in cases {
        let (s, body) = t
            .post(ALICE, "/appr-b1/approve", json!({"receipt": receipt}))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(error_code(&body), "receipt_mismatch", "{what}: {body}");
        assert_eq!(t.approval("appr-b1").await.status, ApprovalStatus::Pending);
    }
    let good = sign(&a, "alice", &epoch);
    let (s, body) = t
        .post(ALICE, "/appr-b1/approve", json!({"receipt": good}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["approval"]["decision"]["receipt"]["signed"]["v"], 2);
    t.stop().await;
}

#[tokio::test]
async fn require_receipts_refuses_decisions_without_a_valid_v2_receipt() {
    let mut t = TestServer::start_with(|c| c.require_receipts = vec![ORG.to_string()]).await;
    let key = register(&t, ALICE, &ALICE_KEY).await;
    let epoch = epoch(&t).await;
    let a = t.create(new_request("appr-req1", json!({}))).await;
    let v1 = sign_v1(&ALICE_KEY, &key, &a, None);
    for (what, body, path) in [
        ("unsigned approve", json!({}), "/appr-req1/approve"),
        ("unsigned deny", json!({"reason": "no"}), "/appr-req1/deny"),
        ("v1 receipt", json!({"receipt": v1}), "/appr-req1/approve"),
    ] {
        let (s, resp) = t.post(ALICE, path, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {resp}");
        assert_eq!(error_code(&resp), "receipt_required", "{what}: {resp}");
    }
    let (s, resp) = t
        .post(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-req1"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{resp}");
    assert_eq!(resp["results"][0]["error"]["code"], "receipt_required");
    assert_eq!(
        t.approval("appr-req1").await.status,
        ApprovalStatus::Pending
    );

    let v2 = sign_v2(
        &ALICE_KEY,
        &key,
        &a,
        "alice",
        &epoch,
        DecisionKind::Approve,
        None,
    );
    let (s, resp) = t
        .post(ALICE, "/appr-req1/approve", json!({"receipt": v2}))
        .await;
    assert_eq!(s, StatusCode::OK, "{resp}");

    // Another org is not under the rule.
    let other = new_request("appr-req2", json!({}));
    let (s, resp) = t
        .call(
            Method::POST,
            &t.url(OTHER_ORG, ""),
            Some(OTHER_AGENT),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{resp}");
    let (s, resp) = t
        .call(
            Method::POST,
            &t.url(OTHER_ORG, "/appr-req2/approve"),
            Some(MALLORY),
            Some(&json!({})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{resp}");
    t.halt().await;
}
