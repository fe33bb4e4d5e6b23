//! A tiny raw-TCP "server" on loopback that answers every request with bytes chosen
//! by the test: garbage, truncated bodies, lies about lengths, endless streams.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How to answer one request: raw bytes, or a streaming writer.
pub type Responder = Arc<dyn Fn(&str) -> Answer + Send + Sync>;

pub enum Answer {
    Bytes(Vec<u8>),
    /// Head, then `repeat` copies of `chunk` (for huge or endless bodies).
    Stream {
        head: Vec<u8>,
        chunk: Vec<u8>,
        repeat: usize,
    },
}

pub struct Fake {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    pub async fn start(respond: Responder) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let r = respond.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, r).await;
                });
            }
        });
        Fake { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn serve(mut sock: TcpStream, respond: Responder) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_string();
    match respond(&path) {
        Answer::Bytes(b) => sock.write_all(&b).await?,
        Answer::Stream {
            head,
            chunk,
            repeat,
        } => {
            sock.write_all(&head).await?;
            for _ in 0..repeat {
                sock.write_all(&chunk).await?;
            }
        }
    }
    let _ = sock.shutdown().await;
    Ok(())
}

/// A well-formed HTTP/1.1 answer.
pub fn http(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

pub const ME: &str = r#"{"subject":"alice","org_id":"org-demo","role":"approver"}"#;
