//! Demo mode: the seed (exact document data, history, idempotent), the trickle, the
//! document's five curl commands run verbatim with the real `curl`, and the
//! OpenAPI document.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;
use tokio::process::Command;

use countersign_api::{Approval, ApprovalList, ApprovalStatus, BulkResponse, Stats, TraceResult};
use countersign_server::{spawn, RunningServer, ServerConfig};
use harness::test_config;
use reqwest::StatusCode;
use serde_json::{json, Value};

const ORG: &str = "org-demo";
const TOKEN: &str = "demo-approver-token";

// The five commands exactly as the product document prints them.
const CURL_APPROVE: &str = r#"curl -X POST http://localhost:8000/api/v1/orgs/$ORG_ID/approvals/appr-xyz789/approve \
-H "Authorization: Bearer $TOKEN" \
-H "Content-Type: application/json" \
-d '{
"notes": "Reviewed deployment plan, approved for production rollout"
}'"#;
const CURL_DENY: &str = r#"curl -X POST http://localhost:8000/api/v1/orgs/$ORG_ID/approvals/appr-xyz789/deny \
-H "Authorization: Bearer $TOKEN" \
-H "Content-Type: application/json" \
-d '{
"reason": "Not approved during code freeze",
"notes": "Code freeze in effect until Dec 20"
}'"#;
const CURL_BULK_APPROVE: &str = r#"curl -X POST http://localhost:8000/api/v1/orgs/$ORG_ID/approvals/bulk-approve \
-H "Authorization: Bearer $TOKEN" \
-H "Content-Type: application/json" \
-d '{
"approval_ids": ["appr-001", "appr-002", "appr-003"],
"notes": "Batch approved after security review"
}'"#;
const CURL_BULK_DENY: &str = r#"curl -X POST http://localhost:8000/api/v1/orgs/$ORG_ID/approvals/bulk-deny \
-H "Authorization: Bearer $TOKEN" \
-H "Content-Type: application/json" \
-d '{
"approval_ids": ["appr-004", "appr-005"],
"reason": "End of day cleanup"
}'"#;
const CURL_STATS: &str = r#"curl "http://localhost:8000/api/v1/orgs/$ORG_ID/approvals/stats?from=2024-12-01" \
-H "Authorization: Bearer $TOKEN""#;

struct Demo {
    server: Option<RunningServer>,
    config: ServerConfig,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Demo {
    async fn start() -> Demo {
        Self::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path().join("demo.db"));
        config.demo = true;
        adjust(&mut config);
        let server = spawn(config.clone()).await.unwrap();
        Demo {
            server: Some(server),
            config,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn port(&self) -> u16 {
        self.server.as_ref().unwrap().addr().port()
    }

    fn url(&self, suffix: &str) -> String {
        format!(
            "http://127.0.0.1:{}/api/v1/orgs/{ORG}/approvals{suffix}",
            self.port()
        )
    }

    async fn get(&self, suffix: &str) -> Value {
        let resp = self
            .http
            .get(self.url(suffix))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    async fn approval(&self, id: &str) -> Approval {
        serde_json::from_value(self.get(&format!("/{id}")).await).unwrap()
    }

    /// Runs one of the document's commands through `sh`, with only the port changed.
    /// (Async: the server runs on this test's runtime, so blocking here would stall it.)
    async fn curl(&self, command: &str) -> Value {
        let command = command.replace("localhost:8000", &format!("localhost:{}", self.port()));
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{command} --silent --show-error"))
            .env("ORG_ID", ORG)
            .env("TOKEN", TOKEN)
            // Tests only talk to loopback, whatever proxy the environment names.
            .env("NO_PROXY", "*")
            .env("no_proxy", "*")
            .output()
            .await
            .expect("curl runs");
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    async fn restart(&mut self) {
        let port = self.port();
        self.server.take().unwrap().shutdown().await;
        let mut config = self.config.clone();
        config.addr = format!("127.0.0.1:{port}").parse().unwrap();
        self.server = Some(spawn(config).await.unwrap());
    }

    async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

#[tokio::test]
async fn the_documents_curl_commands_do_what_it_says() {
    let demo = Demo::start().await;

    let approved = demo.curl(CURL_APPROVE).await;
    assert_eq!(approved["approval"]["id"], "appr-xyz789");
    assert_eq!(approved["approval"]["status"], "approved");
    assert_eq!(
        approved["approval"]["decision"]["notes"],
        "Reviewed deployment plan, approved for production rollout"
    );
    assert_eq!(approved["approval"]["decision"]["by"], "alice");
    assert!(approved["change_seq"].as_i64().unwrap() > 0);
    // Denying it afterwards is refused with the approval as it stands.
    let refused = demo.curl(CURL_DENY).await;
    assert_eq!(refused["error"]["code"], "already_decided");
    assert_eq!(refused["approval"]["status"], "approved");

    let bulk: BulkResponse = serde_json::from_value(demo.curl(CURL_BULK_APPROVE).await).unwrap();
    assert_eq!((bulk.succeeded, bulk.failed), (3, 0));
    for id in ["appr-001", "appr-002", "appr-003"] {
        let a = demo.approval(id).await;
        assert_eq!(a.status, ApprovalStatus::Approved);
        assert_eq!(
            a.decision.unwrap().notes.as_deref(),
            Some("Batch approved after security review")
        );
    }
    let bulk: BulkResponse = serde_json::from_value(demo.curl(CURL_BULK_DENY).await).unwrap();
    assert_eq!((bulk.succeeded, bulk.failed), (2, 0));
    for id in ["appr-004", "appr-005"] {
        let a = demo.approval(id).await;
        assert_eq!(a.status, ApprovalStatus::Denied);
        assert_eq!(
            a.decision.unwrap().reason.as_deref(),
            Some("End of day cleanup")
        );
    }

    let stats: Stats = serde_json::from_value(demo.curl(CURL_STATS).await).unwrap();
    assert_eq!(
        stats.from.unwrap().to_rfc3339(),
        "2024-12-01T00:00:00+00:00"
    );
    // Every figure agrees with the list endpoint.
    for status in ApprovalStatus::ALL {
        let list: ApprovalList =
            serde_json::from_value(demo.get(&format!("?status={status}&limit=1000")).await)
                .unwrap();
        let n = list.items.len() as u64;
        let got = match status {
            ApprovalStatus::Pending => stats.totals.pending,
            ApprovalStatus::Approved => stats.totals.approved,
            ApprovalStatus::Denied => stats.totals.denied,
            ApprovalStatus::Expired => stats.totals.expired,
        };
        assert_eq!(got, n, "{status}");
    }
    assert!(stats.totals.approved >= 4 && stats.totals.denied >= 2 && stats.totals.expired >= 1);
    assert!(stats.average_response_secs.unwrap() > 0.0);
    let agents: Vec<&str> = stats.by_agent.iter().map(|b| b.key.as_str()).collect();
    for agent in ["deployment-bot", "customer-bot", "analytics-bot"] {
        assert!(agents.contains(&agent), "{agents:?}");
    }
    let reasons: Vec<&str> = stats.by_reason.iter().map(|b| b.key.as_str()).collect();
    for reason in ["requires_approval", "amount_threshold", "new_counterparty"] {
        assert!(reasons.contains(&reason), "{reasons:?}");
    }
    demo.stop().await;
}

#[tokio::test]
async fn the_documents_deny_command_denies() {
    let demo = Demo::start().await;
    let denied = demo.curl(CURL_DENY).await;
    assert_eq!(denied["approval"]["status"], "denied");
    let d = &denied["approval"]["decision"];
    assert_eq!(d["reason"], "Not approved during code freeze");
    assert_eq!(d["notes"], "Code freeze in effect until Dec 20");
    let trail = demo.get("/appr-xyz789/audit").await;
    assert_eq!(trail["entries"][1]["event"], "denied");
    assert_eq!(
        trail["entries"][1]["reason"],
        "Not approved during code freeze"
    );
    demo.stop().await;
}

#[tokio::test]
async fn demo_seed_matches_the_document() {
    let demo = Demo::start().await;
    let a = demo.approval("appr-xyz789").await;
    assert_eq!(a.agent.id, "deployment-bot");
    assert_eq!(a.agent.name.as_deref(), Some("Deployment Bot"));
    assert_eq!(a.agent.version.as_deref(), Some("v2.1.0"));
    assert_eq!(a.action, "kubernetes:deploy");
    assert_eq!(a.status, ApprovalStatus::Pending);
    assert_eq!(a.reason_code, "requires_approval");
    assert_eq!(
        a.reason_text,
        "requires_approval: Action 'kubernetes:deploy' requires human approval per manifest constraints"
    );
    assert_eq!(a.summary, "Deploy app:v2.0.0 to production namespace");
    assert_eq!(
        a.params,
        json!({"namespace":"production","image":"app:v2.0.0","replicas":3,"resources":{"cpu":"500m","memory":"512Mi"}})
    );
    let trace: Vec<(&str, TraceResult)> = a
        .policy_trace
        .iter()
        .map(|s| (s.step.as_str(), s.result))
        .collect();
    assert_eq!(
        trace,
        vec![
            ("manifest_validation", TraceResult::Pass),
            ("capability_token", TraceResult::Pass),
            ("action_type", TraceResult::Pass),
            ("tool_authorization", TraceResult::Escalate),
        ]
    );
    assert_eq!(
        a.policy_trace[3].detail.as_deref(),
        Some("requires approval")
    );
    assert_eq!(
        (a.risk.budget_used, a.risk.budget_limit),
        (Some(12), Some(50))
    );
    let age = chrono::Utc::now() - a.created_at;
    assert!(age > chrono::Duration::minutes(119) && age < chrono::Duration::minutes(125));
    assert_eq!(a.expires_at - a.created_at, chrono::Duration::hours(24));

    let abc = demo.approval("appr-abc123").await;
    assert_eq!(
        (
            abc.agent.id.as_str(),
            abc.action.as_str(),
            abc.reason_code.as_str()
        ),
        ("customer-bot", "crm:delete", "amount_threshold")
    );
    assert_eq!(abc.summary, "Delete 500 records matching filter");
    let def = demo.approval("appr-def456").await;
    assert_eq!(
        (
            def.agent.id.as_str(),
            def.action.as_str(),
            def.reason_code.as_str()
        ),
        ("analytics-bot", "export:run", "new_counterparty")
    );
    assert_eq!(def.summary, "Export data to partner-api.example.com");
    let left = def.expires_at - chrono::Utc::now();
    assert!(
        left < chrono::Duration::hours(2) && left > chrono::Duration::zero(),
        "close to expiry"
    );
    for id in ["appr-001", "appr-002", "appr-003", "appr-004", "appr-005"] {
        assert_eq!(demo.approval(id).await.status, ApprovalStatus::Pending);
    }
    let xss = demo.approval("appr-xss001").await;
    assert!(xss.summary.contains("<script>"));
    assert!(xss
        .agent
        .name
        .as_deref()
        .unwrap()
        .contains("<img src=x onerror=alert(1)>"));

    let all: ApprovalList = serde_json::from_value(demo.get("?limit=1000").await).unwrap();
    assert!(all.items.len() >= 49, "history for the stats view");
    let history: Vec<&Approval> = all
        .items
        .iter()
        .filter(|a| a.id.starts_with("appr-h"))
        .collect();
    for status in [
        ApprovalStatus::Approved,
        ApprovalStatus::Denied,
        ApprovalStatus::Expired,
    ] {
        assert!(history.iter().any(|a| a.status == status), "{status}");
    }
    assert!(history.iter().any(|a| a.execution.is_some()));
    let deciders: std::collections::HashSet<&str> = history
        .iter()
        .filter_map(|a| a.decision.as_ref().map(|d| d.by.as_str()))
        .collect();
    assert_eq!(deciders, ["alice", "bob"].into_iter().collect());
    let oldest = history.iter().map(|a| a.created_at).min().unwrap();
    assert!(chrono::Utc::now() - oldest > chrono::Duration::days(14));
    assert!(chrono::Utc::now() - oldest <= chrono::Duration::days(30));
    // An expired one's trail ends with the system's entry.
    let expired = history
        .iter()
        .find(|a| a.status == ApprovalStatus::Expired)
        .unwrap();
    let trail = demo.get(&format!("/{}/audit", expired.id)).await;
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.last().unwrap()["actor"], "system");
    demo.stop().await;
}

#[tokio::test]
async fn seeding_twice_adds_nothing() {
    let mut demo = Demo::start().await;
    let count = |conn: &rusqlite::Connection, table: &str| -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    let path = demo.config.db_path.clone();
    let before = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        (
            count(&conn, "approvals"),
            count(&conn, "audit"),
            count(&conn, "tokens"),
        )
    };
    demo.restart().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        before,
        (
            count(&conn, "approvals"),
            count(&conn, "audit"),
            count(&conn, "tokens")
        )
    );
    assert_eq!(
        countersign_server::verify_audit(&path).unwrap(),
        countersign_server::Verification::Ok {
            entries: before.1 as u64
        }
    );
    demo.stop().await;
}

#[tokio::test]
async fn demo_tokens_have_their_roles() {
    let demo = Demo::start().await;
    let me = |token: &'static str| {
        let http = demo.http.clone();
        let url = format!("http://127.0.0.1:{}/api/v1/me", demo.port());
        async move {
            let v: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                v["subject"].as_str().unwrap().to_string(),
                v["role"].as_str().unwrap().to_string(),
            )
        }
    };
    assert_eq!(
        me("demo-approver-token").await,
        ("alice".into(), "approver".into())
    );
    assert_eq!(
        me("demo-approver2-token").await,
        ("bob".into(), "approver".into())
    );
    assert_eq!(
        me("demo-agent-token").await,
        ("policy-engine".into(), "agent".into())
    );
    demo.stop().await;
}

#[tokio::test]
async fn the_trickle_raises_new_pending_requests() {
    let demo = Demo::start_with(|c| c.demo_trickle = Some(Duration::from_millis(300))).await;
    let before: ApprovalList =
        serde_json::from_value(demo.get("?status=pending&limit=1000").await).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now: ApprovalList =
            serde_json::from_value(demo.get("?status=pending&limit=1000").await).unwrap();
        if now.items.len() >= before.items.len() + 3 || tokio::time::Instant::now() > deadline {
            break;
        }
    }
    let after: ApprovalList =
        serde_json::from_value(demo.get("?status=pending&limit=1000").await).unwrap();
    let new: Vec<&Approval> = after
        .items
        .iter()
        .filter(|a| !before.items.iter().any(|b| b.id == a.id))
        .collect();
    assert!(new.len() >= 2, "got {}", new.len());
    assert!(new.iter().all(|a| a.requested_by == "policy-engine"));
    let agents: std::collections::HashSet<&str> = new.iter().map(|a| a.agent.id.as_str()).collect();
    assert!(agents.len() >= 2, "rotates through agents: {agents:?}");
    demo.stop().await;
}

#[tokio::test]
async fn openapi_document_describes_every_endpoint() {
    let demo = Demo::start().await;
    let doc: Value = demo
        .http
        .get(format!(
            "http://127.0.0.1:{}/api/v1/openapi.json",
            demo.port()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    let base = "/api/v1/orgs/{org}/approvals";
    let expected = [
        (base.to_string(), "get"),
        (base.to_string(), "post"),
        (format!("{base}/{{id}}"), "get"),
        (format!("{base}/{{id}}/approve"), "post"),
        (format!("{base}/{{id}}/deny"), "post"),
        (format!("{base}/{{id}}/result"), "post"),
        (format!("{base}/{{id}}/audit"), "get"),
        (format!("{base}/bulk-approve"), "post"),
        (format!("{base}/bulk-deny"), "post"),
        (format!("{base}/stats"), "get"),
        (format!("{base}/changes"), "get"),
        (format!("{base}/events"), "get"),
        ("/healthz".to_string(), "get"),
    ];
    for (path, method) in expected {
        assert!(
            doc["paths"][&path][method].is_object(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["schemas"]["Approval"].is_object());
    // Stats carry the outcomes of approved actions (issue 8).
    assert!(
        doc["components"]["schemas"]["ExecutionTotals"]["properties"]["failed"].is_object(),
        "{}",
        doc["components"]["schemas"]["Stats"]
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    demo.stop().await;
}

/// The quorum curl examples of the server README, run verbatim (port aside) in order:
/// the agent's create, alice's approve (partial), bob's approve (complete).
#[tokio::test]
async fn the_readme_quorum_curl_examples_do_what_they_say() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("server README");
    let block = readme
        .split("### Quorum")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("a sh block under ### Quorum");
    let commands: Vec<String> = block
        .split("\n\n")
        .map(|chunk| {
            chunk
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|c| !c.trim().is_empty())
        .collect();
    assert_eq!(commands.len(), 3, "{commands:?}");
    let d = Demo::start().await;
    let created = d.curl(&commands[0]).await;
    assert_eq!(created["status"], "pending", "{created}");
    assert_eq!(created["required_approvals"], 2, "{created}");
    let first = d.curl(&commands[1]).await;
    assert_eq!(first["approval"]["status"], "pending", "{first}");
    assert_eq!(first["approval"]["approvals"][0]["by"], "alice", "{first}");
    let second = d.curl(&commands[2]).await;
    assert_eq!(second["approval"]["status"], "approved", "{second}");
    assert_eq!(second["approval"]["decision"]["by"], "bob", "{second}");
    assert_eq!(
        second["approval"]["approvals"].as_array().map(Vec::len),
        Some(2)
    );
    d.stop().await;
}
