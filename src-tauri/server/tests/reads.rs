//! List filters and cursors, text search, the change feed, stats and the detail view.

#[path = "support/harness.rs"]
mod harness;

use std::collections::HashSet;

use countersign_api::{Approval, ApprovalList, ChangesPage, Stats};
use harness::*;
use reqwest::StatusCode;
use serde_json::json;

async fn list(t: &TestServer, query: &str) -> ApprovalList {
    let (s, body) = t.get(ALICE, query).await;
    assert_eq!(s, StatusCode::OK, "{query}: {body}");
    serde_json::from_value(body).unwrap()
}

fn ids(items: &[Approval]) -> Vec<String> {
    items.iter().map(|a| a.id.clone()).collect()
}

/// 12 approvals: agents bot-a/bot-b/bot-c round robin, actions by parity,
/// reason codes in threes; created one after another (newest last).
async fn seed(t: &TestServer) -> Vec<Approval> {
    let mut out = Vec::new();
    for i in 0..12 {
        let agent = ["bot-a", "bot-b", "bot-c"][i % 3];
        let action = if i % 2 == 0 {
            "crm:delete"
        } else {
            "export:run"
        };
        let reason = ["amount_threshold", "new_counterparty", "requires_approval"][i / 4];
        let req = new_request(
            &format!("appr-l{i:02}"),
            json!({
                "agent": {"id": agent, "name": format!("Bot {agent}")},
                "action": action,
                "reason_code": reason,
                "summary": format!("Item number {i}"),
                "params": {"target": if i == 7 { "needle-host.example.com" } else { "haystack" }, "pct": "100%"},
            }),
        );
        out.push(t.create(req).await);
    }
    out
}

#[tokio::test]
async fn detail_has_everything_the_view_shows() {
    let t = TestServer::start().await;
    let req = new_request(
        "appr-det",
        json!({"risk": {"budget_used": 12, "budget_limit": 50, "budget_unit": "actions", "recent_denials": 2}}),
    );
    t.create(req).await;
    let a = t.approval("appr-det").await;
    assert_eq!(a.agent.name.as_deref(), Some("Deployment Bot"));
    assert_eq!(a.agent.version.as_deref(), Some("v2.1.0"));
    assert_eq!(a.params["replicas"], 3);
    assert_eq!(a.policy_trace.len(), 2);
    assert_eq!(
        a.policy_trace[1].detail.as_deref(),
        Some("requires approval")
    );
    assert_eq!(a.risk.budget_used, Some(12));
    assert_eq!(a.risk.extra["recent_denials"], 2);
    assert_eq!(a.expires_at - a.created_at, chrono::Duration::hours(24));
    assert!(a.decision.is_none() && a.execution.is_none());
    t.stop().await;
}

#[tokio::test]
async fn list_is_newest_first_and_cursors_cover_everything_once() {
    let t = TestServer::start().await;
    let created = seed(&t).await;
    let all = list(&t, "?limit=1000").await;
    assert_eq!(all.items.len(), 12);
    assert!(all.next_cursor.is_none());
    let newest_first: Vec<String> = ids(&created).into_iter().rev().collect();
    assert_eq!(ids(&all.items), newest_first);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=5&cursor={c}"),
            None => "?limit=5".to_string(),
        };
        let page = list(&t, &q).await;
        pages += 1;
        seen.extend(ids(&page.items));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 12);
    t.stop().await;
}

#[tokio::test]
async fn list_filters_combine() {
    let t = TestServer::start().await;
    seed(&t).await;
    t.post(ALICE, "/appr-l00/approve", json!({})).await;
    t.post(ALICE, "/appr-l03/deny", json!({"reason": "no"}))
        .await;

    let by_agent = list(&t, "?agent=bot-b").await;
    assert_eq!(
        ids(&by_agent.items),
        vec!["appr-l10", "appr-l07", "appr-l04", "appr-l01"]
    );
    let by_action = list(&t, "?action=export:run&agent=bot-b").await;
    assert_eq!(ids(&by_action.items), vec!["appr-l07", "appr-l01"]);
    let by_reason = list(&t, "?reason=new_counterparty").await;
    assert_eq!(
        ids(&by_reason.items),
        vec!["appr-l07", "appr-l06", "appr-l05", "appr-l04"]
    );
    let pending = list(&t, "?status=pending").await;
    assert_eq!(pending.items.len(), 10);
    let decided = list(&t, "?status=approved,denied").await;
    assert_eq!(ids(&decided.items), vec!["appr-l03", "appr-l00"]);
    let everything = list(&t, "?status=all").await;
    assert_eq!(everything.items.len(), 12);

    // Dates: everything was created just now.
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(list(&t, &format!("?from={today}")).await.items.len(), 12);
    assert_eq!(
        list(&t, &format!("?to={today}")).await.items.len(),
        12,
        "date-only to covers the day"
    );
    assert_eq!(list(&t, &format!("?from={tomorrow}")).await.items.len(), 0);
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let q = format!("?to={}", urlencode(&later));
    assert_eq!(list(&t, &q).await.items.len(), 12);
    t.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn text_search_covers_summary_agent_action_and_params() {
    let t = TestServer::start().await;
    seed(&t).await;
    assert_eq!(
        ids(&list(&t, "?q=needle-host").await.items),
        vec!["appr-l07"]
    );
    assert_eq!(
        ids(&list(&t, "?q=NUMBER%2011").await.items),
        vec!["appr-l11"],
        "case-insensitive"
    );
    assert_eq!(
        list(&t, "?q=Bot%20bot-c").await.items.len(),
        4,
        "agent name"
    );
    assert_eq!(list(&t, "?q=crm:del").await.items.len(), 6, "action");
    // LIKE wildcards are literal: every item has "100%" but none has "10_".
    assert_eq!(list(&t, "?q=100%25").await.items.len(), 12);
    assert_eq!(list(&t, "?q=10_").await.items.len(), 0);
    assert_eq!(
        ids(&list(&t, "?q=needle&agent=bot-b").await.items),
        vec!["appr-l07"]
    );
    assert_eq!(list(&t, "?q=needle&agent=bot-a").await.items.len(), 0);
    t.stop().await;
}

async fn changes(t: &TestServer, after: i64, limit: u32) -> ChangesPage {
    let (s, body) = t
        .get(ALICE, &format!("/changes?after={after}&limit={limit}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn change_feed_pages_in_order_with_has_more() {
    let t = TestServer::start().await;
    let created = seed(&t).await;
    let first = changes(&t, 0, 5).await;
    assert_eq!(first.items.len(), 5);
    assert!(first.has_more);
    assert_eq!(first.next, first.items[4].change_seq);
    let seqs: Vec<i64> = first.items.iter().map(|a| a.change_seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let second = changes(&t, first.next, 5).await;
    let third = changes(&t, second.next, 5).await;
    assert_eq!(third.items.len(), 2);
    assert!(!third.has_more);
    let mut all: Vec<String> = ids(&first.items);
    all.extend(ids(&second.items));
    all.extend(ids(&third.items));
    assert_eq!(all, ids(&created));
    // Nothing new: empty page, cursor unchanged.
    let empty = changes(&t, third.next, 5).await;
    assert!(empty.items.is_empty() && !empty.has_more);
    assert_eq!(empty.next, third.next);

    // A decision moves the approval to the end of the feed, once.
    let (_, resp) = t.post(ALICE, "/appr-l02/approve", json!({})).await;
    let seq = resp["change_seq"].as_i64().unwrap();
    let after = changes(&t, third.next, 100).await;
    assert_eq!(ids(&after.items), vec!["appr-l02"]);
    assert_eq!(after.next, seq);
    let from_start = changes(&t, 0, 1000).await;
    assert_eq!(from_start.items.len(), 12, "each approval at most once");
    assert_eq!(from_start.items.last().unwrap().id, "appr-l02");
    t.stop().await;
}

#[tokio::test]
async fn stats_count_what_was_created_and_decided() {
    let t = TestServer::start().await;
    seed(&t).await;
    // bot-a: l00 l03 l06 l09; bot-b: l01 l04 l07 l10; bot-c: l02 l05 l08 l11
    t.post(ALICE, "/appr-l00/approve", json!({})).await;
    t.post(ALICE, "/appr-l03/approve", json!({})).await;
    t.post(BOB, "/appr-l01/deny", json!({"reason": "no"})).await;
    t.post(
        BOB,
        "/bulk-deny",
        json!({"approval_ids": ["appr-l05", "appr-l08"], "reason": "no"}),
    )
    .await;
    let (s, body) = t.get(ALICE, "/stats").await;
    assert_eq!(s, StatusCode::OK);
    let stats: Stats = serde_json::from_value(body).unwrap();
    assert_eq!(stats.totals.pending, 7);
    assert_eq!(stats.totals.approved, 2);
    assert_eq!(stats.totals.denied, 3);
    assert_eq!(stats.totals.expired, 0);
    assert!(stats.average_response_secs.unwrap() >= 0.0);
    let agent = |k: &str| stats.by_agent.iter().find(|b| b.key == k).unwrap().clone();
    assert_eq!(
        (
            agent("bot-a").totals.approved,
            agent("bot-a").totals.pending
        ),
        (2, 2)
    );
    assert_eq!(
        (agent("bot-b").totals.denied, agent("bot-b").totals.pending),
        (1, 3)
    );
    assert_eq!(
        (agent("bot-c").totals.denied, agent("bot-c").totals.pending),
        (2, 2)
    );
    assert!(agent("bot-b").average_response_secs.is_some());
    let reason = |k: &str| stats.by_reason.iter().find(|b| b.key == k).unwrap().clone();
    // l00..l03 amount_threshold, l04..l07 new_counterparty, l08..l11 requires_approval
    assert_eq!(reason("amount_threshold").totals.approved, 2);
    assert_eq!(reason("amount_threshold").totals.denied, 1);
    assert_eq!(reason("new_counterparty").totals.denied, 1);
    assert_eq!(reason("requires_approval").totals.denied, 1);
    assert_eq!(reason("requires_approval").totals.pending, 3);
    assert!(reason("requires_approval").average_response_secs.is_some());
    // Outcomes of the approved ones: none reported yet, then one failure.
    let x = stats.executions.unwrap();
    assert_eq!((x.succeeded, x.failed, x.not_reported), (0, 0, 2));
    let (s, _) = t
        .post(ENGINE, "/appr-l03/result", json!({"outcome": "failed"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, body) = t.get(ALICE, "/stats").await;
    let x = serde_json::from_value::<Stats>(body)
        .unwrap()
        .executions
        .unwrap();
    assert_eq!((x.succeeded, x.failed, x.not_reported), (0, 1, 1));
    assert_eq!(x.failed_share(), Some(0.5));

    // A range that excludes everything.
    let (_, body) = t.get(ALICE, "/stats?from=2024-12-01&to=2024-12-31").await;
    let old: Stats = serde_json::from_value(body).unwrap();
    assert_eq!(old.totals.total(), 0);
    assert!(old.average_response_secs.is_none());
    assert_eq!(old.from.unwrap().to_rfc3339(), "2024-12-01T00:00:00+00:00");
    t.stop().await;
}
