//! The CLI against a server serving TLS itself: a company CA trusted through the
//! operating system's store (installed for the test: CI runs as root), HTTPS_PROXY and
//! NO_PROXY honoured, and an untrusted certificate refused with a clear message.

#[path = "../src-tauri/server/tests/support/certs.rs"]
mod certs;
#[path = "cli_support/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Output;
use std::sync::{Arc, Mutex};

use certs::{SystemTrust, TestPki};
use countersign_server::tls::TlsFiles;
use harness::*;

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn all(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o))
}

fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

/// A TLS server whose certificate is signed by a fresh CA (not trusted by anyone yet).
fn tls_env(tag: &str) -> (Env, TestPki, tempfile::TempDir) {
    let pki = TestPki::new(tag);
    let files = tempfile::tempdir().unwrap();
    let (cert, key, _ca) = pki.write(files.path());
    let env = Env::with_tls(Some(TlsFiles { cert, key }));
    (env, pki, files)
}

#[test]
fn untrusted_certificate_is_refused_with_a_clear_message() {
    let (env, _pki, _files) = tls_env(&unique("untrusted"));
    let o = env.login();
    assert_eq!(code(&o), 1, "{}", all(&o));
    let err = stderr(&o);
    assert!(
        err.contains("the server's certificate is not trusted"),
        "{err}"
    );
    assert!(
        err.contains("update-ca-certificates"),
        "says what to do: {err}"
    );
    assert!(!err.contains("UnknownIssuer"), "{err}");
    assert!(!env.home().join("token").exists(), "nothing stored");
    // Plain http:// to the TLS port is no way around it.
    let o = env.login_to(&format!("http://{}", env.addr));
    assert_ne!(code(&o), 0, "{}", all(&o));
}

#[test]
fn company_ca_in_the_system_store_is_trusted_and_https_proxy_is_honoured() {
    let name = unique("trusted");
    let (env, pki, _files) = tls_env(&name);
    let before = env.login();
    assert_eq!(code(&before), 1, "not trusted yet: {}", all(&before));

    let _trust = SystemTrust::install(&name, &pki.ca_pem);
    let o = env.login();
    assert_eq!(code(&o), 0, "{}", all(&o));
    let a = env.create("Deploy over TLS");
    let o = env.run(&["sync"]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    let o = env.run(&["approve", &a.id]);
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(
        env.get(&a.id).status,
        countersign_api::ApprovalStatus::Approved
    );

    // Through a company proxy: HTTPS_PROXY is used...
    let proxy = ConnectProxy::start();
    let b = env.create("Deploy through the proxy");
    let o = env
        .cmd(&["approve", &b.id])
        .env("HTTPS_PROXY", format!("http://{}", proxy.addr))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", all(&o));
    let target = format!("localhost:{}", env.addr.port());
    let seen = proxy.targets();
    assert!(seen.contains(&target), "the proxy saw {seen:?}");
    // ...unless NO_PROXY names the host.
    let before = proxy.targets().len();
    let o = env
        .cmd(&["sync"])
        .env("HTTPS_PROXY", format!("http://{}", proxy.addr))
        .env("NO_PROXY", "localhost")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", all(&o));
    assert_eq!(proxy.targets().len(), before, "NO_PROXY bypasses the proxy");
}

/// A minimal HTTP CONNECT proxy on loopback that records where it was asked to go.
struct ConnectProxy {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let log = log.clone();
                std::thread::spawn(move || tunnel(conn, log));
            }
        });
        ConnectProxy { addr, seen }
    }

    fn targets(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn tunnel(mut client: TcpStream, log: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut words = head.split_whitespace();
    if words.next() != Some("CONNECT") {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
        return;
    }
    let target = words.next().unwrap_or_default().to_string();
    log.lock().unwrap().push(target.clone());
    let Ok(server) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let (mut s, mut c) = (server, client);
    let _ = std::io::copy(&mut s, &mut c);
    let _ = c.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}
