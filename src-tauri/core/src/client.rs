//! HTTP client for the Countersign API. Every answer is treated as untrusted: bodies
//! are size-capped, JSON errors become `Protocol` failures, nothing panics.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::api::{
    self, Approval, ApproveRequest, AuditTrail, ChangesPage, DecisionKind, DecisionResponse,
    DenyRequest, ErrorResponse, Stats, WhoAmI,
};
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

/// How a request failed, classified for the push loop.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Connection refused/reset, timeout, 5xx, 429: retry later with backoff.
    Transient(String),
    /// 401, or a 403 about the token's role: the token is not (or no longer) accepted.
    Unauthorized(String),
    /// Any other 4xx: refused for good. A 409 carries the approval as it now stands.
    Rejected {
        status: u16,
        code: String,
        message: String,
        approval: Option<Box<Approval>>,
    },
    /// A 2xx whose body is not what the API promises (garbage, truncated, too big).
    Protocol(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transient(m) | Failure::Unauthorized(m) | Failure::Protocol(m) => {
                f.write_str(m)
            }
            Failure::Rejected { message, .. } => f.write_str(message),
        }
    }
}

impl From<Failure> for CoreError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Transient(m) => CoreError::Network(m),
            Failure::Unauthorized(m) => CoreError::Unauthorized(m),
            Failure::Protocol(m) => CoreError::Protocol(m),
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

impl ApiClient {
    pub fn new(server_url: &str, org: &str, token: &str) -> Result<Self, CoreError> {
        let base = Url::parse(server_url)
            .map_err(|e| CoreError::Settings(format!("server URL {server_url:?}: {e}")))?;
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
        Ok(ApiClient {
            http: build(Some(REQUEST_TIMEOUT))?,
            stream_http: build(None)?,
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

    /// Sends `req`, noting the answer's `Date` for the server clock.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
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
    ) -> Result<DecisionResponse, Failure> {
        let url = self.url(true, &["approvals", id, kind.as_str()])?;
        let req = self
            .request(Method::POST, url)
            .header(api::IDEMPOTENCY_HEADER, idempotency_key);
        let req = match kind {
            DecisionKind::Approve => req.json(&ApproveRequest {
                notes: notes.map(str::to_string),
            }),
            DecisionKind::Deny => req.json(&DenyRequest {
                reason: reason.unwrap_or_default().to_string(),
                notes: notes.map(str::to_string),
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
        let body = read_capped(resp, MAX_BODY_BYTES).await?;
        serde_json::from_slice(&body)
            .map_err(|e| Failure::Protocol(format!("malformed JSON from the server: {e}")))
    }
}

fn transport(e: reqwest::Error) -> Failure {
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

async fn error_from(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    let body = read_capped(resp, MAX_ERROR_BYTES).await.unwrap_or_default();
    let parsed: Option<ErrorResponse> = serde_json::from_slice(&body).ok();
    let (code, message) = match &parsed {
        Some(p) => (p.error.code.clone(), p.error.message.clone()),
        None => (
            status.as_str().to_string(),
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_string(),
        ),
    };
    let message = if message.is_empty() {
        status.to_string()
    } else {
        message
    };
    classify(status, code, message, parsed.and_then(|p| p.approval))
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
        401 | 403 => Failure::Unauthorized(message),
        429 => Failure::Transient(format!("rate limited: {message}")),
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
    fn statuses_are_classified() {
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert!(matches!(
            classify(s(401), "c".into(), "m".into(), None),
            Failure::Unauthorized(_)
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
            Failure::Transient(_)
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
