//! The client honours a server's 429 `Retry-After`: a short wait is waited out and
//! the request succeeds; a long one is handed to the caller with the wait, never
//! retried sooner.

use std::time::{Duration, Instant};

use countersign_core::client::{ApiClient, Failure};
use countersign_server::{spawn, RunningServer, ServerConfig};

const ORG: &str = "org-demo";
const ALICE: &str = "demo-approver-token";

async fn server(dir: &std::path::Path, per_minute: u32) -> RunningServer {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().expect("addr"), dir.join("s.db"));
    cfg.demo = true;
    cfg.rate_limit_per_minute = per_minute;
    spawn(cfg).await.expect("server starts")
}

/// Spends `token`'s budget with plain requests; the first 429's Retry-After.
async fn exhaust(base: &str, token: &str) -> u64 {
    let http = reqwest::Client::new();
    for _ in 0..1000 {
        let resp = http
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("Retry-After");
        }
    }
    panic!("never rate limited");
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_and_the_request_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), 60).await;
    let retry = exhaust(&s.base_url(), ALICE).await;
    assert_eq!(retry, 1, "60 a minute: one more a second");
    let client = ApiClient::new(&s.base_url(), ORG, ALICE).expect("client");
    let start = Instant::now();
    let me = client.me().await.expect("succeeds once the wait is over");
    assert_eq!(me.subject, "alice");
    assert!(
        start.elapsed() >= Duration::from_secs(retry),
        "asked again after {:?}, before the {retry} s the server asked for",
        start.elapsed()
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_long_retry_after_comes_back_to_the_caller_with_the_wait() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One a minute: the second request waits ~60 s, too long to hold a request for.
    let s = server(dir.path(), 1).await;
    let retry = exhaust(&s.base_url(), ALICE).await;
    assert!(retry > 10, "{retry}");
    let client = ApiClient::new(&s.base_url(), ORG, ALICE).expect("client");
    let start = Instant::now();
    match client.me().await {
        Err(Failure::RateLimited { retry_after, .. }) => {
            assert!(
                retry_after >= Duration::from_secs(retry - 1),
                "{retry_after:?}"
            );
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "not waited inline"
    );
    s.shutdown().await;
}
