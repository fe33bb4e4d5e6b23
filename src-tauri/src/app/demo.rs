//! `countersign --demo`: an embedded `countersign-server` on a random loopback port with
//! demo data and a trickle of new approvals, and an engine signed in to it. The demo
//! keeps its files in `<home>/demo`, so it never touches a real login.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use countersign_core::{Engine, EngineOptions};
use countersign_server::{RunningServer, ServerConfig};

pub const DEMO_ORG: &str = "org-demo";
/// The demo server's seeded approver (alice). Not a secret: it only opens the demo.
pub const DEMO_TOKEN: &str = "demo-approver-token";
/// Overrides the trickle interval (seconds), e.g. for tests that wait for a notification.
pub const TRICKLE_ENV: &str = "COUNTERSIGN_DEMO_TRICKLE_SECS";
const DEFAULT_TRICKLE: Duration = Duration::from_secs(60);

pub struct Demo {
    server: RunningServer,
}

impl Demo {
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

pub fn demo_home(base: &Path) -> PathBuf {
    base.join("demo")
}

fn trickle() -> Duration {
    std::env::var(TRICKLE_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TRICKLE)
}

/// Starts the embedded server and signs a fresh engine in to it.
pub async fn start(base_home: &Path) -> anyhow::Result<(Demo, Engine)> {
    let home = demo_home(base_home);
    std::fs::create_dir_all(&home)
        .with_context(|| format!("creating the demo directory {}", home.display()))?;
    // Fresh demo data on every start, so the seeded ages ("2h ago") read right.
    let db = home.join("demo-server.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let mut cfg = ServerConfig::new(([127, 0, 0, 1], 0).into(), db);
    cfg.demo = true;
    cfg.demo_trickle = Some(trickle());
    let server = countersign_server::spawn(cfg)
        .await
        .context("starting the embedded demo server")?;
    let base_url = server.base_url();
    tracing::info!(%base_url, "demo server running");
    // The demo token is public; keep it out of the user's keychain.
    let engine = Engine::open_with(
        &home,
        EngineOptions {
            file_token_store: true,
            ..EngineOptions::default()
        },
    )
    .context("opening the demo data directory")?;
    engine
        .login(&base_url, DEMO_ORG, DEMO_TOKEN)
        .await
        .context("signing in to the demo server")?;
    Ok((Demo { server }, engine))
}
