//! The `countersign-server` binary itself: flags, demo banner, /healthz, and a clean
//! exit on SIGTERM and SIGINT.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_countersign-server");

/// Starts the binary on an ephemeral port and returns it with its base URL and banner.
fn start(db: &std::path::Path, extra: &[&str]) -> (Child, String, Vec<String>) {
    let mut child = Command::new(BIN)
        .args(["--demo", "--addr", "127.0.0.1:0", "--expiry", "90m", "--db"])
        .arg(db)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(5)
        .map(|l| l.expect("banner line"))
        .collect();
    let base = lines[0]
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("banner names the URL")
        .to_string();
    (child, base, lines)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit on the signal"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(ok.success());
}

#[test]
fn demo_banner_health_and_clean_exit_on_sigterm_and_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bin.db");
    let (mut child, base, banner) = start(&db, &[]);
    let banner = banner.join("\n");
    for needle in [
        "org-demo",
        "demo-approver-token",
        "demo-approver2-token",
        "demo-agent-token",
    ] {
        assert!(banner.contains(needle), "banner lacks {needle}: {banner}");
    }
    let health = reqwest::blocking::get(format!("{base}/healthz")).expect("healthz");
    assert!(health.status().is_success());
    // --expiry 90m applies to the seed.
    let a: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/orgs/org-demo/approvals/appr-abc123"))
        .bearer_auth("demo-approver-token")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(a["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(a["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, chrono::Duration::minutes(90));
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());

    // Same file again, stopped with SIGINT this time.
    let (mut child, base, _) = start(&db, &[]);
    assert!(reqwest::blocking::get(format!("{base}/healthz"))
        .unwrap()
        .status()
        .is_success());
    signal(&child, "-INT");
    assert!(wait_exit(&mut child).success());
}

#[test]
fn bad_flags_are_refused() {
    for args in [
        vec!["--expiry", "soon"],
        vec!["--addr", "not-an-address"],
        vec!["verify-audit"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["verify-audit", "--db"])
        .arg(dir.path().join("missing.db"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "verify-audit on a missing file fails"
    );
}

/// `--quorum PATTERN=N`: repeatable, applied to what agents raise; nonsense is refused
/// with the rule named.
#[test]
fn quorum_rules_from_the_command_line() {
    for bad in ["kubernetes:*", "kubernetes:*=9", "=2"] {
        let out = Command::new(BIN).args(["--quorum", bad]).output().unwrap();
        assert!(!out.status.success(), "--quorum {bad} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid quorum rule"), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, _) = start(
        &dir.path().join("quorum.db"),
        &["--quorum", "kubernetes:*=2", "--quorum", "payments:*=3"],
    );
    let http = reqwest::blocking::Client::new();
    for (action, want) in [
        ("kubernetes:deploy", 2),
        ("payments:send", 3),
        ("db:read", 1),
    ] {
        let body: serde_json::Value = http
            .post(format!("{base}/api/v1/orgs/org-demo/approvals"))
            .bearer_auth("demo-agent-token")
            .json(&serde_json::json!({
                "agent": {"id": "deployment-bot"}, "action": action, "summary": "s",
                "reason_code": "r", "reason_text": "r"
            }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(body["required_approvals"], want, "{action}: {body}");
    }
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());
}

/// `countersign-server --demo | head -1`: the reader of stdout goes away before the banner is
/// written. The server keeps serving (it used to panic in `println!` on EPIPE and exit).
#[test]
fn keeps_serving_after_its_stdout_reader_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["--demo", "--addr", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("closed.db"))
        // The failed banner write is logged at debug: the test waits for it rather than
        // guessing when the banner has been tried.
        .env("RUST_LOG", "info,countersign_server=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    // Close the read end before the server has written anything.
    drop(child.stdout.take());
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = Vec::new();
    let mut port = None;
    let mut banner_tried = false;
    let mut line = String::new();
    while !(port.is_some() && banner_tried) {
        line.clear();
        let n = stderr.read_line(&mut line).expect("stderr readable");
        assert!(
            n > 0,
            "server exited before serving with its stdout closed: {seen:#?}"
        );
        if line.contains("countersign-server listening") {
            let at = line.find("127.0.0.1:").expect("log names the address") + "127.0.0.1:".len();
            let digits: String = line[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            port = Some(digits);
        }
        banner_tried |= line.contains("reader gone");
        seen.push(line.trim_end().to_string());
    }
    // Keep draining stderr so request logs never block the server.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let base = format!("http://127.0.0.1:{}", port.expect("port"));
    for _ in 0..2 {
        let health = reqwest::blocking::get(format!("{base}/healthz")).expect("healthz");
        assert!(health.status().is_success());
    }
    assert!(child.try_wait().unwrap().is_none(), "server still running");
    signal(&child, "-TERM");
    assert!(wait_exit(&mut child).success());
}
