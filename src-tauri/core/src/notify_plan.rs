//! Deciding what to announce. Pure: given what is in the store and what was already
//! announced, returns the notifications to show; the shell shows them and calls
//! `Engine::mark_announced`, which persists them so a restart does not repeat them.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::store::outbox::OutboxEntry;

/// More new approvals than this at once become one summary notification.
pub const SUMMARY_OVER: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    NewApproval,
    NewApprovalsSummary,
    ExpiringSoon,
    DecisionRejected,
}

/// Keys under which announcements are remembered.
pub const KEY_NEW: &str = "new";
pub const KEY_EXPIRING: &str = "expiring";
pub const KEY_REJECTED: &str = "rejected";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedNotification {
    pub kind: NotificationKind,
    pub approval_id: Option<String>,
    pub title: String,
    pub body: String,
    /// `(kind, key)` pairs to persist once shown.
    pub marks: Vec<(String, String)>,
}

/// A pending approval as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingInfo {
    pub id: String,
    pub agent: String,
    pub action: String,
    pub summary: String,
    pub expires_at: DateTime<Utc>,
}

/// What was already announced.
#[derive(Debug, Clone, Default)]
pub struct Announced {
    pub new: HashSet<String>,
    pub expiring: HashSet<String>,
    pub rejected: HashSet<String>,
}

/// Plans notifications at `now`.
/// - new pending approvals: one each, or one summary when more than [`SUMMARY_OVER`];
/// - pending approvals expiring within `threshold`: once each;
/// - decisions of this device that were rejected or expired unsent: once each.
pub fn plan(
    pending: &[PendingInfo],
    failed: &[OutboxEntry],
    announced: &Announced,
    now: DateTime<Utc>,
    threshold: Duration,
) -> Vec<PlannedNotification> {
    let mut out = Vec::new();
    let live: Vec<&PendingInfo> = pending.iter().filter(|p| p.expires_at > now).collect();

    let fresh: Vec<&&PendingInfo> = live
        .iter()
        .filter(|p| !announced.new.contains(&p.id))
        .collect();
    if fresh.len() > SUMMARY_OVER {
        let mut agents: Vec<&str> = fresh.iter().map(|p| p.agent.as_str()).collect();
        agents.sort_unstable();
        agents.dedup();
        let shown = agents
            .iter()
            .take(3)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if agents.len() > 3 {
            format!(" and {} more", agents.len() - 3)
        } else {
            String::new()
        };
        out.push(PlannedNotification {
            kind: NotificationKind::NewApprovalsSummary,
            approval_id: None,
            title: format!("{} new approvals waiting", fresh.len()),
            body: format!("From {shown}{more}"),
            marks: fresh
                .iter()
                .map(|p| (KEY_NEW.to_string(), p.id.clone()))
                .collect(),
        });
    } else {
        for p in &fresh {
            out.push(PlannedNotification {
                kind: NotificationKind::NewApproval,
                approval_id: Some(p.id.clone()),
                title: format!("{} wants {}", p.agent, p.action),
                body: p.summary.clone(),
                marks: vec![(KEY_NEW.to_string(), p.id.clone())],
            });
        }
    }

    for p in &live {
        let left = p.expires_at - now;
        if left <= threshold && !announced.expiring.contains(&p.id) {
            out.push(PlannedNotification {
                kind: NotificationKind::ExpiringSoon,
                approval_id: Some(p.id.clone()),
                title: format!("Expires in {}: {}", human_duration(left), p.id),
                body: format!("{} {} — {}", p.agent, p.action, p.summary),
                marks: vec![(KEY_EXPIRING.to_string(), p.id.clone())],
            });
        }
    }

    for f in failed {
        let key = f.seq.to_string();
        if announced.rejected.contains(&key) {
            continue;
        }
        out.push(PlannedNotification {
            kind: NotificationKind::DecisionRejected,
            approval_id: Some(f.approval_id.clone()),
            title: format!(
                "Your {} of {} was not applied",
                f.kind.as_str(),
                f.approval_id
            ),
            body: f.explain(),
            marks: vec![(KEY_REJECTED.to_string(), key)],
        });
    }
    out
}

/// When [`plan`] will next have an expiring-soon notification to give without any
/// data changing: the earliest moment an unannounced pending approval enters the
/// threshold. The shell sleeps until then instead of re-planning on a timer.
pub fn next_due(
    pending: &[PendingInfo],
    announced: &Announced,
    now: DateTime<Utc>,
    threshold: Duration,
) -> Option<DateTime<Utc>> {
    pending
        .iter()
        .filter(|p| p.expires_at > now && !announced.expiring.contains(&p.id))
        .map(|p| (p.expires_at - threshold).max(now))
        .min()
}

/// "3h", "12m", "40s": coarse, for titles.
pub fn human_duration(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    if s >= 86_400 {
        format!("{}d", s / 86_400)
    } else if s >= 3600 {
        format!("{}h", s / 3600)
    } else if s >= 60 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DecisionKind;
    use crate::store::outbox::OutboxState;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn pending(id: &str, expires_in_min: i64) -> PendingInfo {
        PendingInfo {
            id: id.into(),
            agent: format!("bot-{id}"),
            action: "k8s:deploy".into(),
            summary: format!("summary {id}"),
            expires_at: t0() + Duration::minutes(expires_in_min),
        }
    }

    fn apply(a: &mut Announced, plan: &[PlannedNotification]) {
        for p in plan {
            for (k, key) in &p.marks {
                match k.as_str() {
                    KEY_NEW => a.new.insert(key.clone()),
                    KEY_EXPIRING => a.expiring.insert(key.clone()),
                    _ => a.rejected.insert(key.clone()),
                };
            }
        }
    }

    #[test]
    fn next_due_is_when_the_first_unannounced_approval_enters_the_threshold() {
        let p = vec![pending("appr-1", 600), pending("appr-2", 90)];
        let mut a = Announced::default();
        let h = Duration::hours(1);
        assert_eq!(
            next_due(&p, &a, t0(), h),
            Some(t0() + Duration::minutes(30))
        );
        a.expiring.insert("appr-2".into());
        assert_eq!(
            next_due(&p, &a, t0(), h),
            Some(t0() + Duration::minutes(540))
        );
        // Already inside the threshold and not announced yet: due now.
        let soon = vec![pending("appr-3", 10)];
        assert_eq!(next_due(&soon, &Announced::default(), t0(), h), Some(t0()));
        assert_eq!(next_due(&[], &a, t0(), h), None);
    }

    #[test]
    fn few_new_approvals_get_one_notification_each_and_only_once() {
        let p = vec![pending("appr-1", 600), pending("appr-2", 600)];
        let mut a = Announced::default();
        let first = plan(&p, &[], &a, t0(), Duration::hours(1));
        assert_eq!(first.len(), 2);
        assert!(first
            .iter()
            .all(|n| n.kind == NotificationKind::NewApproval));
        assert_eq!(first[0].approval_id.as_deref(), Some("appr-1"));
        apply(&mut a, &first);
        assert!(plan(&p, &[], &a, t0(), Duration::hours(1)).is_empty());
    }

    #[test]
    fn many_new_approvals_become_one_summary() {
        let p: Vec<_> = (0..10)
            .map(|i| pending(&format!("appr-{i}"), 600))
            .collect();
        let a = Announced::default();
        let out = plan(&p, &[], &a, t0(), Duration::hours(1));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, NotificationKind::NewApprovalsSummary);
        assert_eq!(out[0].title, "10 new approvals waiting");
        assert_eq!(out[0].marks.len(), 10);
    }

    #[test]
    fn expiring_soon_is_announced_once_within_the_threshold() {
        let p = vec![pending("appr-1", 30), pending("appr-2", 90)];
        let mut a = Announced::default();
        a.new.insert("appr-1".into());
        a.new.insert("appr-2".into());
        let out = plan(&p, &[], &a, t0(), Duration::hours(1));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, NotificationKind::ExpiringSoon);
        assert_eq!(out[0].approval_id.as_deref(), Some("appr-1"));
        assert!(out[0].title.starts_with("Expires in 30m"));
        apply(&mut a, &out);
        assert!(plan(&p, &[], &a, t0(), Duration::hours(1)).is_empty());
        // Later, the second one enters the window.
        let later = plan(
            &p,
            &[],
            &a,
            t0() + Duration::minutes(45),
            Duration::hours(1),
        );
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].approval_id.as_deref(), Some("appr-2"));
        // Already expired ones are not announced at all.
        assert!(plan(
            &p,
            &[],
            &Announced::default(),
            t0() + Duration::hours(3),
            Duration::hours(1)
        )
        .is_empty());
    }

    #[test]
    fn rejected_decisions_are_announced_once() {
        let f = OutboxEntry {
            seq: 7,
            approval_id: "appr-9".into(),
            kind: DecisionKind::Deny,
            notes: None,
            reason: Some("no".into()),
            batch_id: None,
            decided_at: t0(),
            idempotency_key: "k".into(),
            attempts: 1,
            next_attempt_at: t0(),
            last_error: Some("already decided".into()),
            state: OutboxState::Rejected,
            server_approval: None,
            finished_at: Some(t0()),
            dismissed_at: None,
            send_after: None,
        };
        let mut a = Announced::default();
        let out = plan(&[], std::slice::from_ref(&f), &a, t0(), Duration::hours(1));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, NotificationKind::DecisionRejected);
        assert!(out[0].body.contains("your deny"), "{}", out[0].body);
        apply(&mut a, &out);
        assert!(plan(&[], &[f], &a, t0(), Duration::hours(1)).is_empty());
    }
}
