//! The CLI as a new user meets it (issue 9): no display, exit codes that match
//! `--help`, errors that say what is wrong and what to do, `--json` errors on stdout,
//! a readable `show`, and notes or reasons from a file or standard input.

#[path = "cli_support/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::process::Output;
use std::time::{Duration, Instant};

use countersign_api::ApprovalStatus;
use harness::*;

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn all(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o))
}

/// Runs `args` with `input` on standard input.
fn run_with_stdin(env: &Env, args: &[&str], input: &str) -> Output {
    output_with_stdin(env.cmd(args), input)
}

/// The one JSON document on stdout.
fn json_out(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", all(o)))
}

#[test]
fn without_a_display_it_says_so_and_points_to_help() {
    let env = Env::new();
    let o = env
        .cmd(&[])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", all(&o));
    let err = stderr(&o);
    assert!(err.contains("countersign --help"), "{err}");
    assert!(
        err.contains("no display") || err.contains("no desktop app"),
        "{err}"
    );
    assert!(!err.contains("panicked") && !err.contains("gtk"), "{err}");
}

#[test]
fn exit_codes_match_help() {
    let mut env = Env::new();
    let a = env.create("decided once though listed thrice");
    assert!(env.login().status.success());

    // The same id three times is one decision, not a rejection.
    let o = env.run(&["bulk-approve", &a.id, &a.id, &a.id]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(stdout(&o).matches(&format!("approved {}", a.id)).count(), 1);
    assert!(stderr(&o).contains("listed more than once"), "{}", all(&o));
    assert_eq!(env.get(&a.id).status, ApprovalStatus::Approved);

    // Not in the cache: the server is asked, and its "no such approval" is the rejection.
    let o = env.run(&["approve", "appr-nosuchthing1"]);
    assert_eq!(code(&o), 4, "{}", all(&o));
    assert!(
        stdout(&o).contains("does not exist on the server"),
        "{}",
        all(&o)
    );
    // Created after the last sync: fetched, then decided.
    let fresh = env.create("created after the last sync");
    let o = env.run(&["approve", &fresh.id]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(env.get(&fresh.id).status, ApprovalStatus::Approved);

    // Offline, an id never seen cannot be judged: an ordinary error, not a rejection.
    let short = env.create_with(countersign_api::CreateApprovalRequest {
        expires_in_secs: Some(6),
        ..Env::request("expires while the server is away")
    });
    assert!(env.run(&["sync"]).status.success());
    env.stop_server();
    let o = env.run(&["approve", "appr-nosuchthing2"]);
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(stdout(&o).contains("not fetched"), "{}", all(&o));

    // A decision that expires before it can be sent makes `sync` fail with 4.
    let o = env.run(&["approve", &short.id]);
    assert_eq!(code(&o), 0, "queued offline: {}", all(&o));
    let deadline = Instant::now() + Duration::from_secs(30);
    while chrono::Utc::now() <= short.expires_at {
        assert!(Instant::now() < deadline, "the clock does not move");
        std::thread::sleep(Duration::from_millis(100));
    }
    env.start_server();
    let o = env.run(&["sync", "--json"]);
    assert_eq!(code(&o), 4, "{}", all(&o));
    let v = json_out(&o);
    // The server may have expired it first (a rejection) or this device (expired unsent).
    assert_eq!(
        v["expired_unsent"].as_u64().unwrap() + v["rejected"].as_u64().unwrap(),
        1,
        "{v}"
    );
    assert_eq!(v["delivered"], 0, "{v}");
    let o = env.run(&["sync"]);
    assert_eq!(code(&o), 0, "nothing new failed: {}", all(&o));
}

#[test]
fn server_url_mistakes_are_explained() {
    let env = Env::new();
    // No scheme.
    let o = env.login_to(&env.addr.to_string());
    assert_eq!(code(&o), 2, "{}", all(&o));
    assert!(
        stderr(&o).contains(&format!("https://{}", env.addr)),
        "{}",
        all(&o)
    );
    assert!(!stderr(&o).contains("relative URL"), "{}", all(&o));

    // A query string would end up in every request: refused, nothing stored.
    let o = env.login_to(&format!("{}/?org={ORG}", env.url()));
    assert_eq!(code(&o), 2, "{}", all(&o));
    assert!(stderr(&o).contains("query string"), "{}", all(&o));
    assert_eq!(
        code(&env.run(&["sync"])),
        3,
        "not signed in after the refusal"
    );

    // https:// against a plain HTTP server.
    let o = env.login_to(&format!("https://{}", env.addr));
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(
        stderr(&o).contains("did not answer with TLS"),
        "{}",
        all(&o)
    );
    assert!(!stderr(&o).contains("InvalidContentType"), "{}", all(&o));

    // A web server that is not Countersign: no HTML in the terminal.
    let web = html_server();
    let o = env.login_to(&format!("http://{web}"));
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(
        stderr(&o).contains("does not look like a Countersign server"),
        "{}",
        all(&o)
    );
    assert!(!stderr(&o).contains("<html"), "{}", all(&o));
}

/// A loopback web server answering every request with a 404 HTML page.
fn html_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let body = format!("<html><body>{}</body></html>", "<p>Not here</p>".repeat(50));
            let _ = write!(
                conn,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn local_file_trouble_names_the_file_and_the_fix() {
    let env = Env::new();
    // COUNTERSIGN_HOME is a file.
    let file = env.dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let o = env
        .cmd(&["queue"])
        .env("COUNTERSIGN_HOME", &file)
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}", all(&o));
    assert!(
        stderr(&o).contains("is a file, not a directory"),
        "{}",
        all(&o)
    );
    assert!(stderr(&o).contains("COUNTERSIGN_HOME"), "{}", all(&o));
    assert!(!stderr(&o).contains("os error"), "{}", all(&o));

    // A damaged database: the path, and what to do.
    assert!(env.login().status.success());
    let db = env.home().join("countersign.db");
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().skip(100) {
        *b = 0xA5;
    }
    std::fs::write(&db, bytes).unwrap();
    for ext in ["countersign.db-wal", "countersign.db-shm"] {
        let _ = std::fs::remove_file(env.home().join(ext));
    }
    // Encrypted, a damaged header reads as a wrong key: the file is kept aside (named),
    // a new store is started, and the user is told what that means.
    let o = env.run(&["queue"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let err = stderr(&o);
    assert!(err.contains("damaged"), "{err}");
    assert!(
        err.contains(&format!("{}.unreadable-", db.display())),
        "{err}"
    );
    assert!(err.contains("never sent"), "{err}");
}

#[test]
fn json_errors_are_json_on_stdout() {
    let env = Env::new();
    let o = env.run(&["sync", "--json"]);
    assert_eq!(code(&o), 3);
    let v = json_out(&o);
    assert_eq!(v["error"]["code"], "not_configured", "{v}");
    assert_eq!(v["error"]["exit_code"], 3, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("login"));
    assert!(stderr(&o).contains("login"), "still said on stderr too");

    let o = env.run(&["queue", "--status", "weird", "--json"]);
    assert_eq!(code(&o), 2);
    let v = json_out(&o);
    assert_eq!(v["error"]["code"], "usage", "{v}");

    let o = env.run(&["approve", "not-an-id", "--json"]);
    assert_eq!(code(&o), 2, "{}", all(&o));
    assert_eq!(json_out(&o)["error"]["exit_code"], 2);
}

#[test]
fn show_prints_every_risk_field_wraps_and_shows_direction_overrides() {
    let env = Env::new();
    let words: Vec<String> = (0..196).map(|i| format!("w{i:03}")).collect();
    // U+202E is refused by the server now (issue 16 §1); a right-to-left mark still
    // arrives and must be shown, not obeyed.
    let summary = format!("{} invoice\u{200F}fdp.exe", words.join(" "));
    // The server's limit is 1,000 characters: a summary right at it.
    assert!((990..=1000).contains(&summary.chars().count()));
    let mut req = Env::request(&summary);
    req.params = serde_json::json!({"replicas": 3});
    req.risk.budget_used = Some(45);
    req.risk.budget_limit = Some(50);
    req.risk.budget_unit = Some("deploys".into());
    req.risk
        .extra
        .insert("recent_denials".into(), serde_json::json!(3));
    req.risk.extra.insert(
        "blast_radius".into(),
        serde_json::json!("production cluster eu-west-1"),
    );
    let a = env.create_with(req);
    assert!(env.login().status.success());

    let o = env
        .cmd(&["show", &a.id])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", all(&o));
    let out = stdout(&o);
    assert!(out.contains("Budget: 45/50 deploys (90%)"), "{out}");
    assert!(out.contains("Recent denials: 3"), "{out}");
    assert!(
        out.contains("Blast radius: production cluster eu-west-1"),
        "{out}"
    );
    // Wrapped: the summary spans lines, none wider than the terminal, no word lost.
    let block: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Summary: "))
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(block.len() >= 13, "{block:#?}");
    for l in &block {
        assert!(
            l.chars().count() <= 80,
            "{} columns: {l:?}",
            l.chars().count()
        );
    }
    let text = block.join(" ");
    for w in &words {
        assert!(text.contains(w.as_str()), "{w} lost");
    }
    // The override is shown, not obeyed.
    assert!(text.contains("invoice<U+200F>fdp.exe"), "{text}");
    assert!(!out.contains('\u{200F}'));
}

#[test]
fn notes_and_reason_from_a_file_or_standard_input() {
    let env = Env::new();
    let a = env.create("deny with a long reason");
    let b = env.create("approve with notes from a pipe");
    assert!(env.login().status.success());

    let reason_file = env.dir.path().join("reason.txt");
    std::fs::write(&reason_file, "Outside the change window\n").unwrap();
    let notes = "Checked with the on-call.\nSee ticket OPS-1234.\n";
    let o = run_with_stdin(
        &env,
        &[
            "deny",
            &a.id,
            "--reason-file",
            reason_file.to_str().unwrap(),
            "--notes-file",
            "-",
        ],
        notes,
    );
    assert_eq!(code(&o), 0, "{}", all(&o));
    let d = env.get(&a.id).decision.expect("decided");
    assert_eq!(d.reason.as_deref(), Some("Outside the change window"));
    assert_eq!(
        d.notes.as_deref(),
        Some("Checked with the on-call.\nSee ticket OPS-1234.")
    );

    let o = run_with_stdin(
        &env,
        &["approve", &b.id, "--notes-file", "-"],
        "Fine by me\n",
    );
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(
        env.get(&b.id).decision.unwrap().notes.as_deref(),
        Some("Fine by me")
    );

    // Both from standard input cannot work; a missing file is named.
    let c = env.create("usage mistakes");
    assert!(env.run(&["sync"]).status.success());
    let o = env.run(&["deny", &c.id, "--reason-file", "-", "--notes-file", "-"]);
    assert_eq!(code(&o), 2, "{}", all(&o));
    assert!(stderr(&o).contains("standard input"), "{}", all(&o));
    let o = env.run(&["deny", &c.id, "--reason-file", "/nonexistent/reason.txt"]);
    assert_eq!(code(&o), 2, "{}", all(&o));
    assert!(
        stderr(&o).contains("/nonexistent/reason.txt"),
        "{}",
        all(&o)
    );
    let o = env.run(&["approve", &c.id, "--notes", "x", "--notes-file", "-"]);
    assert_eq!(code(&o), 2, "{}", all(&o));
    assert_eq!(env.get(&c.id).status, ApprovalStatus::Pending);
}
