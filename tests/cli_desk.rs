//! `countersign show` and `stats` with the approver's desk (issue 8 §1–2) against the
//! real server: the outcome an agent reported, this agent's recent activity and the
//! parameter changes since the last approval, as text and `--json`.

#[path = "cli_support/harness.rs"]
mod harness;

use harness::*;
use serde_json::{json, Value};

fn json_of(o: &std::process::Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn show_and_stats_tell_the_outcome_the_activity_and_the_changes() {
    let env = Env::new();
    let mut req = Env::request("Scale web to 3");
    req.params = json!({"spec": {"replicas": 3}, "image": "web:v1"});
    let first = env.create_with(req);
    let mut req = Env::request("Scale web to 100");
    req.params = json!({"spec": {"replicas": 100}, "image": "web:v1"});
    let denied = env.create_with(req);
    let mut req = Env::request("Scale web to 5");
    req.params = json!({"spec": {"replicas": 5}, "image": "web:v1", "force": true});
    let current = env.create_with(req);

    let post = |path: String, token: &str, body: Value| {
        let r = env
            .http()
            .post(env.api(&path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    };
    post(
        format!("/{}/approve", first.id),
        BOB,
        json!({"notes": "capacity checked"}),
    );
    post(
        format!("/{}/deny", denied.id),
        BOB,
        json!({"reason": "far too many replicas"}),
    );
    let before = env
        .server_stats()
        .executions
        .expect("the server counts outcomes");
    // The agent reports its failure, with output that is not to be trusted.
    post(
        format!("/{}/result", first.id),
        AGENT,
        json!({"outcome": "failed", "output": {"error": "quota exceeded <img src=x onerror=alert(1)>", "code": 137}}),
    );

    assert!(env.login().status.success());
    let o = env.run(&["sync"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The outcome: in the queue, in show, and in --json as the server sent it.
    let o = env.run(&["queue", "--status", "approved"]);
    let text = stdout(&o);
    assert!(text.contains("[failed ✗]"), "{text}");
    let o = env.run(&["show", &first.id]);
    let text = stdout(&o);
    assert!(text.contains("OUTCOME\n  ✗ failed (reported "), "{text}");
    assert!(
        text.contains(r#""error": "quota exceeded <img src=x onerror=alert(1)>""#),
        "{text}"
    );
    // The first request of its kind has nothing to compare with.
    assert!(text.contains("First request of its kind"), "{text}");
    let v = json_of(&env.run(&["show", &first.id, "--json"]));
    assert_eq!(v["approval"]["execution"]["outcome"], "failed");
    assert_eq!(v["params_diff"], Value::Null);
    assert_eq!(v["recent_activity"]["last_7_days"]["denied"], 1);

    // The context of the pending request.
    let o = env.run(&["show", &current.id]);
    let text = stdout(&o);
    assert!(
        text.contains("Last 7 days:  2 requests — 1 approved, 1 denied, 0 expired, 0 pending"),
        "{text}"
    );
    assert!(
        text.contains(&format!("✗ {}  denied by bob", denied.id)),
        "{text}"
    );
    assert!(text.contains("Reason: far too many replicas"), "{text}");
    assert!(text.contains("Notes: capacity checked"), "{text}");
    assert!(
        text.contains(&format!("Compared with {}, approved by bob", first.id)),
        "{text}"
    );
    assert!(text.contains("  + force: true\n"), "{text}");
    assert!(text.contains("  ~ spec.replicas: 3 → 5\n"), "{text}");
    assert!(text.contains("1 unchanged value"), "{text}");

    let v = json_of(&env.run(&["show", &current.id, "--json"]));
    // The detail's own fields stay where they were.
    assert_eq!(v["approval"]["id"], current.id.as_str());
    let ra = &v["recent_activity"];
    assert_eq!(ra["agent"], "cli-bot");
    assert_eq!(ra["last_30_days"]["approved"], 1);
    assert_eq!(ra["last_30_days"]["denied"], 1);
    assert_eq!(ra["recent_decisions"].as_array().unwrap().len(), 2);
    assert_eq!(ra["recent_decisions"][0]["id"], denied.id.as_str());
    assert_eq!(ra["recent_decisions"][0]["decision"]["by"], "bob");
    let pd = &v["params_diff"];
    assert_eq!(pd["against"]["id"], first.id.as_str());
    assert_eq!(pd["diff"]["added"], 1);
    assert_eq!(pd["diff"]["changed"], 1);
    assert_eq!(pd["diff"]["unchanged_count"], 1);
    assert_eq!(
        pd["diff"]["entries"][1],
        json!({"path": "spec.replicas", "change": "changed", "old": "3", "new": "5"})
    );

    // Stats: the share of approved actions that failed, the same locally and on the
    // server (which also holds the demo data's outcomes), and this failure counted.
    let x = env
        .server_stats()
        .executions
        .expect("the server counts outcomes");
    assert_eq!(
        (x.succeeded, x.failed, x.not_reported),
        (before.succeeded, before.failed + 1, before.not_reported - 1)
    );
    let v = json_of(&env.run(&["stats", "--json"]));
    assert_eq!(
        v["executions"],
        json!({"succeeded": x.succeeded, "failed": x.failed, "not_reported": x.not_reported})
    );
    let o = env.run(&["stats"]);
    let share = x.failed as f64 * 100.0 / (x.succeeded + x.failed + x.not_reported) as f64;
    let line = format!(
        "approved actions that failed: {share:.1}% ({} failed, {} executed, {} not reported)",
        x.failed, x.succeeded, x.not_reported
    );
    assert!(stdout(&o).contains(&line), "{line}\n{}", stdout(&o));
}
