//! Approve/deny, bulk, 409s, idempotency and racing approvers against a real server.

#[path = "support/harness.rs"]
mod harness;

use countersign_api::{ApprovalStatus, BulkResponse, DecisionKind, DecisionResponse, MAX_BULK_IDS};
use harness::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn approve_records_decision_and_change_seq() {
    let t = TestServer::start().await;
    let created = t.create(new_request("appr-a1", json!({}))).await;
    let (status, body) = t
        .post(ALICE, "/appr-a1/approve", json!({"notes": "looks right"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp: DecisionResponse = serde_json::from_value(body).unwrap();
    assert_eq!(resp.approval.status, ApprovalStatus::Approved);
    let d = resp.approval.decision.as_ref().unwrap();
    assert_eq!(d.kind, DecisionKind::Approve);
    assert_eq!(d.by, "alice");
    assert_eq!(d.notes.as_deref(), Some("looks right"));
    assert!(resp.change_seq > created.change_seq);
    assert_eq!(resp.change_seq, resp.approval.change_seq);
    assert_eq!(t.approval("appr-a1").await.status, ApprovalStatus::Approved);
    t.stop().await;
}

#[tokio::test]
async fn approve_accepts_an_empty_body() {
    let t = TestServer::start().await;
    t.create(new_request("appr-empty", json!({}))).await;
    let resp = t
        .http
        .post(t.url(ORG, "/appr-empty/approve"))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn deny_requires_a_reason_and_stores_it() {
    let t = TestServer::start().await;
    t.create(new_request("appr-d1", json!({}))).await;
    for body in [json!({}), json!({"reason": "   "}), json!({"notes": "n"})] {
        let (status, resp) = t.post(ALICE, "/appr-d1/deny", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
        assert_eq!(error_code(&resp), "validation_failed");
    }
    assert_eq!(t.approval("appr-d1").await.status, ApprovalStatus::Pending);
    let (status, resp) = t
        .post(
            ALICE,
            "/appr-d1/deny",
            json!({"reason": "Not approved during code freeze", "notes": "until Dec 20"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let a = t.approval("appr-d1").await;
    assert_eq!(a.status, ApprovalStatus::Denied);
    let d = a.decision.unwrap();
    assert_eq!(d.reason.as_deref(), Some("Not approved during code freeze"));
    assert_eq!(d.notes.as_deref(), Some("until Dec 20"));
    t.stop().await;
}

#[tokio::test]
async fn deciding_a_decided_approval_is_409_with_current_state() {
    let t = TestServer::start().await;
    t.create(new_request("appr-c1", json!({}))).await;
    let (s, _) = t.post(ALICE, "/appr-c1/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    for (path, body) in [
        ("/appr-c1/approve", json!({})),
        ("/appr-c1/deny", json!({"reason": "too late"})),
    ] {
        let (status, resp) = t.post(BOB, path, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{resp}");
        assert_eq!(error_code(&resp), "already_decided");
        assert_eq!(resp["approval"]["status"], "approved");
        assert_eq!(resp["approval"]["decision"]["by"], "alice");
    }
    t.stop().await;
}

#[tokio::test]
async fn idempotent_replay_returns_first_answer_and_mismatch_is_422() {
    let t = TestServer::start().await;
    t.create(new_request("appr-i1", json!({}))).await;
    let body = json!({"notes": "once"});
    let (s1, first) = t
        .post_idem(ALICE, "/appr-i1/approve", body.clone(), "key-1")
        .await;
    assert_eq!(s1, StatusCode::OK);
    let (s2, second) = t
        .post_idem(ALICE, "/appr-i1/approve", body.clone(), "key-1")
        .await;
    assert_eq!(s2, StatusCode::OK, "replay must not be a 409: {second}");
    assert_eq!(first, second);
    // The replay decided nothing: one `approved` audit entry only.
    let (_, trail) = t.get(ALICE, "/appr-i1/audit").await;
    let approvals = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "approved")
        .count();
    assert_eq!(approvals, 1);
    // Same key, different body: 422.
    let (s3, resp) = t
        .post_idem(
            ALICE,
            "/appr-i1/approve",
            json!({"notes": "other"}),
            "key-1",
        )
        .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&resp), "idempotency_mismatch");
    // Same key on another endpoint: also a different request.
    let (s4, _) = t
        .post_idem(ALICE, "/appr-i1/deny", json!({"reason": "r"}), "key-1")
        .await;
    assert_eq!(s4, StatusCode::UNPROCESSABLE_ENTITY);
    // A fresh key on a decided approval gets the honest 409.
    let (s5, _) = t.post_idem(ALICE, "/appr-i1/approve", body, "key-2").await;
    assert_eq!(s5, StatusCode::CONFLICT);
    t.stop().await;
}

#[tokio::test]
async fn a_replayed_409_stays_409() {
    let t = TestServer::start().await;
    t.create(new_request("appr-i2", json!({}))).await;
    t.post(BOB, "/appr-i2/deny", json!({"reason": "no"})).await;
    let (s1, b1) = t
        .post_idem(ALICE, "/appr-i2/approve", json!({}), "k409")
        .await;
    let (s2, b2) = t
        .post_idem(ALICE, "/appr-i2/approve", json!({}), "k409")
        .await;
    assert_eq!((s1, s2), (StatusCode::CONFLICT, StatusCode::CONFLICT));
    assert_eq!(b1, b2);
    t.stop().await;
}

#[tokio::test]
async fn invalid_idempotency_key_is_rejected() {
    let t = TestServer::start().await;
    t.create(new_request("appr-i3", json!({}))).await;
    let long = "k".repeat(201);
    for key in [long.as_str(), "has space"] {
        let (s, body) = t.post_idem(ALICE, "/appr-i3/approve", json!({}), key).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(&body), "invalid_idempotency_key");
    }
    assert_eq!(t.approval("appr-i3").await.status, ApprovalStatus::Pending);
    t.stop().await;
}

#[tokio::test]
async fn bulk_approve_reports_per_item_and_one_bad_id_does_not_sink_the_rest() {
    let t = TestServer::start().await;
    for id in ["appr-b1", "appr-b2", "appr-b3"] {
        t.create(new_request(id, json!({}))).await;
    }
    t.post(BOB, "/appr-b3/deny", json!({"reason": "no"})).await;
    let (status, body) = t
        .post(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-b1", "appr-missing", "appr-b2", "appr-b3", "BAD"], "notes": "batch"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r: BulkResponse = serde_json::from_value(body).unwrap();
    assert_eq!((r.succeeded, r.failed), (2, 3));
    let statuses: Vec<(String, u16)> = r.results.iter().map(|i| (i.id.clone(), i.status)).collect();
    assert_eq!(
        statuses,
        vec![
            ("appr-b1".into(), 200),
            ("appr-missing".into(), 404),
            ("appr-b2".into(), 200),
            ("appr-b3".into(), 409),
            ("BAD".into(), 400),
        ]
    );
    assert_eq!(
        r.results[3].approval.as_ref().unwrap().status,
        ApprovalStatus::Denied
    );
    for id in ["appr-b1", "appr-b2"] {
        let a = t.approval(id).await;
        assert_eq!(a.status, ApprovalStatus::Approved);
        assert_eq!(a.decision.unwrap().notes.as_deref(), Some("batch"));
    }
    t.stop().await;
}

#[tokio::test]
async fn bulk_deny_requires_reason_and_valid_lists() {
    let t = TestServer::start().await;
    t.create(new_request("appr-bd1", json!({}))).await;
    let too_many: Vec<String> = (0..=MAX_BULK_IDS).map(|i| format!("appr-n{i}")).collect();
    let cases = [
        json!({"approval_ids": ["appr-bd1"]}),
        json!({"approval_ids": ["appr-bd1"], "reason": ""}),
        json!({"approval_ids": [], "reason": "r"}),
        json!({"approval_ids": ["appr-bd1", "appr-bd1"], "reason": "r"}),
        json!({"approval_ids": too_many, "reason": "r"}),
        json!({"approval_ids": ["appr-bd1"], "reason": "r", "extra": 1}),
        json!({"approval_ids": "appr-bd1", "reason": "r"}),
    ];
    for case in cases {
        let (status, body) = t.post(ALICE, "/bulk-deny", case.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case} -> {body}");
        assert_eq!(error_code(&body), "validation_failed");
    }
    assert_eq!(t.approval("appr-bd1").await.status, ApprovalStatus::Pending);
    let (status, body) = t
        .post(
            ALICE,
            "/bulk-deny",
            json!({"approval_ids": ["appr-bd1"], "reason": "End of day cleanup"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["succeeded"], 1);
    assert_eq!(
        t.approval("appr-bd1")
            .await
            .decision
            .unwrap()
            .reason
            .as_deref(),
        Some("End of day cleanup")
    );
    t.stop().await;
}

#[tokio::test]
async fn bulk_is_idempotent_per_item() {
    let t = TestServer::start().await;
    for id in ["appr-bi1", "appr-bi2", "appr-bi3"] {
        t.create(new_request(id, json!({}))).await;
    }
    let body = json!({"approval_ids": ["appr-bi1", "appr-bi2"], "notes": "n"});
    let (_, first) = t
        .post_idem(ALICE, "/bulk-approve", body.clone(), "bulk-1")
        .await;
    let (_, again) = t.post_idem(ALICE, "/bulk-approve", body, "bulk-1").await;
    assert_eq!(first, again);
    assert_eq!(
        again["succeeded"], 2,
        "replayed items answer as the first time"
    );
    // A retry that adds an id: known items replay, the new one is decided.
    let (_, wider) = t
        .post_idem(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-bi1", "appr-bi2", "appr-bi3"], "notes": "n"}),
            "bulk-1",
        )
        .await;
    assert_eq!(wider["succeeded"], 3, "{wider}");
    assert_eq!(wider["results"][0], first["results"][0]);
    // Different notes under the same key: each item is a mismatch, nothing changes.
    let (_, mismatch) = t
        .post_idem(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-bi1"], "notes": "changed"}),
            "bulk-1",
        )
        .await;
    assert_eq!(mismatch["results"][0]["status"], 422);
    assert_eq!(
        mismatch["results"][0]["error"]["code"],
        "idempotency_mismatch"
    );
    t.stop().await;
}

#[tokio::test]
async fn racing_valid_approvers_exactly_one_wins() {
    let t = TestServer::start().await;
    t.create(new_request("appr-race2", json!({}))).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let http = t.http.clone();
        let url_base = t.url(ORG, "/appr-race2");
        tasks.push(tokio::spawn(async move {
            let (token, kind, body) = if i % 2 == 0 {
                (ALICE, "approve", json!({"notes": format!("racer {i}")}))
            } else {
                (BOB, "deny", json!({"reason": format!("racer {i}")}))
            };
            http.post(format!("{url_base}/{kind}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        11
    );
    t.stop().await;
}

async fn decided_entries(t: &TestServer, id: &str) -> usize {
    let (_, trail) = t.get(ALICE, &format!("/{id}/audit")).await;
    trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "approved" || e["event"] == "denied")
        .count()
}

#[tokio::test]
async fn bulk_items_with_their_own_keys_replay_across_endpoints_and_regroupings() {
    let t = TestServer::start().await;
    for id in ["appr-k1", "appr-k2", "appr-k3", "appr-k4"] {
        t.create(new_request(id, json!({}))).await;
    }
    // k1 goes out alone first; its answer is lost, and the retry travels in a bulk.
    let (s, alone) = t
        .post_idem(ALICE, "/appr-k1/approve", json!({"notes": "n"}), "key-k1")
        .await;
    assert_eq!(s, StatusCode::OK, "{alone}");
    let (s, body) = t
        .post(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-k1", "appr-k2", "appr-k3"], "notes": "n",
                   "idempotency_keys": ["key-k1", "key-k2", "key-k3"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let first: BulkResponse = serde_json::from_value(body).unwrap();
    assert_eq!((first.succeeded, first.failed), (3, 0), "{first:?}");
    assert_eq!(
        first.results[0].approval.as_ref().unwrap().change_seq,
        alone["change_seq"].as_i64().unwrap(),
        "k1 must replay the single answer, not be decided again"
    );
    // Regrouped differently (other order, fewer items): each replays its first answer.
    let (_, body) = t
        .post(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-k3", "appr-k2"], "notes": "n",
                   "idempotency_keys": ["key-k3", "key-k2"]}),
        )
        .await;
    let again: BulkResponse = serde_json::from_value(body).unwrap();
    assert_eq!(again.succeeded, 2, "{again:?}");
    assert_eq!(again.results[0], first.results[2]);
    assert_eq!(again.results[1], first.results[1]);
    // And k2 retried alone on the single endpoint replays the bulk item's answer.
    let (s, single) = t
        .post_idem(ALICE, "/appr-k2/approve", json!({"notes": "n"}), "key-k2")
        .await;
    assert_eq!(s, StatusCode::OK, "{single}");
    let single: DecisionResponse = serde_json::from_value(single).unwrap();
    assert_eq!(Some(&single.approval), first.results[1].approval.as_ref());
    for id in ["appr-k1", "appr-k2", "appr-k3"] {
        assert_eq!(decided_entries(&t, id).await, 1, "{id} decided twice");
    }
    // A key reused for a different decision is refused per item, nothing changes.
    let (_, body) = t
        .post(
            ALICE,
            "/bulk-deny",
            json!({"approval_ids": ["appr-k1"], "reason": "r", "idempotency_keys": ["key-k1"]}),
        )
        .await;
    assert_eq!(body["results"][0]["status"], 422, "{body}");
    assert_eq!(body["results"][0]["error"]["code"], "idempotency_mismatch");
    // A 409 is stored per key with the current approval, and replays on either endpoint.
    t.post(BOB, "/appr-k4/deny", json!({"reason": "no"})).await;
    let (_, body) = t
        .post(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-k4", "appr-k3"], "notes": "n",
                   "idempotency_keys": ["key-k4", "key-k3"]}),
        )
        .await;
    let r: BulkResponse = serde_json::from_value(body).unwrap();
    assert_eq!(r.results[0].status, 409);
    assert_eq!(
        r.results[0]
            .approval
            .as_ref()
            .unwrap()
            .decision
            .as_ref()
            .unwrap()
            .by,
        "bob"
    );
    assert!(r.results[1].ok, "k3 replays its 200 beside a fresh 409");
    let (s, body) = t
        .post_idem(ALICE, "/appr-k4/approve", json!({"notes": "n"}), "key-k4")
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(body["approval"]["decision"]["by"], "bob", "{body}");
    assert_eq!(decided_entries(&t, "appr-k4").await, 1);
    t.stop().await;
}

#[tokio::test]
async fn bulk_item_keys_are_checked_before_anything_is_decided() {
    let t = TestServer::start().await;
    t.create(new_request("appr-kv1", json!({}))).await;
    t.create(new_request("appr-kv2", json!({}))).await;
    let ids = json!(["appr-kv1", "appr-kv2"]);
    let cases = [
        (
            json!({"approval_ids": ids, "idempotency_keys": ["a"]}),
            "validation_failed",
        ),
        (
            json!({"approval_ids": ids, "idempotency_keys": ["a", "a"]}),
            "validation_failed",
        ),
        (
            json!({"approval_ids": ids, "idempotency_keys": ["a", "has space"]}),
            "invalid_idempotency_key",
        ),
        (
            json!({"approval_ids": ids, "idempotency_keys": ["a", ""]}),
            "invalid_idempotency_key",
        ),
        (
            json!({"approval_ids": ids, "idempotency_keys": "a"}),
            "validation_failed",
        ),
    ];
    for (case, code) in cases {
        let (status, body) = t.post(ALICE, "/bulk-approve", case.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case} -> {body}");
        assert_eq!(error_code(&body), code, "{case}");
    }
    // Header and body keys together are ambiguous.
    let (status, body) = t
        .post_idem(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ids, "idempotency_keys": ["a", "b"]}),
            "header-key",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for id in ["appr-kv1", "appr-kv2"] {
        assert_eq!(t.approval(id).await.status, ApprovalStatus::Pending);
    }
    t.stop().await;
}
