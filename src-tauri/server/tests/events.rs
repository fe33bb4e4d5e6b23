//! The SSE stream: a `change` on connect, one per change, heartbeats, org isolation.

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Reads `event:`/`data:` frames off an SSE response.
struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    async fn connect(t: &TestServer, org: &str, token: &str) -> SseReader {
        let resp = t
            .http
            .get(t.url(org, "/events"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        SseReader {
            resp,
            buf: String::new(),
        }
    }

    /// The next frame as (event, data), waiting at most `within`.
    async fn next(&mut self, within: Duration) -> Option<(String, Value)> {
        tokio::time::timeout(within, async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let frame: String = self.buf.drain(..end + 2).collect();
                    let mut event = String::from("message");
                    let mut data = String::new();
                    for line in frame.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_string();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim());
                        }
                    }
                    if data.is_empty() {
                        continue; // comment or keep-alive frame
                    }
                    return Some((event, serde_json::from_str(&data).unwrap()));
                }
                match self.resp.chunk().await {
                    Ok(Some(chunk)) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                    _ => return None,
                }
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// The next `change` frame's seq, skipping heartbeats.
    async fn next_change(&mut self, within: Duration) -> Option<i64> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (event, data) = self.next(left).await?;
            if event == "change" {
                return data["change_seq"].as_i64();
            }
        }
    }
}

#[tokio::test]
async fn a_client_learns_of_a_new_approval_within_a_second() {
    let t = TestServer::start().await;
    let first = t.create(new_request("appr-ev0", json!({}))).await;
    let mut sse = SseReader::connect(&t, ORG, ALICE).await;
    let (event, data) = sse
        .next(Duration::from_secs(5))
        .await
        .expect("initial event");
    assert_eq!(event, "change");
    assert_eq!(
        data["change_seq"], first.change_seq,
        "current seq on connect"
    );

    let created = t.create(new_request("appr-ev1", json!({}))).await;
    let seq = sse
        .next_change(Duration::from_secs(1))
        .await
        .expect("change within a second");
    assert_eq!(seq, created.change_seq);

    let (_, resp) = t.post(ALICE, "/appr-ev1/approve", json!({})).await;
    let seq = sse.next_change(Duration::from_secs(1)).await.unwrap();
    assert_eq!(seq, resp["change_seq"].as_i64().unwrap());
    t.stop().await;
}

#[tokio::test]
async fn heartbeats_carry_the_latest_seq() {
    let t = TestServer::start().await; // heartbeat every second in tests
    let a = t.create(new_request("appr-hb", json!({}))).await;
    let mut sse = SseReader::connect(&t, ORG, BOB).await;
    sse.next(Duration::from_secs(5)).await.unwrap();
    let (event, data) = sse.next(Duration::from_secs(10)).await.expect("heartbeat");
    assert_eq!(event, "heartbeat");
    assert_eq!(data["change_seq"], a.change_seq);
    t.stop().await;
}

#[tokio::test]
async fn streams_only_poke_for_their_own_org_and_see_expiry() {
    let t = TestServer::start().await;
    let mut theirs = SseReader::connect(&t, OTHER_ORG, MALLORY).await;
    let (_, initial) = theirs.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(initial["change_seq"], 0, "an empty org starts at 0");
    let mut ours = SseReader::connect(&t, ORG, ALICE).await;
    ours.next(Duration::from_secs(5)).await.unwrap();
    let a = t
        .create(new_request("appr-ev2", json!({"expires_in_secs": 1})))
        .await;
    assert_eq!(
        ours.next_change(Duration::from_secs(1)).await,
        Some(a.change_seq)
    );
    // The sweeper's expiry is a change too, pushed without any read.
    let expired = ours.next_change(Duration::from_secs(10)).await.unwrap();
    assert!(expired > a.change_seq);
    assert_eq!(
        theirs.next_change(Duration::from_millis(1500)).await,
        None,
        "the other org heard nothing but heartbeats"
    );
    t.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let t = TestServer::start().await;
    let mut sse = SseReader::connect(&t, ORG, ALICE).await;
    sse.next(Duration::from_secs(5)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), t.stop())
        .await
        .expect("graceful shutdown does not hang on an open stream");
    assert!(sse.next(Duration::from_secs(2)).await.is_none());
}
