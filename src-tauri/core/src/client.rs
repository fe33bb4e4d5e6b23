//! HTTP client for the Countersign API. Every answer is treated as untrusted: bodies
//! are size-capped, JSON errors become `Protocol` failures, nothing panics.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::api::{
    self, Approval, ApproveRequest, AuditTrail, BulkApproveRequest, BulkDenyRequest,
    BulkItemResult, BulkResponse, ChangesPage, DecisionKind, DecisionResponse, DenyRequest,
    DeviceList, ErrorResponse, Receipt, RegisterDeviceRequest, RegisterDeviceResponse, Stats,
    WhoAmI,
};

/// One item of a bulk decision: the approval, its idempotency key and its receipt.
#[derive(Debug, Clone, Copy)]
pub struct BulkItem<'a> {
    pub id: &'a str,
    pub key: &'a str,
    pub receipt: Option<&'a Receipt>,
}
use crate::error::CoreError;
use crate::server_clock::{parse_http_date, ServerClock};

/// Largest body accepted for a page of approvals. A server bounds its pages by
/// [`api::MAX_PAGE_BYTES`] plus one approval (itself at most a request body of
/// params and an execution result of [`api::MAX_BODY_BYTES`] each), far below this;
/// an older server may send more, and is then asked for smaller pages.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Largest error body read.
const MAX_ERROR_BYTES: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A 429 whose `Retry-After` is at most this is waited out and the request sent
/// again, here, up to [`MAX_RATE_LIMIT_RETRIES`] times; a longer wait is the caller's
/// ([`Failure::RateLimited`]: the push loop schedules the decision's next try no
/// sooner, and keeps it queued).
pub const MAX_INLINE_RETRY_AFTER: Duration = Duration::from_secs(10);
const MAX_RATE_LIMIT_RETRIES: u32 = 3;

/// How a request failed, classified for the push loop.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Connection refused/reset, timeout, 5xx: retry later with backoff.
    Transient(String),
    /// 429: the server's limit for this token; retry no sooner than `retry_after`
    /// (its `Retry-After`, or 1 s when it sent none).
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// 401, or a 403 about the token's role: the token is not (or no longer) accepted.
    Unauthorized(String),
    /// 401 `token_revoked` or `token_expired`: the token worked and no longer does.
    /// Signed out; the user signs in again with a new token.
    SignedOut(String),
    /// Any other 4xx: refused for good. A 409 carries the approval as it now stands.
    Rejected {
        status: u16,
        code: String,
        message: String,
        approval: Option<Box<Approval>>,
    },
    /// A 2xx whose body is not what the API promises (garbage, truncated, too big),
    /// or an answer that is not from a Countersign server at all.
    Protocol(String),
    /// No secure connection could be made: untrusted certificate, or no TLS at all.
    Tls(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transient(m)
            | Failure::Unauthorized(m)
            | Failure::SignedOut(m)
            | Failure::Protocol(m)
            | Failure::Tls(m)
            | Failure::RateLimited { message: m, .. } => f.write_str(m),
            Failure::Rejected { message, .. } => f.write_str(message),
        }
    }
}

impl From<Failure> for CoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Transient(m) | Failure::RateLimited { message: m, .. } => {
                CoreError::Network(m)
            }
            Failure::Unauthorized(m) => CoreError::Unauthorized(m),
            Failure::SignedOut(m) => CoreError::SignedOut(m),
            Failure::Protocol(m) => CoreError::Protocol(m),
            Failure::Tls(m) => CoreError::Tls(m),
            Failure::Rejected {
                status,
                code,
                message,
                ..
            } => CoreError::Rejected {
                status,
                code,
                message,
            },
        }
    }
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// For the event stream: no overall timeout (it is long-lived).
    stream_http: reqwest::Client,
    base: Url,
    org: String,
    token: String,
    /// Fed the `Date` of every answer (see [`crate::server_clock`]).
    clock: Option<Arc<ServerClock>>,
}

impl std::fmt::Debug for ApiClient {
    // Hand-written so the token can never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

/// The two HTTP clients (requests with a timeout, and the change stream without one),
/// built once per process. Building one loads the system's trusted certificates
/// (rustls-platform-verifier): tens of milliseconds each, so a client per engine open,
/// login or CLI command would put that on every start. Nothing in them depends on the
/// server, org or token, which each request carries itself.
fn shared_clients() -> Result<(reqwest::Client, reqwest::Client), CoreError> {
    static CLIENTS: std::sync::OnceLock<(reqwest::Client, reqwest::Client)> =
        std::sync::OnceLock::new();
    if let Some(c) = CLIENTS.get() {
        return Ok(c.clone());
    }
    let build = |timeout: Option<Duration>| {
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("countersign/", env!("CARGO_PKG_VERSION")))
            // A redirect could carry the bearer token elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build()
            .map_err(|e| CoreError::Network(format!("HTTP client: {e}")))
    };
    let built = (build(Some(REQUEST_TIMEOUT))?, build(None)?);
    // Two threads racing here both build; one pair wins and is shared from then on.
    Ok(CLIENTS.get_or_init(|| built).clone())
}

impl ApiClient {
    pub fn new(server_url: &str, org: &str, token: &str) -> Result<Self, CoreError> {
        let base = Url::parse(server_url)
            .map_err(|e| CoreError::Settings(format!("server URL {server_url:?}: {e}")))?;
        let (http, stream_http) = shared_clients()?;
        Ok(ApiClient {
            http,
            stream_http,
            base,
            org: org.to_string(),
            token: token.to_string(),
            clock: None,
        })
    }

    /// Estimates the server's time from the answers this client gets.
    pub fn with_server_clock(mut self, clock: Arc<ServerClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Sends `req`, noting the answer's `Date` for the server clock. A 429 with a short
    /// `Retry-After` is waited out and sent again (the same request: a decision keeps
    /// its idempotency key), so a burst over the server's limit only slows things down.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
        let mut req = req;
        let mut retries = 0;
        loop {
            let again = req.try_clone();
            let resp = self.send_once(req).await?;
            let wait = retry_after(&resp);
            match (again, wait) {
                (Some(next), Some(wait))
                    if resp.status() == StatusCode::TOO_MANY_REQUESTS
                        && wait <= MAX_INLINE_RETRY_AFTER
                        && retries < MAX_RATE_LIMIT_RETRIES =>
                {
                    retries += 1;
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        "rate limited; waiting as the server asked"
                    );
                    tokio::time::sleep(wait).await;
                    req = next;
                }
                _ => return Ok(resp),
            }
        }
    }

    async fn send_once(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
        let sent = self.clock.as_ref().map(|c| c.local_now());
        let resp = req.send().await.map_err(transport)?;
        if let (Some(clock), Some(sent)) = (&self.clock, sent) {
            let date = resp
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_http_date);
            if let Some(date) = date {
                clock.observe(sent, clock.local_now(), date);
            }
        }
        Ok(resp)
    }

    pub fn org(&self) -> &str {
        &self.org
    }

    /// `{base}/api/v1/orgs/{org}/approvals/{rest...}` with every segment escaped.
    fn url(&self, org_scoped: bool, segments: &[&str]) -> Result<Url, Failure> {
        let mut url = self.base.clone();
        {
            let mut p = url
                .path_segments_mut()
                .map_err(|_| Failure::Protocol("server URL cannot have a path".into()))?;
            p.pop_if_empty();
            p.extend(api::API_PREFIX.trim_start_matches('/').split('/'));
            if org_scoped {
                p.push("orgs").push(&self.org);
            }
            p.extend(segments);
        }
        Ok(url)
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// Registers this device's public key (`POST /devices`); the same key again
    /// answers the same id.
    pub async fn register_device(
        &self,
        public_key: &str,
        name: &str,
    ) -> Result<RegisterDeviceResponse, Failure> {
        let url = self.url(true, &["devices"])?;
        let body = RegisterDeviceRequest {
            public_key: public_key.to_string(),
            name: name.to_string(),
        };
        self.send_json(self.request(Method::POST, url).json(&body))
            .await
    }

    /// Every device key of the org (`GET /devices`), revoked ones included.
    pub async fn devices(&self) -> Result<DeviceList, Failure> {
        let url = self.url(true, &["devices"])?;
        self.send_json(self.request(Method::GET, url)).await
    }

    /// The org's signed audit head (`GET …/audit/head`), or with `seq` the signed
    /// statement about the org's entry at that seq (404 when there is none).
    pub async fn audit_head(&self, seq: Option<i64>) -> Result<api::AuditHead, Failure> {
        let mut url = self.url(true, &["audit", "head"])?;
        if let Some(seq) = seq {
            url.query_pairs_mut().append_pair("seq", &seq.to_string());
        }
        self.send_json(self.request(Method::GET, url)).await
    }

    pub async fn me(&self) -> Result<WhoAmI, Failure> {
        let url = self.url(false, &["me"])?;
        self.send_json(self.request(Method::GET, url)).await
    }

    pub async fn changes(&self, after: i64, limit: u32) -> Result<ChangesPage, Failure> {
        match self.changes_page(after, limit).await? {
            PageAnswer::Page(p) => Ok(p),
            PageAnswer::TooLarge(m) => Err(Failure::Protocol(m)),
        }
    }

    /// Like [`ApiClient::changes`], but an answer over the size cap is
    /// [`PageAnswer::TooLarge`] so the caller can ask for a smaller page.
    pub async fn changes_page(&self, after: i64, limit: u32) -> Result<PageAnswer, Failure> {
        let mut url = self.url(true, &["approvals", "changes"])?;
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("limit", &limit.to_string());
        let resp = self.send(self.request(Method::GET, url)).await?;
        if !resp.status().is_success() {
            return Err(error_from(resp).await);
        }
        let body = match read_body(resp, MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(ReadError::TooLarge(m)) => return Ok(PageAnswer::TooLarge(m)),
            Err(e) => return Err(e.into()),
        };
        let page: ChangesPage = serde_json::from_slice(&body)
            .map_err(|e| Failure::Protocol(format!("malformed JSON from the server: {e}")))?;
        if page.has_more && page.next <= after {
            // A server that says "more" without moving the cursor would loop us forever.
            return Err(Failure::Protocol(format!(
                "changes cursor did not advance (after={after}, next={})",
                page.next
            )));
        }
        Ok(PageAnswer::Page(page))
    }

    pub async fn approval(&self, id: &str) -> Result<Approval, Failure> {
        let url = self.url(true, &["approvals", id])?;
        self.send_json(self.request(Method::GET, url)).await
    }

    pub async fn audit(&self, id: &str) -> Result<AuditTrail, Failure> {
        let url = self.url(true, &["approvals", id, "audit"])?;
        self.send_json(self.request(Method::GET, url)).await
    }

    pub async fn stats(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Stats, Failure> {
        let mut url = self.url(true, &["approvals", "stats"])?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(f) = from {
                q.append_pair("from", &f.to_rfc3339());
            }
            if let Some(t) = to {
                q.append_pair("to", &t.to_rfc3339());
            }
        }
        self.send_json(self.request(Method::GET, url)).await
    }

    /// One approve or deny, carrying the idempotency key made when it was queued.
    pub async fn decide(
        &self,
        kind: DecisionKind,
        id: &str,
        notes: Option<&str>,
        reason: Option<&str>,
        idempotency_key: &str,
        receipt: Option<&Receipt>,
    ) -> Result<DecisionResponse, Failure> {
        let url = self.url(true, &["approvals", id, kind.as_str()])?;
        let req = self
            .request(Method::POST, url)
            .header(api::IDEMPOTENCY_HEADER, idempotency_key);
        let req = match kind {
            DecisionKind::Approve => req.json(&ApproveRequest {
                notes: notes.map(str::to_string),
                receipt: receipt.cloned(),
            }),
            DecisionKind::Deny => req.json(&DenyRequest {
                reason: reason.unwrap_or_default().to_string(),
                notes: notes.map(str::to_string),
                receipt: receipt.cloned(),
            }),
        };
        let resp: DecisionResponse = self.send_json(req).await?;
        if resp.approval.id != id {
            return Err(Failure::Protocol(format!(
                "decision on {id} answered with approval {}",
                resp.approval.id
            )));
        }
        Ok(resp)
    }

    /// Several decisions sharing kind, notes and reason in one request, each item under
    /// its own idempotency key (the one made when it was queued): the server replays an
    /// item exactly as it would a single decision with that key, so items may be
    /// regrouped freely between attempts. The answer must name the same ids in the same
    /// order; each item's outcome is classified as a single decision's would be.
    pub async fn decide_bulk(
        &self,
        kind: DecisionKind,
        items: &[BulkItem<'_>],
        notes: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Vec<Result<Approval, Failure>>, Failure> {
        let ids: Vec<String> = items.iter().map(|i| i.id.to_string()).collect();
        let keys: Vec<String> = items.iter().map(|i| i.key.to_string()).collect();
        // Sent only when some item is signed, so an unsigned bulk stays as it was.
        let receipts = items
            .iter()
            .any(|i| i.receipt.is_some())
            .then(|| items.iter().map(|i| i.receipt.cloned()).collect());
        let notes = notes.map(str::to_string);
        let path = match kind {
            DecisionKind::Approve => "bulk-approve",
            DecisionKind::Deny => "bulk-deny",
        };
        let req = self.request(Method::POST, self.url(true, &["approvals", path])?);
        let req = match kind {
            DecisionKind::Approve => req.json(&BulkApproveRequest {
                approval_ids: ids,
                notes,
                idempotency_keys: Some(keys),
                receipts,
            }),
            DecisionKind::Deny => req.json(&BulkDenyRequest {
                approval_ids: ids,
                reason: reason.unwrap_or_default().to_string(),
                notes,
                idempotency_keys: Some(keys),
                receipts,
            }),
        };
        let resp: BulkResponse = self.send_json(req).await?;
        if resp.results.len() != items.len()
            || resp
                .results
                .iter()
                .zip(items)
                .any(|(r, item)| r.id != item.id)
        {
            return Err(Failure::Protocol(format!(
                "bulk {} of {} ids answered with {} results for other ids",
                kind.as_str(),
                items.len(),
                resp.results.len()
            )));
        }
        Ok(resp.results.into_iter().map(item_outcome).collect())
    }

    /// Opens `GET /approvals/events` (SSE). The caller reads chunks from the response.
    pub async fn events(&self) -> Result<reqwest::Response, Failure> {
        let url = self.url(true, &["approvals", "events"])?;
        let resp = self
            .send(
                self.stream_http
                    .get(url)
                    .bearer_auth(&self.token)
                    .header(reqwest::header::ACCEPT, "text/event-stream"),
            )
            .await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(error_from(resp).await)
        }
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let resp = self.send(req).await?;
        if !resp.status().is_success() {
            return Err(error_from(resp).await);
        }
        let content_type = content_type(&resp);
        let url = resp.url().clone();
        let body = read_capped(resp, MAX_BODY_BYTES).await?;
        serde_json::from_slice(&body).map_err(|e| {
            if content_type.contains("json") {
                Failure::Protocol(format!("malformed JSON from the server: {e}"))
            } else {
                Failure::Protocol(not_countersign(&url, "200", &content_type))
            }
        })
    }
}

fn transport(e: reqwest::Error) -> Failure {
    if let Some(tls) = tls_failure(&e) {
        return Failure::Tls(tls);
    }
    // reqwest's Display can include the URL but never headers, so the token stays out.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    Failure::Transient(msg)
}

/// The rustls error behind a failed request, if TLS is what failed. `io::Error`
/// hides the error it wraps from `source()` (it returns the wrapped error's source),
/// so each `io::Error` in the chain is opened with `get_ref`.
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(r) = rustls_error(inner) {
                return Some(r);
            }
        }
        cur = err.source();
    }
    None
}

/// What went wrong with TLS, in words an approver (or their IT) can act on.
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    use rustls::CertificateError as C;
    let r = rustls_error(e)?;
    let host = e
        .url()
        .and_then(|u| u.host_str())
        .unwrap_or("the server")
        .to_string();
    let untrusted = |why: String| format!("the server's certificate is not trusted: {why}");
    Some(match r {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => untrusted(format!(
                "{host} presented a certificate signed by an authority this computer does \
                 not trust. If your organisation uses its own certificate authority, add it \
                 to the system trust store (Debian/Ubuntu: copy it to \
                 /usr/local/share/ca-certificates/ and run update-ca-certificates)"
            )),
            C::NotValidForName | C::NotValidForNameContext { .. } => untrusted(format!(
                "it was not issued for {host}; check the server URL"
            )),
            C::Expired | C::ExpiredContext { .. } => untrusted(format!(
                "the certificate of {host} has expired (or this computer's clock is wrong)"
            )),
            C::NotValidYet | C::NotValidYetContext { .. } => untrusted(format!(
                "the certificate of {host} is not valid yet (or this computer's clock is wrong)"
            )),
            C::Revoked => untrusted(format!("the certificate of {host} has been revoked")),
            other => untrusted(format!("{host}: {other:?}")),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!(
                "{host} did not answer with TLS: it probably serves plain HTTP on this port. \
                 Check the port, or use an http:// URL if the server really has no TLS"
            )
        }
        other => format!("secure connection to {host} failed: {other}"),
    })
}

/// Why a body was not read whole.
enum ReadError {
    TooLarge(String),
    Cut(String),
}

impl From<ReadError> for Failure {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::TooLarge(m) => Failure::Protocol(m),
            ReadError::Cut(m) => Failure::Transient(m),
        }
    }
}

/// An answer to a page request.
#[derive(Debug)]
pub enum PageAnswer {
    Page(ChangesPage),
    /// Over the size cap: ask again with a smaller `limit`.
    TooLarge(String),
}

/// Reads at most `cap` bytes; a longer body is a protocol error, a cut one a transient one.
pub async fn read_capped(resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, Failure> {
    Ok(read_body(resp, cap).await?)
}

async fn read_body(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, ReadError> {
    if let Some(len) = resp.content_length() {
        if len as usize > cap {
            return Err(ReadError::TooLarge(format!(
                "answer of {len} bytes exceeds the {cap}-byte limit"
            )));
        }
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(ReadError::TooLarge(format!(
                        "answer exceeds the {cap}-byte limit"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(ReadError::Cut(format!(
                    "answer cut off after {} bytes: {e}",
                    body.len()
                )))
            }
        }
    }
}

/// `Retry-After` in seconds (the form the server sends; an HTTP date is read too).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(v)?;
    Some((at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

async fn error_from(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = retry_after(&resp).unwrap_or(Duration::from_secs(1));
        let body = read_capped(resp, MAX_ERROR_BYTES).await.unwrap_or_default();
        let message = serde_json::from_slice::<ErrorResponse>(&body)
            .map(|e| e.error.message)
            .unwrap_or_default();
        return Failure::RateLimited {
            message: format!("rate limited by the server: {message}"),
            retry_after,
        };
    }
    let content_type = content_type(&resp);
    let url = resp.url().clone();
    let body = read_capped(resp, MAX_ERROR_BYTES).await.unwrap_or_default();
    let parsed: Option<ErrorResponse> = serde_json::from_slice(&body).ok();
    let Some(parsed) = parsed else {
        // Not the API's error shape: a web page, a proxy's login form, another service.
        // Retrying or showing its body would not help; saying where we landed does.
        return match status.as_u16() {
            429 | 500..=599 => Failure::Transient(format!("server error {status}")),
            _ => Failure::Protocol(not_countersign(&url, &format!("{status}"), &content_type)),
        };
    };
    let (code, message) = (parsed.error.code, parsed.error.message);
    let message = if message.is_empty() {
        status.to_string()
    } else {
        message
    };
    classify(status, code, message, parsed.approval)
}

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "no content type".into())
}

/// "This is not a Countersign server" with what it answered, never its body (a page
/// of HTML helps nobody in a terminal or a tooltip).
fn not_countersign(url: &Url, answer: &str, content_type: &str) -> String {
    let mut base = url.clone();
    base.set_path("");
    base.set_query(None);
    format!(
        "{} does not look like a Countersign server: it answered {answer} ({content_type}) \
         instead of the API. Check the server URL",
        base.as_str().trim_end_matches('/')
    )
}

/// One bulk item as the outcome a single decision on it would have had.
fn item_outcome(r: BulkItemResult) -> Result<Approval, Failure> {
    if r.ok {
        return match r.approval {
            Some(a) if r.status == 200 && a.id == r.id => Ok(a),
            Some(a) => Err(Failure::Protocol(format!(
                "bulk item {} answered ok with status {} and approval {}",
                r.id, r.status, a.id
            ))),
            None => Err(Failure::Protocol(format!(
                "bulk item {} answered ok without the approval",
                r.id
            ))),
        };
    }
    let Some(status) = StatusCode::from_u16(r.status)
        .ok()
        .filter(|s| !s.is_success())
    else {
        return Err(Failure::Protocol(format!(
            "bulk item {} failed with status {}",
            r.id, r.status
        )));
    };
    let (code, message) = match r.error {
        Some(e) if !e.message.is_empty() => (e.code, e.message),
        Some(e) => (e.code, status.to_string()),
        None => (status.as_str().to_string(), status.to_string()),
    };
    // The current approval only counts when it is the item's own.
    let approval = r.approval.filter(|a| a.id == r.id);
    Err(classify(status, code, message, approval))
}

fn classify(
    status: StatusCode,
    code: String,
    message: String,
    approval: Option<Approval>,
) -> Failure {
    match status.as_u16() {
        // A self-approval refusal is about this one request, not the credentials: the
        // decision is rejected and the loop goes on with the rest of the outbox.
        403 if code == countersign_api::codes::SELF_APPROVAL => Failure::Rejected {
            status: 403,
            code,
            message,
            approval: approval.map(Box::new),
        },
        401 if code == countersign_api::codes::TOKEN_REVOKED
            || code == countersign_api::codes::TOKEN_EXPIRED =>
        {
            Failure::SignedOut(message)
        }
        401 | 403 => Failure::Unauthorized(message),
        // Never a rejection: the decision is kept and retried (a bulk item has no
        // Retry-After of its own; the server's whole-request 429s are read in
        // `error_from`).
        429 => Failure::RateLimited {
            message: format!("rate limited: {message}"),
            retry_after: Duration::from_secs(1),
        },
        400..=499 => Failure::Rejected {
            status: status.as_u16(),
            code,
            message,
            approval: approval.map(Box::new),
        },
        _ => Failure::Transient(format!("server error {status}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_segments() {
        let c = ApiClient::new("http://127.0.0.1:9/base/", "org-demo", "t").unwrap();
        let u = c.url(true, &["approvals", "a/b?c"]).unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/base/api/v1/orgs/org-demo/approvals/a%2Fb%3Fc"
        );
        assert_eq!(
            c.url(false, &["me"]).unwrap().as_str(),
            "http://127.0.0.1:9/base/api/v1/me"
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = ApiClient::new("http://127.0.0.1:9", "org-demo", "super-secret").unwrap();
        assert!(!format!("{c:?}").contains("super-secret"));
    }

    #[test]
    fn bulk_items_are_classified_like_single_decisions() {
        let now = chrono::Utc::now();
        let a = crate::store::approvals::tests::approval("appr-1", "bot", 1, now);
        let other = crate::store::approvals::tests::approval("appr-2", "bot", 1, now);
        let item = |ok, status, approval: Option<&Approval>, code: Option<&str>| BulkItemResult {
            id: "appr-1".into(),
            ok,
            status,
            approval: approval.cloned(),
            error: code.map(|c| api::ErrorDetail {
                code: c.into(),
                message: format!("{c} message"),
            }),
        };
        assert_eq!(item_outcome(item(true, 200, Some(&a), None)).unwrap(), a);
        // Ok but not what the API promises: never applied on faith.
        for bad in [
            item(true, 200, None, None),
            item(true, 200, Some(&other), None),
            item(true, 409, Some(&a), None),
            item(false, 200, Some(&a), Some("x")),
            item(false, 1000, None, Some("x")),
        ] {
            assert!(matches!(item_outcome(bad), Err(Failure::Protocol(_))));
        }
        match item_outcome(item(false, 409, Some(&a), Some("already_decided"))) {
            Err(Failure::Rejected {
                status: 409,
                code,
                message,
                approval: Some(current),
            }) => {
                assert_eq!((code.as_str(), *current), ("already_decided", a.clone()));
                assert_eq!(message, "already_decided message");
            }
            other => panic!("{other:?}"),
        }
        // Another approval's state is not this item's current state.
        assert!(matches!(
            item_outcome(item(false, 409, Some(&other), Some("already_decided"))),
            Err(Failure::Rejected { approval: None, .. })
        ));
        assert!(matches!(
            item_outcome(item(false, 403, None, Some("self_approval"))),
            Err(Failure::Rejected { status: 403, .. })
        ));
        assert!(matches!(
            item_outcome(item(false, 422, None, Some("idempotency_mismatch"))),
            Err(Failure::Rejected { status: 422, .. })
        ));
        assert!(matches!(
            item_outcome(item(false, 503, None, None)),
            Err(Failure::Transient(_))
        ));
    }

    #[test]
    fn statuses_are_classified() {
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert!(matches!(
            classify(s(401), "c".into(), "m".into(), None),
            Failure::Unauthorized(_)
        ));
        assert!(matches!(
            classify(s(401), "token_revoked".into(), "m".into(), None),
            Failure::SignedOut(_)
        ));
        assert!(matches!(
            classify(s(401), "token_expired".into(), "m".into(), None),
            Failure::SignedOut(_)
        ));
        assert!(matches!(
            classify(s(403), "c".into(), "m".into(), None),
            Failure::Unauthorized(_)
        ));
        assert!(matches!(
            classify(s(403), "self_approval".into(), "m".into(), None),
            Failure::Rejected { status: 403, .. }
        ));
        assert!(matches!(
            classify(s(429), "c".into(), "m".into(), None),
            Failure::RateLimited { .. }
        ));
        assert!(matches!(
            classify(s(503), "c".into(), "m".into(), None),
            Failure::Transient(_)
        ));
        assert!(matches!(
            classify(s(409), "already_decided".into(), "m".into(), None),
            Failure::Rejected { status: 409, .. }
        ));
        assert!(matches!(
            classify(s(404), "not_found".into(), "m".into(), None),
            Failure::Rejected { status: 404, .. }
        ));
    }
}
