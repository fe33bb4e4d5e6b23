//! Talking to the server: pull (changes cursor), push (outbox drain), and the
//! background loop (event stream with poll fallback, backoff, auth stop).

pub mod audit_head;
pub mod backoff;
pub mod events;
pub mod pull;
pub mod push;

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::conn_state::{ConnState, EngineEvent};
use crate::engine::{Engine, SyncSummary};
use crate::error::{CoreError, Result};

/// Decisions still queued and the sync cursor, for a [`SyncSummary`].
fn queue_position(e: &Engine) -> Result<(u64, i64)> {
    let store = e.reader()?;
    Ok((store.outbox_active_count()?, store.cursor()?))
}

/// Local expiry is re-evaluated when the next pending approval expires, and at least
/// this often: the wait is measured on the monotonic clock, so after a laptop
/// resumes from sleep (or the wall clock is corrected) it must not oversleep long.
const EXPIRY_RECHECK_MAX: Duration = Duration::from_secs(60);

/// Handle of the background loop started by [`Engine::start`].
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Background {
    /// Stops the loop and waits for it to finish its current step.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Engine {
    /// Pull everything new, then deliver queued decisions (ignoring backoff: the
    /// user asked). Updates the connection state from the outcome.
    pub async fn sync_now(&self) -> Result<SyncSummary> {
        let r = self.sync_once(true).await;
        self.note_outcome(&r);
        r
    }

    /// Deliver queued decisions now (ignoring backoff), without pulling first.
    pub async fn push_now(&self) -> Result<SyncSummary> {
        let r = async {
            let _guard = self.inner.sync_lock.lock().await;
            let client = self.client()?;
            let pushed = push::drain(self, &client, true).await?;
            let (remaining, cursor) = self.blocking(queue_position).await?;
            Ok(SyncSummary {
                delivered: pushed.delivered,
                rejected: pushed.rejected,
                expired_unsent: pushed.expired,
                remaining,
                cursor,
                ..SyncSummary::default()
            })
        }
        .await;
        self.note_outcome(&r);
        r
    }

    async fn sync_once(&self, force_push: bool) -> Result<SyncSummary> {
        let _guard = self.inner.sync_lock.lock().await;
        let client = self.client()?;
        let pulled = pull::pull(self, &client).await?;
        // After the pull, so the head covers what was just read; never fails the sync.
        if let Err(e) = audit_head::check(self, &client).await {
            tracing::warn!(error = %e, "audit head: not checked");
        }
        let pushed = push::drain(self, &client, force_push).await?;
        let (remaining, cursor) = self.blocking(queue_position).await?;
        Ok(SyncSummary {
            pulled: pulled.received,
            changed: pulled.changed,
            delivered: pushed.delivered,
            rejected: pushed.rejected,
            expired_unsent: pushed.expired,
            remaining,
            cursor,
            resync: pulled.resync,
        })
    }

    fn note_outcome<T>(&self, r: &Result<T>) {
        match r {
            Ok(_) => self.set_conn(ConnState::Online),
            Err(CoreError::Unauthorized(m)) => {
                self.set_conn(ConnState::Unauthorized { message: m.clone() })
            }
            // The same stopped state as any refused token, with the server's reason
            // (revoked, expired), which the app shows as "signed out: sign in again".
            Err(e @ CoreError::SignedOut(_)) => self.set_conn(ConnState::Unauthorized {
                message: e.to_string(),
            }),
            Err(CoreError::NotConfigured) => self.set_conn(ConnState::NotConfigured),
            Err(CoreError::Tls(m)) => {
                tracing::warn!(error = %m, "no secure connection to the server");
                self.set_conn(ConnState::Untrusted { message: m.clone() })
            }
            Err(e @ (CoreError::Network(_) | CoreError::Protocol(_))) => {
                self.set_conn(ConnState::Offline {
                    since: self.now(),
                    last_error: e.to_string(),
                })
            }
            Err(_) => {}
        }
    }

    /// Spawns the background loop on the current tokio runtime.
    pub fn start(&self) -> Background {
        let (stop, mut rx) = tokio::sync::watch::channel(false);
        let engine = self.clone();
        let task = tokio::spawn(async move {
            engine
                .run(async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
                .await
        });
        Background { stop, task }
    }

    /// The background loop, until `shutdown` completes: sync, then follow the event
    /// stream (or poll when it is unavailable), delivering decisions as they are
    /// queued; backoff on transient failures; stop talking on 401/403 until the
    /// configuration changes (login).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let shutdown = std::pin::pin!(shutdown);
        let mut shutdown = shutdown;
        // Expiry is reported from this moment on (see `tick_expiry`).
        self.swap_expiry_mark(self.now());
        let mut failures: u32 = 0;
        loop {
            let step = async {
                match self.sync_once(false).await {
                    Ok(_) => {
                        self.set_conn(ConnState::Online);
                        let r = self.follow().await;
                        if matches!(r, Ok(true)) {
                            failures = 0;
                        }
                        r
                    }
                    Err(e) => Err(e),
                }
            };
            let outcome = tokio::select! {
                _ = &mut shutdown => return,
                r = step => r,
            };
            let wait = match outcome {
                Ok(true) => Duration::ZERO,
                Ok(false) => {
                    // The stream ended almost at once: reconnecting right away could
                    // hammer a misbehaving server, so back off as for a failure.
                    failures = failures.saturating_add(1);
                    self.reconnect_delay(failures)
                }
                Err(e) => {
                    let r: Result<()> = Err(e);
                    self.note_outcome(&r);
                    match r {
                        Err(CoreError::Unauthorized(_))
                        | Err(CoreError::SignedOut(_))
                        | Err(CoreError::NotConfigured) => {
                            if self.park_until_credentials_change(shutdown.as_mut()).await {
                                return;
                            }
                            failures = 0;
                            continue;
                        }
                        // A certificate is not fixed by hammering the server: the state
                        // says what is wrong, and the loop looks again at the slow pace.
                        Err(CoreError::Tls(_)) => self.inner.opts.poll_interval,
                        Err(e) => {
                            tracing::debug!(error = %e, "sync failed");
                            failures = failures.saturating_add(1);
                            self.reconnect_delay(failures)
                        }
                        Ok(()) => Duration::ZERO,
                    }
                }
            };
            if !wait.is_zero() && self.idle(Some(wait), shutdown.as_mut()).await {
                return;
            }
        }
    }

    /// How long to wait before reconnecting after `failures` failures in a row: never
    /// longer than the poll interval, so a dead stream costs no more than polling.
    fn reconnect_delay(&self, failures: u32) -> Duration {
        let o = &self.inner.opts;
        backoff::delay(failures, o.backoff_base, o.backoff_max.min(o.poll_interval))
    }

    /// After an auth failure: never retries the refused credentials (no spinning), but
    /// notices a login made here (which pokes `wake` and leaves the refused state) or in
    /// another process sharing the data directory, such as `countersign login` in a
    /// terminal while the app is open. Returns true on shutdown.
    async fn park_until_credentials_change(
        &self,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> bool {
        let refused = self.stored_credentials_fingerprint();
        loop {
            if self
                .idle(Some(self.inner.opts.poll_interval), shutdown.as_mut())
                .await
            {
                return true;
            }
            let still_refused = matches!(
                self.conn_state(),
                ConnState::Unauthorized { .. } | ConnState::NotConfigured
            );
            if !still_refused {
                return false;
            }
            if self.stored_credentials_fingerprint() != refused {
                tracing::info!("credentials changed on disk; reconnecting");
                self.forget_client();
                return false;
            }
        }
    }

    /// Waits for `wait` (or for ever), a wake-up, or shutdown (returns true), keeping
    /// the local expiry display current meanwhile: offline is when it matters most.
    async fn idle(
        &self,
        wait: Option<Duration>,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> bool {
        let sleep = async {
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        // Whatever passed its expiry while we were busy (a failed sync, a short reconnect
        // wait that ended before the expiry timer below could fire) is reported now.
        if let Err(e) = self.blocking(|e| e.tick_expiry()).await {
            tracing::warn!(error = %e, "local expiry check failed");
        }
        loop {
            let until_expiry = self.next_expiry_delay().await;
            tokio::select! {
                _ = shutdown.as_mut() => return true,
                _ = &mut sleep => return false,
                _ = self.inner.wake.notified() => return false,
                _ = tokio::time::sleep(until_expiry) => {
                    if let Err(e) = self.blocking(|e| e.tick_expiry()).await {
                        tracing::warn!(error = %e, "local expiry check failed");
                    }
                }
            }
        }
    }

    /// Time until the next pending approval expires (capped by [`EXPIRY_RECHECK_MAX`]):
    /// the loop wakes for expiry only when there is something to expire.
    async fn next_expiry_delay(&self) -> Duration {
        let next = self
            .blocking(|e| {
                let now = e.now();
                Ok(e.reader()?.next_expiry_after(now)?.map(|at| at - now))
            })
            .await;
        match next {
            // A few milliseconds late, so the approval is past its expiry when we look.
            Ok(Some(d)) => (d.to_std().unwrap_or(Duration::ZERO) + Duration::from_millis(5))
                .min(EXPIRY_RECHECK_MAX),
            Ok(None) => EXPIRY_RECHECK_MAX,
            Err(e) => {
                tracing::warn!(error = %e, "next expiry unknown");
                EXPIRY_RECHECK_MAX
            }
        }
    }

    /// Expires unsent decisions whose approval expired, and tells subscribers about
    /// approvals that passed their expiry on this clock since the last check.
    pub(crate) fn tick_expiry(&self) -> Result<()> {
        self.expire_sweep()?;
        let now = self.now();
        let since = self.swap_expiry_mark(now);
        let ids = self.reader()?.expired_between(since, now)?;
        if !ids.is_empty() {
            self.emit(EngineEvent::ApprovalsChanged { ids });
        }
        Ok(())
    }

    /// Connected: follow the event stream, pulling on each change and pushing when
    /// decisions are queued or their backoff ends. Returns Ok when the stream ended
    /// normally (the caller resyncs and reconnects): `true` if it lasted a healthy
    /// while, `false` if it closed at once. Err on failure.
    async fn follow(&self) -> Result<bool> {
        let started = std::time::Instant::now();
        let healthy = move || started.elapsed() >= Duration::from_secs(5);
        let client = self.client()?;
        let opts = &self.inner.opts;
        let mut stream = match client.events().await {
            Ok(resp) => Some(resp),
            Err(crate::client::Failure::Unauthorized(m)) => return Err(CoreError::Unauthorized(m)),
            Err(crate::client::Failure::SignedOut(m)) => return Err(CoreError::SignedOut(m)),
            Err(e) => {
                tracing::info!(error = %e, "event stream unavailable; polling");
                None
            }
        };
        let mut parser = events::SseParser::new();
        let mut poll = tokio::time::interval(opts.poll_interval);
        poll.tick().await;
        loop {
            let next_push = self.blocking(|e| e.next_push_delay()).await?;
            // Local expiry is re-evaluated even with no network traffic.
            let until_expiry = self.next_expiry_delay().await;
            tokio::select! {
                chunk = async {
                    match stream.as_mut() {
                        Some(s) => tokio::time::timeout(opts.stream_idle_timeout, s.chunk()).await,
                        None => std::future::pending().await,
                    }
                } => {
                    match chunk {
                        Ok(Ok(Some(bytes))) => {
                            let evs = parser.feed(&bytes).map_err(|e| CoreError::Protocol(e.to_string()))?;
                            let cursor = self.blocking(|e| e.reader()?.cursor()).await?;
                            let newer = evs.iter().filter(|e| e.event == "change").any(|e| {
                                serde_json::from_str::<crate::api::ChangeNotice>(&e.data)
                                    .map(|n| n.change_seq > cursor)
                                    // An unreadable notice still means "something changed".
                                    .unwrap_or(true)
                            });
                            if newer {
                                self.locked_pull(&client).await?;
                            }
                        }
                        Ok(Ok(None)) => return Ok(healthy()),
                        Ok(Err(e)) => return Err(CoreError::Network(format!("event stream: {e}"))),
                        Err(_) => return Err(CoreError::Network("event stream went silent".into())),
                    }
                }
                _ = poll.tick() => {
                    self.locked_pull(&client).await?;
                    if stream.is_none() {
                        // Try the stream again next round.
                        return Ok(true);
                    }
                }
                _ = tokio::time::sleep(until_expiry) => {
                    self.blocking(|e| e.tick_expiry()).await?;
                }
                _ = self.inner.wake.notified() => {
                    self.locked_push(&client, false).await?;
                }
                _ = async {
                    match next_push {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.locked_push(&client, false).await?;
                }
            }
        }
    }

    /// Time until the outbox head may be tried again, if anything is queued.
    fn next_push_delay(&self) -> Result<Option<Duration>> {
        let head = self.reader()?.outbox_head()?;
        Ok(head.map(|h| {
            // Wakes when the backoff and the undo window are both over: no polling.
            (h.due_at() - self.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(10))
        }))
    }

    async fn locked_pull(&self, client: &crate::client::ApiClient) -> Result<()> {
        let _guard = self.inner.sync_lock.lock().await;
        pull::pull(self, client).await?;
        Ok(())
    }

    async fn locked_push(&self, client: &crate::client::ApiClient, force: bool) -> Result<()> {
        let _guard = self.inner.sync_lock.lock().await;
        push::drain(self, client, force).await?;
        Ok(())
    }

    pub(crate) fn synced(&self) -> Result<()> {
        let now = self.now();
        let store = self.store();
        store.set_last_synced(now)?;
        // The offset is kept for offline use; written when it moved by a second or
        // more, so a steady clock costs no writes.
        if let Some(ms) = self.clock_offset_ms() {
            if self.offset_needs_saving(ms) {
                store.set_clock_offset_ms(ms)?;
            }
        }
        drop(store);
        self.emit(EngineEvent::Synced { at: now });
        Ok(())
    }
}
