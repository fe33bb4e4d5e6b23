//! Demo mode: the org, tokens and approvals of the product document, a few weeks of
//! varied history for the stats view, and an optional trickle of new requests.

use chrono::{DateTime, Duration, Utc};
use countersign_api::{
    AgentRef, Approval, ApprovalStatus, AuditEvent, CreateApprovalRequest, Decision, DecisionKind,
    ExecutionOutcome, ExecutionResult, RiskSnapshot, Role, TraceResult, TraceStep,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::audit::{self, NewEntry, SYSTEM_ACTOR};
use crate::db::rows::{insert_approval, next_change_seq};
use crate::db::schema::{meta_get, meta_set};
use crate::db::tokens::{
    bind_agents, get_by_hash, hash_token, insert_token_with, TokenOptions, TokenOwner,
};
use crate::db::{now, Db};
use crate::error::ServerError;
use crate::state::AppState;

pub const DEMO_ORG: &str = "org-demo";
pub const APPROVER_TOKEN: &str = "demo-approver-token";
pub const APPROVER2_TOKEN: &str = "demo-approver2-token";
pub const AGENT_TOKEN: &str = "demo-agent-token";
pub const APPROVER: &str = "alice";
pub const APPROVER2: &str = "bob";
pub const AGENT: &str = "policy-engine";

/// The agent ids the demo data uses: the demo agent token is bound to exactly these
/// (`add-token --agent …`), so it can raise, read and record results for them only.
pub const DEMO_AGENTS: [&str; 7] = [
    "deployment-bot",
    "customer-bot",
    "analytics-bot",
    "billing-bot",
    "infra-bot",
    "support-bot",
    "xss-bot",
];

const SEEDED_KEY: &str = "demo_seeded";
/// Number of decided/expired approvals spread over the last four weeks.
const HISTORY: usize = 60;

/// The demo tokens, for printing at start: (token, subject, role).
pub fn tokens() -> [(&'static str, &'static str, Role); 3] {
    [
        (APPROVER_TOKEN, APPROVER, Role::Approver),
        (APPROVER2_TOKEN, APPROVER2, Role::Approver),
        (AGENT_TOKEN, AGENT, Role::Agent),
    ]
}

fn agent(id: &str, name: &str, version: &str) -> AgentRef {
    AgentRef {
        id: id.to_string(),
        name: Some(name.to_string()),
        version: Some(version.to_string()),
    }
}

fn step(name: &str, result: TraceResult, detail: Option<&str>) -> TraceStep {
    TraceStep {
        step: name.to_string(),
        result,
        detail: detail.map(str::to_string),
    }
}

/// The engine's usual evaluation: three passes, then the step that escalated.
fn trace(escalating: &str, detail: &str) -> Vec<TraceStep> {
    vec![
        step("manifest_validation", TraceResult::Pass, None),
        step("capability_token", TraceResult::Pass, None),
        step("action_type", TraceResult::Pass, None),
        step(escalating, TraceResult::Escalate, Some(detail)),
    ]
}

fn budget(used: u64, limit: u64) -> RiskSnapshot {
    RiskSnapshot {
        budget_used: Some(used),
        budget_limit: Some(limit),
        budget_unit: Some("actions".to_string()),
        extra: Default::default(),
    }
}

/// A request template: what an agent asks for and why it escalated.
struct Template {
    agent: (&'static str, &'static str, &'static str),
    action: &'static str,
    reason_code: &'static str,
    step: &'static str,
    detail: &'static str,
    summary: fn(u32) -> String,
    params: fn(u32) -> Value,
}

fn templates() -> Vec<Template> {
    vec![
        Template {
            agent: ("deployment-bot", "Deployment Bot", "v2.1.0"),
            action: "kubernetes:deploy",
            reason_code: "requires_approval",
            step: "tool_authorization",
            detail: "requires approval",
            summary: |n| format!("Deploy app:v2.{}.{} to production namespace", n % 7, n % 4),
            params: |n| json!({"namespace": "production", "image": format!("app:v2.{}.{}", n % 7, n % 4), "replicas": 3}),
        },
        Template {
            agent: ("deployment-bot", "Deployment Bot", "v2.1.0"),
            action: "kubernetes:scale",
            reason_code: "requires_approval",
            step: "tool_authorization",
            detail: "requires approval",
            summary: |n| format!("Scale checkout-service to {} replicas", 4 + n % 9),
            params: |n| json!({"namespace": "production", "deployment": "checkout-service", "replicas": 4 + n % 9}),
        },
        Template {
            agent: ("customer-bot", "Customer Bot", "v1.4.2"),
            action: "crm:delete",
            reason_code: "amount_threshold",
            step: "amount_threshold",
            detail: "record count above 100",
            summary: |n| format!("Delete {} records matching filter", 120 + (n * 37) % 900),
            params: |n| json!({"object": "contact", "filter": {"last_activity_before": "2023-01-01"}, "count": 120 + (n * 37) % 900}),
        },
        Template {
            agent: ("customer-bot", "Customer Bot", "v1.4.2"),
            action: "crm:update_bulk",
            reason_code: "amount_threshold",
            step: "amount_threshold",
            detail: "record count above 100",
            summary: |n| format!("Update owner on {} accounts", 150 + (n * 13) % 400),
            params: |n| json!({"object": "account", "set": {"owner": "team-emea"}, "count": 150 + (n * 13) % 400}),
        },
        Template {
            agent: ("analytics-bot", "Analytics Bot", "v3.0.1"),
            action: "export:run",
            reason_code: "new_counterparty",
            step: "counterparty_check",
            detail: "destination not seen before",
            summary: |n| format!("Export data to partner-{}.example.com", n % 5),
            params: |n| json!({"dataset": "orders_weekly", "destination": format!("https://partner-{}.example.com/ingest", n % 5), "format": "parquet"}),
        },
        Template {
            agent: ("billing-bot", "Billing Bot", "v0.9.5"),
            action: "payments:refund",
            reason_code: "amount_threshold",
            step: "amount_threshold",
            detail: "refund above 1000 USD",
            summary: |n| {
                format!(
                    "Refund {} USD to customer cus_{:04}",
                    1000 + (n * 173) % 4000,
                    n * 7 % 10000
                )
            },
            params: |n| json!({"customer": format!("cus_{:04}", n * 7 % 10000), "amount": 1000 + (n * 173) % 4000, "currency": "USD"}),
        },
        Template {
            agent: ("infra-bot", "Infra Bot", "v1.2.0"),
            action: "iam:grant_role",
            reason_code: "privilege_escalation",
            step: "privilege_check",
            detail: "grants an admin role",
            summary: |n| format!("Grant roles/admin to svc-batch-{}", n % 6),
            params: |n| json!({"principal": format!("svc-batch-{}", n % 6), "role": "roles/admin", "project": "prod-core"}),
        },
        Template {
            agent: ("support-bot", "Support Bot", "v4.2.0"),
            action: "email:send_bulk",
            reason_code: "rate_limit",
            step: "rate_limit",
            detail: "more than 500 recipients",
            summary: |n| format!("Send outage notice to {} customers", 600 + (n * 91) % 3000),
            params: |n| json!({"template": "outage-notice", "recipients": 600 + (n * 91) % 3000}),
        },
    ]
}

const APPROVE_NOTES: &[&str] = &[
    "Reviewed parameters, matches the change ticket",
    "Expected as part of the weekly rollout",
    "Confirmed with the requesting team on Slack",
    "Within normal limits for this agent",
    "Approved after checking the runbook",
];
const DENY_REASONS: &[&str] = &[
    "Not approved during code freeze",
    "Destination is not on the partner list",
    "Amount exceeds what the customer is owed",
    "Needs a change ticket first",
    "Duplicate of an earlier request",
];

/// (at, approval id, event, actor, notes, reason, data) of one audit entry to write.
type SeedEvent = (
    DateTime<Utc>,
    String,
    AuditEvent,
    String,
    Option<String>,
    Option<String>,
    Value,
);

/// Everything seeded, collected first so audit entries can be appended in time order.
struct Seed {
    approvals: Vec<Approval>,
    events: Vec<SeedEvent>,
}

impl Seed {
    fn add(&mut self, a: Approval) {
        let id = a.id.clone();
        self.events.push((
            a.created_at,
            id.clone(),
            AuditEvent::Created,
            a.requested_by.clone(),
            None,
            Some(a.reason_text.clone()),
            json!({"agent": a.agent.id, "action": a.action, "reason_code": a.reason_code,
                   "expires_at": a.expires_at,
                   "params_sha256": countersign_api::receipt::params_sha256(&a.params),
                   "summary": a.summary, "required_approvals": a.required_approvals}),
        ));
        if let Some(d) = &a.decision {
            let event = match d.kind {
                DecisionKind::Approve => AuditEvent::Approved,
                DecisionKind::Deny => AuditEvent::Denied,
            };
            self.events.push((
                d.at,
                id.clone(),
                event,
                d.by.clone(),
                d.notes.clone(),
                d.reason.clone(),
                Value::Null,
            ));
        }
        if a.status == ApprovalStatus::Expired {
            self.events.push((
                a.expires_at,
                id.clone(),
                AuditEvent::Expired,
                SYSTEM_ACTOR.to_string(),
                None,
                Some("not decided before it expired".to_string()),
                json!({"expires_at": a.expires_at}),
            ));
        }
        if let Some(e) = &a.execution {
            let outcome = crate::db::rows::outcome_str(e.outcome);
            self.events.push((
                e.recorded_at,
                id,
                AuditEvent::Executed,
                a.requested_by.clone(),
                None,
                None,
                json!({"outcome": outcome, "output": e.output}),
            ));
        }
        self.approvals.push(a);
    }
}

// One positional argument per column of the document's table keeps the seed readable.
#[allow(clippy::too_many_arguments)]
fn pending(
    id: &str,
    agent: AgentRef,
    action: &str,
    summary: &str,
    reason_code: &str,
    reason_text: &str,
    params: Value,
    policy_trace: Vec<TraceStep>,
    risk: RiskSnapshot,
    created_at: DateTime<Utc>,
    expiry: Duration,
) -> Approval {
    Approval {
        id: id.to_string(),
        org_id: DEMO_ORG.to_string(),
        agent,
        action: action.to_string(),
        summary: summary.to_string(),
        status: ApprovalStatus::Pending,
        reason_code: reason_code.to_string(),
        reason_text: reason_text.to_string(),
        params,
        policy_trace,
        risk,
        created_at,
        expires_at: created_at + expiry,
        requested_by: AGENT.to_string(),
        decision: None,
        execution: None,
        required_approvals: 1,
        approvals: Vec::new(),
        change_seq: 0,
        links: None,
    }
}

fn from_template(
    t: &Template,
    n: u32,
    id: &str,
    created_at: DateTime<Utc>,
    expiry: Duration,
) -> Approval {
    let summary = (t.summary)(n);
    let reason_text = format!("{}: Action '{}' {}", t.reason_code, t.action, t.detail);
    pending(
        id,
        agent(t.agent.0, t.agent.1, t.agent.2),
        t.action,
        &summary,
        t.reason_code,
        &reason_text,
        (t.params)(n),
        trace(t.step, t.detail),
        budget(u64::from(5 + n % 40), 50),
        created_at,
        expiry,
    )
}

fn document_approvals(now: DateTime<Utc>, expiry: Duration) -> Vec<Approval> {
    let h = Duration::hours;
    let mut v = vec![
        pending(
            "appr-xyz789",
            agent("deployment-bot", "Deployment Bot", "v2.1.0"),
            "kubernetes:deploy",
            "Deploy app:v2.0.0 to production namespace",
            "requires_approval",
            "requires_approval: Action 'kubernetes:deploy' requires human approval per manifest constraints",
            json!({"namespace":"production","image":"app:v2.0.0","replicas":3,"resources":{"cpu":"500m","memory":"512Mi"}}),
            vec![
                step("manifest_validation", TraceResult::Pass, None),
                step("capability_token", TraceResult::Pass, None),
                step("action_type", TraceResult::Pass, None),
                step("tool_authorization", TraceResult::Escalate, Some("requires approval")),
            ],
            budget(12, 50),
            now - h(2),
            expiry,
        ),
        pending(
            "appr-abc123",
            agent("customer-bot", "Customer Bot", "v1.4.2"),
            "crm:delete",
            "Delete 500 records matching filter",
            "amount_threshold",
            "amount_threshold: Action 'crm:delete' affects 500 records, above the threshold of 100",
            json!({"object":"contact","filter":{"status":"inactive","last_activity_before":"2023-01-01"},"count":500}),
            trace("amount_threshold", "500 records > threshold 100"),
            budget(31, 50),
            now - h(4),
            expiry,
        ),
        pending(
            "appr-def456",
            agent("analytics-bot", "Analytics Bot", "v3.0.1"),
            "export:run",
            "Export data to partner-api.example.com",
            "new_counterparty",
            "new_counterparty: Destination 'partner-api.example.com' has not been used before",
            json!({"dataset":"customer_orders_q4","destination":"https://partner-api.example.com/ingest","format":"csv","rows":182340}),
            trace("counterparty_check", "partner-api.example.com not in known counterparties"),
            budget(7, 20),
            now - h(23),
            expiry,
        ),
        pending(
            "appr-xss001",
            agent("xss-bot", "<img src=x onerror=alert(1)>", "<script>alert('v')</script>"),
            "web:publish",
            "<script>alert('xss')</script> Publish <img src=x onerror=alert(1)> to homepage",
            "requires_approval",
            "requires_approval: <b>bold?</b> <script>alert(document.cookie)</script>",
            json!({"html":"<script>alert(1)</script>","img":"<img src=x onerror=alert(1)>","link":"javascript:alert(1)"}),
            trace("tool_authorization", "<img src=x onerror=alert(2)>"),
            budget(1, 10),
            now - Duration::minutes(50),
            expiry,
        ),
    ];
    let all = templates();
    let numbered = [
        ("appr-001", 1usize, 35i64),
        ("appr-002", 3, 70),
        ("appr-003", 5, 95),
        ("appr-004", 7, 140),
        ("appr-005", 2, 180),
    ];
    for (i, (id, t, minutes)) in numbered.into_iter().enumerate() {
        let n = u32::try_from(i).unwrap_or(0) + 11;
        v.push(from_template(
            &all[t],
            n,
            id,
            now - Duration::minutes(minutes),
            expiry,
        ));
    }
    v
}

fn history(now: DateTime<Utc>, expiry: Duration) -> Vec<Approval> {
    // Fixed seed: the same history every time, so screenshots and tests are stable.
    let mut rng = StdRng::seed_from_u64(0x00c0_ffee);
    let all = templates();
    let span_min = 28 * 24 * 60;
    let mut out = Vec::with_capacity(HISTORY);
    for i in 0..HISTORY {
        let n = u32::try_from(i).unwrap_or(0) + 100;
        let t = &all[rng.gen_range(0..all.len())];
        // Old enough to be settled under the default expiry, but within four weeks.
        let created =
            now - expiry - Duration::hours(1) - Duration::minutes(rng.gen_range(0..span_min));
        let mut a = from_template(t, n, &format!("appr-h{:03}", i + 1), created, expiry);
        let roll: f64 = rng.gen();
        let by = if rng.gen_bool(0.55) {
            APPROVER
        } else {
            APPROVER2
        };
        // Decided well before expiry, whatever expiry the server runs with.
        let window = (expiry.num_minutes() - 1).clamp(4, 6 * 60);
        let decided_at = created + Duration::minutes(rng.gen_range(3..window));
        if roll < 0.6 {
            a.status = ApprovalStatus::Approved;
            a.decision = Some(Decision {
                kind: DecisionKind::Approve,
                by: by.to_string(),
                at: decided_at,
                notes: Some(APPROVE_NOTES[rng.gen_range(0..APPROVE_NOTES.len())].to_string()),
                reason: None,
                receipt: None,
            });
            if rng.gen_bool(0.75) {
                let ok = rng.gen_bool(0.85);
                a.execution = Some(ExecutionResult {
                    outcome: if ok {
                        ExecutionOutcome::Succeeded
                    } else {
                        ExecutionOutcome::Failed
                    },
                    output: if ok {
                        json!({"status": "done", "duration_ms": rng.gen_range(200..9000)})
                    } else {
                        json!({"status": "error", "message": "upstream timed out after 30s"})
                    },
                    recorded_at: decided_at + Duration::seconds(rng.gen_range(5..600)),
                });
            }
        } else if roll < 0.82 {
            a.status = ApprovalStatus::Denied;
            a.decision = Some(Decision {
                kind: DecisionKind::Deny,
                by: by.to_string(),
                at: decided_at,
                notes: rng
                    .gen_bool(0.6)
                    .then(|| "Discussed with the owning team".to_string()),
                reason: Some(DENY_REASONS[rng.gen_range(0..DENY_REASONS.len())].to_string()),
                receipt: None,
            });
        } else {
            a.status = ApprovalStatus::Expired;
        }
        out.push(a);
    }
    out
}

/// Refuses a database that holds anything the demo did not put there: a token other
/// than the demo's well-known ones, or an approval of another org. Demo mode adds
/// tokens anyone can read in the README; on a real database they would open it to
/// anyone who can reach the server.
fn ensure_demo_only(conn: &Connection) -> Result<(), ServerError> {
    let demo_hashes: Vec<String> = tokens()
        .iter()
        .map(|(token, _, _)| crate::db::tokens::hash_token(token))
        .collect();
    let mut stmt = conn.prepare("SELECT hash, org, subject FROM tokens")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut foreign = Vec::new();
    for row in rows {
        let (hash, org, subject) = row?;
        if !demo_hashes.contains(&hash) {
            foreign.push(format!("a token of {subject:?} in {org:?}"));
        }
    }
    let orgs: Vec<String> = conn
        .prepare("SELECT DISTINCT org FROM approvals WHERE org != ?1 LIMIT 5")?
        .query_map([DEMO_ORG], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    foreign.extend(orgs.iter().map(|o| format!("approvals of {o:?}")));
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.truncate(5);
    Err(ServerError::Config(format!(
        "--demo refused: this database holds more than demo data ({}); demo mode would \
         add its well-known tokens to it. Use a new --db file for the demo.",
        foreign.join(", ")
    )))
}

/// Seeds the demo org once. Returns false (and adds nothing) when already seeded.
/// Refuses (writing nothing) a database that holds anything but demo data.
pub fn seed(db: &Db, expiry: Duration) -> Result<bool, ServerError> {
    db.with_writer(|conn| {
        let tx = conn.transaction()?;
        ensure_demo_only(&tx)?;
        if meta_get(&tx, SEEDED_KEY)?.is_some() {
            // Seeded before agent tokens were bound: bind the demo agent token now
            // (once; bindings added since, e.g. by a test set-up, are kept).
            if get_by_hash(&tx, &hash_token(AGENT_TOKEN))?.is_some_and(|t| t.bound.is_none()) {
                bind_agents(&tx, AGENT_TOKEN, &DEMO_AGENTS)?;
                tx.commit()?;
            }
            return Ok(false);
        }
        for (token, subject, role) in tokens() {
            let owner = TokenOwner {
                org: DEMO_ORG.to_string(),
                subject: subject.to_string(),
                role,
            };
            let options = TokenOptions {
                expires_at: None,
                agents: match role {
                    Role::Agent => DEMO_AGENTS.iter().map(|a| a.to_string()).collect(),
                    Role::Approver => Vec::new(),
                },
            };
            insert_token_with(&tx, token, &owner, &options)?;
        }
        let now = now();
        let mut seed = Seed {
            approvals: Vec::new(),
            events: Vec::new(),
        };
        for a in history(now, expiry)
            .into_iter()
            .chain(document_approvals(now, expiry))
        {
            seed.add(a);
        }
        write_seed(&tx, seed)?;
        meta_set(&tx, SEEDED_KEY, &now.to_rfc3339())?;
        tx.commit()?;
        Ok(true)
    })
}

fn write_seed(conn: &Connection, mut seed: Seed) -> Result<(), ServerError> {
    // Change order follows each approval's last event, like a live server's would.
    let last_event = |a: &Approval| {
        let mut t = a.created_at;
        if let Some(d) = &a.decision {
            t = t.max(d.at);
        }
        if a.status == ApprovalStatus::Expired {
            t = t.max(a.expires_at);
        }
        if let Some(e) = &a.execution {
            t = t.max(e.recorded_at);
        }
        t
    };
    seed.approvals.sort_by_key(last_event);
    let first = next_change_seq(conn)?;
    for (seq, a) in (first..).zip(seed.approvals.iter_mut()) {
        a.change_seq = seq;
        insert_approval(conn, a)?;
    }
    seed.events
        .sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    for (at, id, event, actor, notes, reason, data) in seed.events {
        audit::append(
            conn,
            NewEntry {
                org: DEMO_ORG,
                approval_id: &id,
                event,
                actor: &actor,
                at,
                notes: notes.as_deref(),
                reason: reason.as_deref(),
                data,
            },
        )?;
    }
    Ok(())
}

/// Creates a new pending request every `every`, cycling through the demo agents, so
/// desktop notifications can be seen.
pub async fn trickle(state: AppState, every: std::time::Duration) {
    let mut shutdown = state.shutdown.clone();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let all = templates();
    let mut n: u32 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        n = n.wrapping_add(1);
        let t = &all[n as usize % all.len()];
        let a = from_template(
            t,
            n + 500,
            "appr-unused",
            now(),
            state.config.default_expiry,
        );
        let req = CreateApprovalRequest {
            id: None,
            agent: a.agent,
            action: a.action,
            summary: a.summary,
            reason_code: a.reason_code,
            reason_text: a.reason_text,
            params: a.params,
            policy_trace: a.policy_trace,
            risk: a.risk,
            expires_in_secs: None,
            required_approvals: None,
        };
        match crate::routes::agent::raise_approval(&state, DEMO_ORG, AGENT, req).await {
            Ok(a) => {
                tracing::info!(id = %a.id, agent = %a.agent.id, "demo trickle: new pending approval")
            }
            Err(e) => tracing::warn!(code = e.code, message = %e.message, "demo trickle failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_agent_token_is_bound_to_every_agent_the_demo_data_uses() {
        let now = now();
        let expiry = Duration::hours(24);
        let used: Vec<String> = templates()
            .iter()
            .map(|t| t.agent.0.to_string())
            .chain(
                document_approvals(now, expiry)
                    .into_iter()
                    .map(|a| a.agent.id),
            )
            .chain(history(now, expiry).into_iter().map(|a| a.agent.id))
            .collect();
        for id in &used {
            assert!(DEMO_AGENTS.contains(&id.as_str()), "{id} is not bound");
        }
        for id in DEMO_AGENTS {
            assert!(used.iter().any(|u| u == id), "{id} is bound but unused");
        }
    }
}
