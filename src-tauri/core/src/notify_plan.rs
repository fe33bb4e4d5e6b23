//! Deciding what to announce. Pure: given what is in the store and what was already
//! announced, returns the notifications to show; the shell shows them and calls
//! `Engine::mark_announced`, which persists them so a restart does not repeat them.

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::store::outbox::OutboxEntry;
use crate::store::snooze::Snooze;

/// More new approvals than this at once become one summary notification.
pub const SUMMARY_OVER: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    NewApproval,
    NewApprovalsSummary,
    ExpiringSoon,
    DecisionRejected,
    /// A snoozed approval announced again ("Remind me in 1 h"); offers the same actions.
    Reminder,
    /// The pending count at one of the two digest times of the day.
    Digest,
    /// An approved action whose agent reported that it failed.
    ExecutionFailed,
}

/// Keys under which announcements are remembered.
pub const KEY_NEW: &str = "new";
pub const KEY_EXPIRING: &str = "expiring";
pub const KEY_REJECTED: &str = "rejected";
/// A snooze that fired: key [`Snooze::key`].
pub const KEY_SNOOZE: &str = "snooze";
/// A digest slot given on a local day: key `YYYY-MM-DD#<slot index>`.
pub const KEY_DIGEST: &str = "digest";
pub const KEY_FAILED: &str = "failed";

/// A failure reported longer ago than this when this device first sees it (a first
/// sync of a long history, a device back after weeks off) is shown in the app, not
/// announced.
pub const FAILED_FRESH_FOR: Duration = Duration::hours(24);

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

/// An approved approval whose agent reported a failure, not yet announced.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedInfo {
    pub id: String,
    pub agent: String,
    pub action: String,
    pub summary: String,
    pub recorded_at: DateTime<Utc>,
}

/// What was already announced.
#[derive(Debug, Clone, Default)]
pub struct Announced {
    pub new: HashSet<String>,
    pub expiring: HashSet<String>,
    pub rejected: HashSet<String>,
    pub failed: HashSet<String>,
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
    marked(out)
}

/// Approved actions that failed: one notification each (one summary when more than
/// [`SUMMARY_OVER`]), for failures reported within [`FAILED_FRESH_FOR`] and not
/// announced yet (`announced`: the [`KEY_FAILED`] keys).
pub fn plan_failed(
    failed: &[FailedInfo],
    announced: &HashSet<String>,
    now: DateTime<Utc>,
) -> Vec<PlannedNotification> {
    let fresh: Vec<&FailedInfo> = failed
        .iter()
        .filter(|f| !announced.contains(&f.id) && now - f.recorded_at <= FAILED_FRESH_FOR)
        .collect();
    if fresh.len() > SUMMARY_OVER {
        return marked(vec![PlannedNotification {
            kind: NotificationKind::ExecutionFailed,
            approval_id: None,
            title: format!("{} approved actions failed", fresh.len()),
            body: "Their agents reported a failure after approval".into(),
            marks: fresh
                .iter()
                .map(|f| (KEY_FAILED.to_string(), f.id.clone()))
                .collect(),
        }]);
    }
    let out = fresh
        .into_iter()
        .map(|f| PlannedNotification {
            kind: NotificationKind::ExecutionFailed,
            approval_id: Some(f.id.clone()),
            title: format!("Failed after approval: {} {}", f.agent, f.action),
            body: f.summary.clone(),
            marks: vec![(KEY_FAILED.to_string(), f.id.clone())],
        })
        .collect();
    marked(out)
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

/// What the reminders (snoozes and the daily digest) are planned from.
#[derive(Debug, Clone, Default)]
pub struct Reminders {
    /// Snoozes of approvals still pending (see `Store::live_snoozes`).
    pub snoozes: Vec<Snooze>,
    /// Keys of snoozes that already fired ([`KEY_SNOOZE`]).
    pub fired_snoozes: HashSet<String>,
    /// Local times of the digest; empty when the digest is off.
    pub digest_times: Vec<NaiveTime>,
    /// Keys of digest slots already given ([`KEY_DIGEST`]).
    pub fired_digests: HashSet<String>,
}

/// The instant of `time` on the local day `day` in `tz`. A time skipped by a DST change
/// falls an hour later (the first instant that exists); a repeated one is its first.
fn local_instant<Tz: TimeZone>(tz: &Tz, day: chrono::NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = day.and_time(time);
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// Digest slots of today (local) whose time has come and that were not given yet.
fn due_digest_keys<Tz: TimeZone>(r: &Reminders, tz: &Tz, now: DateTime<Utc>) -> Vec<String> {
    let today = now.with_timezone(tz).date_naive();
    r.digest_times
        .iter()
        .enumerate()
        .filter(|(_, t)| local_instant(tz, today, **t) <= now)
        .map(|(i, _)| format!("{today}#{i}"))
        .filter(|k| !r.fired_digests.contains(k))
        .collect()
}

/// Plans the reminders at `now`:
/// - a snoozed approval, still pending, is announced again once its snooze is over;
/// - the digest: once per slot per local day. A slot missed while the app was not running
///   (the laptop was closed at 09:00) is given when it starts, the same day only; several
///   missed slots make one digest, not a burst of them.
pub fn plan_reminders<Tz: TimeZone>(
    pending: &[PendingInfo],
    reminders: &Reminders,
    tz: &Tz,
    now: DateTime<Utc>,
    threshold: Duration,
) -> Vec<PlannedNotification> {
    let mut out = Vec::new();
    for s in &reminders.snoozes {
        let key = s.key();
        if s.until > now || reminders.fired_snoozes.contains(&key) {
            continue;
        }
        let Some(p) = pending
            .iter()
            .find(|p| p.id == s.approval_id && p.expires_at > now)
        else {
            continue;
        };
        out.push(PlannedNotification {
            kind: NotificationKind::Reminder,
            approval_id: Some(p.id.clone()),
            title: format!("Reminder: {} wants {}", p.agent, p.action),
            body: format!(
                "{} — expires in {}",
                p.summary,
                human_duration(p.expires_at - now)
            ),
            marks: vec![(KEY_SNOOZE.to_string(), key)],
        });
    }
    let due = due_digest_keys(reminders, tz, now);
    if !due.is_empty() {
        let live: Vec<&PendingInfo> = pending.iter().filter(|p| p.expires_at > now).collect();
        let soon = live
            .iter()
            .filter(|p| p.expires_at - now <= threshold)
            .count();
        let within = if threshold == Duration::hours(1) {
            "within the hour".to_string()
        } else {
            format!("within {}", human_duration(threshold))
        };
        let title = match live.len() {
            0 => "No approvals waiting".to_string(),
            1 => "1 approval waiting".to_string(),
            n => format!("{n} approvals waiting"),
        };
        let title = match soon {
            0 => title,
            1 => format!("{title}, 1 expires {within}"),
            n => format!("{title}, {n} expire {within}"),
        };
        // Kept even when nothing waits: the approver who reviews at start and end of day
        // learns there is nothing to review, rather than wondering whether it fired.
        let body = if live.is_empty() {
            "Nothing to review right now.".to_string()
        } else {
            "Open Countersign to review them.".to_string()
        };
        out.push(PlannedNotification {
            kind: NotificationKind::Digest,
            approval_id: None,
            title,
            body,
            marks: due
                .into_iter()
                .map(|k| (KEY_DIGEST.to_string(), k))
                .collect(),
        });
    }
    marked(out)
}

/// When [`plan_reminders`] next has something to say with no data changing: the end of
/// the earliest unfired snooze, or the next digest slot (today's, else tomorrow's first).
pub fn next_reminder_due<Tz: TimeZone>(
    reminders: &Reminders,
    tz: &Tz,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let snooze = reminders
        .snoozes
        .iter()
        .filter(|s| !reminders.fired_snoozes.contains(&s.key()))
        .map(|s| s.until.max(now))
        .min();
    let today = now.with_timezone(tz).date_naive();
    let digest = [today, today + Duration::days(1)]
        .iter()
        .flat_map(|day| {
            reminders
                .digest_times
                .iter()
                .enumerate()
                .map(move |(i, t)| (format!("{day}#{i}"), local_instant(tz, *day, *t)))
        })
        .filter(|(key, _)| !reminders.fired_digests.contains(key))
        // A past slot of an earlier day never fires (same day only); one of today does.
        .filter(|(key, at)| *at > now || key.starts_with(&today.to_string()))
        .map(|(_, at)| at.max(now))
        .min();
    [snooze, digest].into_iter().flatten().min()
}

/// Whether `c` is shown as a stand-in rather than obeyed: C0 and C1 controls (tab and line
/// feed excepted), DEL, bidi embeddings, overrides, isolates and marks (an RLO makes
/// `gpj.exe` read as `exe.jpg`), zero-width spaces and joiners, the BOM. The same set as
/// `CONTROL` in ui/js/format.js, so a notification marks what the window's detail marks.
pub fn is_marked_control(c: char) -> bool {
    matches!(c,
        '\u{0000}'..='\u{0008}'
        | '\u{000B}'..='\u{001F}'
        | '\u{007F}'..='\u{009F}'
        | '\u{061C}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}')
}

/// `text` with each control character (see [`is_marked_control`]) replaced by a visible
/// `⟨U+202E⟩`: the notation of the detail's chips (`controlSegments` in ui/js/format.js).
/// Notifications carry agent text (agent ids, actions, summaries) that must not reorder
/// or hide what the approver reads.
pub fn mark_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_marked_control(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\u{27E8}U+{:04X}\u{27E9}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// The planners' last step: every title and body with its control characters marked.
fn marked(mut out: Vec<PlannedNotification>) -> Vec<PlannedNotification> {
    for n in &mut out {
        n.title = mark_controls(&n.title);
        n.body = mark_controls(&n.body);
    }
    out
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
                    KEY_FAILED => a.failed.insert(key.clone()),
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

    fn failed(id: &str, minutes_ago: i64) -> FailedInfo {
        FailedInfo {
            id: id.into(),
            agent: "deployment-bot".into(),
            action: "kubernetes:deploy".into(),
            summary: format!("Deploy {id}"),
            recorded_at: t0() - Duration::minutes(minutes_ago),
        }
    }

    #[test]
    fn failed_executions_are_announced_once_while_fresh() {
        let f = vec![failed("appr-1", 5), failed("appr-old", 60 * 25)];
        let mut a = Announced::default();
        let out = plan_failed(&f, &a.failed, t0());
        assert_eq!(out.len(), 1, "the day-old failure is not announced");
        assert_eq!(out[0].kind, NotificationKind::ExecutionFailed);
        assert_eq!(out[0].approval_id.as_deref(), Some("appr-1"));
        assert_eq!(
            out[0].title,
            "Failed after approval: deployment-bot kubernetes:deploy"
        );
        assert_eq!(
            out[0].marks,
            vec![(KEY_FAILED.to_string(), "appr-1".to_string())]
        );
        apply(&mut a, &out);
        assert!(plan_failed(&f, &a.failed, t0()).is_empty());
        // Many at once: one summary, every one marked.
        let many: Vec<_> = (0..5).map(|i| failed(&format!("appr-m{i}"), 1)).collect();
        let out = plan_failed(&many, &a.failed, t0());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].title, "5 approved actions failed");
        assert_eq!(out[0].marks.len(), 5);
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
            receipt: None,
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
    fn fire(r: &mut Reminders, plan: &[PlannedNotification]) {
        for p in plan {
            for (k, key) in &p.marks {
                match k.as_str() {
                    KEY_SNOOZE => r.fired_snoozes.insert(key.clone()),
                    KEY_DIGEST => r.fired_digests.insert(key.clone()),
                    other => panic!("unexpected mark {other}"),
                };
            }
        }
    }

    fn at(rfc: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn hm(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    #[test]
    fn a_snoozed_approval_is_announced_again_once_when_the_snooze_is_over() {
        let p = vec![pending("appr-1", 600)];
        let utc = Utc;
        let h = Duration::hours(1);
        let mut r = Reminders {
            snoozes: vec![Snooze {
                approval_id: "appr-1".into(),
                until: t0() + h,
            }],
            ..Reminders::default()
        };
        // Not before the hour is over; the wake-up is exactly then.
        assert!(plan_reminders(&p, &r, &utc, t0() + Duration::minutes(59), h).is_empty());
        assert_eq!(next_reminder_due(&r, &utc, t0()), Some(t0() + h));
        let out = plan_reminders(&p, &r, &utc, t0() + h, h);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, NotificationKind::Reminder);
        assert_eq!(out[0].approval_id.as_deref(), Some("appr-1"));
        assert!(
            out[0].title.contains("bot-appr-1 wants k8s:deploy"),
            "{}",
            out[0].title
        );
        fire(&mut r, &out);
        assert!(plan_reminders(&p, &r, &utc, t0() + Duration::hours(2), h).is_empty());
        assert_eq!(next_reminder_due(&r, &utc, t0() + h), None);
        // Decided or expired meanwhile (no longer pending): never announced again.
        let r2 = Reminders {
            snoozes: r.snoozes.clone(),
            ..Reminders::default()
        };
        assert!(plan_reminders(&[], &r2, &utc, t0() + h, h).is_empty());
        let expired = vec![pending("appr-1", 30)];
        assert!(plan_reminders(&expired, &r2, &utc, t0() + h, h).is_empty());
    }

    #[test]
    fn the_digest_fires_once_per_slot_per_day_in_local_time() {
        // UTC+1: the 09:00 slot is 08:00Z, the 17:00 slot 16:00Z.
        let tz = chrono::FixedOffset::east_opt(3600).unwrap();
        let h = Duration::hours(1);
        let p = vec![
            pending("appr-1", 600),
            pending("appr-2", 600),
            pending("appr-3", 10 * 60),
        ];
        let mut r = Reminders {
            digest_times: vec![hm("09:00"), hm("17:00")],
            ..Reminders::default()
        };
        let morning = at("2026-11-26T08:00:00Z");
        assert!(plan_reminders(&p, &r, &tz, morning - Duration::seconds(1), h).is_empty());
        assert_eq!(
            next_reminder_due(&r, &tz, at("2026-11-26T01:00:00Z")),
            Some(morning)
        );
        let out = plan_reminders(&p, &r, &tz, morning, h);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, NotificationKind::Digest);
        // t0 + 600 min is 22:00Z on the 25th: all three expired by the 26th. Use fresh ones.
        let fresh: Vec<PendingInfo> = (0..7)
            .map(|i| PendingInfo {
                expires_at: morning + Duration::minutes(if i < 2 { 30 } else { 600 }),
                ..pending(&format!("appr-{i}"), 0)
            })
            .collect();
        let out = plan_reminders(&fresh, &r, &tz, morning, h);
        assert_eq!(
            out[0].title,
            "7 approvals waiting, 2 expire within the hour"
        );
        assert_eq!(
            out[0].marks,
            vec![(KEY_DIGEST.to_string(), "2026-11-26#0".to_string())]
        );
        fire(&mut r, &out);
        // Given: not again that morning (nor after a restart: the marks are persisted).
        assert!(plan_reminders(&fresh, &r, &tz, morning + Duration::hours(3), h).is_empty());
        let evening = at("2026-11-26T16:00:00Z");
        assert_eq!(next_reminder_due(&r, &tz, morning), Some(evening));
        let out = plan_reminders(&fresh, &r, &tz, evening, h);
        assert_eq!(out.len(), 1);
        // The two that expired at 08:30Z are no longer counted.
        assert_eq!(out[0].title, "5 approvals waiting");
        fire(&mut r, &out);
        // Both given: the next one is tomorrow morning.
        assert_eq!(
            next_reminder_due(&r, &tz, evening),
            Some(at("2026-11-27T08:00:00Z"))
        );
        assert!(plan_reminders(&[], &r, &tz, at("2026-11-26T22:59:00Z"), h).is_empty());
    }

    #[test]
    fn a_missed_digest_fires_once_the_same_day_only() {
        let tz = Utc;
        let h = Duration::hours(1);
        let mut r = Reminders {
            digest_times: vec![hm("09:00"), hm("17:00")],
            ..Reminders::default()
        };
        // Yesterday's slots were missed (the laptop was closed); opening it today at
        // 08:00 gives nothing for yesterday.
        let opened = at("2026-11-26T08:00:00Z");
        assert!(plan_reminders(&[], &r, &tz, opened, h).is_empty());
        assert_eq!(
            next_reminder_due(&r, &tz, opened),
            Some(at("2026-11-26T09:00:00Z"))
        );
        // Opened at 18:00: both of today's slots were missed: one digest, both marked.
        let late = at("2026-11-26T18:00:00Z");
        assert_eq!(next_reminder_due(&r, &tz, late), Some(late));
        let out = plan_reminders(&[], &r, &tz, late, h);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].title, "No approvals waiting");
        assert_eq!(out[0].marks.len(), 2);
        fire(&mut r, &out);
        assert!(plan_reminders(&[], &r, &tz, late + Duration::minutes(1), h).is_empty());
        assert_eq!(
            next_reminder_due(&r, &tz, late),
            Some(at("2026-11-27T09:00:00Z"))
        );
        // The digest off: no times, nothing due.
        assert_eq!(next_reminder_due(&Reminders::default(), &tz, late), None);
    }

    #[test]
    fn control_characters_are_marked_as_the_detail_marks_them() {
        // The detail's notation: ⟨U+XXXX⟩, four hex digits at least, upper case.
        assert_eq!(
            mark_controls("invoice\u{202E}fdp.exe"),
            "invoice⟨U+202E⟩fdp.exe"
        );
        assert_eq!(
            mark_controls("a\u{200D}b\u{200B}c\u{2066}d\u{FEFF}"),
            "a⟨U+200D⟩b⟨U+200B⟩c⟨U+2066⟩d⟨U+FEFF⟩"
        );
        assert_eq!(
            mark_controls("\u{1b}[31m\u{0}\u{85}"),
            "⟨U+001B⟩[31m⟨U+0000⟩⟨U+0085⟩"
        );
        // Tab and line feed are text, as in the detail; markup is not this function's job.
        assert_eq!(mark_controls("a\tb\nc <b>&"), "a\tb\nc <b>&");
        assert_eq!(mark_controls("a\rb"), "a⟨U+000D⟩b");
        // Ordinary non-Latin text and emoji pass untouched.
        assert_eq!(
            mark_controls("déploiement ✓ 部署 🚀"),
            "déploiement ✓ 部署 🚀"
        );
        for c in [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{2060}', '\u{2064}', '\u{2069}',
            '\u{7F}',
        ] {
            assert!(is_marked_control(c), "{:04X}", c as u32);
        }
        for c in ['\t', '\n', ' ', 'a', '\u{2065}', '\u{2070}', '\u{00A0}'] {
            assert!(!is_marked_control(c), "{:04X}", c as u32);
        }
    }

    #[test]
    fn every_planned_notification_carries_agent_text_marked() {
        let mut p = pending("appr-1", 30);
        p.agent = "bot\u{200D}".into();
        p.action = "k8s\u{202E}:deploy".into();
        p.summary = "<b>Deploy</b> \u{202E}gpj.exe".into();
        let out = plan(
            &[p.clone()],
            &[],
            &Announced::default(),
            t0(),
            Duration::hours(1),
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].title, "bot⟨U+200D⟩ wants k8s⟨U+202E⟩:deploy");
        // Marked, not escaped: the markup of the body is the notifier's (it knows the server).
        assert_eq!(out[0].body, "<b>Deploy</b> ⟨U+202E⟩gpj.exe");
        assert!(out[1].body.contains("⟨U+202E⟩gpj.exe"), "{:?}", out[1]);
        for n in &out {
            assert!(
                !n.title.chars().chain(n.body.chars()).any(is_marked_control),
                "{n:?}"
            );
        }
        let failed = FailedInfo {
            id: "appr-2".into(),
            agent: "bot".into(),
            action: "db:drop".into(),
            summary: "drop\u{202E}".into(),
            recorded_at: t0(),
        };
        let out = plan_failed(&[failed], &HashSet::new(), t0());
        assert_eq!(out[0].body, "drop⟨U+202E⟩");
        let r = Reminders {
            snoozes: vec![Snooze {
                approval_id: "appr-1".into(),
                until: t0(),
            }],
            ..Reminders::default()
        };
        let out = plan_reminders(&[p], &r, &chrono::Utc, t0(), Duration::hours(1));
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].title.contains("k8s⟨U+202E⟩:deploy")
                && out[0].body.starts_with("<b>Deploy</b> ⟨U+202E⟩gpj.exe"),
            "{out:?}"
        );
    }
}
