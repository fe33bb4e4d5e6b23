//! Expiry (sweeper and check-on-read), the agent's long-poll, and execution results.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use countersign_api::{Approval, ApprovalStatus, ExecutionOutcome};
use harness::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn an_expired_approval_cannot_be_decided_or_executed() {
    // A slow sweeper, so this exercises check-on-read and check-on-decide.
    let t = TestServer::start_with(|c| c.sweep_interval = Duration::from_secs(3600)).await;
    t.create(new_request("appr-e1", json!({"expires_in_secs": 1})))
        .await;
    let last = t
        .create(new_request("appr-e2", json!({"expires_in_secs": 1})))
        .await;
    // Until both are past their expiry on the clock the server reads.
    while chrono::Utc::now() <= last.expires_at {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, body) = t.post(ALICE, "/appr-e1/approve", json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "expired");
    assert_eq!(body["approval"]["status"], "expired");
    let a = t.approval("appr-e2").await;
    assert_eq!(a.status, ApprovalStatus::Expired);
    let (s, body) = t
        .post(ENGINE, "/appr-e2/result", json!({"outcome": "succeeded"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "not_approved");
    let (_, trail) = t.get(ALICE, "/appr-e1/audit").await;
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{trail}");
    assert_eq!(entries[1]["event"], "expired");
    assert_eq!(entries[1]["actor"], "system");
    t.stop().await;
}

#[tokio::test]
async fn the_sweeper_expires_without_any_read() {
    let t = TestServer::start().await; // sweeps every 200 ms
    let a = t
        .create(new_request("appr-s1", json!({"expires_in_secs": 1})))
        .await;
    // Read the row straight from SQLite: no HTTP read runs check-on-read.
    let conn = rusqlite::Connection::open(&t.db_path).unwrap();
    let read = || -> (String, i64) {
        conn.query_row(
            "SELECT status, change_seq FROM approvals WHERE id = 'appr-s1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    // Not before its expiry: judged only when the read is known to precede it (a slow
    // machine may get here after the expiry, and then the row may rightly be expired).
    let early = read();
    if chrono::Utc::now() < a.expires_at {
        assert_eq!(early.0, "pending", "not before its expiry");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (status, seq) = loop {
        let row = read();
        if row.0 != "pending" || tokio::time::Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, "expired");
    assert!(seq > a.change_seq);
    t.stop().await;
}

#[tokio::test]
async fn long_poll_returns_when_decided() {
    let t = TestServer::start().await;
    t.create(new_request("appr-w1", json!({}))).await;
    let http = t.http.clone();
    let url = t.url(ORG, "/appr-w1?wait=30");
    let waiter = tokio::spawn(async move {
        let resp = http.get(url).bearer_auth(ENGINE).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json::<Approval>().await.unwrap()
    });
    // The long-poll is listening for changes before the decision is made.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while t.server.as_ref().expect("running").change_listeners() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the long-poll never started waiting"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!waiter.is_finished(), "still waiting while pending");
    t.post(BOB, "/appr-w1/deny", json!({"reason": "not now"}))
        .await;
    let a = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("long-poll answered after the decision")
        .unwrap();
    assert_eq!(a.status, ApprovalStatus::Denied);
    assert_eq!(a.decision.unwrap().reason.as_deref(), Some("not now"));
    t.stop().await;
}

#[tokio::test]
async fn long_poll_returns_on_expiry_and_on_timeout() {
    let t = TestServer::start_with(|c| c.sweep_interval = Duration::from_secs(3600)).await;
    t.create(new_request("appr-w2", json!({"expires_in_secs": 1})))
        .await;
    let (s, body) = t.get(ENGINE, "/appr-w2?wait=20").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "expired", "woke at expiry: {body}");
    t.create(new_request("appr-w3", json!({}))).await;
    let (s, body) = t.get(ENGINE, "/appr-w3?wait=1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "pending", "timed out still pending");
    t.stop().await;
}

#[tokio::test]
async fn results_are_recorded_once_and_only_for_approved() {
    let t = TestServer::start().await;
    t.create(new_request("appr-x1", json!({}))).await;
    t.create(new_request("appr-x2", json!({}))).await;
    let (s, body) = t
        .post(ENGINE, "/appr-x1/result", json!({"outcome": "succeeded"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "pending cannot be executed");
    assert_eq!(error_code(&body), "not_approved");
    t.post(ALICE, "/appr-x1/approve", json!({})).await;
    t.post(ALICE, "/appr-x2/deny", json!({"reason": "no"}))
        .await;
    let (s, body) = t
        .post(
            ENGINE,
            "/appr-x1/result",
            json!({"outcome": "succeeded", "output": {"pods": 3}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let a: Approval = serde_json::from_value(body).unwrap();
    let exec = a.execution.unwrap();
    assert_eq!(exec.outcome, ExecutionOutcome::Succeeded);
    assert_eq!(exec.output["pods"], 3);
    let (s, body) = t
        .post(ENGINE, "/appr-x1/result", json!({"outcome": "failed"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "already_executed");
    let (s, _) = t
        .post(ENGINE, "/appr-x2/result", json!({"outcome": "succeeded"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a denied action is never executed");
    let (s, _) = t
        .post(ENGINE, "/appr-zz/result", json!({"outcome": "succeeded"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .post(ENGINE, "/appr-x1/result", json!({"outcome": "maybe"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, trail) = t.get(ALICE, "/appr-x1/audit").await;
    let events: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, vec!["created", "approved", "executed"]);
    assert_eq!(trail["entries"][2]["actor"], "engine");
    assert_eq!(trail["entries"][2]["data"]["output"]["pods"], 3);
    t.stop().await;
}
