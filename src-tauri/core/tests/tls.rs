//! A server whose certificate this device does not trust: the engine shows it as its
//! own connection state with a message that says so, and does not hammer the server.

#[path = "../../server/tests/support/certs.rs"]
mod certs;
#[path = "support/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use countersign_core::{ConnState, Engine};
use countersign_server::tls::TlsFiles;
use countersign_server::ServerConfig;
use harness::*;

/// Forwards TCP to `target`, counting connections (each one a TLS handshake here).
async fn counting_forwarder(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    (addr, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_is_a_clear_state_not_a_retry_loop() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::TestPki::new("core-untrusted");
    let (cert, key, _ca) = pki.write(dir.path());
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("s.db"));
    cfg.demo = true;
    cfg.tls = Some(TlsFiles { cert, key });
    let server = countersign_server::spawn(cfg).await.unwrap();
    assert!(server.base_url().starts_with("https://"));
    let (fwd, handshakes) = counting_forwarder(server.addr()).await;
    let base = format!("https://localhost:{}", fwd.port());
    let home = dir.path().join("home");

    // Signed in earlier, while the server's certificate was still trusted (or before
    // it got one this device does not trust): the settings and the token are on disk.
    // Written directly, because this process never trusts the test's CA (the HTTP
    // client and its trust roots are built once per process).
    {
        let store = countersign_core::store::cipher::open_home_file_keyed(&home).unwrap();
        let mut s = store.load_settings().unwrap();
        s.server_url = Some(base.clone());
        s.org = Some(ORG.to_string());
        s.subject = Some("alice".into());
        store.save_settings(&s).unwrap();
        countersign_core::TokenStore::file_only(&home)
            .save(&countersign_core::TokenStore::account(&base, ORG), ALICE)
            .unwrap();
    }
    let engine = Engine::open_with(&home, options(Arc::new(AtomicI64::new(0)))).unwrap();

    let err = engine
        .sync_now()
        .await
        .expect_err("untrusted certificate accepted");
    assert_eq!(err.code(), "tls", "{err}");
    assert!(
        err.to_string()
            .contains("the server's certificate is not trusted"),
        "{err}"
    );

    let bg = engine.start();
    let message = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let ConnState::Untrusted { message } = engine.conn_state() {
                break message;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("no untrusted state");
    assert!(message.contains("not trusted"), "{message}");
    assert_eq!(engine.conn_state().label(), "certificate not trusted");
    // The backoff of these options starts at 20 ms: were this treated as "offline",
    // the loop would reconnect dozens of times in the next second. Absence of retries
    // can only be observed over a window.
    let seen = handshakes.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let again = handshakes.load(Ordering::SeqCst) - seen;
    assert!(
        again <= 1,
        "{again} more handshakes in a second: a retry loop"
    );
    assert!(matches!(engine.conn_state(), ConnState::Untrusted { .. }));
    bg.shutdown().await;
    server.shutdown().await;
}
