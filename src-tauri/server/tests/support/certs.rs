//! Certificates made in the test: a CA and a server certificate it signs, written
//! as PEM files, and a guard that puts a CA in the operating system's trust store
//! (Debian/Ubuntu: /usr/local/share/ca-certificates + update-ca-certificates) and
//! takes it out again. Shared by the server, core and CLI tests through `#[path]`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// A certificate authority and a server certificate for `localhost` and 127.0.0.1.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    /// `name` goes into the CA's common name, so a CA left behind is recognisable.
    pub fn new(name: &str) -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("Countersign test CA {name}"));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
        TestPki {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes `server.crt`, `server.key` and `ca.crt` into `dir`.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
        let cert = dir.join("server.crt");
        let key = dir.join("server.key");
        let ca = dir.join("ca.crt");
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        std::fs::write(&ca, &self.ca_pem).unwrap();
        (cert, key, ca)
    }
}

const LOCAL_CA_DIR: &str = "/usr/local/share/ca-certificates";
const SYSTEM_CERT_DIR: &str = "/etc/ssl/certs";

/// A CA in the system trust store for as long as the guard lives.
pub struct SystemTrust {
    file: PathBuf,
}

impl SystemTrust {
    /// Installs `ca_pem` system-wide. Needs root and `update-ca-certificates` (CI has
    /// both); panics with the reason otherwise, so the test cannot pass by skipping.
    pub fn install(name: &str, ca_pem: &str) -> SystemTrust {
        let file = Path::new(LOCAL_CA_DIR).join(format!("countersign-test-{name}.crt"));
        std::fs::create_dir_all(LOCAL_CA_DIR)
            .unwrap_or_else(|e| panic!("{LOCAL_CA_DIR}: {e} (this test needs root)"));
        std::fs::write(&file, ca_pem)
            .unwrap_or_else(|e| panic!("{}: {e} (this test needs root)", file.display()));
        let guard = SystemTrust { file };
        update_ca_certificates();
        guard
    }
}

impl Drop for SystemTrust {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
        // update-ca-certificates drops the CA from the bundle but leaves its links in
        // /etc/ssl/certs dangling: remove the named link and the hash link to it.
        if let Some(stem) = self.file.file_stem().and_then(|s| s.to_str()) {
            let link = format!("{stem}.pem");
            if let Ok(dir) = std::fs::read_dir(SYSTEM_CERT_DIR) {
                for entry in dir.flatten() {
                    let points_here = std::fs::read_link(entry.path())
                        .is_ok_and(|t| t.file_name().is_some_and(|n| n == link.as_str()));
                    if entry.file_name() == link.as_str() || points_here {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
        // No assertion here: a panic while a failed test unwinds would abort.
        if let Err(e) = Command::new("update-ca-certificates").output() {
            eprintln!("update-ca-certificates after the test: {e}");
        }
    }
}

fn update_ca_certificates() {
    let out = Command::new("update-ca-certificates")
        .output()
        .expect("update-ca-certificates (package ca-certificates) is needed by this test");
    assert!(
        out.status.success(),
        "update-ca-certificates failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
