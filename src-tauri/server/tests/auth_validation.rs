//! Authentication, org isolation, roles, and input validation.

#[path = "support/harness.rs"]
mod harness;

use countersign_api::{ApprovalStatus, MAX_NOTES_CHARS, MAX_REASON_CHARS};
use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn missing_or_bad_tokens_are_401() {
    let t = TestServer::start().await;
    t.create(new_request("appr-x1", json!({}))).await;
    let url = t.url(ORG, "/appr-x1");
    let (s, body) = t.call(Method::GET, &url, None, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "unauthorized");
    let (s, _) = t.call(Method::GET, &url, Some("nope"), None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let resp = t
        .http
        .get(&url)
        .header("Authorization", format!("Basic {ALICE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (s, _) = t
        .call(
            Method::POST,
            &format!("{url}/approve"),
            None,
            Some(&json!({})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(t.approval("appr-x1").await.status, ApprovalStatus::Pending);
    t.stop().await;
}

#[tokio::test]
async fn another_orgs_token_gets_404_for_everything() {
    let t = TestServer::start().await;
    t.create(new_request("appr-o1", json!({}))).await;
    let calls: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "", None),
        (Method::GET, "/appr-o1", None),
        (Method::GET, "/appr-nonexistent", None),
        (Method::GET, "/appr-o1/audit", None),
        (Method::GET, "/stats", None),
        (Method::GET, "/changes", None),
        (Method::GET, "/events", None),
        (Method::POST, "/appr-o1/approve", Some(json!({}))),
        (Method::POST, "/appr-o1/deny", Some(json!({"reason": "x"}))),
        (
            Method::POST,
            "/bulk-approve",
            Some(json!({"approval_ids": ["appr-o1"]})),
        ),
        (
            Method::POST,
            "/bulk-deny",
            Some(json!({"approval_ids": ["appr-o1"], "reason": "x"})),
        ),
    ];
    for (method, suffix, body) in calls {
        let url = t.url(ORG, suffix);
        let (s, resp) = t
            .call(method.clone(), &url, Some(MALLORY), body.as_ref(), None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {suffix}: {resp}");
        assert_eq!(error_code(&resp), "not_found");
    }
    let (s, _) = t
        .call(
            Method::POST,
            &t.url(ORG, ""),
            Some(OTHER_AGENT),
            Some(&new_request("appr-o2", json!({}))),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(t.approval("appr-o1").await.status, ApprovalStatus::Pending);
    // Their own org works and does not see ours.
    let (s, list) = t
        .call(
            Method::GET,
            &t.url(OTHER_ORG, ""),
            Some(MALLORY),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (s, _) = t
        .call(
            Method::GET,
            &t.url(OTHER_ORG, "/appr-o1"),
            Some(MALLORY),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    t.stop().await;
}

#[tokio::test]
async fn same_id_in_two_orgs_is_two_approvals() {
    let t = TestServer::start().await;
    t.create(new_request("appr-same", json!({}))).await;
    let (s, _) = t
        .call(
            Method::POST,
            &t.url(OTHER_ORG, ""),
            Some(OTHER_AGENT),
            Some(&new_request("appr-same", json!({}))),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "creating in another org reveals nothing and works"
    );
    let (s, _) = t
        .call(
            Method::POST,
            &t.url(OTHER_ORG, "/appr-same/approve"),
            Some(MALLORY),
            Some(&json!({})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        t.approval("appr-same").await.status,
        ApprovalStatus::Pending
    );
    t.stop().await;
}

#[tokio::test]
async fn roles_are_enforced() {
    let t = TestServer::start().await;
    t.create(new_request("appr-r1", json!({}))).await;
    for (suffix, body) in [
        ("/appr-r1/approve", json!({})),
        ("/appr-r1/deny", json!({"reason": "x"})),
        ("/bulk-approve", json!({"approval_ids": ["appr-r1"]})),
        (
            "/bulk-deny",
            json!({"approval_ids": ["appr-r1"], "reason": "x"}),
        ),
    ] {
        let (s, resp) = t.post(ENGINE, suffix, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{suffix}: {resp}");
        assert_eq!(error_code(&resp), "forbidden");
    }
    // An agent gets its 403 even with a malformed body.
    let resp = t
        .http
        .post(t.url(ORG, "/appr-r1/approve"))
        .bearer_auth(ENGINE)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (s, resp) = t.post(ALICE, "", new_request("appr-r2", json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{resp}");
    let (s, _) = t
        .post(ALICE, "/appr-r1/result", json!({"outcome": "succeeded"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Agents may read.
    let (s, _) = t.get(ENGINE, "/appr-r1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t.approval("appr-r1").await.status, ApprovalStatus::Pending);
    t.stop().await;
}

#[tokio::test]
async fn an_approver_cannot_decide_their_own_request() {
    let t = TestServer::start().await;
    t.create_as(CAROL_AGENT, new_request("appr-self", json!({})))
        .await;
    let (s, body) = t
        .post(CAROL_APPROVER, "/appr-self/approve", json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "self_approval");
    let (_, bulk) = t
        .post(
            CAROL_APPROVER,
            "/bulk-deny",
            json!({"approval_ids": ["appr-self"], "reason": "mine"}),
        )
        .await;
    assert_eq!(bulk["results"][0]["status"], 403);
    assert_eq!(bulk["results"][0]["error"]["code"], "self_approval");
    let (s, _) = t.post(ALICE, "/appr-self/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK, "someone else may");
    t.stop().await;
}

#[tokio::test]
async fn whoami_reports_the_token_owner() {
    let t = TestServer::start().await;
    let (s, body) = t
        .call(
            Method::GET,
            &format!("{}/api/v1/me", t.base),
            Some(BOB),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let epoch = body["epoch"]
        .as_str()
        .expect("the database epoch")
        .to_string();
    assert_eq!(
        body,
        json!({"subject": "bob", "org_id": ORG, "role": "approver", "epoch": epoch})
    );
    t.stop().await;
}

async fn raw_post(
    t: &TestServer,
    suffix: &str,
    content_type: Option<&str>,
    body: String,
) -> (StatusCode, Value) {
    let mut req = t
        .http
        .post(t.url(ORG, suffix))
        .bearer_auth(ALICE)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("error bodies are JSON, got {text:?}"));
    (status, json)
}

#[tokio::test]
async fn bad_decision_input_is_4xx_json_and_writes_nothing() {
    let t = TestServer::start().await;
    t.create(new_request("appr-v1", json!({}))).await;
    let json_ct = Some("application/json");
    let long_notes = "n".repeat(MAX_NOTES_CHARS + 1);
    let long_reason = "r".repeat(MAX_REASON_CHARS + 1);
    let cases: Vec<(&str, Option<&str>, String, StatusCode, &str)> = vec![
        (
            "/appr-v1/approve",
            json_ct,
            "{\"notes\": ".into(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "/appr-v1/approve",
            json_ct,
            "[1,2]".into(),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "/appr-v1/approve",
            json_ct,
            r#"{"note": "typo"}"#.into(),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "/appr-v1/approve",
            json_ct,
            json!({"notes": long_notes}).to_string(),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "/appr-v1/approve",
            json_ct,
            r#"{"notes": 5}"#.into(),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "/appr-v1/deny",
            json_ct,
            json!({"reason": long_reason}).to_string(),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "/appr-v1/deny",
            json_ct,
            json!({"reason": "ok", "notes": long_notes}).to_string(),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "/appr-v1/approve",
            Some("text/plain"),
            "{}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "/APPR-V1/approve",
            json_ct,
            "{}".into(),
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            "/appr-v1%2Fx/approve",
            json_ct,
            "{}".into(),
            StatusCode::BAD_REQUEST,
            "invalid_id",
        ),
        (
            "/appr-nope/approve",
            json_ct,
            "{}".into(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (suffix, ct, body, want, code) in cases {
        let (status, resp) = raw_post(&t, suffix, ct, body).await;
        assert_eq!(status, want, "{suffix}: {resp}");
        assert_eq!(error_code(&resp), code, "{suffix}: {resp}");
    }
    // Exactly at the limits is fine.
    let (s, _) = raw_post(
        &t,
        "/appr-v1/deny",
        json_ct,
        json!({"reason": "r".repeat(MAX_REASON_CHARS), "notes": "n".repeat(MAX_NOTES_CHARS)})
            .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let t = TestServer::start().await;
    let huge =
        json!({"approval_ids": ["appr-1"], "notes": "x".repeat(2 * 1024 * 1024)}).to_string();
    let (s, body) = raw_post(&t, "/bulk-approve", Some("application/json"), huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "payload_too_large");
    t.stop().await;
}

#[tokio::test]
async fn bad_create_input_is_rejected() {
    let t = TestServer::start().await;
    let cases = [
        new_request("appr-c1", json!({"id": "bad id"})),
        new_request("appr-c1", json!({"action": " "})),
        new_request("appr-c1", json!({"summary": ""})),
        new_request("appr-c1", json!({"reason_code": ""})),
        new_request("appr-c1", json!({"agent": {"id": ""}})),
        new_request("appr-c1", json!({"expires_in_secs": 0})),
        new_request("appr-c1", json!({"expires_in_secs": 86_401})),
        new_request(
            "appr-c1",
            json!({"policy_trace": [{"step": "x", "result": "maybe"}]}),
        ),
        new_request("appr-c1", json!({"unexpected": true})),
        json!({"id": "appr-c1"}),
    ];
    for case in cases {
        let (s, body) = t.post(ENGINE, "", case.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{case}: {body}");
    }
    let (s, _) = t.get(ALICE, "/appr-c1").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was written");
    let created = t.create(new_request("appr-c1", json!({}))).await;
    assert_eq!(created.requested_by, "engine");
    let (s, body) = t.post(ENGINE, "", new_request("appr-c1", json!({}))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "already_exists");
    // Without an id the server makes one of the right form.
    let mut req = new_request("appr-ignored", json!({}));
    req.as_object_mut().unwrap().remove("id");
    let a = t.create(req).await;
    assert!(countersign_api::is_valid_approval_id(&a.id), "{}", a.id);
    t.stop().await;
}

#[tokio::test]
async fn bad_query_params_are_400() {
    let t = TestServer::start().await;
    for q in [
        "?limit=0",
        "?limit=1001",
        "?limit=abc",
        "?status=bogus",
        "?from=yesterday",
        "?to=2024-13-01",
        "?from=2024-12-10&to=2024-12-01",
        "?cursor=garbage",
        "?unknown=1",
    ] {
        let (s, body) = t.get(ALICE, q).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {body}");
        assert!(body["error"]["code"].is_string());
    }
    for q in [
        "/changes?after=-1",
        "/changes?after=x",
        "/changes?limit=0",
        "/stats?from=nope",
        "/appr-x1?wait=soon",
    ] {
        let (s, body) = t.get(ALICE, q).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {body}");
    }
    t.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let t = TestServer::start().await;
    let (s, body) = t
        .call(Method::GET, &format!("{}/nope", t.base), None, None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
    let (s, body) = t
        .call(
            Method::DELETE,
            &t.url(ORG, "/appr-x"),
            Some(ALICE),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "method_not_allowed");
    let (s, body) = t
        .call(
            Method::GET,
            &format!("{}/healthz", t.base),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    t.stop().await;
}

/// Garbage in, never a 5xx out: seeded random bodies, paths and query strings
/// against every endpoint, and every answer is a JSON error or success.
#[tokio::test]
async fn garbage_never_produces_a_server_error() {
    use rand::{Rng, SeedableRng};
    let t = TestServer::start().await;
    t.create(new_request("appr-fz", json!({}))).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let endpoints = [
        (Method::POST, "/appr-fz/approve", ALICE),
        (Method::POST, "/appr-fz/deny", ALICE),
        (Method::POST, "/bulk-approve", ALICE),
        (Method::POST, "/bulk-deny", BOB),
        (Method::POST, "", ENGINE),
        (Method::POST, "/appr-fz/result", ENGINE),
        (Method::GET, "", ALICE),
        (Method::GET, "/changes", ALICE),
        (Method::GET, "/stats", ALICE),
        (Method::GET, "/appr-fz", ENGINE),
    ];
    let fragments = [
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "null",
        "true",
        "1e999",
        "-0",
        "\\u0000",
        "\"approval_ids\"",
        "\"reason\"",
        "\"notes\"",
        "\"appr-fz\"",
        "\u{1F600}",
        "\\",
        " ",
    ];
    for round in 0..400 {
        let (method, suffix, token) = endpoints[round % endpoints.len()].clone();
        let body: String = (0..rng.gen_range(0..40))
            .map(|_| fragments[rng.gen_range(0..fragments.len())])
            .collect();
        let query: String = (0..rng.gen_range(0..4))
            .map(|i| {
                let key = [
                    "limit", "after", "from", "to", "status", "q", "cursor", "wait",
                ][rng.gen_range(0..8)];
                let val = [
                    "-1",
                    "0",
                    "99999999999999999999",
                    "%FF",
                    "%00",
                    "a%20b",
                    "2024-02-30",
                    "",
                ][rng.gen_range(0..8)];
                format!("{}{key}={val}", if i == 0 { "?" } else { "&" })
            })
            .collect();
        let url = format!(
            "{}{}",
            t.url(ORG, suffix),
            if method == Method::GET {
                query.as_str()
            } else {
                ""
            }
        );
        let mut req = t.http.request(method.clone(), &url).bearer_auth(token);
        if method == Method::POST {
            req = req
                .header("Content-Type", "application/json")
                .body(body.clone());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            status.as_u16() < 500,
            "{method} {url} {body:?} -> {status} {text}"
        );
        let parsed: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {url} {body:?} answered non-JSON {text:?}"));
        if !status.is_success() {
            assert!(parsed["error"]["code"].is_string(), "{text}");
        }
    }
    t.stop().await;
}
