//! The CLI through a laptop's ordinary life: two devices for one approver, a data
//! directory other accounts must not read, and a logout that leaves no token.

#[path = "cli_support/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use countersign_api::ApprovalStatus;
use harness::*;

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The CLI on another data directory (another device).
fn cli(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_countersign"));
    c.args(args)
        .env("COUNTERSIGN_HOME", home)
        .env("COUNTERSIGN_KEYRING", "off")
        .env_remove("COUNTERSIGN_LOG")
        .stdin(Stdio::null());
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    cli(home, args).output().unwrap()
}

fn login(home: &Path, server: &str, token: &str) -> Output {
    output_with_stdin(
        cli(
            home,
            &["login", "--server", server, "--org", ORG, "--token-stdin"],
        ),
        &format!("{token}\n"),
    )
}

#[test]
fn two_devices_one_approver() {
    let mut env = Env::new();
    let laptop = env.home();
    let desktop: PathBuf = env.dir.path().join("desktop");
    let x = env.create("Decided on the laptop");
    let y = env.create("Decided twice");
    assert!(env.login().status.success());
    let o = login(&desktop, &env.url(), ALICE);
    assert!(o.status.success(), "{}", stderr(&o));

    // The laptop approves; the desktop sees it within one sync, as decided by you
    // on another device.
    assert!(run(&laptop, &["approve", &x.id]).status.success());
    assert!(run(&desktop, &["sync"]).status.success());
    let o = run(&desktop, &["queue", "--status", "approved", "--json"]);
    assert!(stdout(&o).contains(&x.id), "{}", stdout(&o));
    let o = run(&desktop, &["show", &x.id, "--json"]);
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["decided_by_you_elsewhere"], true, "{d}");
    // Offline (the server is down), the desktop reads its cache.
    env.stop_server();
    let o = run(&desktop, &["show", &x.id]);
    assert!(
        stdout(&o).contains("(you, on another device)"),
        "{}",
        stdout(&o)
    );
    env.start_server();

    // The laptop approves y; the desktop, which has not synced, denies it offline.
    assert!(run(&laptop, &["approve", &y.id]).status.success());
    env.stop_server();
    let o = run(&desktop, &["deny", &y.id, "--reason", "not today"]);
    assert!(stdout(&o).contains("queued"), "{}", stdout(&o));
    env.start_server();
    let o = run(&desktop, &["sync"]);
    // Exit 4: a decision was not applied (it is explained, and kept on record).
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("you approved it on another device") && out.contains("your deny"),
        "the conflict is explained: {out}"
    );
    // Not lost: the refused decision stays on record on the desktop.
    let o = run(&desktop, &["outbox", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["approval_id"] == y.id.as_str())
        .expect("the deny is kept");
    assert_eq!(row["state"], "rejected");
    assert_eq!(env.get(&y.id).status, ApprovalStatus::Approved);
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_data_directory_is_private_whatever_the_umask() {
    let env = Env::new();
    let home = env.home();
    // A permissive umask, as on many desktops.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 022; exec '{}' queue",
            env!("CARGO_BIN_EXE_countersign")
        ))
        .env("COUNTERSIGN_HOME", &home)
        .env("COUNTERSIGN_KEYRING", "off")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&home), 0o700);
    let mut files = 0;
    for e in std::fs::read_dir(&home).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        files += 1;
    }
    assert!(files >= 1);
    assert!(env.login().status.success());
    assert_eq!(mode(&home.join("token")), 0o600);

    // A directory left wide open by an older build is tightened on start, and said so.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = home.join("countersign.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(&home, &["-v", "queue"]);
    assert!(o.status.success());
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&db), 0o600);
    assert!(stderr(&o).contains("tightened"), "{}", stderr(&o));
    // `stat` agrees with the metadata above.
    let o = Command::new("stat")
        .args(["-c", "%a"])
        .arg(&home)
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        ["700", "600"]
    );
}

#[test]
fn logout_leaves_no_token_behind() {
    let env = Env::new();
    let home = env.home();
    // Two spellings of the same server, and a second server name.
    assert!(env.login().status.success());
    let other = format!("http://localhost:{}", env.addr.port());
    assert!(login(&home, &other, ALICE).status.success());
    let token = std::fs::read_to_string(home.join("token")).unwrap();
    assert!(token.contains(&env.url()) && token.contains("localhost"));

    // Plain logout removes this server's token and lists what remains.
    let o = run(&home, &["logout"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("still stored"), "{out}");
    assert!(out.contains(&format!("{ORG}@{}", env.url())), "{out}");
    assert_eq!(code(&run(&home, &["sync"])), 3);

    // --all removes every token, keychain and file.
    let o = run(&home, &["logout", "--all"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("No token is stored"), "{}", stdout(&o));
    assert!(!home.join("token").exists());
    assert_eq!(code(&run(&home, &["sync"])), 3);
}
