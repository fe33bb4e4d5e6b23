//! Quorum (issue 8 §4): N distinct approvers, any deny denies, 409 already_approved,
//! bulk, idempotent replay, long-poll, stats, the `--quorum` rules and racing approvers.

#[path = "support/harness.rs"]
mod harness;

use countersign_api::{
    Approval, ApprovalStatus, AuditEvent, AuditTrail, BulkResponse, DecisionKind, DecisionResponse,
    Role, Stats,
};
use countersign_server::db::tokens::{insert_token, TokenOwner};
use countersign_server::db::Db;
use countersign_server::quorum::QuorumRule;
use countersign_server::Verification;
use harness::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn decision(body: Value) -> Approval {
    serde_json::from_value::<DecisionResponse>(body)
        .expect("decision response")
        .approval
}

fn voters(a: &Approval) -> Vec<&str> {
    a.approvals.iter().map(|v| v.by.as_str()).collect()
}

async fn trail(t: &TestServer, id: &str) -> AuditTrail {
    let (s, body) = t.get(ALICE, &format!("/{id}/audit")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("trail")
}

#[tokio::test]
async fn required_approvals_is_validated_and_defaults_to_one() {
    let t = TestServer::start().await;
    for bad in [json!(0), json!(6), json!(-1), json!("two"), json!(1.5)] {
        let (s, body) = t
            .post(
                ENGINE,
                "",
                new_request("appr-bad", json!({"required_approvals": bad})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(
            error_code(&body).starts_with("validation_failed")
                || error_code(&body) == "invalid_json",
            "{body}"
        );
    }
    // Nothing was stored by the refused requests.
    let (s, _) = t.get(ALICE, "/appr-bad").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, body) = t
        .post(ENGINE, "", new_request("appr-plain", json!({})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["required_approvals"], 1);
    assert_eq!(body["approvals"], json!([]));
    // One approve decides it, and the approval lists it.
    let (s, body) = t.post(ALICE, "/appr-plain/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let a = decision(body);
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(voters(&a), ["alice"]);
    t.stop().await;
}

#[tokio::test]
async fn two_distinct_approvers_approve_and_each_is_audited() {
    let mut t = TestServer::start().await;
    t.create(new_request("appr-q2", json!({"required_approvals": 2})))
        .await;

    let (s, body) = t
        .post(
            ALICE,
            "/appr-q2/approve",
            json!({"notes": "diff looks fine"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let a = decision(body);
    assert_eq!(
        a.status,
        ApprovalStatus::Pending,
        "one of two is not enough"
    );
    assert_eq!(a.decision, None);
    assert_eq!(a.required_approvals, 2);
    assert_eq!(voters(&a), ["alice"]);
    assert_eq!(a.approvals[0].notes.as_deref(), Some("diff looks fine"));

    // A second approve by the same approver is not a second count.
    let (s, body) = t.post(ALICE, "/appr-q2/approve", json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "already_approved");
    assert_eq!(body["approval"]["status"], "pending");
    assert_eq!(t.approval("appr-q2").await.approvals.len(), 1);

    let (s, body) = t.post(BOB, "/appr-q2/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let a = decision(body);
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(voters(&a), ["alice", "bob"]);
    let d = a.decision.expect("decided");
    assert_eq!((d.kind, d.by.as_str()), (DecisionKind::Approve, "bob"));

    let entries = trail(&t, "appr-q2").await.entries;
    let approved: Vec<_> = entries
        .iter()
        .filter(|e| e.event == AuditEvent::Approved)
        .map(|e| (e.actor.as_str(), e.data["partial"].as_bool()))
        .collect();
    assert_eq!(approved, [("alice", Some(true)), ("bob", Some(false))]);
    t.halt().await;
    match countersign_server::verify_audit(&t.db_path).expect("verify") {
        Verification::Ok { .. } => {}
        other => panic!("chain broken: {other:?}"),
    }
}

#[tokio::test]
async fn the_requester_still_cannot_approve_a_quorum_approval() {
    let t = TestServer::start().await;
    t.create_as(
        CAROL_AGENT,
        new_request("appr-self", json!({"required_approvals": 2})),
    )
    .await;
    let (s, body) = t.post(ALICE, "/appr-self/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = t
        .post(CAROL_APPROVER, "/appr-self/approve", json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "self_approval");
    let a = t.approval("appr-self").await;
    assert_eq!(
        (a.status, voters(&a)),
        (ApprovalStatus::Pending, vec!["alice"])
    );
    t.stop().await;
}

#[tokio::test]
async fn any_deny_denies_and_keeps_the_approvals_so_far() {
    let t = TestServer::start().await;
    t.create(new_request("appr-q3", json!({"required_approvals": 3})))
        .await;
    let (s, _) = t.post(ALICE, "/appr-q3/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = t
        .post(
            BOB,
            "/appr-q3/deny",
            json!({"reason": "not during the freeze"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let a = decision(body);
    assert_eq!(a.status, ApprovalStatus::Denied);
    assert_eq!(voters(&a), ["alice"]);
    let d = a.decision.expect("decided");
    assert_eq!((d.kind, d.by.as_str()), (DecisionKind::Deny, "bob"));
    // Final now: a further approve is a conflict with the decision, not a count.
    let (s, body) = t.post(CAROL_APPROVER, "/appr-q3/approve", json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "already_decided");
    t.stop().await;
}

#[tokio::test]
async fn server_rules_set_a_floor_per_action_pattern() {
    let t = TestServer::start_with(|c| {
        c.quorum = vec![
            QuorumRule::parse("kubernetes:*=2").unwrap(),
            QuorumRule::parse("payments:send=3").unwrap(),
        ];
    })
    .await;
    let cases = [
        ("appr-r1", json!({}), 2),
        ("appr-r2", json!({"required_approvals": 1}), 2),
        ("appr-r3", json!({"required_approvals": 4}), 4),
        ("appr-r4", json!({"action": "payments:send"}), 3),
        ("appr-r5", json!({"action": "db:read"}), 1),
    ];
    for (id, overrides, want) in cases {
        let a = t.create(new_request(id, overrides)).await;
        assert_eq!(a.required_approvals, want, "{id}");
    }
    t.stop().await;
}

#[tokio::test]
async fn bulk_items_record_partial_and_complete_approvals() {
    let t = TestServer::start().await;
    for id in ["appr-b1", "appr-b2"] {
        t.create(new_request(id, json!({"required_approvals": 2})))
            .await;
    }
    t.create(new_request("appr-b3", json!({}))).await;
    let ids = json!({"approval_ids": ["appr-b1", "appr-b2", "appr-b3"]});
    let (s, body) = t.post(ALICE, "/bulk-approve", ids.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let r: BulkResponse = serde_json::from_value(body).unwrap();
    let states: Vec<_> = r
        .results
        .iter()
        .map(|i| {
            let a = i.approval.as_ref().expect("approval");
            (i.status, a.status, a.approvals.len())
        })
        .collect();
    assert_eq!(
        states,
        [
            (200, ApprovalStatus::Pending, 1),
            (200, ApprovalStatus::Pending, 1),
            (200, ApprovalStatus::Approved, 1)
        ]
    );

    let (_, body) = t.post(ALICE, "/bulk-approve", ids.clone()).await;
    let r: BulkResponse = serde_json::from_value(body).unwrap();
    let codes: Vec<_> = r
        .results
        .iter()
        .map(|i| i.error.as_ref().map(|e| e.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            Some("already_approved"),
            Some("already_approved"),
            Some("already_decided")
        ]
    );

    let (_, body) = t.post(BOB, "/bulk-approve", ids).await;
    let r: BulkResponse = serde_json::from_value(body).unwrap();
    assert_eq!(r.succeeded, 2);
    for id in ["appr-b1", "appr-b2"] {
        let a = t.approval(id).await;
        assert_eq!(
            (a.status, voters(&a)),
            (ApprovalStatus::Approved, vec!["alice", "bob"])
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn an_idempotent_retry_replays_the_partial_approval_without_counting_twice() {
    let t = TestServer::start().await;
    t.create(new_request("appr-i2", json!({"required_approvals": 2})))
        .await;
    let first = t
        .post_idem(ALICE, "/appr-i2/approve", json!({}), "key-1")
        .await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    let again = t
        .post_idem(ALICE, "/appr-i2/approve", json!({}), "key-1")
        .await;
    assert_eq!(again, first, "the retry replays the first answer");
    // The same decision sent again in a bulk under the same key replays it too.
    let (_, body) = t
        .post(
            ALICE,
            "/bulk-approve",
            json!({"approval_ids": ["appr-i2"], "idempotency_keys": ["key-1"]}),
        )
        .await;
    let r: BulkResponse = serde_json::from_value(body).unwrap();
    assert_eq!(r.results[0].status, 200);
    let a = t.approval("appr-i2").await;
    assert_eq!(
        (a.status, voters(&a)),
        (ApprovalStatus::Pending, vec!["alice"])
    );
    t.stop().await;
}

#[tokio::test]
async fn a_long_poll_returns_the_final_decision_and_stats_count_it_once() {
    let t = TestServer::start().await;
    t.create(new_request("appr-w", json!({"required_approvals": 2})))
        .await;
    let (s, _) = t.post(ALICE, "/appr-w/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    // Pending with one approval: a long-poll started now must not return for it.
    let url = t.url(ORG, "/appr-w?wait=30");
    let http = t.http.clone();
    let waiter = tokio::spawn(async move {
        let resp = http.get(url).bearer_auth(ENGINE).send().await.unwrap();
        resp.json::<Approval>().await.unwrap()
    });
    let (s, _) = t.post(BOB, "/appr-w/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let a = waiter.await.unwrap();
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(voters(&a), ["alice", "bob"]);

    let (_, body) = t.get(ALICE, "/stats").await;
    let stats: Stats = serde_json::from_value(body).unwrap();
    assert_eq!(stats.totals.approved, 1);
    assert_eq!(stats.totals.total(), 1);
    t.stop().await;
}

#[tokio::test]
async fn five_approvers_at_once_record_exactly_the_quorum() {
    let t = TestServer::start().await;
    let db = Db::open(&t.db_path).expect("open db");
    let tokens: Vec<String> = (1..=5).map(|i| format!("racer-{i}-token")).collect();
    db.with_writer(|conn| {
        for (i, token) in tokens.iter().enumerate() {
            let owner = TokenOwner {
                org: ORG.to_string(),
                subject: format!("racer-{}", i + 1),
                role: Role::Approver,
            };
            insert_token(conn, token, &owner)?;
        }
        Ok(())
    })
    .expect("tokens");
    for round in 0..5 {
        let id = format!("appr-race{round}");
        t.create(new_request(&id, json!({"required_approvals": 2})))
            .await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(tokens.len()));
        let tasks: Vec<_> = tokens
            .iter()
            .map(|token| {
                let (http, url, token, barrier) = (
                    t.http.clone(),
                    t.url(ORG, &format!("/{id}/approve")),
                    token.clone(),
                    barrier.clone(),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    let resp = http
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({}))
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status();
                    (status, resp.json::<Value>().await.unwrap())
                })
            })
            .collect();
        let mut ok = 0;
        let mut conflicts = 0;
        for task in tasks {
            let (status, body) = task.await.unwrap();
            match status {
                StatusCode::OK => ok += 1,
                StatusCode::CONFLICT => {
                    assert_eq!(error_code(&body), "already_decided", "{body}");
                    conflicts += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!((ok, conflicts), (2, 3), "round {round}");
        let a = t.approval(&id).await;
        assert_eq!(a.status, ApprovalStatus::Approved);
        assert_eq!(a.approvals.len(), 2);
        let recorded = trail(&t, &id)
            .await
            .entries
            .iter()
            .filter(|e| e.event == AuditEvent::Approved)
            .count();
        assert_eq!(recorded, 2, "round {round}");
    }
    t.stop().await;
}

#[test]
fn a_database_from_before_quorum_gets_the_columns_and_sensible_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    drop(Db::open(&path).expect("creates"));
    // Make the file look like one written before quorum: no columns, one approved row.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE approvals DROP COLUMN approvals;
             ALTER TABLE approvals DROP COLUMN required_approvals;
             INSERT INTO approvals (org, id, agent_id, action, summary, status, reason_code,
                 reason_text, params, policy_trace, risk, created_at, expires_at, requested_by,
                 decision_kind, decided_by, decided_at, decision_notes, change_seq)
             VALUES ('org-test', 'appr-old', 'bot', 'a:b', 's', 'approved', 'R', 'r', '{}', '[]',
                 '{}', 1000, 99999999999999, 'engine', 'approve', 'alice', 2000, 'ok', 1);",
        )
        .unwrap();
    }
    let db = Db::open(&path).expect("reopens and migrates");
    let a = db
        .with_writer(|conn| {
            countersign_server::db::rows::get_approval(conn, "org-test", "appr-old")
        })
        .unwrap()
        .expect("row");
    assert_eq!(a.required_approvals, 1);
    assert_eq!(voters(&a), ["alice"], "the one approval is the decision");
    assert_eq!(a.approvals[0].notes.as_deref(), Some("ok"));
}
