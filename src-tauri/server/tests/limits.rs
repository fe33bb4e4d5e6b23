//! One client cannot crowd out the others: per-token rate limits (429 with
//! Retry-After), a header-read timeout, and a connection cap.

#[path = "support/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{error_code, new_request, TestServer, ALICE, BOB, ENGINE};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_token_over_its_limit_gets_429_with_retry_after_and_others_do_not() {
    let t = TestServer::start_with(|c| c.rate_limit_per_minute = 5).await;
    for _ in 0..5 {
        let (s, body) = t.get(ALICE, "").await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let resp = t
        .http
        .get(t.url(harness::ORG, ""))
        .bearer_auth(ALICE)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    // 5 a minute: the next one is 12 s away.
    assert!((1..=12).contains(&retry), "{retry}");
    assert!(resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or_default().contains("json")));
    let body: serde_json::Value = resp.json().await.expect("JSON error body");
    assert_eq!(error_code(&body), "rate_limited");
    // Another token has its own budget.
    let (s, _) = t.get(BOB, "").await;
    assert_eq!(s, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn creations_have_their_own_smaller_budget() {
    let t = TestServer::start_with(|c| c.create_rate_limit_per_minute = 2).await;
    t.create(new_request("appr-rl1", json!({}))).await;
    t.create(new_request("appr-rl2", json!({}))).await;
    let (s, body) = t.post(ENGINE, "", new_request("appr-rl3", json!({}))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(error_code(&body), "rate_limited");
    // Reads with the same token, and approvers, go on.
    let (s, _) = t.get(ENGINE, "/appr-rl1").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t.post(ALICE, "/appr-rl1/approve", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    t.stop().await;
}

/// Reads until the server closes the socket; how long that took, or None when it
/// was still open after `within`.
async fn closed_within(sock: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

#[tokio::test]
async fn a_half_sent_request_line_is_cut_off() {
    let t = TestServer::start_with(|c| c.header_read_timeout = Duration::from_millis(500)).await;
    let mut slow = TcpStream::connect(t.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HT").await.expect("write");
    let took = closed_within(&mut slow, Duration::from_secs(10)).await;
    assert!(
        took.is_some(),
        "the half-open socket is still open after 10 s"
    );
    // A socket that sends nothing at all is closed too.
    let mut idle = TcpStream::connect(t.addr).await.expect("connect");
    assert!(closed_within(&mut idle, Duration::from_secs(10))
        .await
        .is_some());
    // And the server still answers.
    let (s, _) = t.get(ALICE, "").await;
    assert_eq!(s, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let t = TestServer::start_with(|c| c.max_connections = 2).await;
    let hog1 = TcpStream::connect(t.addr).await.expect("connect");
    let hog2 = TcpStream::connect(t.addr).await.expect("connect");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .expect("client");
    let health = format!("{}/healthz", t.base);
    // Let the server take both hogs before the third comes.
    let mut waited = false;
    for _ in 0..50 {
        if client.get(&health).send().await.is_err() {
            waited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waited, "a third connection was served while two were held");
    drop(hog1);
    // One slot is free again: the next request is served (with a fresh client, so no
    // pooled connection of the timed-out one is reused).
    let ok = reqwest::Client::new()
        .get(&health)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("served once a slot is free");
    assert!(ok.status().is_success());
    drop(hog2);
    t.stop().await;
}
