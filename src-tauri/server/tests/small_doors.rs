//! The smaller doors: the database is private and durable, links follow the served
//! scheme, and `--demo` never puts its well-known tokens into a real database.

#[path = "support/certs.rs"]
mod certs;
#[path = "support/harness.rs"]
mod harness;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use certs::TestPki;
use countersign_api::Role;
use countersign_server::db::Db;
use countersign_server::tls::TlsFiles;
use countersign_server::{spawn, ServerConfig};
use harness::{new_request, TestServer, ENGINE};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_countersign-server");

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_database_and_its_wal_are_private_and_every_commit_is_synced() {
    let t = TestServer::start().await;
    t.create(new_request("appr-priv", json!({}))).await;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = t.db_path.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    let db = Db::open(&t.db_path).expect("open");
    let sync: i64 = db
        .with_writer(|c| Ok(c.query_row("PRAGMA synchronous", [], |r| r.get(0))?))
        .expect("pragma");
    assert_eq!(sync, 2, "synchronous=FULL");
    let read_sync: i64 = db
        .read(|c| {
            c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))
                .map_err(countersign_server::ServerError::from)
        })
        .await
        .expect("pragma");
    assert_eq!(read_sync, 2, "readers too");
    t.stop().await;
}

#[tokio::test]
async fn an_older_world_readable_database_is_tightened_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("old.db");
    std::fs::write(&path, b"").expect("create");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    Db::open(&path).expect("open");
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn links_say_https_when_the_server_serves_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = TestPki::new("links-https");
    let (cert, key, _) = pki.write(dir.path());
    let db_path = dir.path().join("tls.db");
    {
        let db = Db::open(&db_path).expect("db");
        db.with_writer(|c| {
            countersign_server::db::tokens::insert_token(
                c,
                ENGINE,
                &countersign_server::db::tokens::TokenOwner {
                    org: harness::ORG.into(),
                    subject: "engine".into(),
                    role: Role::Agent,
                },
            )?;
            countersign_server::db::tokens::bind_agents(c, ENGINE, &harness::TEST_AGENTS)
        })
        .expect("token");
    }
    let mut config = ServerConfig::new("127.0.0.1:0".parse().expect("addr"), db_path);
    config.tls = Some(TlsFiles { cert, key });
    let server = spawn(config).await.expect("starts");
    let base = format!("https://localhost:{}", server.addr().port());
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("CA"))
        .build()
        .expect("client");
    let body: serde_json::Value = http
        .post(format!("{base}/api/v1/orgs/{}/approvals", harness::ORG))
        .bearer_auth(ENGINE)
        .json(&new_request("appr-tls", json!({})))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let api = body["links"]["api"].as_str().unwrap_or_default();
    assert!(
        api.starts_with(&format!("{base}/api/v1/")),
        "links.api is {api:?}, the server serves {base}"
    );
    server.shutdown().await;
}

#[test]
fn demo_refuses_a_database_with_anything_but_demo_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("real.db");
    countersign_server::add_token(&db, "acme", Role::Approver, "ceo").expect("real token");
    let before = std::fs::read(&db).expect("db file");
    let out = Command::new(BIN)
        .args(["--demo", "--addr", "127.0.0.1:0", "--db"])
        .arg(&db)
        .output()
        .expect("runs");
    assert!(!out.status.success(), "--demo started on a real database");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--demo refused"), "{err}");
    assert!(err.contains("\"ceo\""), "names what it found: {err}");
    // Nothing written: no demo token works, and the file holds what it held.
    let conn = rusqlite_free_count(&db);
    assert_eq!(conn, 1, "only the real token");
    assert_eq!(std::fs::read(&db).expect("db file").len(), before.len());

    // A database that only ever held the demo still starts with --demo.
    let demo_db = dir.path().join("demo.db");
    for _ in 0..2 {
        let mut child = Command::new(BIN)
            .args(["--demo", "--addr", "127.0.0.1:0", "--db"])
            .arg(&demo_db)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starts");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("banner");
        assert!(line.contains("demo on http://"), "{line}");
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Tokens in the file, counted through the server's own storage.
fn rusqlite_free_count(db: &std::path::Path) -> i64 {
    Db::open(db)
        .expect("open")
        .with_writer(|c| Ok(c.query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get(0))?))
        .expect("count")
}
