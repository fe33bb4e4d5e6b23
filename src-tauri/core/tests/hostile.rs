//! Garbage, truncated and hostile answers produce errors, never panics, never
//! corrupt the store.

#[path = "support/fake.rs"]
mod fake;
#[path = "support/harness.rs"]
mod harness;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use countersign_core::{ConnState, Engine, OutboxState, QueueQuery};
use fake::{http, Answer, Fake, ME};

/// A canned answer for the `changes` endpoint.
type Canned = Arc<dyn Fn() -> Answer + Send + Sync>;

fn approval_json(id: &str, org: &str, seq: i64) -> String {
    format!(
        r#"{{"id":"{id}","org_id":"{org}","agent":{{"id":"bot"}},"action":"x:y","summary":"s",
        "status":"pending","reason_code":"R","reason_text":"t","params":{{}},
        "created_at":"2026-11-25T00:00:00Z","expires_at":"2099-01-01T00:00:00Z",
        "requested_by":"agent","change_seq":{seq}}}"#
    )
}

/// Starts a fake whose `/me` is valid and whose `changes` answer is `changes`.
async fn fake_with(changes: impl Fn() -> Answer + Send + Sync + 'static) -> Fake {
    Fake::start(Arc::new(move |path: &str| {
        if path.starts_with("/api/v1/me") {
            Answer::Bytes(http("200 OK", "application/json", ME.as_bytes()))
        } else {
            changes()
        }
    }))
    .await
}

async fn engine_for(fake: &Fake, home: &std::path::Path) -> Engine {
    let engine = Engine::open_with(home, harness::options(Arc::new(AtomicI64::new(0)))).unwrap();
    engine
        .login(&fake.url(), harness::ORG, "any-token")
        .await
        .unwrap();
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_to_changes_are_errors() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(&str, Canned)> = vec![
        (
            "not http at all",
            Arc::new(|| Answer::Bytes(b"\x00\xffgarbage\r\n\r\n".to_vec())),
        ),
        ("empty answer", Arc::new(|| Answer::Bytes(Vec::new()))),
        (
            "invalid json",
            Arc::new(|| Answer::Bytes(http("200 OK", "application/json", b"{not json"))),
        ),
        (
            "html",
            Arc::new(|| Answer::Bytes(http("200 OK", "text/html", b"<html>hi</html>"))),
        ),
        (
            "wrong shape",
            Arc::new(|| {
                Answer::Bytes(http(
                    "200 OK",
                    "application/json",
                    br#"{"items":"nope","next":1,"has_more":false}"#,
                ))
            }),
        ),
        (
            "wrong types inside items",
            Arc::new(|| {
                Answer::Bytes(http(
                    "200 OK",
                    "application/json",
                    br#"{"items":[{"id":7}],"next":1,"has_more":false}"#,
                ))
            }),
        ),
        (
            "invalid utf-8 in a string",
            Arc::new(|| {
                // A summary that is not UTF-8, in an otherwise valid approval.
                let ok = approval_json("appr-bad", "org-demo", 1);
                let item = ok.replace(r#""summary":"s""#, "\"summary\":\"\u{1}MARK\"");
                let mut b = br#"{"next":1,"has_more":false,"items":["#.to_vec();
                let (pre, post) = item.split_once("\u{1}MARK").unwrap();
                b.extend_from_slice(pre.as_bytes());
                b.extend_from_slice(b"\xff\xfe");
                b.extend_from_slice(post.as_bytes());
                b.extend_from_slice(b"]}");
                Answer::Bytes(http("200 OK", "application/json", &b))
            }),
        ),
        (
            "deeply nested",
            Arc::new(move || Answer::Bytes(http("200 OK", "application/json", deep.as_bytes()))),
        ),
        (
            "truncated body",
            Arc::new(|| {
                Answer::Bytes(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"items\":[".to_vec())
            }),
        ),
        (
            "lying huge content-length",
            Arc::new(|| {
                Answer::Bytes(b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n{}".to_vec())
            }),
        ),
        (
            "bad content-length",
            Arc::new(|| {
                Answer::Bytes(b"HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\n{}".to_vec())
            }),
        ),
        (
            "oversized chunked body",
            Arc::new(|| {
                Answer::Stream {
            head: b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: application/json\r\n\r\n".to_vec(),
            chunk: {
                let data = vec![b' '; 1 << 20];
                let mut c = format!("{:x}\r\n", data.len()).into_bytes();
                c.extend_from_slice(&data);
                c.extend_from_slice(b"\r\n");
                c
            },
            repeat: 40,
        }
            }),
        ),
        (
            "huge header",
            Arc::new(|| {
                let mut v = b"HTTP/1.1 200 OK\r\nx-junk: ".to_vec();
                v.extend(std::iter::repeat_n(b'a', 2 << 20));
                v.extend_from_slice(b"\r\n\r\n{}");
                Answer::Bytes(v)
            }),
        ),
        (
            "cursor that never advances",
            Arc::new(|| {
                Answer::Bytes(http(
                    "200 OK",
                    "application/json",
                    br#"{"items":[],"next":0,"has_more":true}"#,
                ))
            }),
        ),
        (
            "500 html",
            Arc::new(|| {
                Answer::Bytes(http(
                    "500 Internal Server Error",
                    "text/html",
                    b"<h1>oops</h1>",
                ))
            }),
        ),
        (
            "429",
            Arc::new(|| Answer::Bytes(http("429 Too Many Requests", "text/plain", b"slow down"))),
        ),
    ];
    for (name, answer) in cases {
        let dir = tempfile::tempdir().unwrap();
        let a = answer.clone();
        let fake = fake_with(move || a()).await;
        let engine = engine_for(&fake, dir.path()).await;
        let err = engine
            .sync_now()
            .await
            .expect_err(&format!("{name}: accepted"));
        assert!(
            matches!(err.code(), "network" | "protocol"),
            "{name}: unexpected {} {err}",
            err.code()
        );
        assert!(
            matches!(engine.conn_state(), ConnState::Offline { .. }),
            "{name}: state {:?}",
            engine.conn_state()
        );
        // The store is intact and usable.
        assert_eq!(
            engine.list(&QueueQuery::default()).unwrap().total,
            0,
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_org_and_bad_ids_are_not_stored() {
    let body = format!(
        r#"{{"items":[{},{},{}],"next":3,"has_more":false}}"#,
        approval_json("appr-good", "org-demo", 1),
        approval_json("appr-other", "org-evil", 2),
        approval_json("../../etc", "org-demo", 3)
    );
    let fake =
        fake_with(move || Answer::Bytes(http("200 OK", "application/json", body.as_bytes()))).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_for(&fake, dir.path()).await;
    let s = engine.sync_now().await.unwrap();
    assert_eq!(s.pulled, 3);
    let page = engine.list(&QueueQuery::default()).unwrap();
    let ids: Vec<_> = page.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, vec!["appr-good"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_answer_to_a_decision_keeps_it_queued_for_a_retry() {
    let page = format!(
        r#"{{"items":[{}],"next":1,"has_more":false}}"#,
        approval_json("appr-one", "org-demo", 1)
    );
    let fake = Fake::start(Arc::new(move |path: &str| {
        if path.starts_with("/api/v1/me") {
            Answer::Bytes(http("200 OK", "application/json", ME.as_bytes()))
        } else if path.contains("/changes") {
            Answer::Bytes(http("200 OK", "application/json", page.as_bytes()))
        } else {
            Answer::Bytes(http("200 OK", "application/json", b"{\"approval\": tru"))
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_for(&fake, dir.path()).await;
    engine.sync_now().await.unwrap();
    engine.decide_approve("appr-one", None).unwrap();
    let err = engine.push_now().await.unwrap_err();
    assert_eq!(err.code(), "protocol");
    let q = engine.outbox(&[]).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].state, OutboxState::Queued);
    assert_eq!(q[0].attempts, 1);
    assert!(q[0].next_attempt_at > engine.now() - chrono::Duration::seconds(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_event_stream_is_an_error_and_the_loop_keeps_running() {
    let fake = Fake::start(Arc::new(move |path: &str| {
        if path.starts_with("/api/v1/me") {
            Answer::Bytes(http("200 OK", "application/json", ME.as_bytes()))
        } else if path.contains("/changes") {
            Answer::Bytes(http(
                "200 OK",
                "application/json",
                br#"{"items":[],"next":0,"has_more":false}"#,
            ))
        } else {
            // An event-stream line that never ends.
            Answer::Stream {
                head: b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: ".to_vec(),
                chunk: vec![b'x'; 64 * 1024],
                repeat: 4,
            }
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_for(&fake, dir.path()).await;
    let bg = engine.start();
    let went_offline = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let ConnState::Offline { last_error, .. } = engine.conn_state() {
                break last_error;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("hostile stream not detected");
    assert!(went_offline.contains("event-stream"), "{went_offline}");
    bg.shutdown().await;
}
