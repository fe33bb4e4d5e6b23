//! Limits that keep one client from crowding out the others: connections are served
//! up to a cap, each must send its request head within a timeout (a slowloris socket
//! is closed), and each bearer token has a request budget, with a smaller one for
//! creating approvals (an agent in a loop cannot flood the approvers' queue).
//!
//! Token buckets are keyed by the SHA-256 of the `Authorization` header, whatever it
//! holds: the check runs before the token is looked up, so a flood costs no database
//! read, and a valid token never shares a budget with another.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use countersign_api::codes;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Semaphore};

use crate::error::ApiError;
use crate::state::AppState;

/// Distinct keys a bucket set remembers; past this, full (idle) buckets are dropped
/// first, and if every one is in use the oldest half goes (a spray of made-up tokens
/// must not grow memory without bound).
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// One budget per key: `per_minute` requests at once, refilled evenly over a minute.
#[derive(Debug)]
pub struct Buckets {
    per_minute: u32,
    map: Mutex<HashMap<[u8; 32], Bucket>>,
}

impl Buckets {
    pub fn new(per_minute: u32) -> Self {
        Buckets {
            per_minute,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s budget, or says how long until one is there.
    pub fn take(&self, key: &[u8; 32], now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(key) {
            map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * per_sec < capacity
            });
            if map.len() >= MAX_TRACKED {
                let mut lasts: Vec<Instant> = map.values().map(|b| b.last).collect();
                lasts.sort_unstable();
                let cut = lasts[lasts.len() / 2];
                map.retain(|_, b| b.last > cut);
            }
        }
        let b = map.entry(*key).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_sec).min(capacity);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }
}

/// The two budgets of every token: all requests, and creations.
#[derive(Debug)]
pub struct RateLimiter {
    pub all: Buckets,
    pub create: Buckets,
}

impl RateLimiter {
    pub fn new(per_minute: u32, create_per_minute: u32) -> Self {
        RateLimiter {
            all: Buckets::new(per_minute),
            create: Buckets::new(create_per_minute),
        }
    }
}

/// `POST /api/v1/orgs/{org}/approvals`: the one request that creates an approval.
fn is_create(method: &Method, path: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["", "api", "v1", "orgs", _, "approvals"]
    )
}

fn key_of(headers: &HeaderMap) -> Option<[u8; 32]> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| Sha256::digest(v.as_bytes()).into())
}

/// A 429 `rate_limited` with `Retry-After` in whole seconds (at least 1).
pub fn too_many(wait: Duration, what: &str) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        codes::RATE_LIMITED,
        format!("too many {what} with this token; retry after {secs} s"),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// Middleware: spends the caller's budget before anything else runs.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(key) = key_of(req.headers()) {
        let now = Instant::now();
        if let Err(wait) = state.limiter.all.take(&key, now) {
            return too_many(wait, "requests");
        }
        if is_create(req.method(), req.uri().path()) {
            if let Err(wait) = state.limiter.create.take(&key, now) {
                return too_many(wait, "new approvals");
            }
        }
    }
    next.run(req).await
}

/// Resolves once the shutdown flag is raised (or its sender is gone). The flag's
/// guard is dropped here: it must not live across an await of a spawned task.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` (plain TCP or TLS) until the shutdown flag is raised,
/// then lets in-flight requests finish. Like `axum::serve`, plus the header-read
/// timeout and the connection cap: at the cap, the next connection is not accepted
/// until one closes, so it waits in the kernel's queue while the others are served.
pub async fn serve<L>(
    mut listener: L,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
    limits: ConnLimits,
) where
    L: Listener,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Every connection task holds a receiver; all dropped means all finished.
    let (done_tx, done_rx) = watch::channel(());
    loop {
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = stopped(&mut stop) => break,
        };
        let (io, _) = tokio::select! {
            c = listener.accept() => c,
            _ = stopped(&mut stop) => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let mut conn_stop = stop.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let mut conn = pin!(builder.serve_connection(TokioIo::new(io), service));
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = stopped(&mut conn_stop) => {
                    conn.as_mut().graceful_shutdown();
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
            }
            drop(slot);
            drop(done);
        });
    }
    drop(listener);
    drop(done_rx);
    done_tx.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_refills() {
        let b = Buckets::new(60);
        let key = [1u8; 32];
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(b.take(&key, t0).is_ok());
        }
        let wait = b.take(&key, t0).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(
            b.take(&[2u8; 32], t0).is_ok(),
            "another key has its own budget"
        );
        assert!(b.take(&key, t0 + Duration::from_secs(1)).is_ok());
        assert!(Buckets::new(0).take(&key, t0).is_ok(), "0 is off");
    }

    #[test]
    fn creations_are_told_apart() {
        assert!(is_create(&Method::POST, "/api/v1/orgs/org-demo/approvals"));
        assert!(is_create(&Method::POST, "/api/v1/orgs/org-demo/approvals/"));
        assert!(!is_create(&Method::GET, "/api/v1/orgs/org-demo/approvals"));
        assert!(!is_create(
            &Method::POST,
            "/api/v1/orgs/org-demo/approvals/appr-1/approve"
        ));
    }
}
