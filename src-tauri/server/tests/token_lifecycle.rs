//! Token lifecycle (issue 16 §3): expiry, revocation by public id and by subject,
//! revoking a device revokes the token that registered it, the 401 codes that tell
//! a client "signed out", and subjects unique ignoring case (§1).

#[path = "support/harness.rs"]
mod harness;

use std::path::Path;
use std::process::Command;

use countersign_api::receipt::public_key_hex;
use countersign_api::{ApprovalStatus, Role};
use countersign_server::db::tokens::{self, insert_token, insert_token_with, TokenOptions};
use countersign_server::db::{devices, Db};
use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_countersign-server");

/// Runs `countersign-server ARGS`; (success, stdout, stderr).
fn server_cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("countersign-server runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn add_token(db: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["add-token", "--db", db.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let (ok, out, err) = server_cli(&args);
    assert!(ok, "add-token {extra:?} failed: {err}");
    let id = err
        .lines()
        .find_map(|l| l.strip_prefix("token id: "))
        .expect("token id on stderr")
        .to_string();
    (out.trim().to_string(), id)
}

fn list_tokens(db: &Path) -> Vec<Vec<String>> {
    let (ok, out, err) = server_cli(&["list-tokens", "--db", db.to_str().expect("utf-8")]);
    assert!(ok, "{err}");
    out.lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

async fn me(t: &TestServer, token: &str) -> (StatusCode, String) {
    let url = format!("{}/api/v1/me", t.base);
    let (s, body) = t.call(Method::GET, &url, Some(token), None, None).await;
    (s, error_code(&body).to_string())
}

fn devices_url(t: &TestServer, suffix: &str) -> String {
    format!("{}/api/v1/orgs/{ORG}/devices{suffix}", t.base)
}

async fn register_device(t: &TestServer, token: &str, seed: u8) -> (StatusCode, String) {
    let body = json!({"public_key": public_key_hex(&[seed; 32]), "name": format!("laptop {seed}")});
    let (s, resp) = t
        .call(
            Method::POST,
            &devices_url(t, ""),
            Some(token),
            Some(&body),
            None,
        )
        .await;
    let out = resp["key_id"]
        .as_str()
        .map_or_else(|| error_code(&resp).to_string(), str::to_string);
    (s, out)
}

#[tokio::test]
async fn expired_tokens_get_token_expired_and_unknown_ones_stay_unauthorized() {
    let t = TestServer::start().await;
    let db = Db::open(&t.db_path).expect("db");
    let owner = |subject: &str| tokens::TokenOwner {
        org: ORG.to_string(),
        subject: subject.to_string(),
        role: Role::Approver,
    };
    let now = countersign_server::db::now();
    db.with_writer(|conn| {
        let past = TokenOptions {
            expires_at: Some(now - chrono::Duration::seconds(1)),
            agents: Vec::new(),
        };
        insert_token_with(conn, "dana-old-token", &owner("dana"), &past)?;
        let future = TokenOptions {
            expires_at: Some(now + chrono::Duration::hours(1)),
            agents: Vec::new(),
        };
        insert_token_with(conn, "dana-new-token", &owner("dana"), &future)?;
        Ok(())
    })
    .expect("tokens");
    assert_eq!(me(&t, "dana-new-token").await.0, StatusCode::OK);
    assert_eq!(
        me(&t, "dana-old-token").await,
        (StatusCode::UNAUTHORIZED, "token_expired".to_string())
    );
    let (s, body) = t.get("dana-old-token", "").await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
    assert_eq!(
        me(&t, "never-issued").await,
        (StatusCode::UNAUTHORIZED, "unauthorized".to_string())
    );

    // `add-token --expires 90d` stores the expiry, and list-tokens shows it.
    let (token, id) = add_token(
        &t.db_path,
        &[
            "--org",
            ORG,
            "--role",
            "approver",
            "--subject",
            "erin",
            "--expires",
            "90d",
        ],
    );
    assert_eq!(me(&t, &token).await.0, StatusCode::OK);
    let row = list_tokens(&t.db_path)
        .into_iter()
        .find(|r| r[0] == id)
        .expect("listed");
    let expires = chrono::DateTime::parse_from_rfc3339(&row[5]).expect("expiry shown");
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((89 * 24..=90 * 24).contains(&days), "{row:?}");
    assert_eq!(row[6], "-", "not revoked: {row:?}");
    t.stop().await;
}

#[tokio::test]
async fn a_token_revoked_by_its_public_id_gets_token_revoked_at_once() {
    let t = TestServer::start().await;
    let (token, id) = add_token(
        &t.db_path,
        &["--org", ORG, "--role", "approver", "--subject", "frank"],
    );
    assert!(id.starts_with("tok_") && id.len() == 16, "{id}");
    let a = t.create(new_request("appr-rev1", json!({}))).await;
    assert_eq!(me(&t, &token).await.0, StatusCode::OK);

    let listed = list_tokens(&t.db_path);
    let row = listed.iter().find(|r| r[0] == id).expect("listed");
    assert_eq!(&row[1..4], [ORG, "frank", "approver"]);
    // The secret never appears in the listing.
    assert!(!listed.iter().flatten().any(|c| c.contains(&token)));

    let (ok, out, err) = server_cli(&[
        "revoke-token",
        "--db",
        t.db_path.to_str().expect("utf-8"),
        "--id",
        &id,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains(&id), "{out}");
    assert_eq!(
        me(&t, &token).await,
        (StatusCode::UNAUTHORIZED, "token_revoked".to_string())
    );
    // Deciding with it is refused too, and nothing is applied.
    let (s, body) = t
        .post(&token, &format!("/{}/approve", a.id), json!({}))
        .await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    assert_eq!(t.approval(&a.id).await.status, ApprovalStatus::Pending);
    // Recorded, not deleted.
    let row = list_tokens(&t.db_path)
        .into_iter()
        .find(|r| r[0] == id)
        .expect("still listed");
    assert_ne!(row[6], "-", "revocation time shown: {row:?}");
    // Other tokens are untouched.
    assert_eq!(me(&t, ALICE).await.0, StatusCode::OK);
    // An unknown id is an error, not a silent success.
    let (ok, _, err) = server_cli(&[
        "revoke-token",
        "--db",
        t.db_path.to_str().expect("utf-8"),
        "--id",
        "tok_000000000000",
    ]);
    assert!(!ok && err.contains("no token"), "{err}");
    t.stop().await;
}

#[tokio::test]
async fn revoking_a_subject_revokes_all_its_tokens_and_device_keys() {
    let t = TestServer::start().await;
    let (second, _) = add_token(
        &t.db_path,
        &["--org", ORG, "--role", "approver", "--subject", "alice"],
    );
    let (s, key_id) = register_device(&t, ALICE, 21).await;
    assert_eq!(s, StatusCode::OK, "{key_id}");
    let (ok, out, err) = server_cli(&[
        "revoke-token",
        "--db",
        t.db_path.to_str().expect("utf-8"),
        "--subject",
        "ALICE",
        "--org",
        ORG,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("1 device key"), "{out}");
    for token in [ALICE, second.as_str()] {
        assert_eq!(
            me(&t, token).await,
            (StatusCode::UNAUTHORIZED, "token_revoked".to_string())
        );
    }
    let (_, list) = t
        .call(Method::GET, &devices_url(&t, ""), Some(BOB), None, None)
        .await;
    let item = list["items"]
        .as_array()
        .and_then(|i| i.iter().find(|d| d["key_id"] == key_id.as_str()))
        .expect("device listed");
    assert!(item["revoked_at"].is_string(), "{item}");
    // carol (another subject) still works; bob too.
    assert_eq!(me(&t, BOB).await.0, StatusCode::OK);
    assert_eq!(me(&t, CAROL_APPROVER).await.0, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn revoking_a_device_revokes_the_token_that_registered_it() {
    let t = TestServer::start().await;
    // The laptop's token registers the laptop's key; alice revokes it from elsewhere.
    let (laptop, _) = add_token(
        &t.db_path,
        &["--org", ORG, "--role", "approver", "--subject", "alice"],
    );
    let (s, key_id) = register_device(&t, &laptop, 31).await;
    assert_eq!(s, StatusCode::OK, "{key_id}");
    let (s, _) = t
        .call(
            Method::DELETE,
            &devices_url(&t, &format!("/{key_id}")),
            Some(ALICE),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // The laptop's token no longer decides, reads or registers a new key.
    let a = t.create(new_request("appr-lost1", json!({}))).await;
    let (s, body) = t
        .post(&laptop, &format!("/{}/approve", a.id), json!({}))
        .await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    assert_eq!(
        register_device(&t, &laptop, 32).await,
        (StatusCode::UNAUTHORIZED, "token_revoked".to_string())
    );
    assert_eq!(t.approval(&a.id).await.status, ApprovalStatus::Pending);
    // The token that revoked it did not register it and keeps working.
    assert_eq!(me(&t, ALICE).await.0, StatusCode::OK);

    // A key registered before tokens were recorded on devices names no token:
    // revoking it leaves every token alone.
    let db = Db::open(&t.db_path).expect("db");
    let old_key = db
        .with_writer(|conn| {
            match devices::register(
                conn,
                ORG,
                "bob",
                &[7u8; 32],
                "old",
                countersign_server::db::now(),
            )? {
                devices::Registered::Ok(k) | devices::Registered::Taken(k) => Ok(k),
            }
        })
        .expect("legacy device");
    let (s, _) = t
        .call(
            Method::DELETE,
            &devices_url(&t, &format!("/{old_key}")),
            Some(BOB),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(me(&t, BOB).await.0, StatusCode::OK);
    t.stop().await;
}

#[tokio::test]
async fn subjects_are_validated_and_unique_ignoring_case() {
    let t = TestServer::start().await;
    let db = t.db_path.to_str().expect("utf-8").to_string();
    let try_add = |subject: &str| {
        server_cli(&[
            "add-token",
            "--db",
            &db,
            "--org",
            ORG,
            "--role",
            "approver",
            "--subject",
            subject,
        ])
    };
    // `alice` exists (the harness's token): `Alice` is refused, naming the spelling.
    let (ok, _, err) = try_add("Alice");
    assert!(!ok, "Alice was accepted");
    assert!(err.contains("\"alice\""), "{err}");
    // The same spelling again is fine: one person, several tokens.
    assert!(try_add("alice").0);
    for bad in [
        "",
        " alice",
        "al ice",
        "-x",
        "ali\u{0441}e",
        "a\u{200d}b",
        &"a".repeat(129),
    ] {
        let (ok, _, err) = try_add(bad);
        assert!(!ok, "{bad:?} accepted");
        assert!(err.contains("subject"), "{bad:?}: {err}");
    }
    assert!(try_add("grace.hopper@example.com").0);
    t.stop().await;
}

#[tokio::test]
async fn quorum_counts_subjects_that_differ_only_by_case_as_one_approver() {
    let t = TestServer::start().await;
    // A file made before subjects were unique ignoring case may hold both spellings.
    let db = Db::open(&t.db_path).expect("db");
    db.with_writer(|conn| {
        insert_token(
            conn,
            "big-alice-token",
            &tokens::TokenOwner {
                org: ORG.to_string(),
                subject: "Alice".to_string(),
                role: Role::Approver,
            },
        )?;
        Ok(())
    })
    .expect("token");
    let a = t
        .create(new_request("appr-case1", json!({"required_approvals": 2})))
        .await;
    let (s, body) = t
        .post(ALICE, &format!("/{}/approve", a.id), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = t
        .post("big-alice-token", &format!("/{}/approve", a.id), json!({}))
        .await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::CONFLICT, "already_approved"),
        "{body}"
    );
    assert_eq!(t.approval(&a.id).await.status, ApprovalStatus::Pending);
    let (s, _) = t.post(BOB, &format!("/{}/approve", a.id), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t.approval(&a.id).await.status, ApprovalStatus::Approved);
    t.stop().await;
}
