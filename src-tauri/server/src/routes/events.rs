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
    last: i64,
    first: bool,
}

fn event(kind: &'static str, seq: i64) -> Event {
    let data = serde_json::to_string(&ChangeNotice { change_seq: seq })
        .unwrap_or_else(|_| format!("{{\"change_seq\":{seq}}}"));
    Event::default().event(kind).data(data)
}

async fn latest(db: &Arc<Db>, org: &str) -> ApiResult<i64> {
    let org = org.to_string();
    db.read(move |conn| rows::latest_change_seq(conn, &org).map_err(ApiError::from))
        .await
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
    let last = latest(&state.db, &org).await?;
    let period = state.config.heartbeat_interval;
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let init = StreamState {
        rx,
        heartbeat,
        shutdown: state.shutdown.clone(),
        db: Arc::clone(&state.db),
        org,
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
                        s.last = c.seq;
                        let ev = event("change", s.last);
                        return Some((Ok(ev), s));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => {
                        // Missed some; the database knows the latest.
                        if let Ok(seq) = latest(&s.db, &s.org).await {
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
