//! Agents scoped to themselves (issue 16 §4): an agent token is bound to the agent ids
//! it may speak for; it creates, reads and records results only for those, while
//! approver tokens still read the whole org.

#[path = "support/harness.rs"]
mod harness;

use std::process::Command;
use std::time::Duration;

use countersign_api::{Approval, ApprovalList, ChangesPage, Role, Stats};
use countersign_server::db::tokens::{insert_token, insert_token_with, TokenOptions, TokenOwner};
use countersign_server::db::Db;
use futures_util::StreamExt;
use harness::*;
use reqwest::StatusCode;
use serde_json::json;

const BOT_A: &str = "bot-a-token";
const BOT_B: &str = "bot-b-token";
/// An agent token made before bindings existed: bound to its subject.
const LEGACY: &str = "legacy-agent-token";

fn agent(token_agent: &str, id: &str) -> serde_json::Value {
    new_request(id, json!({"agent": {"id": token_agent, "name": "Bot"}}))
}

async fn scoped_server() -> TestServer {
    let t = TestServer::start().await;
    let db = Db::open(&t.db_path).expect("db");
    db.with_writer(|conn| {
        for (token, subject, agents) in [
            (BOT_A, "svc-a", vec!["agent-a".to_string()]),
            (BOT_B, "svc-b", vec!["agent-b".to_string()]),
        ] {
            let owner = TokenOwner {
                org: ORG.to_string(),
                subject: subject.to_string(),
                role: Role::Agent,
            };
            let options = TokenOptions {
                expires_at: None,
                agents,
            };
            insert_token_with(conn, token, &owner, &options)?;
        }
        let legacy = TokenOwner {
            org: ORG.to_string(),
            subject: "legacy-bot".to_string(),
            role: Role::Agent,
        };
        insert_token(conn, LEGACY, &legacy)?;
        Ok(())
    })
    .expect("tokens");
    t
}

#[tokio::test]
async fn an_agent_cannot_raise_approvals_as_another_agent() {
    let t = scoped_server().await;
    // B tries to borrow A's identity (and with it A's history and routine look).
    let (s, body) = t.post(BOT_B, "", agent("agent-a", "appr-borrow1")).await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::FORBIDDEN, "agent_not_allowed"),
        "{body}"
    );
    let (s, _) = t.get(ALICE, "/appr-borrow1").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was created");
    // Each speaks for itself.
    t.create_as(BOT_A, agent("agent-a", "appr-own-a")).await;
    t.create_as(BOT_B, agent("agent-b", "appr-own-b")).await;
    // A legacy token is bound to its subject as its single agent id.
    t.create_as(LEGACY, agent("legacy-bot", "appr-legacy1"))
        .await;
    let (s, body) = t.post(LEGACY, "", agent("agent-a", "appr-legacy2")).await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::FORBIDDEN, "agent_not_allowed")
    );
    // A malformed agent.id is still a 400 naming the field, not a 403.
    let (s, body) = t.post(BOT_A, "", agent("", "appr-blank")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    t.stop().await;
}

#[tokio::test]
async fn an_agent_reads_only_its_own_approvals_and_approvers_read_all() {
    let t = scoped_server().await;
    let a = t.create_as(BOT_A, agent("agent-a", "appr-a1")).await;
    let b = t.create_as(BOT_B, agent("agent-b", "appr-b1")).await;
    // Deny A's with a reason: what B must not read.
    let (s, _) = t
        .post(
            ALICE,
            &format!("/{}/deny", a.id),
            json!({"reason": "secret reason"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // Detail and audit: someone else's approval is 404 exactly like a missing one.
    for suffix in [format!("/{}", a.id), format!("/{}/audit", a.id)] {
        let (s, other) = t.get(BOT_B, &suffix).await;
        let (s2, missing) = t.get(BOT_B, &suffix.replace(&a.id, "appr-nothere")).await;
        assert_eq!((s, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
        assert_eq!(other, missing, "{suffix}");
    }
    let (s, _) = t.get(BOT_B, &format!("/{}", b.id)).await;
    assert_eq!(s, StatusCode::OK);
    // Long-poll on another agent's approval: 404 too.
    let (s, _) = t.get(BOT_B, &format!("/{}?wait=1", a.id)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // List, also when filtering or searching for the other agent.
    for q in ["", "?agent=agent-a", "?q=secret", "?status=denied"] {
        let (s, body) = t.get(BOT_B, q).await;
        assert_eq!(s, StatusCode::OK);
        let list: ApprovalList = serde_json::from_value(body).expect("list");
        assert!(list.items.iter().all(|x| x.agent.id == "agent-b"), "{q}");
    }
    let (_, body) = t.get(BOT_B, "").await;
    let list: ApprovalList = serde_json::from_value(body).expect("list");
    assert_eq!(list.items.len(), 1);

    // Change feed: only B's, and `latest` does not count others.
    let (_, body) = t.get(BOT_B, "/changes?after=0").await;
    let page: ChangesPage = serde_json::from_value(body).expect("page");
    assert_eq!(
        page.items.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        [b.id.as_str()]
    );
    assert_eq!(page.latest, Some(b.change_seq));

    // Stats: only B's.
    let (_, body) = t.get(BOT_B, "/stats").await;
    let stats: Stats = serde_json::from_value(body).expect("stats");
    assert_eq!(
        stats
            .by_agent
            .iter()
            .map(|x| x.key.as_str())
            .collect::<Vec<_>>(),
        ["agent-b"]
    );

    // Approvers read everything.
    let (_, body) = t.get(ALICE, "").await;
    let list: ApprovalList = serde_json::from_value(body).expect("list");
    assert_eq!(list.items.len(), 2);
    let (_, body) = t.get(ALICE, "/stats").await;
    let stats: Stats = serde_json::from_value(body).expect("stats");
    assert_eq!(stats.by_agent.len(), 2);
    t.stop().await;
}

#[tokio::test]
async fn an_agent_cannot_record_a_result_on_another_agents_approval() {
    let t = scoped_server().await;
    let a = t.create_as(BOT_A, agent("agent-a", "appr-res-a")).await;
    let (s, _) = t
        .post(ALICE, &format!("/{}/approve", a.id), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let failed = json!({"outcome": "failed", "output": {"error": "sabotage"}});
    let (s, body) = t.post(BOT_B, &format!("/{}/result", a.id), failed).await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found"),
        "{body}"
    );
    let after: Approval = t.approval(&a.id).await;
    assert!(after.execution.is_none(), "nothing recorded");
    let ok = json!({"outcome": "succeeded", "output": {}});
    let (s, _) = t.post(BOT_A, &format!("/{}/result", a.id), ok).await;
    assert_eq!(s, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn an_agents_event_stream_hears_only_of_its_own_approvals() {
    let t = scoped_server().await;
    let own = t.create_as(BOT_B, agent("agent-b", "appr-ev-b")).await;
    let resp = t
        .http
        .get(t.url(ORG, "/events"))
        .bearer_auth(BOT_B)
        .send()
        .await
        .expect("stream");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    // Reads until the stream has said `needle`, at most 10 s.
    async fn until(
        stream: &mut (impl futures_util::Stream<Item = reqwest::Result<axum::body::Bytes>> + Unpin),
        text: &mut String,
        needle: &str,
    ) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !text.contains(needle) {
                let chunk = stream.next().await.expect("open").expect("chunk");
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never saw {needle:?} in {text:?}"));
    }
    until(
        &mut stream,
        &mut text,
        &format!("\"change_seq\":{}", own.change_seq),
    )
    .await;
    // A's approval changes the org's latest seq; B's stream must not hear of it.
    let other = t.create_as(BOT_A, agent("agent-a", "appr-ev-a")).await;
    let (s, _) = t
        .post(ALICE, &format!("/{}/approve", own.id), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let mine = t.approval(&own.id).await;
    until(
        &mut stream,
        &mut text,
        &format!("\"change_seq\":{}", mine.change_seq),
    )
    .await;
    assert!(
        !text.contains(&format!("\"change_seq\":{}", other.change_seq)),
        "heard of another agent's approval: {text}"
    );
    t.stop().await;
}

#[tokio::test]
async fn add_token_binds_agent_tokens_to_the_agent_ids_given() {
    let t = TestServer::start().await;
    let out = Command::new(env!("CARGO_BIN_EXE_countersign-server"))
        .args(["add-token", "--db"])
        .arg(&t.db_path)
        .args(["--org", ORG, "--role", "agent", "--subject", "deployer"])
        .args(["--agent", "deploy-bot", "--agent", "other-bot"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    for id in ["deploy-bot", "other-bot"] {
        let (s, body) = t
            .post(
                &token,
                "",
                new_request(&format!("appr-bind-{id}"), json!({"agent": {"id": id}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let (s, body) = t
        .post(
            &token,
            "",
            new_request("appr-bind-x", json!({"agent": {"id": "deployer"}})),
        )
        .await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::FORBIDDEN, "agent_not_allowed")
    );
    // Bindings are canonical agent ids, and for agent tokens only.
    for bad in [
        &["--role", "agent", "--agent", "Deploy Bot"][..],
        &["--role", "approver", "--agent", "deploy-bot"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_countersign-server"))
            .args(["add-token", "--db"])
            .arg(&t.db_path)
            .args(["--org", ORG, "--subject", "deployer2"])
            .args(bad)
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{bad:?} accepted");
    }
    t.stop().await;
}
