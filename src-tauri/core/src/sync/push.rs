//! Push: deliver the outbox in order, each decision with the idempotency key made
//! when it was queued.

use crate::client::{ApiClient, Failure};
use crate::conn_state::EngineEvent;
use crate::engine::Engine;
use crate::error::{CoreError, Result};
use crate::store::outbox::OutboxState;
use crate::sync::backoff;

#[derive(Debug, Default, Clone)]
pub struct PushSummary {
    pub delivered: usize,
    pub rejected: usize,
    pub expired: usize,
}

/// Drains until the queue is empty or the head must wait. `force` ignores the head's
/// backoff (an explicit "sync now"). Transient failures end the drain with
/// `CoreError::Network` after scheduling the retry; 401/403 with `Unauthorized`.
pub async fn drain(engine: &Engine, client: &ApiClient, force: bool) -> Result<PushSummary> {
    let mut summary = PushSummary::default();
    let mut forced = force;
    loop {
        summary.expired += engine.blocking(|e| e.expire_sweep()).await?;
        let Some(head) = engine.blocking(|e| e.reader()?.outbox_head()).await? else {
            break;
        };
        let now = engine.now();
        if head.next_attempt_at > now && !forced {
            break;
        }
        // Only the first attempt of a forced drain skips the backoff.
        forced = false;
        let seq = head.seq;
        engine
            .blocking(move |e| e.store().outbox_mark_sending(seq))
            .await?;
        let attempts = head.attempts + 1;
        let answer = client
            .decide(
                head.kind,
                &head.approval_id,
                head.notes.as_deref(),
                head.reason.as_deref(),
                &head.idempotency_key,
            )
            .await;
        let now = engine.now();
        match answer {
            Ok(resp) => {
                engine
                    .blocking(move |e| e.store().outbox_mark_applied(seq, &resp.approval, now))
                    .await?;
                summary.delivered += 1;
                tracing::info!(approval = %head.approval_id, kind = head.kind.as_str(), "decision applied");
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
                    None => client.approval(&head.approval_id).await.ok(),
                };
                // An earlier attempt of ours may have landed and the server since forgot
                // the key (retention): a decision that is exactly ours is ours.
                let subject = engine.blocking(|e| e.settings()).await?.subject;
                if let Some(a) = current
                    .clone()
                    .filter(|a| head.attempts > 0 && is_ours(a, &head, subject.as_deref()))
                {
                    engine
                        .blocking(move |e| e.store().outbox_mark_applied(seq, &a, now))
                        .await?;
                    summary.delivered += 1;
                    tracing::info!(approval = %head.approval_id, "decision found applied by an earlier attempt");
                    engine.emit(EngineEvent::ApprovalsChanged {
                        ids: vec![head.approval_id.clone()],
                    });
                    engine.emit(EngineEvent::OutboxChanged);
                    continue;
                }
                let why = format!("{message} ({status} {code})");
                engine
                    .blocking(move |e| {
                        e.store().outbox_mark_failed(
                            seq,
                            OutboxState::Rejected,
                            &why,
                            current.as_ref(),
                            now,
                        )
                    })
                    .await?;
                summary.rejected += 1;
                tracing::info!(approval = %head.approval_id, status, code = %code, "decision rejected by the server");
            }
            Err(Failure::Unauthorized(m)) => {
                // Not the decision's fault: keep it queued, stop until the user signs in.
                let why = m.clone();
                engine
                    .blocking(move |e| e.store().outbox_mark_retry(seq, now, &why))
                    .await?;
                engine.emit(EngineEvent::OutboxChanged);
                return Err(CoreError::Unauthorized(m));
            }
            Err(e @ (Failure::Transient(_) | Failure::Protocol(_) | Failure::Tls(_))) => {
                let wait = backoff::delay(
                    attempts,
                    engine.inner.opts.backoff_base,
                    engine.inner.opts.backoff_max,
                );
                let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                let why = e.to_string();
                engine
                    .blocking(move |en| en.store().outbox_mark_retry(seq, at, &why))
                    .await?;
                engine.emit(EngineEvent::OutboxChanged);
                return Err(match e {
                    Failure::Protocol(m) => CoreError::Protocol(m),
                    Failure::Tls(m) => CoreError::Tls(m),
                    other => CoreError::Network(other.to_string()),
                });
            }
        }
        engine.emit(EngineEvent::ApprovalsChanged {
            ids: vec![head.approval_id.clone()],
        });
        engine.emit(EngineEvent::OutboxChanged);
    }
    Ok(summary)
}

/// Whether the approval's decision is this outbox row's: same approver, same kind,
/// same notes and reason, made no earlier than the row was queued.
fn is_ours(
    a: &crate::api::Approval,
    row: &crate::store::outbox::OutboxEntry,
    subject: Option<&str>,
) -> bool {
    match (&a.decision, subject) {
        (Some(d), Some(me)) => {
            d.by == me
                && d.kind == row.kind
                && d.notes.as_deref() == row.notes.as_deref()
                && d.reason.as_deref() == row.reason.as_deref()
                && d.at >= row.decided_at - chrono::Duration::minutes(5)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Decision, DecisionKind};
    use crate::store::approvals::tests::approval;
    use crate::store::outbox::OutboxEntry;

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
