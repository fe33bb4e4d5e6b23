//! What an agent sends is what the approver sees and what policy matches: identifiers
//! have one spelling, text fields hold no invisible or control characters, and
//! numbers are ones every JSON reader holds exactly.

#[path = "support/harness.rs"]
mod harness;

use countersign_server::quorum::QuorumRule;
use harness::{error_code, new_request, TestServer, ALICE, ENGINE, LONGEST_AGENT};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn quorum_server() -> TestServer {
    TestServer::start_with(|c| {
        c.quorum = vec![QuorumRule::parse("kubernetes:*=2").expect("rule")];
    })
    .await
}

/// Posts `body` as the engine and expects a 400 `validation_failed` naming `field`.
async fn refused(t: &TestServer, body: Value, field: &str) -> String {
    let (s, resp) = t.post(ENGINE, "", body.clone()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body} was accepted: {resp}");
    assert_eq!(error_code(&resp), "validation_failed", "{resp}");
    let message = resp["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(field), "{message:?} does not name {field}");
    message.to_string()
}

#[tokio::test]
async fn lookalike_actions_are_refused_not_let_through_with_one_approval() {
    let t = quorum_server().await;
    for (i, action) in [
        "Kubernetes:deploy",
        "kubern\u{0435}tes:deploy",
        "kubernetes\u{200D}:deploy",
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("appr-look{i}");
        let message = refused(&t, new_request(&id, json!({ "action": action })), "action").await;
        assert!(
            message.contains("[a-z0-9_.:/-]"),
            "shows the rule: {message}"
        );
        let (s, _) = t.get(ALICE, &format!("/{id}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{action:?} was stored");
    }
    let a = t
        .create(new_request(
            "appr-canon",
            json!({"action": "kubernetes:deploy"}),
        ))
        .await;
    assert_eq!(a.required_approvals, 2);
    t.stop().await;
}

#[tokio::test]
async fn agent_ids_and_reason_codes_have_one_spelling() {
    let t = TestServer::start().await;
    for (field, body) in [
        ("agent.id", json!({"agent": {"id": "Deployment-Bot"}})),
        (
            "agent.id",
            json!({"agent": {"id": "deployment\u{2011}bot"}}),
        ),
        ("agent.id", json!({"agent": {"id": "-bot"}})),
        ("agent.id", json!({"agent": {"id": "b".repeat(129)}})),
        ("reason_code", json!({"reason_code": "REQUIRES_APPROVAL"})),
        ("reason_code", json!({"reason_code": "requires approval"})),
        ("action", json!({"action": ""})),
    ] {
        refused(&t, new_request("appr-ids", body), field).await;
    }
    let a = t
        .create(new_request(
            "appr-ids",
            json!({"agent": {"id": LONGEST_AGENT}, "reason_code": "amount.threshold:v2-x_y"}),
        ))
        .await;
    assert_eq!(a.reason_code, "amount.threshold:v2-x_y");
    t.stop().await;
}

#[tokio::test]
async fn control_and_invisible_characters_are_refused_in_every_text_field() {
    let t = TestServer::start().await;
    let trace =
        |step: &str, detail: &str| json!([{"step": step, "result": "escalate", "detail": detail}]);
    for bad in ["\u{0}", "\u{1B}[31m", "\u{202E}", "\u{200B}", "\u{2066}"] {
        let cases = [
            ("summary", json!({"summary": format!("Deploy{bad}")})),
            ("reason_text", json!({"reason_text": format!("why{bad}")})),
            (
                "agent.name",
                json!({"agent": {"id": "bot", "name": format!("Bot{bad}")}}),
            ),
            (
                "agent.version",
                json!({"agent": {"id": "bot", "version": format!("v1{bad}")}}),
            ),
            (
                "policy_trace[0].step",
                json!({"policy_trace": trace(&format!("s{bad}"), "d")}),
            ),
            (
                "policy_trace[0].detail",
                json!({"policy_trace": trace("s", &format!("d{bad}"))}),
            ),
            (
                "risk.budget_unit",
                json!({"risk": {"budget_unit": format!("actions{bad}")}}),
            ),
            (
                "risk.note[1]",
                json!({"risk": {"note": ["fine", format!("x{bad}")]}}),
            ),
        ];
        for (field, body) in cases {
            refused(&t, new_request("appr-text", body), field).await;
        }
    }
    // One-line fields take no line breaks; multi-line ones do, with tabs.
    refused(
        &t,
        new_request("appr-text", json!({"summary": "two\nlines"})),
        "summary",
    )
    .await;
    let ok = t
        .create(new_request(
            "appr-text",
            json!({
                "summary": "Déploiement \u{05D0}\u{200F} ⚠\u{FE0F} 👨\u{200D}👩",
                "reason_text": "line one\n\tline two\r\n",
                "policy_trace": trace("s", "a\nb"),
            }),
        ))
        .await;
    assert_eq!(ok.reason_text, "line one\n\tline two\r\n");
    t.stop().await;
}

#[tokio::test]
async fn results_and_decision_notes_follow_the_same_rule() {
    let t = TestServer::start().await;
    t.create(new_request("appr-res", json!({}))).await;
    let (s, body) = t
        .post(ALICE, "/appr-res/approve", json!({"notes": "ok\u{7}"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("notes"));
    let (s, body) = t
        .post(ALICE, "/appr-res/approve", json!({"notes": "fine\nby me"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = t
        .post(
            ENGINE,
            "/appr-res/result",
            json!({"outcome": "succeeded", "output": {"log": ["ok", "\u{202E}exe"]}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("output.log[1]"),
        "{body}"
    );
    let (s, body) = t
        .post(
            ENGINE,
            "/appr-res/result",
            json!({"outcome": "succeeded", "output": {"log": "line\n\tline"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    t.stop().await;
}

/// Posts raw JSON text (serde_json's `json!` would not keep what the test means).
async fn post_raw(t: &TestServer, suffix: &str, token: &str, text: &str) -> (StatusCode, Value) {
    let resp = t
        .http
        .post(t.url(harness::ORG, suffix))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(text.to_string())
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A create request whose params are `params` as written, digits and all.
fn create_text(id: &str, params: &str) -> String {
    let mut body = new_request(id, json!({}));
    body.as_object_mut().expect("object").remove("params");
    let rest = body.to_string();
    format!(r#"{{"params":{params},{}"#, &rest[1..])
}

#[tokio::test]
async fn integers_beyond_2_pow_53_are_refused_naming_the_path() {
    let t = TestServer::start().await;
    for (params, path) in [
        (r#"{"to_account": 9007199254740993}"#, "params.to_account"),
        (r#"{"to_account": -9007199254740993}"#, "params.to_account"),
        (
            r#"{"a": {"b": [1, 18446744073709551615]}}"#,
            "params.a.b[1]",
        ),
        (r#"{"big": 100000000000000000000000}"#, "params.big"),
        (r#"{"big": 9.007199254740993e15}"#, "params.big"),
    ] {
        let (s, body) = post_raw(&t, "", ENGINE, &create_text("appr-num", params)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{params}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(path), "{params}: {message}");
    }
    let (s, body) = post_raw(
        &t,
        "",
        ENGINE,
        &create_text(
            "appr-num",
            r#"{"to_account": 9007199254740991, "min": -9007199254740991, "rate": 0.1, "tiny": 1.5e-300}"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["params"]["to_account"],
        json!(9_007_199_254_740_991u64)
    );

    t.post(ALICE, "/appr-num/approve", json!({})).await;
    let (s, body) = post_raw(
        &t,
        "/appr-num/result",
        ENGINE,
        r#"{"outcome": "succeeded", "output": {"id": 9007199254740993}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("output.id"));
    t.stop().await;
}
