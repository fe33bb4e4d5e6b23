//! The server serving TLS itself (`--tls-cert`/`--tls-key`), and the warning when it
//! serves plain HTTP beyond loopback.

#[path = "support/certs.rs"]
mod certs;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use countersign_server::tls::TlsFiles;
use countersign_server::ServerConfig;

const BIN: &str = env!("CARGO_BIN_EXE_countersign-server");

fn client_trusting(ca_pem: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Reads `child`'s stream line by line until one contains `needle`; all lines read.
fn read_until(stream: &mut impl BufRead, needle: &str) -> (bool, Vec<String>) {
    let mut lines = Vec::new();
    for line in stream.lines() {
        let Ok(line) = line else { break };
        let hit = line.contains(needle);
        lines.push(line);
        if hit {
            return (true, lines);
        }
    }
    (false, lines)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::TestPki::new("server-https");
    let (cert, key, _) = pki.write(dir.path());
    let mut child = Command::new(BIN)
        .args(["--demo", "--addr", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("s.db"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (found, lines) = read_until(&mut stdout, "https://");
    assert!(found, "banner: {lines:?}");
    // Keep reading the rest of the banner: a reader that goes away is not what this test is
    // about (binary.rs covers a closed stdout).
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = lines
        .last()
        .unwrap()
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap()
        .replace("127.0.0.1", "localhost");
    let stderr = child.stderr.take().unwrap();
    let ok = client_trusting(&pki.ca_pem)
        .get(format!("{url}/healthz"))
        .send()
        .expect("https request");
    assert!(ok.status().is_success());
    // Plain HTTP on the TLS port gets no answer from the API.
    let plain = reqwest::blocking::Client::new()
        .get(format!("{}/healthz", url.replace("https://", "http://")))
        .send();
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    stop(child);
    let (warned, _) = read_until(&mut BufReader::new(stderr), "WARNING");
    assert!(!warned, "loopback with TLS needs no warning");
}

#[test]
fn certificate_problems_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::TestPki::new("server-bad");
    let (cert, key, _) = pki.write(dir.path());
    let missing = dir.path().join("missing.pem");
    let run = |cert: &std::path::Path, key: &std::path::Path| {
        Command::new(BIN)
            .args(["--addr", "127.0.0.1:0", "--db"])
            .arg(dir.path().join("s.db"))
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = run(&missing, &key);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("missing.pem"), "{err}");
    // The key where the certificate should be, and the other way round.
    let o = run(&key, &cert);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("server.key") || err.contains("server.crt"),
        "{err}"
    );
    // A certificate without its key is a usage error.
    let o = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn plain_http_beyond_loopback_prints_a_loud_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["--addr", "0.0.0.0:0", "--db"])
        .arg(dir.path().join("s.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (warned, lines) = read_until(&mut BufReader::new(child.stderr.take().unwrap()), "WARNING");
    stop(child);
    assert!(warned, "{lines:?}");
    assert!(lines.last().unwrap().contains("plain HTTP"), "{lines:?}");

    let cfg = ServerConfig::new("0.0.0.0:0".parse().unwrap(), "x.db");
    assert!(cfg.plain_http_beyond_loopback());
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "x.db");
    assert!(!cfg.plain_http_beyond_loopback());
    cfg.addr = "[::]:8443".parse().unwrap();
    cfg.tls = Some(TlsFiles {
        cert: "c.pem".into(),
        key: "k.pem".into(),
    });
    assert!(!cfg.plain_http_beyond_loopback());
}
