//! `GET /approvals/events`: Server-Sent Events poking clients with the latest
//! `change_seq` of their org, so they know when to pull `changes`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, Sse};
use countersign_api::{ChangeNotice, ErrorResponse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use crate::auth::OrgCaller;
use crate::db::{rows, Change, Db};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

struct StreamState {
    rx: broadcast::Receiver<Change>,
    heartbeat: Interval,
    shutdown: watch::Receiver<bool>,
    db: Arc<Db>,
    org: String,
    /// An agent token's bound agent ids: it hears only of their approvals.
    scope: Option<Vec<String>>,
    last: i64,
    first: bool,
}

fn event(kind: &'static str, seq: i64) -> Event {
    let data = serde_json::to_string(&ChangeNotice { change_seq: seq })
        .unwrap_or_else(|_| format!("{{\"change_seq\":{seq}}}"));
    Event::default().event(kind).data(data)
}

async fn latest(db: &Arc<Db>, org: &str, scope: Option<&[String]>) -> ApiResult<i64> {
    let org = org.to_string();
    let scope = scope.map(<[String]>::to_vec);
    db.read(move |conn| {
        crate::db::approvals::latest_change_seq_in(conn, &org, scope.as_deref())
            .map_err(ApiError::from)
    })
    .await
}

/// Whether a scoped stream may hear of a change to approval `id` (its agent is bound).
async fn in_scope(db: &Arc<Db>, org: &str, id: &str, scope: &[String]) -> bool {
    let (org, id) = (org.to_string(), id.to_string());
    let agent = db
        .read(move |conn| {
            rows::get_approval(conn, &org, &id)
                .map(|a| a.map(|a| a.agent.id))
                .map_err(ApiError::from)
        })
        .await;
    matches!(agent, Ok(Some(a)) if scope.iter().any(|b| crate::db::tokens::binding_matches(b, &a)))
}

#[utoipa::path(get, path = "/api/v1/orgs/{org}/approvals/events", tag = "sync",
    params(("org" = String, Path, description = "Org id, e.g. org-demo")),
    responses(
        (status = 200, description = "Server-Sent Events: `event: change` (on connect and on every change) and `event: heartbeat`, each with data {\"change_seq\": N}", content_type = "text/event-stream", body = ChangeNotice),
        (status = 401, description = "Missing or unknown token", body = ErrorResponse), (status = 404, description = "No such org (for this token) or approval", body = ErrorResponse)),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    caller: OrgCaller,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Subscribe first, then read: a change in between is delivered, not lost.
    let rx = state.changes.subscribe();
    let org = caller.org().to_string();
    let scope = caller.agent_scope();
    let last = latest(&state.db, &org, scope.as_deref()).await?;
    let period = state.config.heartbeat_interval;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let init = StreamState {
        rx,
        heartbeat,
        shutdown: state.shutdown.clone(),
        db: Arc::clone(&state.db),
        org,
        scope,
        last,
        first: true,
    };
    let stream = stream::unfold(init, |mut s| async move {
        if s.first {
            s.first = false;
            let ev = event("change", s.last);
            return Some((Ok(ev), s));
        }
        if *s.shutdown.borrow() {
            return None;
        }
        loop {
            tokio::select! {
                r = s.rx.recv() => match r {
                    Ok(c) if c.org == s.org && c.seq > s.last => {
                        if let Some(scope) = &s.scope {
                            if !in_scope(&s.db, &s.org, &c.id, scope).await {
                                continue;
                            }
                        }
                        s.last = c.seq;
                        let ev = event("change", s.last);
                        return Some((Ok(ev), s));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {
                        // Missed some; the database knows the latest.
                        if let Ok(seq) = latest(&s.db, &s.org, s.scope.as_deref()).await {
                            s.last = s.last.max(seq);
                        }
                        let ev = event("change", s.last);
                        return Some((Ok(ev), s));
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = s.heartbeat.tick() => {
                    let ev = event("heartbeat", s.last);
                    return Some((Ok(ev), s));
                }
                _ = s.shutdown.changed() => return None,
            }
        }
    });
    Ok(Sse::new(stream))
}
