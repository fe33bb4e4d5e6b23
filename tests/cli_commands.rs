//! The `countersign` CLI end to end against the real server: output, `--json`,
//! offline queuing, exit codes.

#[path = "cli_support/harness.rs"]
mod harness;

use countersign_api::{ApprovalStatus, Stats};
use harness::*;

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn usage_and_auth_errors_have_their_own_exit_codes() {
    let env = Env::new();
    assert_eq!(code(&env.run(&["frobnicate"])), 2);
    assert_eq!(
        code(&env.run(&["deny", "appr-001"])),
        2,
        "deny needs --reason"
    );
    assert_eq!(code(&env.run(&["queue", "--status", "weird"])), 2);
    assert_eq!(code(&env.run(&["stats", "--from", "yesterday-ish"])), 2);
    assert_eq!(code(&env.run(&["--help"])), 0);
    // Not signed in yet.
    let o = env.run(&["sync"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("login"));
    // A token the server refuses.
    let mut c = env
        .cmd(&[
            "login",
            "--server",
            &env.url(),
            "--org",
            ORG,
            "--token-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin.take().unwrap().write_all(b"wrong-token\n").unwrap();
    let o = c.wait_with_output().unwrap();
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    // A refused token is not stored.
    assert!(!env.home().join("token").exists());
}

#[test]
fn queue_show_decide_stats_outbox_logout() {
    let mut env = Env::new();
    let mine = env.create("Deploy app:v9 to production namespace");
    let contested = env.create("Bob will take this one");
    let offline = env.create("Decided on a train");

    let o = env.login();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Signed in to org-demo as alice"));
    assert!(
        stderr(&o).contains("no OS keychain"),
        "fallback is announced"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.home().join("token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The token never lands in the database.
    let db = std::fs::read(env.home().join("countersign.db")).unwrap();
    assert!(!db.windows(ALICE.len()).any(|w| w == ALICE.as_bytes()));

    // Human table: glyph, id, agent, action, reason, age, then the summary.
    let o = env.run(&["queue", "--agent", "cli-bot"]);
    assert!(o.status.success());
    let text = stdout(&o);
    let line = text.lines().find(|l| l.contains(&mine.id)).unwrap();
    assert!(line.starts_with("⏳ "), "{line}");
    assert!(
        line.contains("cli-bot")
            && line.contains("k8s:deploy")
            && line.contains("requires_approval")
    );
    assert!(line.trim_end().ends_with("just now"), "{line}");
    assert!(text.contains("Deploy app:v9 to production namespace"));

    // JSON is parseable and filtered.
    let o = env.run(&["queue", "--search", "train", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["items"][0]["id"], offline.id.as_str());

    let o = env.run(&["show", &mine.id, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["approval"]["id"], mine.id.as_str());
    assert_eq!(v["status"], "pending");
    let o = env.run(&["show", &mine.id]);
    assert!(stdout(&o).contains(&format!("APPROVAL DETAIL {}", mine.id)));
    assert!(stdout(&o).contains("AUDIT TRAIL"));

    // Approve online: applied at once.
    let o = env.run(&["approve", &mine.id, "--notes", "Reviewed deployment plan"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains(&format!("approved {}", mine.id)));
    assert_eq!(env.get(&mine.id).status, ApprovalStatus::Approved);
    // Twice: refused locally.
    assert_eq!(code(&env.run(&["approve", &mine.id])), 4);

    // Someone else decided meanwhile: server rejection, exit 4, says who.
    let r = env
        .http()
        .post(env.api(&format!("/{}/approve", contested.id)))
        .bearer_auth(BOB)
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let o = env.run(&[
        "deny",
        &contested.id,
        "--reason",
        "Not approved during code freeze",
    ]);
    assert_eq!(code(&o), 4, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("bob approved it at"), "{}", stdout(&o));
    assert!(stdout(&o).contains("was not applied"));
    let o = env.run(&["outbox", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["state"], "rejected");
    // Dismiss acknowledges it: hidden from `outbox`, kept by `outbox --all`.
    let o = env.run(&["dismiss", &contested.id]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("Dismissed rejected deny"),
        "{}",
        stdout(&o)
    );
    let o = env.run(&["outbox", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().is_empty(), "{v}");
    let o = env.run(&["outbox", "--all", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let kept: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["approval_id"] == contested.id.as_str())
        .collect();
    assert_eq!(kept.len(), 1, "{v}");
    assert!(kept[0]["dismissed_at"].is_string(), "{v}");
    let o = env.run(&["dismiss", &contested.id]);
    assert_eq!(code(&o), 2, "nothing left to dismiss: {}", stderr(&o));
    assert!(stderr(&o).contains("already dismissed"), "{}", stderr(&o));

    // Offline: queued, said so, exit 0; delivered by the next sync.
    env.stop_server();
    let o = env.run(&["deny", &offline.id, "--reason", "End of day cleanup"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("queued, will be sent when online"));
    let o = env.run(&["dismiss", &offline.id]);
    assert_eq!(code(&o), 2, "a queued decision is not dismissable");
    assert!(stderr(&o).contains("still queued"), "{}", stderr(&o));
    let o = env.run(&["outbox"]);
    assert!(stdout(&o).contains(&offline.id));
    assert!(stdout(&o).contains("queued"));
    assert_eq!(
        code(&env.run(&["sync"])),
        1,
        "server down is an ordinary error"
    );
    env.start_server();
    let o = env.run(&["sync", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["delivered"], 1);
    assert_eq!(v["remaining"], 0);
    assert_eq!(env.get(&offline.id).status, ApprovalStatus::Denied);

    // Stats from the cache, same shape as the server's.
    let o = env.run(&["stats", "--json"]);
    let local: Stats = serde_json::from_slice(&o.stdout).unwrap();
    let server = env.server_stats();
    assert_eq!(local.totals, server.totals);
    let o = env.run(&["stats", "--from", "2000-01-01"]);
    assert!(stdout(&o).contains("BY AGENT") && stdout(&o).contains("cli-bot"));

    // Bulk over several ids, one of which is already decided.
    let a = env.create("bulk a");
    let b = env.create("bulk b");
    assert!(env.run(&["sync"]).status.success());
    let o = env.run(&[
        "bulk-deny",
        &a.id,
        &b.id,
        &mine.id,
        "--reason",
        "End of day cleanup",
    ]);
    assert_eq!(code(&o), 4, "one was skipped: {}", stdout(&o));
    assert!(stdout(&o).contains(&format!("{} not decided: already approved", mine.id)));
    assert_eq!(env.get(&a.id).status, ApprovalStatus::Denied);
    assert_eq!(env.get(&b.id).status, ApprovalStatus::Denied);

    // Logout forgets the token.
    assert!(env.run(&["logout"]).status.success());
    assert_eq!(code(&env.run(&["sync"])), 3);
    assert!(!env.home().join("token").exists());
}

#[test]
fn a_reason_without_a_visible_character_is_a_usage_error_and_nothing_is_queued() {
    let env = Env::new();
    let a = env.create("Deny me with a real reason");
    let o = env.login();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(env.run(&["sync"]).status.success());
    // Zero-width space (the reported defect), its friends, a braille blank, a NUL-free
    // control character: each refused by the API's one rule, before anything is queued.
    for reason in [
        "\u{200B}",
        "\u{200B}\u{200D}\u{FEFF}",
        "\u{2800}",
        "\u{3164}",
        "ok\u{1B}",
    ] {
        let o = env.run(&["deny", &a.id, "--reason", reason]);
        assert_eq!(code(&o), 2, "{reason:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("reason"), "{reason:?}: {}", stderr(&o));
        let o = env.run(&["bulk-deny", &a.id, "--reason", reason]);
        assert_eq!(code(&o), 2, "bulk {reason:?}: {}", stderr(&o));
    }
    let o = env.run(&["outbox", "--all", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
    assert_eq!(env.get(&a.id).status, ApprovalStatus::Pending);
    // An org id add-token would refuse is refused at login too.
    let c = env.cmd(&[
        "login",
        "--server",
        &env.url(),
        "--org",
        "bad org/..",
        "--token-stdin",
    ]);
    let o = output_with_stdin(c, &format!("{ALICE}\n"));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("org id"), "{}", stderr(&o));
}

/// The CLI shows the same risk chips as the app (the core computes them once).
#[test]
fn list_and_show_name_the_risks() {
    let env = Env::new();
    let mut req = Env::request("Spend the rest of the budget");
    req.risk.budget_used = Some(48);
    req.risk.budget_limit = Some(50);
    req.policy_trace = vec![countersign_api::TraceStep {
        step: "budget_check".into(),
        result: countersign_api::TraceResult::Fail,
        detail: None,
    }];
    let risky = env.create_with(req);
    let calm = env.create("Nothing to worry about");
    assert!(env.login().status.success());
    let o = env.run(&["queue"]);
    let out = stdout(&o);
    let line = |id: &str| {
        let lines: Vec<&str> = out.lines().collect();
        let at = lines.iter().position(|l| l.contains(id)).unwrap();
        lines[at + 1].to_string()
    };
    assert!(
        line(&risky.id).contains("[1 step failed]  [budget 96%]"),
        "{out}"
    );
    assert!(!line(&calm.id).contains('['), "{out}");
    let o = env.run(&["show", &risky.id]);
    assert!(
        stdout(&o).contains("Risks:   1 step failed, budget 96%"),
        "{}",
        stdout(&o)
    );
}
