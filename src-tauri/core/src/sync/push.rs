//! Push: deliver the outbox in order, each decision with the idempotency key made
//! when it was queued. Consecutive decisions alike (same kind, notes and reason: a bulk
//! selection, or single decisions made the same way) share one bulk request, each item
//! still under its own key, so a retry replays per item however it is regrouped.

use crate::api::{Approval, MAX_BULK_IDS};
use crate::client::{ApiClient, BulkItem, Failure};
use crate::conn_state::EngineEvent;
use crate::engine::Engine;
use crate::error::{CoreError, Result};
use crate::store::outbox::{Delivery, OutboxEntry};
use crate::sync::backoff;

#[derive(Debug, Default, Clone)]
pub struct PushSummary {
    pub delivered: usize,
    pub rejected: usize,
    pub expired: usize,
    /// Decision requests made (single or bulk).
    pub requests: usize,
}

/// Drains until the queue is empty or the head must wait. `force` ignores the head's
/// backoff (an explicit "sync now"). Transient failures end the drain with
/// `CoreError::Network` after scheduling the retry; 401/403 with `Unauthorized`.
pub async fn drain(engine: &Engine, client: &ApiClient, force: bool) -> Result<PushSummary> {
    let mut summary = PushSummary::default();
    let mut first = true;
    let mut reregistered = false;
    let max = engine.inner.opts.max_batch.clamp(1, MAX_BULK_IDS);
    loop {
        summary.expired += engine.blocking(|e| e.expire_sweep()).await?;
        // Rows still in their undo window stay on the device, even on "sync now".
        let group = engine
            .blocking(move |e| e.reader()?.outbox_batch_due(max, Some(e.now())))
            .await?;
        let Some(head) = group.first() else {
            break;
        };
        // Only the head of a drain waits out its backoff (unless forced): once a request
        // went through, the rows behind it are due, even those that shared the head's
        // failed request (and so its backoff) before being regrouped.
        if first && !force && head.next_attempt_at > engine.now() {
            break;
        }
        first = false;
        let seqs: Vec<i64> = group.iter().map(|g| g.seq).collect();
        let marked = engine
            .blocking(move |e| e.store().outbox_mark_sending_all(&seqs))
            .await?;
        // An Undo between reading the batch and marking it took its row back: that
        // decision is not sent.
        let mut group = group;
        group.retain(|g| marked.contains(&g.seq));
        if group.is_empty() {
            continue;
        }
        let outcomes = send(client, &group).await;
        summary.requests += 1;
        // A server that no longer knows this device's key (its database was rebuilt or
        // restored) refuses signed decisions: register the same key again (same key,
        // same id, so the receipts stay valid) and resend, once per drain. The rows are
        // still `sending`, so the next batch picks them up; an item that did apply is
        // replayed under its key.
        if !reregistered && outcomes.iter().any(is_unknown_device) {
            reregistered = true;
            if crate::receipt::reregister(engine, client).await {
                continue;
            }
        }
        let now = engine.now();

        let mut records = Vec::with_capacity(group.len());
        let mut finished = Vec::new();
        let mut stop = None;
        let mut subject = None;
        for (row, outcome) in group.iter().zip(outcomes) {
            let delivery = match outcome {
                Ok(approval) => {
                    summary.delivered += 1;
                    tracing::info!(approval = %row.approval_id, kind = row.kind.as_str(), "decision applied");
                    Delivery::Applied(approval)
                }
                Err(Failure::Rejected {
                    status,
                    code,
                    message,
                    approval,
                }) => {
                    // Without the current state in the answer, fetch it so the approver
                    // sees who decided; failing that, the message alone.
                    let current = match approval {
                        Some(a) => Some(*a),
                        None => client.approval(&row.approval_id).await.ok(),
                    };
                    if subject.is_none() {
                        subject = Some(engine.blocking(|e| e.settings()).await?.subject);
                    }
                    let me = subject.as_ref().and_then(|s| s.as_deref());
                    // An earlier attempt of ours may have landed and the server since
                    // forgot the key (retention): a decision that is exactly ours is ours.
                    match current
                        .clone()
                        .filter(|a| row.attempts > 0 && is_ours(a, row, me))
                    {
                        Some(a) => {
                            summary.delivered += 1;
                            tracing::info!(approval = %row.approval_id, "decision found applied by an earlier attempt");
                            Delivery::Applied(a)
                        }
                        None => {
                            summary.rejected += 1;
                            tracing::info!(approval = %row.approval_id, status, code = %code, "decision rejected by the server");
                            Delivery::Rejected {
                                reason: format!("{message} ({status} {code})"),
                                approval: current,
                            }
                        }
                    }
                }
                Err(Failure::Unauthorized(m)) => {
                    // Not the decision's fault: keep it queued, stop until the user signs in.
                    stop.get_or_insert(CoreError::Unauthorized(m.clone()));
                    Delivery::Retry { at: now, error: m }
                }
                Err(Failure::SignedOut(m)) => {
                    // Revoked or expired: the same, never "failed". Sent after signing in.
                    stop.get_or_insert(CoreError::SignedOut(m.clone()));
                    Delivery::Retry { at: now, error: m }
                }
                Err(
                    e @ (Failure::Transient(_)
                    | Failure::RateLimited { .. }
                    | Failure::Protocol(_)
                    | Failure::Tls(_)),
                ) => {
                    let mut wait = backoff::delay(
                        row.attempts + 1,
                        engine.inner.opts.backoff_base,
                        engine.inner.opts.backoff_max,
                    );
                    // The server said when: never sooner (the decision stays queued).
                    if let Failure::RateLimited { retry_after, .. } = &e {
                        wait = wait.max(*retry_after);
                    }
                    let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                    let error = e.to_string();
                    stop.get_or_insert(match e {
                        Failure::Protocol(m) => CoreError::Protocol(m),
                        Failure::Tls(m) => CoreError::Tls(m),
                        other => CoreError::Network(other.to_string()),
                    });
                    Delivery::Retry { at, error }
                }
            };
            if !matches!(delivery, Delivery::Retry { .. }) {
                finished.push(row.approval_id.clone());
            }
            records.push((row.seq, delivery));
        }
        engine
            .blocking(move |e| e.store().outbox_record(&records, now))
            .await?;
        // One event per request, carrying the approvals it settled.
        if !finished.is_empty() {
            engine.emit(EngineEvent::ApprovalsChanged { ids: finished });
        }
        engine.emit(EngineEvent::OutboxChanged);
        if let Some(e) = stop {
            return Err(e);
        }
    }
    Ok(summary)
}

/// One request for the group: the single endpoint for one decision, a bulk request
/// otherwise. A failure of the whole request is every item's outcome.
async fn send(
    client: &ApiClient,
    group: &[OutboxEntry],
) -> Vec<std::result::Result<Approval, Failure>> {
    let Some(head) = group.first() else {
        return Vec::new();
    };
    if group.len() == 1 {
        let answer = client
            .decide(
                head.kind,
                &head.approval_id,
                head.notes.as_deref(),
                head.reason.as_deref(),
                &head.idempotency_key,
                head.receipt.as_ref(),
            )
            .await;
        return vec![answer.map(|r| r.approval)];
    }
    let items: Vec<BulkItem<'_>> = group
        .iter()
        .map(|r| BulkItem {
            id: &r.approval_id,
            key: &r.idempotency_key,
            receipt: r.receipt.as_ref(),
        })
        .collect();
    match client
        .decide_bulk(
            head.kind,
            &items,
            head.notes.as_deref(),
            head.reason.as_deref(),
        )
        .await
    {
        Ok(outcomes) => outcomes,
        Err(f) => vec![Err(f); group.len()],
    }
}

fn is_unknown_device(outcome: &std::result::Result<Approval, Failure>) -> bool {
    matches!(outcome, Err(Failure::Rejected { code, .. }) if code == crate::api::codes::UNKNOWN_DEVICE)
}

/// Whether the approval's decision is this outbox row's: same approver, same kind,
/// same notes and reason, made no earlier than the row was queued.
fn is_ours(
    a: &crate::api::Approval,
    row: &crate::store::outbox::OutboxEntry,
    subject: Option<&str>,
) -> bool {
    let since = row.decided_at - chrono::Duration::minutes(5);
    // An approve of a quorum approval is recorded among its approvals, whether or not
    // it completed the quorum.
    let my_vote = |me: &str| {
        row.kind == crate::api::DecisionKind::Approve
            && a.approvals
                .iter()
                .any(|v| v.by == me && v.notes.as_deref() == row.notes.as_deref() && v.at >= since)
    };
    match (&a.decision, subject) {
        (_, Some(me)) if my_vote(me) => true,
        (Some(d), Some(me)) => {
            d.by == me
                && d.kind == row.kind
                && d.notes.as_deref() == row.notes.as_deref()
                && d.reason.as_deref() == row.reason.as_deref()
                && d.at >= since
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Decision, DecisionKind};
    use crate::store::approvals::tests::approval;
    use crate::store::outbox::{OutboxEntry, OutboxState};

    fn row(kind: DecisionKind, notes: Option<&str>) -> OutboxEntry {
        let now = chrono::Utc::now();
        OutboxEntry {
            seq: 1,
            approval_id: "appr-1".into(),
            kind,
            notes: notes.map(str::to_string),
            reason: None,
            batch_id: None,
            decided_at: now,
            idempotency_key: "k".into(),
            attempts: 1,
            next_attempt_at: now,
            last_error: None,
            state: OutboxState::Sending,
            server_approval: None,
            finished_at: None,
            dismissed_at: None,
            receipt: None,
            send_after: None,
        }
    }

    #[test]
    fn only_an_identical_decision_by_me_counts_as_mine() {
        let now = chrono::Utc::now();
        let mut a = approval("appr-1", "bot", 1, now);
        a.decision = Some(Decision {
            kind: DecisionKind::Approve,
            by: "alice".into(),
            at: now,
            notes: Some("ok".into()),
            reason: None,
            receipt: None,
        });
        assert!(is_ours(
            &a,
            &row(DecisionKind::Approve, Some("ok")),
            Some("alice")
        ));
        assert!(!is_ours(
            &a,
            &row(DecisionKind::Approve, Some("ok")),
            Some("bob")
        ));
        assert!(!is_ours(
            &a,
            &row(DecisionKind::Deny, Some("ok")),
            Some("alice")
        ));
        assert!(!is_ours(
            &a,
            &row(DecisionKind::Approve, None),
            Some("alice")
        ));
        assert!(!is_ours(&a, &row(DecisionKind::Approve, Some("ok")), None));
        a.decision = None;
        assert!(!is_ours(
            &a,
            &row(DecisionKind::Approve, Some("ok")),
            Some("alice")
        ));
    }
}
