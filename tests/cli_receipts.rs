//! Receipts through the real `countersign` binary: the device key made at login, a
//! decision queued offline signed when it was made, and `verify-receipt` checking the
//! result offline as an executor would.

#[path = "cli_support/harness.rs"]
mod cli_support;

use chrono::Utc;
use cli_support::*;
use countersign_api::{Approval, DeviceList};
use serde_json::Value;

fn devices(env: &Env) -> Value {
    env.http()
        .get(format!("{}/api/v1/orgs/{ORG}/devices", env.url()))
        .bearer_auth(AGENT)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The approval as the agent reads it once decided (`?wait=` long-poll).
fn agent_view(env: &Env, id: &str) -> Value {
    env.http()
        .get(env.api(&format!("/{id}?wait=10")))
        .bearer_auth(AGENT)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn an_offline_decision_is_signed_when_made_and_verifies_offline() {
    let mut env = Env::new();
    let a = env.create("Deploy the signed build");
    let o = env.login();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("signed with its key dev-"),
        "{}",
        stdout(&o)
    );
    let list: DeviceList = serde_json::from_value(devices(&env)).unwrap();
    assert_eq!(list.items.len(), 1, "login registers one device key");
    assert!(list.items[0].name.starts_with("Countersign on "));

    // Decided with the link down: the receipt is made then, and kept with the queued
    // decision while the server is unreachable.
    env.stop_server();
    let o = env.run(&["approve", &a.id, "--notes", "ship it"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = env.run(&["outbox", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let queued: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let row = queued
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["approval_id"] == a.id.as_str()))
        .unwrap_or_else(|| panic!("queued row in {queued}"))
        .clone();
    let offline_receipt: countersign_api::Receipt =
        serde_json::from_value(row["receipt"].clone()).expect("signed while offline");
    let queued_at: chrono::DateTime<Utc> =
        serde_json::from_value(row["decided_at"].clone()).unwrap();
    assert_eq!(
        offline_receipt.signed.decided_at.timestamp_millis(),
        queued_at.timestamp_millis(),
        "signed when the approver decided"
    );
    env.start_server();
    let back = Utc::now();
    let o = env.run(&["sync"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let approval_json = agent_view(&env, &a.id);
    let approval: Approval = serde_json::from_value(approval_json.clone()).unwrap();
    let d = approval.decision.as_ref().expect("decided");
    let r = d
        .receipt
        .as_ref()
        .expect("the decision carries its receipt");
    assert_eq!(
        r, &offline_receipt,
        "the receipt made offline is the one delivered"
    );
    assert_eq!(r.key_id, list.items[0].key_id);
    // A v2 receipt: it names the approver and the server database it was made for.
    assert_eq!(r.signed.v, Some(2));
    assert_eq!(r.signed.signer.as_deref(), Some(d.by.as_str()));
    assert!(r.signed.epoch.is_some());
    assert!(
        d.at >= back - chrono::Duration::seconds(1),
        "applied after the link came back"
    );
    let trail = env.audit(&a.id);
    assert_eq!(trail.entries[1].data["device"], list.items[0].name.as_str());

    // verify-receipt: first online (keys from the server, then cached)...
    let file = env.dir.path().join("approval.json");
    std::fs::write(&file, approval_json.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let o = env.run(&["verify-receipt", file]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("Verified"), "{}", stdout(&o));
    // ...then offline: from the cache, or from a keys file.
    let keys = env.dir.path().join("keys.json");
    std::fs::write(&keys, devices(&env).to_string()).unwrap();
    env.stop_server();
    let o = env.run(&["verify-receipt", file, "--json"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["keys_from"], "cache");
    let o = env.run(&["verify-receipt", file, "--keys", keys.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    // What the executor would run differs from what was approved: exit 5.
    let mut forged = approval_json.clone();
    forged["params"]["n"] = "Deploy something else".into();
    let forged_file = env.dir.path().join("forged.json");
    std::fs::write(&forged_file, forged.to_string()).unwrap();
    let o = env.run(&["verify-receipt", forged_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("params_sha256"), "{}", stderr(&o));
    // The same receipt credited to another approver (signer != decider): exit 5.
    let mut borrowed = approval_json.clone();
    borrowed["decision"]["by"] = "someone-else".into();
    std::fs::write(&forged_file, borrowed.to_string()).unwrap();
    let o = env.run(&["verify-receipt", forged_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("someone-else"), "{}", stderr(&o));
    // A signature tampered with, in the {receipt, approval} shape.
    let mut receipt = approval_json["decision"]["receipt"].clone();
    let sig = receipt["signature"].as_str().unwrap().to_string();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    receipt["signature"] = format!("{flipped}{}", &sig[1..]).into();
    let pair = serde_json::json!({"receipt": receipt, "approval": approval_json});
    let pair_file = env.dir.path().join("pair.json");
    std::fs::write(&pair_file, pair.to_string()).unwrap();
    let o = env.run(&["verify-receipt", pair_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));
    // An unsigned decision has nothing to verify; unreadable input is a usage error.
    let mut unsigned = approval_json.clone();
    unsigned["decision"]
        .as_object_mut()
        .unwrap()
        .remove("receipt");
    std::fs::write(&forged_file, unsigned.to_string()).unwrap();
    let o = env.run(&["verify-receipt", forged_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5));
    assert!(stderr(&o).contains("no receipt"), "{}", stderr(&o));
    std::fs::write(&forged_file, "[1, 2").unwrap();
    let o = env.run(&["verify-receipt", forged_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
