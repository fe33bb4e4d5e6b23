//! The encrypted store through the real `countersign` binary: a plaintext store (as
//! earlier versions wrote it) is migrated in place, surviving the process dying after
//! any step; a store whose key is gone is moved aside with a message, never a panic;
//! `logout --forget-device` leaves nothing of the account behind.

#[path = "cli_support/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

use countersign_core::store::cipher::{
    migration_tmp, open_home_file_keyed, ABORT_AFTER_ENV, MIGRATION_STEPS,
};
use countersign_core::{Engine, EngineOptions};
use harness::*;

const PLAIN_HEADER: &[u8] = b"SQLite format 3\0";

fn db(home: &Path) -> PathBuf {
    countersign_core::paths::db_path(home)
}

fn side(home: &Path, suffix: &str) -> PathBuf {
    let mut s = db(home).into_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn is_plaintext(path: &Path) -> bool {
    std::fs::read(path).unwrap().starts_with(PLAIN_HEADER)
}

fn queued_ids(env: &Env) -> Vec<String> {
    let out = env.run(&["outbox", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<String> = rows
        .iter()
        .map(|r| r["approval_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Copies the files of `from` into a new data directory `to`.
fn copy_home(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn plaintext_store_migrates_in_place_surviving_a_kill_after_every_step() {
    let mut env = Env::new();
    let ids: Vec<String> = (0..3)
        .map(|i| env.create(&format!("migrate me {i}")).id)
        .collect();

    // A store as an earlier build left it: plaintext, signed in, synced, with
    // decisions queued offline, and its WAL still beside it (copied while open).
    let template = env.dir.path().join("plaintext-home");
    let (cursor, settings) = {
        let opts = EngineOptions {
            file_token_store: true,
            encrypt_store: false,
            ..EngineOptions::default()
        };
        let engine = Engine::open_with(&template, opts).unwrap();
        env.rt
            .block_on(engine.login(&env.url(), ORG, ALICE))
            .unwrap();
        env.rt.block_on(engine.sync_now()).unwrap();
        env.stop_server();
        for id in &ids {
            engine.decide_approve(id, Some("offline")).unwrap();
        }
        let snapshot = env.dir.path().join("snapshot");
        copy_home(&template, &snapshot);
        let cursor = open_plain_cursor(&engine);
        let settings = engine.settings().unwrap();
        drop(engine);
        std::fs::remove_dir_all(&template).unwrap();
        std::fs::rename(&snapshot, &template).unwrap();
        (cursor, settings)
    };
    assert!(cursor > 0);
    assert!(is_plaintext(&db(&template)));
    assert!(side(&template, "-wal").exists(), "the template has its WAL");

    let mut expected = ids.clone();
    expected.sort();
    for (n, step) in MIGRATION_STEPS.iter().enumerate() {
        let home = env.dir.path().join(format!("home-{n}"));
        copy_home(&template, &home);
        let mut cmd = env.cmd(&["outbox", "--json"]);
        cmd.env("COUNTERSIGN_HOME", &home)
            .env(ABORT_AFTER_ENV, step);
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{step}: the hook did not stop it");
        assert!(
            stderr(&out).contains(&format!("aborting after step {step}")),
            "{step}: {}",
            stderr(&out)
        );

        // Started again: everything is there, and the store is encrypted.
        let mut cmd = env.cmd(&["outbox", "--json"]);
        cmd.env("COUNTERSIGN_HOME", &home);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{step}: {}", stderr(&out));
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let mut got: Vec<String> = rows
            .iter()
            .map(|r| r["approval_id"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        assert_eq!(got, expected, "{step}: queued decisions");
        assert!(!is_plaintext(&db(&home)), "{step}: still plaintext");
        assert!(!migration_tmp(&db(&home)).exists(), "{step}: leftover copy");
        for s in ["-wal", "-shm"] {
            let f = side(&home, s);
            assert!(
                !f.exists() || !is_plaintext_wal(&f),
                "{step}: a plaintext {s} survived"
            );
        }
        let store = open_home_file_keyed(&home).unwrap();
        assert_eq!(store.cursor().unwrap(), cursor, "{step}: sync cursor");
        assert_eq!(store.load_settings().unwrap(), settings, "{step}: settings");
    }

    // The migrated queue is delivered.
    env.start_server();
    let home = env.dir.path().join("home-0");
    let mut cmd = env.cmd(&["sync"]);
    cmd.env("COUNTERSIGN_HOME", &home);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for id in &ids {
        assert_eq!(
            env.get(id).status,
            countersign_core::api::ApprovalStatus::Approved
        );
    }
}

fn open_plain_cursor(engine: &Engine) -> i64 {
    countersign_core::store::Store::open(&db(engine.home()), None)
        .unwrap()
        .cursor()
        .unwrap()
}

/// A WAL's frames are plaintext pages unless encrypted: look for the page header
/// text SQLite writes in every plaintext b-tree page of `meta` (its key names).
fn is_plaintext_wal(f: &Path) -> bool {
    let bytes = std::fs::read(f).unwrap();
    bytes.windows(13).any(|w| w == b"change_cursor")
}

#[test]
fn lost_key_moves_the_store_aside_says_so_and_resyncs_after_login() {
    let mut env = Env::new();
    let a = env.create("kept on the server").id;
    let b = env.create("decided offline, then the key was lost").id;
    let login = env.login();
    assert!(login.status.success(), "{}", stderr(&login));
    env.stop_server();
    let out = env.run(&["approve", &b]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(queued_ids(&env), vec![b.clone()]);
    env.start_server();

    // The keychain is wiped: the store key and the token are gone.
    let home = env.home();
    std::fs::remove_file(countersign_core::paths::device_secrets_file(&home)).unwrap();
    std::fs::remove_file(countersign_core::paths::token_file(&home)).unwrap();

    let out = env.run(&["queue", "--json"]);
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("could not be opened"), "{err}");
    assert!(err.contains("never sent"), "{err}");
    // How many: noted beside the store, since its outbox is unreadable without the key.
    assert!(
        err.contains("1 decision queued offline in it was never sent"),
        "{err}"
    );
    let moved: Vec<PathBuf> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("countersign.db.unreadable-"))
        .collect();
    assert!(!moved.is_empty(), "the old store is kept");
    let main = moved
        .iter()
        .find(|p| {
            !["-wal", "-shm", ".queued"]
                .iter()
                .any(|t| p.to_string_lossy().ends_with(t))
        })
        .expect("the main file was moved");
    assert!(err.contains(&main.display().to_string()), "{err}");

    // Shown once: the next start opens the new store quietly.
    let out = env.run(&["outbox", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("could not be opened"));

    // Signed in again, it fills from the server.
    let login = env.login();
    assert!(login.status.success(), "{}", stderr(&login));
    let out = env.run(&["queue", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let body = stdout(&out);
    assert!(body.contains(&a) && body.contains(&b), "{body}");
}

#[test]
fn forget_device_removes_token_key_and_store() {
    let env = Env::new();
    env.create("forget me");
    let login = env.login();
    assert!(login.status.success(), "{}", stderr(&login));
    let home = env.home();
    let secrets = countersign_core::paths::device_secrets_file(&home);
    let token = countersign_core::paths::token_file(&home);
    assert!(db(&home).exists() && secrets.exists() && token.exists());

    // A store kept aside earlier (lost key) goes too.
    let aside = side(&home, ".unreadable-20260101T000000.000Z");
    std::fs::write(&aside, b"old encrypted store").unwrap();

    let out = env.run(&["logout", "--forget-device"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("forgotten"), "{}", stdout(&out));
    for f in [
        db(&home),
        side(&home, "-wal"),
        side(&home, "-shm"),
        secrets,
        token,
    ] {
        assert!(!f.exists(), "{} survived", f.display());
    }
}
