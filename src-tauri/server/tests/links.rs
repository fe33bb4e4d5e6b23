//! `links` on every approval the server returns: the app's countersign:// URL and the
//! approval's URL in the API, which answers with that same approval.

#[path = "support/harness.rs"]
mod harness;

use countersign_api::{Approval, ApprovalLinks, ApprovalList, ChangesPage};
use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn expected(t: &TestServer, id: &str) -> ApprovalLinks {
    ApprovalLinks {
        app: format!("countersign://approvals/{id}?org={ORG}"),
        api: t.url(ORG, &format!("/{id}")),
    }
}

#[tokio::test]
async fn each_approval_carries_its_app_and_api_links() {
    let t = TestServer::start().await;
    // The agent's answer to a create: what a chat integration posts.
    let created = t.create(new_request("appr-link1", json!({}))).await;
    assert_eq!(created.links, Some(expected(&t, "appr-link1")));

    // The detail, the list and the change feed say the same.
    assert_eq!(
        t.approval("appr-link1").await.links,
        Some(expected(&t, "appr-link1"))
    );
    let (s, body) = t.get(ALICE, "?status=all").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let list: ApprovalList = serde_json::from_value(body).unwrap();
    assert!(!list.items.is_empty());
    for a in &list.items {
        assert_eq!(a.links, Some(expected(&t, &a.id)), "{}", a.id);
    }
    let (s, body) = t.get(ALICE, "/changes?after=0").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let page: ChangesPage = serde_json::from_value(body).unwrap();
    assert!(page
        .items
        .iter()
        .all(|a| a.links.as_ref() == Some(&expected(&t, &a.id))));

    // links.api is a working URL: it answers with that approval.
    let api = created.links.unwrap().api;
    let (s, body) = t.call(Method::GET, &api, Some(ALICE), None, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let again: Approval = serde_json::from_value(body).unwrap();
    assert_eq!(again.id, "appr-link1");
}

#[tokio::test]
async fn links_follow_the_name_the_caller_used_and_refuse_forged_hosts() {
    let t = TestServer::start().await;
    t.create(new_request("appr-link2", json!({}))).await;
    let url = t.url(ORG, "/appr-link2");
    let get = |host: &'static str, proto: Option<&'static str>| {
        let url = url.clone();
        async move {
            let mut req = reqwest::Client::new()
                .get(&url)
                .bearer_auth(ALICE)
                .header("Host", host);
            if let Some(p) = proto {
                req = req.header("X-Forwarded-Proto", p);
            }
            let resp = req.send().await.expect("sent");
            assert_eq!(resp.status(), StatusCode::OK);
            let body: Value = resp.json().await.expect("json");
            body["links"]["api"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    // Behind a TLS-terminating proxy, under the public name.
    assert_eq!(
        get("countersign.example.com", Some("https")).await,
        format!("https://countersign.example.com/api/v1/orgs/{ORG}/approvals/appr-link2")
    );
    // A Host that is no plain host[:port] is not echoed into a link.
    let forged = get("evil.example/phish?x=", None).await;
    assert!(
        forged.starts_with("http://127.0.0.1:") && !forged.contains("evil"),
        "{forged}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_links() {
    let t = TestServer::start().await;
    let url = t
        .url(ORG, "")
        .replace(&format!("/orgs/{ORG}/approvals"), "/openapi.json");
    let (s, doc) = t.call(Method::GET, &url, None, None, None).await;
    assert_eq!(s, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    let links = &schemas["Approval"]["properties"]["links"];
    assert!(
        !links.is_null(),
        "Approval.links missing: {}",
        schemas["Approval"]
    );
    let required = schemas["Approval"]["required"].as_array().unwrap();
    assert!(
        !required.iter().any(|r| r == "links"),
        "links must be optional"
    );
    let props = &schemas["ApprovalLinks"]["properties"];
    assert!(props["app"]["description"]
        .as_str()
        .unwrap_or_default()
        .contains("countersign://approvals/"));
    assert!(!props["api"].is_null());
}
