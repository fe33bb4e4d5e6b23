//! Quorum in the CLI (issue 8 §4): `queue` shows "1/2", `--status waiting` lists what
//! I approved and waits for others, `show` lists who approved.

#[path = "cli_support/harness.rs"]
mod harness;

use countersign_api::{ApprovalStatus, CreateApprovalRequest};
use harness::*;

#[test]
fn a_quorum_approval_waits_for_others_after_my_approve() {
    let env = Env::new();
    let q = env.create_with(CreateApprovalRequest {
        required_approvals: Some(2),
        ..Env::request("Drop the orders table")
    });
    assert!(env.login().status.success());
    assert!(env.run(&["sync"]).status.success());
    let o = env.run(&["queue"]);
    assert!(stdout(&o).contains("[0/2 approvals]"), "{}", stdout(&o));

    let o = env.run(&["approve", &q.id, "--notes", "backup verified"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(env.get(&q.id).status, ApprovalStatus::Pending);
    assert!(env.run(&["sync"]).status.success());

    let o = env.run(&["show", &q.id]);
    let out = stdout(&o);
    assert!(out.contains("waiting for others (you approved)"), "{out}");
    assert!(out.contains("APPROVALS\n  1 of 2 approvals"), "{out}");
    assert!(out.contains("alice ✓"), "{out}");
    assert!(out.contains("Notes: backup verified"), "{out}");

    // Not pending for me any more; listed under waiting.
    let pending = stdout(&env.run(&["queue"]));
    assert!(!pending.contains(&q.id), "{pending}");
    let waiting = stdout(&env.run(&["queue", "--status", "waiting"]));
    assert!(waiting.contains(&q.id), "{waiting}");
    assert!(waiting.contains("[1/2 approvals]"), "{waiting}");
    assert!(waiting.contains("waiting for others"), "{waiting}");
    // And not offered again.
    let o = env.run(&["approve", &q.id]);
    assert!(!o.status.success());
    assert!(
        format!("{}{}", stdout(&o), stderr(&o)).contains("you already approved it"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );

    // Bob completes it.
    let r = env
        .http()
        .post(env.api(&format!("/{}/approve", q.id)))
        .bearer_auth(BOB)
        .json(&serde_json::json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(env.run(&["sync"]).status.success());
    let out = stdout(&env.run(&["show", &q.id]));
    assert!(out.contains("Status:  ✓ approved"), "{out}");
    assert!(out.contains("2 of 2 approvals"), "{out}");
    assert!(stdout(&env.run(&["queue", "--status", "waiting"])).contains("0 of 0 shown"));
}
