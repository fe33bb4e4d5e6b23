//! The `Engine`: a cheap, clonable, `Send + Sync` handle over the store, the token,
//! the connection state and the background sync loop. Queries and decisions are
//! synchronous (local SQLite, return at once); talking to the server is async.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};

use crate::api::{self, DecisionKind, Role, Stats, WhoAmI};
use crate::client::ApiClient;
use crate::conn_state::{ConnState, EngineEvent, SyncStatus};
use crate::error::{CoreError, Result};
use crate::notify_plan::{self, Announced, PlannedNotification};
use crate::private_files;
use crate::receipt::DeviceKey;
use crate::secrets::SecretStore;
use crate::server_clock::ServerClock;
use crate::settings::{self, Settings};
use crate::store::activity::ApprovalContext;
use crate::store::approvals::{ApprovalDetail, Facets, QueueItem, QueuePage, QueueQuery};
use crate::store::cipher::{StoreKey, StoreRecovery};
use crate::store::count_memo::CountMemo;
use crate::store::outbox::{NewDecision, OutboxEntry, OutboxState};
use crate::store::resync::ResyncReport;
use crate::store::Store;
use crate::token::{TokenLocation, TokenStore};

/// Source of the device's "now"; replaceable so tests can move the clock past an
/// expiry or skew it. The engine's [`Engine::now`] is this plus the server offset.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Tuning knobs; the defaults suit the desktop app and the CLI.
#[derive(Clone)]
pub struct EngineOptions {
    pub clock: Clock,
    /// Poll interval when the event stream is unavailable, and safety poll when it is.
    pub poll_interval: Duration,
    /// Backoff for transient failures (outbox and reconnects).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Page size for `changes`.
    pub page_limit: u32,
    /// Event stream silent for this long is considered dead (server heartbeats are faster).
    pub stream_idle_timeout: Duration,
    /// Use only the fallback files for secrets (token, store key), never the OS keychain.
    pub file_token_store: bool,
    /// Encrypt the local store (SQLCipher, key in the keychain). Off only for the
    /// benchmarks' plaintext baseline.
    pub encrypt_store: bool,
    /// Most queued decisions sent in one request (1 sends each on its own). Defaults
    /// to the API's bulk limit, or [`PUSH_BATCH_ENV`] when set.
    pub max_batch: usize,
}

/// Overrides [`EngineOptions::max_batch`] (1 to `MAX_BULK_IDS`), e.g. for a proxy in
/// front of the server that refuses large bodies.
pub const PUSH_BATCH_ENV: &str = "COUNTERSIGN_PUSH_BATCH";

fn max_batch_from_env() -> usize {
    std::env::var(PUSH_BATCH_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(api::MAX_BULK_IDS, |n| n.clamp(1, api::MAX_BULK_IDS))
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            clock: Arc::new(Utc::now),
            poll_interval: Duration::from_secs(30),
            backoff_base: crate::sync::backoff::BASE,
            backoff_max: crate::sync::backoff::MAX,
            page_limit: api::MAX_PAGE_LIMIT,
            stream_idle_timeout: Duration::from_secs(90),
            file_token_store: false,
            encrypt_store: true,
            max_batch: max_batch_from_env(),
        }
    }
}

/// Result of queuing decisions.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    pub entries: Vec<OutboxEntry>,
    /// Ids not queued, with the reason (already decided, expired, unknown, ...).
    pub skipped: Vec<(String, String)>,
}

/// What a `sync_now` did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncSummary {
    /// Approvals received from the server.
    pub pulled: usize,
    /// Cached approvals that changed.
    pub changed: usize,
    pub delivered: usize,
    pub rejected: usize,
    pub expired_unsent: usize,
    /// Decisions still queued afterwards.
    pub remaining: u64,
    pub cursor: i64,
    /// Set when the server's history changed and everything was pulled again.
    #[serde(default)]
    pub resync: Option<ResyncReport>,
}

/// What `logout` removed and what tokens this device still keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogoutOutcome {
    /// Accounts (`org@server`) whose token was removed.
    pub removed: Vec<String>,
    /// Accounts whose token is still stored here.
    pub remaining: Vec<String>,
}

/// What `forget_device` removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ForgottenDevice {
    /// Accounts (`org@server`) whose token was removed.
    pub tokens: Vec<String>,
    /// The store's files that were deleted.
    pub files: Vec<PathBuf>,
    /// Decisions still queued (never sent) that were deleted with the store.
    pub discarded_queued: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginOutcome {
    pub who: WhoAmI,
    pub token_location: TokenLocation,
    /// The id of this device's registered signing key; `None` when decisions go
    /// unsigned (a server without device keys).
    #[serde(default)]
    pub device_key_id: Option<String>,
}

pub(crate) struct Inner {
    pub(crate) home: PathBuf,
    /// The one writer connection. Held only inside blocking code: async callers go
    /// through [`Engine::blocking`], so an fsync never stalls a runtime thread.
    store: Mutex<Store>,
    /// Read-only connections, taken and returned by [`Engine::reader`]. Queries never
    /// queue behind the writer (WAL), so a read answers while a sync commits.
    readers: Mutex<Vec<Store>>,
    /// Queue totals per filter shape, shared by every reader.
    counts: Mutex<CountMemo>,
    pub(crate) tokens: TokenStore,
    /// The store's encryption key, for each connection the reader pool opens.
    key: Option<StoreKey>,
    /// The device's own secrets (store key), removed by `forget_device`.
    secrets: SecretStore,
    /// An unreadable store moved aside when this engine opened.
    recovered: Option<StoreRecovery>,
    pub(crate) events: broadcast::Sender<EngineEvent>,
    conn: Mutex<ConnState>,
    /// Poked when there is something to send or the configuration changed.
    pub(crate) wake: Notify,
    pub(crate) opts: EngineOptions,
    /// One pull/push at a time per process.
    pub(crate) sync_lock: tokio::sync::Mutex<()>,
    client: Mutex<Option<ApiClient>>,
    /// Last time local expiry was checked, to report what expired since.
    expiry_mark: Mutex<DateTime<Utc>>,
    /// The server's time as this device estimates it.
    clock: Arc<ServerClock>,
    /// The offset last written to the store, to skip writes that change nothing.
    saved_offset_ms: AtomicI64,
    /// This device's signing key for the current account, loaded on first use
    /// (`Some(None)`: none registered, decisions go unsigned).
    device_key: Mutex<Option<Option<DeviceKey>>>,
}

#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("home", &self.inner.home)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the engine on `home` (created if missing), e.g. [`crate::paths::home_dir`].
    pub fn open(home: &Path) -> Result<Engine> {
        Self::open_with(home, EngineOptions::default())
    }

    pub fn open_with(home: &Path, opts: EngineOptions) -> Result<Engine> {
        private_files::secure_home(home)?;
        let db_path = crate::paths::db_path(home);
        private_files::precreate_private_file(&db_path)?;
        let secrets = SecretStore::device(home, opts.file_token_store);
        let (store, key, recovered) = if opts.encrypt_store {
            let o = crate::store::cipher::open_encrypted(&db_path, &secrets)?;
            (o.store, Some(o.key), o.recovered)
        } else {
            (Store::open(&db_path, None)?, None, None)
        };
        let clock = Arc::new(ServerClock::new(opts.clock.clone()));
        let saved = store.clock_offset_ms()?;
        if let Some(ms) = saved {
            clock.restore(ms);
        }
        let tokens = if opts.file_token_store {
            TokenStore::file_only(home)
        } else {
            TokenStore::new(home)
        };
        let (events, _) = broadcast::channel(256);
        let engine = Engine {
            inner: Arc::new(Inner {
                home: home.to_path_buf(),
                store: Mutex::new(store),
                readers: Mutex::new(Vec::new()),
                counts: Mutex::new(CountMemo::default()),
                tokens,
                key,
                secrets,
                recovered,
                events,
                conn: Mutex::new(ConnState::NotConfigured),
                wake: Notify::new(),
                opts,
                sync_lock: tokio::sync::Mutex::new(()),
                client: Mutex::new(None),
                expiry_mark: Mutex::new(DateTime::<Utc>::MIN_UTC),
                clock,
                saved_offset_ms: AtomicI64::new(saved.unwrap_or(i64::MIN)),
                device_key: Mutex::new(None),
            }),
        };
        let initial = if engine.client().is_ok() {
            ConnState::Syncing
        } else {
            ConnState::NotConfigured
        };
        *lock(&engine.inner.conn) = initial;
        Ok(engine)
    }

    pub fn home(&self) -> &Path {
        &self.inner.home
    }

    /// Set when the store on disk could not be read with this device's key and was
    /// moved aside on open: the UI and CLI show [`StoreRecovery::message`].
    pub fn store_recovery(&self) -> Option<&StoreRecovery> {
        self.inner.recovered.as_ref()
    }

    /// `logout --forget-device`: removes every token this device stored, then (with
    /// the store closed) the store itself, its side files and the device's secrets.
    /// Refused while another handle to this engine is alive (a running sync loop).
    pub fn forget_device(self) -> Result<ForgottenDevice> {
        // Said out loud: these decisions were never sent and go with the store.
        let discarded_queued = self.store().outbox_active_count()?;
        let logout = self.logout(true)?;
        let inner = Arc::try_unwrap(self.inner).map_err(|_| {
            CoreError::Invalid("the engine is still in use; stop syncing first".into())
        })?;
        let db = crate::paths::db_path(&inner.home);
        let Inner {
            store,
            readers,
            secrets,
            ..
        } = inner;
        // Close every connection before the files go.
        drop(readers);
        drop(store);
        let files = crate::store::cipher::forget_store(&db, &secrets)?;
        Ok(ForgottenDevice {
            tokens: logout.removed,
            files,
            discarded_queued,
        })
    }

    /// The server's time as this device estimates it: the device clock corrected by
    /// the offset measured on every answer (persisted, so it holds offline). Expiry,
    /// countdowns and notifications use this, so a wrong laptop clock neither blocks
    /// a valid decision nor shows an expired approval as pending.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The device's own clock, uncorrected.
    pub fn local_now(&self) -> DateTime<Utc> {
        self.inner.clock.local_now()
    }

    /// Server time minus device time, in milliseconds, once measured.
    pub fn clock_offset_ms(&self) -> Option<i64> {
        self.inner.clock.offset_ms()
    }

    /// Whether `ms` moved a second or more from what the store holds (and notes it
    /// as saved): a steady clock costs no writes.
    pub(crate) fn offset_needs_saving(&self, ms: i64) -> bool {
        let saved = self.inner.saved_offset_ms.load(Ordering::Relaxed);
        let needed = saved == i64::MIN || (ms - saved).abs() >= 1000;
        if needed {
            self.inner.saved_offset_ms.store(ms, Ordering::Relaxed);
        }
        needed
    }

    /// Sets the expiry mark to `now`, returning the previous one (first call: `now`).
    pub(crate) fn swap_expiry_mark(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut mark = lock(&self.inner.expiry_mark);
        let prev = if *mark == DateTime::<Utc>::MIN_UTC {
            now
        } else {
            *mark
        };
        *mark = now;
        prev
    }

    /// The writer connection. Blocking: call it from sync code or inside
    /// [`Engine::blocking`], never directly on an async runtime thread.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.inner.store)
    }

    /// A read-only connection from the pool (opened on first use). Reads never take
    /// the writer's lock, so they do not wait for a sync's commit.
    pub(crate) fn reader(&self) -> Result<Reader<'_>> {
        let pooled = lock(&self.inner.readers).pop();
        let store = match pooled {
            Some(s) => s,
            None => Store::open_reader(
                &crate::paths::db_path(&self.inner.home),
                self.inner.key.as_ref(),
            )?,
        };
        Ok(Reader {
            engine: self,
            store: Some(store),
        })
    }

    /// Runs `f` on tokio's blocking pool. SQLite calls block (an fsync under
    /// `synchronous=FULL` can take tens of milliseconds on a laptop disk, and the
    /// writer lock may be held by a sync committing a page), so async code never
    /// calls the engine's synchronous methods directly: it hands them to a thread
    /// that may block, the way the server's `Db::read/write` does. Sync callers
    /// (the CLI, tests) keep calling the methods directly.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Engine) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| CoreError::Internal(format!("blocking task failed: {e}")))?
    }

    // ------------------------------------------------------------------ events

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, ev: EngineEvent) {
        // No subscribers is fine.
        let _ = self.inner.events.send(ev);
    }

    pub fn conn_state(&self) -> ConnState {
        lock(&self.inner.conn).clone()
    }

    pub(crate) fn set_conn(&self, next: ConnState) {
        let changed = {
            let mut cur = lock(&self.inner.conn);
            let next = match (&*cur, next) {
                // Keep the first moment we went offline.
                (ConnState::Offline { since, .. }, ConnState::Offline { last_error, .. }) => {
                    ConnState::Offline {
                        since: *since,
                        last_error,
                    }
                }
                (_, n) => n,
            };
            if *cur != next {
                *cur = next.clone();
                Some(next)
            } else {
                None
            }
        };
        if let Some(state) = changed {
            tracing::info!(state = state.label(), "connection state");
            self.emit(EngineEvent::ConnectionChanged { state });
        }
    }

    /// The epoch of the server this store last synced from (see `ChangesPage::epoch`),
    /// which v2 receipts name; `None` before the first sync.
    pub fn server_epoch(&self) -> Result<Option<String>> {
        self.reader()?.server_epoch()
    }

    pub fn status(&self) -> Result<SyncStatus> {
        let store = self.reader()?;
        let clock_offset_ms = self.clock_offset_ms();
        Ok(SyncStatus {
            conn: self.conn_state(),
            last_synced: store.last_synced()?,
            outbox_pending: store.outbox_active_count()?,
            clock_offset_ms,
            clock_off: clock_offset_ms
                .is_some_and(|ms| ms.abs() > crate::server_clock::CLOCK_OFF_THRESHOLD_MS),
            store_notice: self.inner.recovered.as_ref().map(StoreRecovery::message),
            audit_notice: store.meta_get(crate::sync::audit_head::NOTICE_META)?,
        })
    }

    // ---------------------------------------------------------------- settings

    pub fn settings(&self) -> Result<Settings> {
        self.reader()?.load_settings()
    }

    pub fn set_expiring_soon_secs(&self, secs: i64) -> Result<()> {
        settings::validate_expiring_soon_secs(secs)?;
        let store = self.store();
        let mut s = store.load_settings()?;
        s.expiring_soon_secs = secs;
        store.save_settings(&s)
    }

    pub fn set_undo_window_secs(&self, secs: i64) -> Result<()> {
        if !(0..=settings::MAX_UNDO_WINDOW_SECS).contains(&secs) {
            return Err(CoreError::Settings(format!(
                "the undo window must be between 0 and {} seconds",
                settings::MAX_UNDO_WINDOW_SECS
            )));
        }
        let store = self.store();
        let mut s = store.load_settings()?;
        s.undo_window_secs = secs;
        store.save_settings(&s)
    }

    pub fn set_notifications_enabled(&self, on: bool) -> Result<()> {
        let store = self.store();
        let mut s = store.load_settings()?;
        s.notifications_enabled = on;
        store.save_settings(&s)
    }

    /// Checks the token against `/api/v1/me`, then stores it (keychain or private
    /// file) and the server/org. Switching to another server or org drops the cache.
    pub async fn login(&self, server_url: &str, org: &str, token: &str) -> Result<LoginOutcome> {
        self.login_with(server_url, org, token, false).await
    }

    /// [`Engine::login`], with `allow_insecure_http` the user's explicit consent to a
    /// plain `http://` server beyond this machine ([`settings::check_transport`]): the
    /// only way to sign in to one. The consent is stored with the account, and
    /// [`Engine::insecure_server`] reports it from then on.
    pub async fn login_with(
        &self,
        server_url: &str,
        org: &str,
        token: &str,
        allow_insecure_http: bool,
    ) -> Result<LoginOutcome> {
        let server_url = settings::normalize_server_url(server_url)?;
        // Before anything is sent: the token must not cross a network in clear.
        let transport = settings::check_transport(&server_url, allow_insecure_http)?;
        settings::validate_org(org)?;
        let token = token.trim();
        if token.is_empty() {
            return Err(CoreError::Invalid("the token is empty".into()));
        }
        let client =
            ApiClient::new(&server_url, org, token)?.with_server_clock(self.inner.clock.clone());
        let who = client.me().await.map_err(CoreError::from)?;
        if who.role != Role::Approver {
            return Err(CoreError::Invalid(format!(
                "this token belongs to {} ({:?}), not an approver",
                who.subject, who.role
            )));
        }
        if who.org_id != org {
            return Err(CoreError::Invalid(format!(
                "this token is for org {:?}, not {org:?}",
                who.org_id
            )));
        }
        {
            // Decisions queued under another account must not be sent with this
            // token (they would be attributed to someone else) nor dropped.
            let store = self.store();
            let s = store.load_settings()?;
            let same_place = s.server_url.as_deref() == Some(server_url.as_str())
                && s.org.as_deref() == Some(org);
            let same_person = same_place && s.subject.as_deref() == Some(who.subject.as_str());
            let queued = store.outbox_active_count()?;
            if queued > 0 && !same_person {
                return Err(CoreError::Invalid(format!(
                    "{queued} decision(s) by {} are still queued for {}; sign in as them and sync before switching accounts",
                    s.subject.as_deref().unwrap_or("the previous user"),
                    s.org.as_deref().unwrap_or("the previous org"),
                )));
            }
        }
        let account = TokenStore::account(&server_url, org);
        let location = self.inner.tokens.save(&account, token)?;
        // Remembered (the name only) so `logout --all` can find keychain entries,
        // which cannot be listed.
        self.store().remember_token_account(&account)?;
        {
            let mut store = self.store();
            let mut s = store.load_settings()?;
            if s.server_url.as_deref() != Some(server_url.as_str()) || s.org.as_deref() != Some(org)
            {
                store.reset_cache()?;
            }
            s.server_url = Some(server_url);
            s.org = Some(org.to_string());
            s.subject = Some(who.subject.clone());
            s.allow_insecure_http = transport == settings::Transport::InsecureHttp;
            store.save_settings(&s)?;
        }
        let device = crate::receipt::register(&client, &self.inner.tokens, &account).await;
        let device_key_id = device.as_ref().map(|k| k.key_id.clone());
        *lock(&self.inner.device_key) = Some(device);
        *lock(&self.inner.client) = Some(client);
        self.set_conn(ConnState::Syncing);
        self.inner.wake.notify_one();
        Ok(LoginOutcome {
            who,
            token_location: location,
            device_key_id,
        })
    }

    /// The current server when it is reached over plain `http://` beyond this machine
    /// (signed in with the explicit override, or saved by an older version): shown on
    /// every CLI command and in the app's status bar for as long as it lasts.
    pub fn insecure_server(&self) -> Result<Option<String>> {
        let s = self.settings()?;
        Ok(s.server_url
            .filter(|u| settings::Transport::of(u) == settings::Transport::InsecureHttp))
    }

    /// Forgets the token of the current server and org (under every spelling of the
    /// server this device used), or with `all` every token this device stored, from
    /// the keychain and the fallback file. Cached approvals and queued decisions stay
    /// (they are delivered after the next login to the same server and org).
    pub fn logout(&self, all: bool) -> Result<LogoutOutcome> {
        let s = self.settings()?;
        let known = {
            let mut k = self.reader()?.token_accounts()?;
            k.extend(self.inner.tokens.file_accounts()?);
            k.sort();
            k.dedup();
            k
        };
        let targets: Vec<String> = if all {
            known.clone()
        } else {
            match s.endpoint() {
                Some((server, org)) => {
                    let current = TokenStore::account(server, org);
                    let mut t: Vec<String> = known
                        .iter()
                        .filter(|a| same_account(a, &current))
                        .cloned()
                        .collect();
                    t.push(current);
                    t.sort();
                    t.dedup();
                    t
                }
                None => Vec::new(),
            }
        };
        for account in &targets {
            self.inner.tokens.clear(account)?;
        }
        let remaining: Vec<String> = known
            .into_iter()
            .filter(|a| !targets.contains(a))
            .filter(|a| matches!(self.inner.tokens.load(a), Ok(Some(_))))
            .collect();
        self.store().forget_token_accounts(&targets)?;
        *lock(&self.inner.client) = None;
        *lock(&self.inner.device_key) = None;
        self.set_conn(ConnState::NotConfigured);
        self.inner.wake.notify_one();
        Ok(LogoutOutcome {
            removed: targets,
            remaining,
        })
    }

    /// A hash of the server, org and token as stored now (bypassing the cached client),
    /// so the sync loop can tell that another process signed in. `None` when incomplete.
    pub(crate) fn stored_credentials_fingerprint(&self) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let s = self.settings().ok()?;
        let (server, org) = s.endpoint()?;
        let token = self
            .inner
            .tokens
            .load(&TokenStore::account(server, org))
            .ok()??;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (server, org, token.as_str()).hash(&mut h);
        Some(h.finish())
    }

    /// Drops the cached client so the next request reads settings and token afresh.
    pub(crate) fn forget_client(&self) {
        *lock(&self.inner.client) = None;
        *lock(&self.inner.device_key) = None;
    }

    /// Where the signed-in endpoint's token is kept (keychain or file), if one is.
    pub fn token_location(&self) -> Result<Option<crate::token::TokenLocation>> {
        let s = self.settings()?;
        match s.endpoint() {
            Some((server, org)) => self.inner.tokens.locate(&TokenStore::account(server, org)),
            None => Ok(None),
        }
    }

    /// An API client from the settings and the stored token.
    pub fn client(&self) -> Result<ApiClient> {
        if let Some(c) = lock(&self.inner.client).as_ref() {
            return Ok(c.clone());
        }
        let s = self.settings()?;
        let (server, org) = s.endpoint().ok_or(CoreError::NotConfigured)?;
        let token = self
            .inner
            .tokens
            .load(&TokenStore::account(server, org))?
            .ok_or(CoreError::NotConfigured)?;
        let client =
            ApiClient::new(server, org, &token)?.with_server_clock(self.inner.clock.clone());
        *lock(&self.inner.client) = Some(client.clone());
        Ok(client)
    }

    // ----------------------------------------------------------------- queries

    /// The queue, filtered/sorted/paged, with local expiry and optimistic decisions
    /// applied. The sweep first is a single read unless a queued decision just expired.
    pub fn list(&self, q: &QueueQuery) -> Result<QueuePage> {
        self.expire_sweep()?;
        let now = self.now();
        let reader = self.reader()?;
        Ok(QueuePage {
            items: reader.page(q, now)?,
            total: self.total_with(&reader, q, now)?,
        })
    }

    /// One page by key (`after`/`before`) or jump (`offset`), without a total.
    pub fn page(&self, q: &QueueQuery) -> Result<Vec<QueueItem>> {
        self.expire_sweep()?;
        self.reader()?.page(q, self.now())
    }

    /// Matches of `q`'s filters over all pages, memoised per filter shape until a
    /// cached approval changes (or a pending one expires on this clock).
    pub fn count(&self, q: &QueueQuery) -> Result<u64> {
        self.expire_sweep()?;
        let reader = self.reader()?;
        self.total_with(&reader, q, self.now())
    }

    fn total_with(&self, store: &Store, q: &QueueQuery, now: DateTime<Utc>) -> Result<u64> {
        // Stamp before counting: a change committed in between makes the entry look
        // stale (recounted next time), never fresh.
        let stamp = store.change_stamp()?;
        if let Some(t) = lock(&self.inner.counts).get(store, stamp, q, now)? {
            return Ok(t);
        }
        // Counted outside the lock: another window's count need not wait for this one.
        let total = store.count(q, now)?;
        lock(&self.inner.counts).put(stamp, q, now, total);
        Ok(total)
    }

    /// See [`Store::rows_matching`].
    pub fn rows_matching(&self, q: &QueueQuery, ids: &[String]) -> Result<Vec<QueueItem>> {
        self.expire_sweep()?;
        self.reader()?.rows_matching(q, ids, self.now())
    }

    /// See [`Store::position`].
    pub fn position(&self, q: &QueueQuery, id: &str) -> Result<Option<u64>> {
        self.expire_sweep()?;
        self.reader()?.position(q, id, self.now())
    }

    pub fn facets(&self) -> Result<Facets> {
        self.reader()?.facets()
    }

    pub fn detail(&self, id: &str) -> Result<ApprovalDetail> {
        self.expire_sweep()?;
        let reader = self.reader()?;
        let mut d = reader
            .detail(id, self.now())?
            .ok_or_else(|| CoreError::NotFound(id.to_string()))?;
        let me = reader.load_settings()?.subject;
        let decided_here = d
            .local_decision
            .as_ref()
            .is_some_and(|e| e.state == OutboxState::Applied);
        d.decided_by_you_elsewhere = !decided_here
            && d.approval
                .decision
                .as_ref()
                .is_some_and(|dec| Some(dec.by.as_str()) == me.as_deref());
        Ok(d)
    }

    /// This agent's recent activity and the parameters against the last approved
    /// request of its kind, from the cache (works offline).
    pub fn approval_context(&self, id: &str) -> Result<ApprovalContext> {
        self.reader()?
            .approval_context(id, self.now())?
            .ok_or_else(|| CoreError::NotFound(id.to_string()))
    }

    /// Stats from the cache (works offline), same shape as the server's.
    pub fn local_stats(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Stats> {
        self.reader()?.local_stats(from, to, self.now())
    }

    /// Stats from the server.
    pub async fn server_stats(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Stats> {
        Ok(self.client()?.stats(from, to).await?)
    }

    /// Outbox rows in the given states (all when empty), oldest first, without the
    /// ones the approver dismissed.
    pub fn outbox(&self, states: &[OutboxState]) -> Result<Vec<OutboxEntry>> {
        self.expire_sweep()?;
        self.reader()?.outbox_list(states, false)
    }

    /// Like [`Engine::outbox`], dismissed rows included (they are kept for the record).
    pub fn outbox_including_dismissed(&self, states: &[OutboxState]) -> Result<Vec<OutboxEntry>> {
        self.expire_sweep()?;
        self.reader()?.outbox_list(states, true)
    }

    /// Denial reasons to offer in the deny field (see `Store::deny_reasons`).
    pub fn deny_reasons(&self, limit: usize) -> Result<Vec<crate::store::reasons::DenyReason>> {
        self.reader()?.deny_reasons(limit)
    }

    /// Acknowledges a rejected or expired decision: it leaves the default outbox
    /// listing and the attention counts, the row stays. Idempotent; any other state
    /// (still queued, or applied) is `invalid_input`.
    pub fn dismiss_outbox(&self, outbox_id: i64) -> Result<OutboxEntry> {
        let before = self.store().outbox_entry(outbox_id)?;
        let e = self.store().outbox_dismiss(outbox_id, self.now())?;
        if before.is_some_and(|b| b.dismissed_at.is_none()) {
            tracing::info!(approval = %e.approval_id, seq = e.seq, "failed decision dismissed");
            self.emit(EngineEvent::OutboxChanged);
        }
        Ok(e)
    }

    /// One outbox row by its sequence number.
    pub fn outbox_entry(&self, seq: i64) -> Result<Option<OutboxEntry>> {
        self.reader()?.outbox_entry(seq)
    }

    /// Fetches the approval and its audit trail from the server into the cache, and
    /// tells subscribers (`ApprovalsChanged` with this id) when either changed. Readers
    /// never wait for this: the shell runs it in the background after answering from
    /// the cache, and the window patches the open detail when the event arrives.
    pub async fn refresh_detail(&self, id: &str) -> Result<ApprovalDetail> {
        let client = self.client()?;
        let (approval, audit) = tokio::try_join!(client.approval(id), client.audit(id))?;
        if approval.id != id || audit.approval_id != id || approval.org_id != client.org() {
            return Err(CoreError::Protocol(format!(
                "asked for {id}, the server answered about another approval"
            )));
        }
        let id = id.to_string();
        self.blocking(move |e| {
            let now = e.now();
            let changed = {
                let mut store = e.store();
                let changed = !store
                    .upsert_approvals(std::slice::from_ref(&approval))?
                    .is_empty();
                store.save_audit(&audit, now)? || changed
            };
            if changed {
                e.emit(EngineEvent::ApprovalsChanged {
                    ids: vec![id.clone()],
                });
            }
            e.detail(&id)
        })
        .await
    }

    /// Before deciding `ids`: those this device's clock alone calls expired are asked
    /// about on the server, which decides what has expired while it can be reached. Its
    /// answer also measures the device clock again, so a clock that jumped since the last
    /// answer (the offset kept from before the jump is wrong by the jump) stops refusing
    /// valid decisions. Unreachable, the local check stands in: errors are only logged.
    pub async fn ask_server_about_expired(&self, ids: &[String]) {
        if self.client().is_err() {
            return;
        }
        for id in ids {
            let locally_expired = self.detail(id).is_ok_and(|d| d.locally_expired);
            if !locally_expired {
                continue;
            }
            if let Err(e) = self.refresh_detail(id).await {
                tracing::info!(approval = %id, error = %e, "server not asked about expiry; the local clock decides");
                return;
            }
        }
    }

    // ----------------------------------------------------------------- actions

    pub fn decide_approve(&self, id: &str, notes: Option<&str>) -> Result<Queued> {
        self.decide(&[id.to_string()], DecisionKind::Approve, notes, None, None)
    }

    pub fn decide_deny(&self, id: &str, reason: &str, notes: Option<&str>) -> Result<Queued> {
        self.decide(
            &[id.to_string()],
            DecisionKind::Deny,
            notes,
            Some(reason),
            None,
        )
    }

    pub fn bulk_approve(&self, ids: &[String], notes: Option<&str>) -> Result<Queued> {
        let batch = uuid::Uuid::new_v4().to_string();
        self.decide(ids, DecisionKind::Approve, notes, None, Some(&batch))
    }

    pub fn bulk_deny(&self, ids: &[String], reason: &str, notes: Option<&str>) -> Result<Queued> {
        let batch = uuid::Uuid::new_v4().to_string();
        self.decide(ids, DecisionKind::Deny, notes, Some(reason), Some(&batch))
    }

    /// A decision made in the app: like [`Engine::bulk_approve`] / [`Engine::bulk_deny`]
    /// (one id or many), but held on this device for the undo window of the settings
    /// before it is sent, so [`Engine::cancel_queued`] can take it back.
    pub fn decide_undoable(
        &self,
        ids: &[String],
        kind: DecisionKind,
        notes: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Queued> {
        let window = self.reader()?.load_settings()?.undo_window_secs;
        let hold = (window > 0).then(|| self.now() + chrono::Duration::seconds(window));
        let batch = (ids.len() > 1).then(|| uuid::Uuid::new_v4().to_string());
        self.decide_held(ids, kind, notes, reason, batch.as_deref(), hold)
    }

    /// Undo: takes back a decision that has not left the device yet (see
    /// [`crate::store::Store::cancel_queued`]); the approval is pending again here.
    pub fn cancel_queued(&self, seq: i64) -> Result<String> {
        let id = self.store().cancel_queued(seq)?;
        tracing::info!(approval = %id, seq, "queued decision taken back");
        self.emit(EngineEvent::ApprovalsChanged {
            ids: vec![id.clone()],
        });
        self.emit(EngineEvent::OutboxChanged);
        Ok(id)
    }

    fn decide(
        &self,
        ids: &[String],
        kind: DecisionKind,
        notes: Option<&str>,
        reason: Option<&str>,
        batch_id: Option<&str>,
    ) -> Result<Queued> {
        self.decide_held(ids, kind, notes, reason, batch_id, None)
    }

    fn decide_held(
        &self,
        ids: &[String],
        kind: DecisionKind,
        notes: Option<&str>,
        reason: Option<&str>,
        batch_id: Option<&str>,
        send_after: Option<DateTime<Utc>>,
    ) -> Result<Queued> {
        if ids.is_empty() {
            return Err(CoreError::Invalid("no approval ids given".into()));
        }
        if ids.len() > api::MAX_BULK_IDS {
            return Err(CoreError::Invalid(format!(
                "at most {} approvals at once",
                api::MAX_BULK_IDS
            )));
        }
        if let Some(bad) = ids.iter().find(|i| !api::is_valid_approval_id(i)) {
            return Err(CoreError::Invalid(format!(
                "{bad:?} is not an approval id (appr-...)"
            )));
        }
        let notes = notes.map(str::trim).filter(|n| !n.is_empty());
        if notes.is_some_and(|n| n.chars().count() > api::MAX_NOTES_CHARS) {
            return Err(CoreError::Invalid(format!(
                "notes are limited to {} characters",
                api::MAX_NOTES_CHARS
            )));
        }
        // The server's rule for request texts, so a queued decision is not refused later.
        if let Some(Err(e)) = notes.map(|n| api::check_text(n, true)) {
            return Err(CoreError::Invalid(format!("the notes are refused: {e}")));
        }
        let reason = reason.map(str::trim);
        if kind == DecisionKind::Deny {
            // The API's one rule for reasons, so what is queued here is what the server
            // accepts: a zero-width space or a NUL is refused now, not after a retry.
            match reason.map(api::check_reason) {
                None | Some(Err(api::TextError::NotVisible)) => {
                    return Err(CoreError::Invalid(
                        "a deny needs a reason with a visible character".into(),
                    ));
                }
                Some(Err(e)) => {
                    return Err(CoreError::Invalid(format!("the reason is refused: {e}")));
                }
                Some(Ok(())) => {}
            }
        }
        self.expire_sweep()?;
        let signer = self.device_key();
        let (entries, skipped) = self.store().enqueue_decisions_held(
            ids,
            &NewDecision {
                kind,
                notes,
                reason,
                batch_id,
                signer: signer.as_ref(),
            },
            self.now(),
            send_after,
        )?;
        if !entries.is_empty() {
            self.emit(EngineEvent::ApprovalsChanged {
                ids: entries.iter().map(|e| e.approval_id.clone()).collect(),
            });
            self.emit(EngineEvent::OutboxChanged);
            self.inner.wake.notify_one();
        }
        Ok(Queued { entries, skipped })
    }

    /// This device's signing key for the signed-in account, if one is registered.
    /// A key that cannot be read is logged and decisions go unsigned (the server
    /// still accepts them, marked unsigned) rather than refusing to decide.
    pub fn device_key(&self) -> Option<DeviceKey> {
        let mut cached = lock(&self.inner.device_key);
        if let Some(k) = cached.as_ref() {
            return k.clone();
        }
        let s = self.settings().ok()?;
        let (server, org) = s.endpoint()?;
        let key = DeviceKey::load(&self.inner.tokens, &TokenStore::account(server, org))
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "decisions go unsigned");
                None
            });
        *cached = Some(key.clone());
        key
    }

    /// Marks queued-but-never-sent decisions whose approval expired as expired.
    /// Looks first with a reader, so the common case (nothing to expire) never
    /// waits for the writer.
    pub fn expire_sweep(&self) -> Result<usize> {
        let now = self.now();
        if !self.reader()?.outbox_has_expired_unsent(now)? {
            return Ok(0);
        }
        let expired = self.store().outbox_expire_unsent(now)?;
        if !expired.is_empty() {
            for e in &expired {
                tracing::info!(approval = %e.approval_id, "queued decision expired before it could be sent");
            }
            self.emit(EngineEvent::ApprovalsChanged {
                ids: expired.iter().map(|e| e.approval_id.clone()).collect(),
            });
            self.emit(EngineEvent::OutboxChanged);
        }
        Ok(expired.len())
    }

    // ------------------------------------------------------------ notifications

    /// What to announce now. Empty when notifications are off.
    pub fn plan_notifications(&self) -> Result<Vec<PlannedNotification>> {
        let now = self.now();
        let store = self.reader()?;
        let s = store.load_settings()?;
        if !s.notifications_enabled {
            return Ok(Vec::new());
        }
        let pending = store.pending_infos(now)?;
        let failed = store.outbox_list(&[OutboxState::Rejected, OutboxState::Expired], false)?;
        let announced = Announced {
            new: store.announced_keys(notify_plan::KEY_NEW)?,
            expiring: store.announced_keys(notify_plan::KEY_EXPIRING)?,
            rejected: store.announced_keys(notify_plan::KEY_REJECTED)?,
            failed: store.announced_keys(notify_plan::KEY_FAILED)?,
        };
        let threshold = chrono::Duration::seconds(s.expiring_soon_secs);
        let mut out = notify_plan::plan(&pending, &failed, &announced, now, threshold);
        let reminders = self.reminders_of(&store, &s, now)?;
        out.extend(notify_plan::plan_reminders(
            &pending,
            &reminders,
            &chrono::Local,
            now,
            threshold,
        ));
        let executions_failed = store.unannounced_failures(now)?;
        out.extend(notify_plan::plan_failed(
            &executions_failed,
            &announced.failed,
            now,
        ));
        Ok(out)
    }

    /// When the next expiring-soon notification falls due with no data changing
    /// (`None`: nothing pending, or notifications are off).
    pub fn next_notification_due(&self) -> Result<Option<DateTime<Utc>>> {
        let now = self.now();
        let store = self.reader()?;
        let s = store.load_settings()?;
        if !s.notifications_enabled {
            return Ok(None);
        }
        let announced = Announced {
            expiring: store.announced_keys(notify_plan::KEY_EXPIRING)?,
            ..Announced::default()
        };
        let expiring = notify_plan::next_due(
            &store.pending_infos(now)?,
            &announced,
            now,
            chrono::Duration::seconds(s.expiring_soon_secs),
        );
        let reminders = self.reminders_of(&store, &s, now)?;
        let reminder = notify_plan::next_reminder_due(&reminders, &chrono::Local, now);
        Ok([expiring, reminder].into_iter().flatten().min())
    }

    /// Remembers that these were shown, so they are not planned again (even after a restart).
    pub fn mark_announced(&self, shown: &[PlannedNotification]) -> Result<()> {
        let marks: Vec<(&str, &str)> = shown
            .iter()
            .flat_map(|n| n.marks.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect();
        let now = self.now();
        self.store().mark_announced(&marks, now)
    }
}

/// A pooled read-only connection; goes back to the pool when dropped.
pub(crate) struct Reader<'a> {
    engine: &'a Engine,
    store: Option<Store>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        // Only `drop` takes it out.
        self.store.as_ref().expect("reader present until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.store.take() {
            let mut pool = lock(&self.engine.inner.readers);
            // A handful is plenty for one window and a sync loop.
            if pool.len() < 4 {
                pool.push(s);
            }
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update; SQLite keeps the
/// data consistent, so carry on rather than cascade the panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether two token accounts (`org@server`) name the same org on the same server,
/// spelled differently (a trailing slash, letter case of the host).
fn same_account(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
    norm(a) == norm(b)
}
