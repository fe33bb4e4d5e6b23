//! What a client needs to keep its sync honest: the database epoch (stable across
//! restarts, new with a new file), the org's latest change in every page, the
//! `Date` of every answer, and page limits written in the OpenAPI document.

#[path = "support/harness.rs"]
mod harness;

use countersign_api::{ChangesPage, WhoAmI};
use harness::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn page(t: &TestServer, after: i64) -> ChangesPage {
    let (s, body) = t
        .get(ALICE, &format!("/changes?after={after}&limit=2"))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    serde_json::from_value(body).unwrap()
}

#[tokio::test]
async fn pages_and_me_carry_the_epoch_and_pages_the_latest_change() {
    let mut t = TestServer::start().await;
    for i in 0..3 {
        t.create(new_request(&format!("appr-e{i}"), json!({})))
            .await;
    }
    let p = page(&t, 0).await;
    let epoch = p.epoch.clone().expect("epoch");
    assert_eq!(p.items.len(), 2);
    let latest = p.latest.expect("latest");
    assert!(latest > p.items[1].change_seq, "{latest}");
    let resp = t
        .http
        .get(format!("{}/api/v1/me", t.base))
        .bearer_auth(ALICE)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key(reqwest::header::DATE));
    let me: WhoAmI = resp.json().await.unwrap();
    assert_eq!(me.epoch.as_deref(), Some(epoch.as_str()));
    // The epoch belongs to the file: a restart keeps it.
    t.restart().await;
    assert_eq!(page(&t, 0).await.epoch.as_deref(), Some(epoch.as_str()));
    // An empty page past the end still says where the server is.
    let end = page(&t, latest).await;
    assert!(end.items.is_empty() && !end.has_more);
    assert_eq!((end.next, end.latest), (latest, Some(latest)));

    // Another file, another epoch.
    let other = TestServer::start().await;
    assert_ne!(page(&other, 0).await.epoch.as_deref(), Some(epoch.as_str()));
    other.stop().await;
    t.stop().await;
}

#[tokio::test]
async fn the_openapi_document_states_the_page_byte_limit() {
    let t = TestServer::start().await;
    let doc: Value = t
        .http
        .get(format!("{}/api/v1/openapi.json", t.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = doc["info"]["description"].as_str().unwrap();
    let needles = [
        format!("{} bytes of JSON", countersign_api::MAX_PAGE_BYTES),
        format!("request body {} bytes", countersign_api::MAX_BODY_BYTES),
        "notes 4000 characters".to_string(),
        "500 ids".to_string(),
        "summary 1000 characters".to_string(),
    ];
    for needle in &needles {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    t.stop().await;
}
