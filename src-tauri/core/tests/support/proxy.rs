//! A loopback TCP proxy in front of the real server that can misbehave on demand:
//! refuse connections (offline), answer 503 itself, or forward a decision (single or
//! bulk) and drop the response after the server committed it (commit-then-drop). It
//! counts the decision requests it forwards and can add latency to every request.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    /// Accept and close at once: the client sees a broken connection.
    Refuse,
    /// Answer 503 without contacting the server.
    Fail503,
    /// Forward decisions, wait until the server starts answering (it has committed),
    /// then drop both connections without passing the answer on.
    DropDecisionResponse,
    /// Everything passes except the event stream, which answers 404 (an older or
    /// stripped-down server, or a proxy that buffers SSE).
    NoEventStream,
}

pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    /// Decision responses dropped so far.
    pub dropped: Arc<AtomicUsize>,
    /// Idempotency key of every decision that passed through, in order: the header of
    /// a single decision, each of a bulk request's `idempotency_keys`.
    pub keys: Arc<Mutex<Vec<String>>>,
    /// Decision requests (single or bulk) that reached the proxy.
    pub decision_requests: Arc<AtomicUsize>,
    /// Milliseconds added before forwarding each request (a slow link).
    delay_ms: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    dropped: Arc<AtomicUsize>,
    keys: Arc<Mutex<Vec<String>>>,
    decision_requests: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicU64>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let shared = Shared {
            dropped: Arc::new(AtomicUsize::new(0)),
            keys: Arc::new(Mutex::new(Vec::new())),
            decision_requests: Arc::new(AtomicUsize::new(0)),
            delay_ms: Arc::new(AtomicU64::new(0)),
        };
        let (m, sh) = (mode.clone(), shared.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mode = *m.lock().unwrap();
                let sh = sh.clone();
                tokio::spawn(async move {
                    let _ = handle(client, target, mode, sh).await;
                });
            }
        });
        Proxy {
            addr,
            mode,
            dropped: shared.dropped,
            keys: shared.keys,
            decision_requests: shared.decision_requests,
            delay_ms: shared.delay_ms,
            task,
        }
    }

    /// Every request waits this long before it is forwarded.
    pub fn set_delay(&self, delay: std::time::Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// Reads one request (head + Content-Length body).
async fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Ok(buf);
            }
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn handle(
    mut client: TcpStream,
    target: SocketAddr,
    mode: Mode,
    shared: Shared,
) -> std::io::Result<()> {
    if mode == Mode::Refuse {
        return Ok(()); // dropped: connection closed before any answer
    }
    let req = read_request(&mut client).await?;
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    if mode == Mode::Fail503 {
        let body = r#"{"error":{"code":"unavailable","message":"maintenance"}}"#;
        let resp = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(resp.as_bytes()).await?;
        return client.shutdown().await;
    }
    let first_line_end = find(&req, b"\r\n").unwrap_or(0);
    let first_line = String::from_utf8_lossy(&req[..first_line_end]).to_string();
    if mode == Mode::NoEventStream && first_line.contains("/events") {
        let body = r#"{"error":{"code":"not_found","message":"no such route"}}"#;
        let resp = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(resp.as_bytes()).await?;
        return client.shutdown().await;
    }
    let is_decision = first_line.starts_with("POST ")
        && ["/approve ", "/deny ", "/bulk-approve ", "/bulk-deny "]
            .iter()
            .any(|p| first_line.contains(p));
    if is_decision {
        shared.decision_requests.fetch_add(1, Ordering::SeqCst);
        let end = find(&req, b"\r\n\r\n").unwrap_or(req.len());
        let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
        let mut keys = shared.keys.lock().unwrap();
        if let Some(k) = head
            .lines()
            .find_map(|l| l.strip_prefix("idempotency-key:"))
        {
            keys.push(k.trim().to_string());
        }
        let body: serde_json::Value =
            serde_json::from_slice(req.get(end + 4..).unwrap_or_default()).unwrap_or_default();
        if let Some(item_keys) = body["idempotency_keys"].as_array() {
            keys.extend(
                item_keys
                    .iter()
                    .filter_map(|k| k.as_str().map(str::to_string)),
            );
        }
    }
    // One request per connection: ask the server to close after answering.
    let mut forwarded = req[..first_line_end + 2].to_vec();
    forwarded.extend_from_slice(b"connection: close\r\n");
    forwarded.extend_from_slice(&req[first_line_end + 2..]);
    let mut upstream = TcpStream::connect(target).await?;
    upstream.write_all(&forwarded).await?;
    if mode == Mode::DropDecisionResponse && is_decision {
        let mut b = [0u8; 1];
        // The first byte of the answer: the server has committed.
        let _ = upstream.read(&mut b).await?;
        shared.dropped.fetch_add(1, Ordering::SeqCst);
        drop(upstream);
        drop(client);
        return Ok(());
    }
    let (mut ur, _uw) = upstream.split();
    tokio::io::copy(&mut ur, &mut client).await?;
    client.shutdown().await
}
