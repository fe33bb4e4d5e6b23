//! The local store at rest: after a real sync, neither the database file nor its WAL
//! holds any approval's text. The same sync into a plaintext store (the benchmarks'
//! baseline) shows the grep finds that text when it is there.

#[path = "support/harness.rs"]
mod harness;

use std::path::Path;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use countersign_core::paths::db_path;
use harness::*;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The store file and its `-wal`, read while the engine still holds them open (the
/// WAL is only checkpointed away when the last connection closes).
fn raw_files(home: &Path) -> (Vec<u8>, Vec<u8>) {
    let db = db_path(home);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    (
        std::fs::read(&db).unwrap(),
        std::fs::read(wal).unwrap_or_default(),
    )
}

async fn synced(dir: &Path, base: &str, encrypt: bool) -> (Vec<u8>, Vec<u8>, String) {
    let home = dir.join(if encrypt { "encrypted" } else { "plain" });
    let summary = format!(
        "Refund customer cus-{} for 8123.45 EUR",
        uuid::Uuid::new_v4().simple()
    );
    let a = create_approval(base, &summary, None).await;
    let mut opts = options(Arc::new(AtomicI64::new(0)));
    opts.encrypt_store = encrypt;
    let engine = engine_at(&home, base, opts).await;
    engine.sync_now().await.unwrap();
    // The text is really in the store (readable through the engine).
    assert_eq!(engine.detail(&a.id).unwrap().approval.summary, summary);
    let (db, wal) = raw_files(&home);
    assert!(!wal.is_empty(), "the sync's pages are in the WAL");
    drop(engine);
    (db, wal, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_wal_hold_none_of_the_approvals_text() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let base = server.url();

    // Control: in a plaintext store the grep finds the summary and a parameter value.
    let (db, wal, summary) = synced(dir.path(), &base, false).await;
    let both = [db.as_slice(), wal.as_slice()].concat();
    assert!(
        contains(&both, &summary),
        "control: plaintext holds the summary"
    );
    assert!(contains(&both, "production"), "control: and the params");
    assert!(db.starts_with(b"SQLite format 3"));

    let (db, wal, summary) = synced(dir.path(), &base, true).await;
    assert!(
        !db.starts_with(b"SQLite format 3"),
        "the header is encrypted"
    );
    for (name, bytes) in [("store", &db), ("wal", &wal)] {
        assert!(!contains(bytes, &summary), "{name} holds the summary");
        assert!(
            !contains(bytes, "production"),
            "{name} holds a parameter value"
        );
        assert!(
            !contains(bytes, "Refund customer"),
            "{name} holds summary text"
        );
        assert!(!contains(bytes, "test-bot"), "{name} holds the agent id");
    }
}
