//! A revoked token in the CLI (issue 16 §3): "signed out" with its own exit code (6),
//! the cache still readable, the decision still queued and sent once after `login`.

#[path = "cli_support/harness.rs"]
mod harness;

use countersign_api::{ApprovalStatus, Role};
use countersign_server::db::tokens::{hash_token, public_id};
use countersign_server::RevokeTarget;
use harness::*;

const EXIT_SIGNED_OUT: i32 = 6;

fn login_with(env: &Env, token: &str) {
    let mut c = env.cmd(&[]);
    c.args([
        "login",
        "--server",
        &env.url(),
        "--org",
        ORG,
        "--token-stdin",
    ]);
    let o = output_with_stdin(c, &format!("{token}\n"));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_revoked_token_exits_6_keeps_the_decision_queued_and_a_new_login_sends_it() {
    let env = Env::new();
    let first = countersign_server::add_token(&env.db, ORG, Role::Approver, "alice").unwrap();
    let a = env.create("Rotate the signing key");
    login_with(&env, &first);
    assert!(env.run(&["sync"]).status.success());
    countersign_server::revoke_tokens(&env.db, RevokeTarget::Id(&public_id(&hash_token(&first))))
        .unwrap();

    let o = env.run(&["approve", &a.id, "--notes", "rotating now"]);
    assert_eq!(
        o.status.code(),
        Some(EXIT_SIGNED_OUT),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        said.contains("signed out") && said.contains("login"),
        "{said}"
    );
    let o = env.run(&["sync"]);
    assert_eq!(o.status.code(), Some(EXIT_SIGNED_OUT), "{}", stderr(&o));
    let o = env.run(&["sync", "--json"]);
    assert_eq!(o.status.code(), Some(EXIT_SIGNED_OUT));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON error");
    assert_eq!(report["error"]["code"], "signed_out", "{report}");
    assert_eq!(report["error"]["exit_code"], EXIT_SIGNED_OUT, "{report}");

    // The cache is still there; the decision is still queued; nothing reached the server.
    let o = env.run(&["show", &a.id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = env.run(&["outbox"]);
    assert!(stdout(&o).contains(&a.id), "{}", stdout(&o));
    assert_eq!(env.get(&a.id).status, ApprovalStatus::Pending);

    let second = countersign_server::add_token(&env.db, ORG, Role::Approver, "alice").unwrap();
    login_with(&env, &second);
    let o = env.run(&["sync"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let approved = env.get(&a.id);
    assert_eq!(approved.status, ApprovalStatus::Approved);
    assert_eq!(approved.decision.expect("decision").by, "alice");
}

#[test]
fn the_help_documents_the_signed_out_exit_code() {
    let env = Env::new();
    let o = env.run(&["--help"]);
    assert!(stdout(&o).contains("6 signed out"), "{}", stdout(&o));
}
