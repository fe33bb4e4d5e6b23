//! Strict input, and the regressions `make fuzz` (tests/fuzz) found or confirmed:
//! bodies are objects (never a JSON array in field order), unknown keys are refused at
//! every depth, a reason has a visible character and no control characters, and an org
//! id follows the one rule of `countersign-api` in `add-token` too. Each refusal is a
//! 400 `{error:{code,message}}` and changes nothing.

#[path = "support/harness.rs"]
mod harness;

use countersign_api::{ApprovalStatus, ExecutionOutcome, Role};
use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Posts raw JSON text (the harness's `post` only sends objects it serialises).
async fn post_text(t: &TestServer, token: &str, suffix: &str, text: &str) -> (StatusCode, Value) {
    let resp = t
        .http
        .post(t.url(ORG, suffix))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(text.to_string())
        .send()
        .await
        .expect("request sent");
    let status = resp.status();
    let body = resp.text().await.expect("body");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn assert_refused(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert_eq!(error_code(body), "validation_failed", "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

async fn audit_len(t: &TestServer, id: &str) -> usize {
    let (s, trail) = t.get(ALICE, &format!("/{id}/audit")).await;
    assert_eq!(s, StatusCode::OK, "{trail}");
    trail["entries"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn array_bodies_are_refused_on_every_endpoint_and_change_nothing() {
    let t = TestServer::start().await;
    t.create(new_request("appr-arr1", json!({}))).await;
    t.create(new_request("appr-arr2", json!({}))).await;
    // The array forms serde used to read as the struct, in field order.
    let cases: Vec<(&str, &str, String)> = vec![
        (ALICE, "/appr-arr1/deny", r#"["a reason"]"#.into()),
        (ALICE, "/appr-arr1/deny", r#"["a reason", "notes"]"#.into()),
        (ALICE, "/appr-arr1/approve", r#"["notes"]"#.into()),
        (ALICE, "/appr-arr1/approve", "[]".into()),
        (ALICE, "/bulk-approve", r#"[["appr-arr1"]]"#.into()),
        (ALICE, "/bulk-deny", r#"[["appr-arr1"], "a reason"]"#.into()),
        (ENGINE, "/appr-arr2/result", r#"["succeeded"]"#.into()),
        (
            ENGINE,
            "",
            json!([
                "appr-arr3", {"id": "bot"}, "a:b", "s", "R", "r",
                {}, [], {}, null
            ])
            .to_string(),
        ),
        // Not arrays but not objects either.
        (ALICE, "/appr-arr1/deny", r#""a reason""#.into()),
        (ALICE, "/appr-arr1/approve", "null".into()),
        (ALICE, "/appr-arr1/approve", "42".into()),
    ];
    for (token, suffix, text) in &cases {
        let (s, body) = post_text(&t, token, suffix, text).await;
        assert_refused(s, &body, &format!("POST {suffix} {text}"));
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("JSON object")),
            "{suffix} {text}: {body}"
        );
    }
    // A nested object as an array: refused the same way.
    let mut req = new_request("appr-arr4", json!({}));
    req["agent"] = json!(["bot", "Bot", "v1"]);
    let (s, body) = t.post(ENGINE, "", req).await;
    assert_refused(s, &body, "agent as an array");
    let mut req = new_request("appr-arr4", json!({}));
    req["policy_trace"] = json!([["manifest_validation", "pass"]]);
    let (s, body) = t.post(ENGINE, "", req).await;
    assert_refused(s, &body, "a trace step as an array");

    // Nothing was applied or created.
    assert_eq!(
        t.approval("appr-arr1").await.status,
        ApprovalStatus::Pending
    );
    assert_eq!(audit_len(&t, "appr-arr1").await, 1);
    for id in ["appr-arr3", "appr-arr4"] {
        let (s, _) = t.get(ALICE, &format!("/{id}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{id} must not exist");
    }
    // The result endpoint: the approval is approved, the array result is not recorded.
    let (s, body) = t.post(ALICE, "/appr-arr2/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = post_text(&t, ENGINE, "/appr-arr2/result", r#"["succeeded"]"#).await;
    assert_refused(s, &body, "result as an array");
    assert!(t.approval("appr-arr2").await.execution.is_none());
    // The object forms still work, and an empty body still means `{}`.
    let (s, body) = post_text(
        &t,
        ENGINE,
        "/appr-arr2/result",
        r#"{"outcome":"succeeded"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        t.approval("appr-arr2").await.execution.map(|e| e.outcome),
        Some(ExecutionOutcome::Succeeded)
    );
    let (s, body) = post_text(&t, ALICE, "/appr-arr1/approve", "  ").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    t.stop().await;
}

#[tokio::test]
async fn unknown_keys_are_refused_at_every_depth_naming_where() {
    let t = TestServer::start().await;
    let nested: Vec<(&str, Value, &str)> = vec![
        ("agent", json!({"id": "bot", "nmae": "Bot"}), "agent.nmae"),
        (
            "policy_trace",
            json!([{"step": "s", "result": "pass", "details": "x"}]),
            "policy_trace[0].details",
        ),
    ];
    for (field, value, path) in nested {
        let mut req = new_request("appr-unk1", json!({}));
        req[field] = value;
        let (s, body) = t.post(ENGINE, "", req).await;
        assert_refused(s, &body, path);
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(path), "the message names {path}: {msg}");
    }
    let (s, _) = t.get(ALICE, "/appr-unk1").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was created");
    // Top level, as before.
    let (s, body) = t
        .post(
            ENGINE,
            "",
            new_request("appr-unk1", json!({"summry": "typo"})),
        )
        .await;
    assert_refused(s, &body, "top-level typo");

    // Free-form by design: params at any depth, and risk, whose extras are kept.
    let a = t
        .create(new_request(
            "appr-unk2",
            json!({
                "params": {"deep": {"any": [{"key": 1}]}},
                "risk": {"budget_used": 1, "recent_denials": 2}
            }),
        ))
        .await;
    assert_eq!(a.params["deep"]["any"][0]["key"], 1);
    assert_eq!(a.risk.extra.get("recent_denials"), Some(&json!(2)));
    t.stop().await;
}

#[tokio::test]
async fn reasons_without_a_visible_character_or_with_control_characters_are_refused() {
    let t = TestServer::start().await;
    t.create(new_request("appr-rsn1", json!({}))).await;
    t.create(new_request("appr-rsn2", json!({}))).await;
    let invisible = [
        "\u{200B}",                 // zero-width space (the CLI defect)
        "\u{0}",                    // NUL (the API defect)
        "\u{200B}\u{200D}\u{FEFF}", // ZWSP, ZWJ, BOM
        "\u{2800}",                 // braille blank
        "\u{3164}",                 // Hangul filler
        "\u{115F}\u{1160}",         // Hangul choseong/jungseong fillers
        "\u{FE0F}\u{E0100}",        // variation selectors
        "\u{202E}\u{2066}",         // bidi controls
        "\u{E0041}",                // tag character
        "\u{00A0}\u{3000}",         // NBSP, ideographic space (refused already)
        "ok\u{0}ok",                // NUL inside an otherwise visible reason
        "ok\u{1B}[31m",             // an escape sequence
    ];
    for reason in invisible {
        let (s, body) = t
            .post(ALICE, "/appr-rsn1/deny", json!({"reason": reason}))
            .await;
        assert_refused(s, &body, &format!("deny {reason:?}"));
        let (s, body) = t
            .post(
                ALICE,
                "/bulk-deny",
                json!({"approval_ids": ["appr-rsn1"], "reason": reason}),
            )
            .await;
        assert_refused(s, &body, &format!("bulk-deny {reason:?}"));
    }
    assert_eq!(
        t.approval("appr-rsn1").await.status,
        ApprovalStatus::Pending
    );
    assert_eq!(audit_len(&t, "appr-rsn1").await, 1);

    // Visible text with right-to-left marks and line breaks is a reason.
    let reason = "\u{05DC}\u{05D0}\u{200F} — not now\nsee ticket";
    let (s, body) = t
        .post(ALICE, "/appr-rsn2/deny", json!({"reason": reason}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["approval"]["decision"]["reason"], reason);
    t.stop().await;
}

#[tokio::test]
async fn add_token_refuses_org_ids_the_client_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("server.db");
    for bad in ["bad org/..", "..", ".", "", "a/b", "org%2Fx", "ørg"] {
        let err = countersign_server::add_token(&db, bad, Role::Approver, "alice")
            .expect_err(&format!("{bad:?} must be refused"));
        assert!(err.to_string().contains("org id"), "{bad:?}: {err}");
    }
    // The binary says so and exits non-zero, issuing nothing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_countersign-server"))
        .args(["add-token", "--db"])
        .arg(&db)
        .args([
            "--org",
            "bad org/..",
            "--role",
            "approver",
            "--subject",
            "alice",
        ])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no token printed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("org id"), "{stderr}");

    // A valid org id still gets a token that works.
    let token = countersign_server::add_token(&db, "acme.eu_1", Role::Approver, "alice")
        .expect("valid org");
    assert!(!token.is_empty());
    let t = TestServer::start_with(|c| c.db_path = db.clone()).await;
    let (s, me) = t
        .call(
            Method::GET,
            &format!("{}/api/v1/me", t.base),
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["org_id"], "acme.eu_1");
    t.stop().await;
}

#[tokio::test]
async fn required_texts_of_a_new_approval_need_a_visible_character() {
    let t = TestServer::start().await;
    for (field, value) in [
        ("summary", json!("\u{200B}")),
        ("action", json!("\u{3164}")),
        ("reason_code", json!("\u{FEFF}")),
        ("reason_text", json!("\u{0}")),
        ("agent", json!({"id": "\u{2800}"})),
    ] {
        let mut req = new_request("appr-txt1", json!({}));
        req[field] = value;
        let (s, body) = t.post(ENGINE, "", req).await;
        assert_refused(s, &body, field);
    }
    let (s, _) = t.get(ALICE, "/appr-txt1").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was created");
    t.stop().await;
}
