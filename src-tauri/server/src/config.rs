//! Server configuration, shared by the binary's flags and the embedding API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ServerError;

/// Longest default expiry accepted (keeps every time arithmetic far from overflow).
pub const MAX_EXPIRY: chrono::Duration = chrono::Duration::days(365);

/// Everything `spawn` needs. `addr` with port 0 binds an ephemeral port.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub db_path: PathBuf,
    /// How long a new approval stays pending before it expires.
    pub default_expiry: chrono::Duration,
    /// Seed the demo org, tokens and approvals (idempotent).
    pub demo: bool,
    /// With `demo`: create a new pending approval this often.
    pub demo_trickle: Option<Duration>,
    /// How often the sweeper expires overdue approvals.
    pub sweep_interval: Duration,
    /// Interval of `event: heartbeat` on the SSE stream.
    pub heartbeat_interval: Duration,
    /// Serve HTTPS with this certificate and key; plain HTTP when `None`.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Minimum approvals per action pattern (`--quorum`); see [`crate::quorum`].
    pub quorum: Vec<crate::quorum::QuorumRule>,
    /// A connection that has not sent a whole request head this long after it opened
    /// (or after its previous answer) is closed: half-open sockets cannot pile up.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait to be accepted (the kernel's backlog),
    /// so a flood of idle sockets cannot take every file descriptor.
    pub max_connections: usize,
    /// Requests per minute per bearer token (a burst of this many, refilled evenly);
    /// 0 turns the limit off. See [`crate::limits`].
    pub rate_limit_per_minute: u32,
    /// Approvals created per minute per agent token, on top of `rate_limit_per_minute`;
    /// 0 turns it off.
    pub create_rate_limit_per_minute: u32,
    /// Orgs whose approver decisions must carry a valid v2 receipt (`*` for every
    /// org); a decision without one is a 422 `receipt_required`.
    pub require_receipts: Vec<String>,
    /// The server's Ed25519 key file that signs the audit chain's head; `None` puts
    /// it beside the database as `<db>.audit-key` (see [`crate::server_key`]).
    pub audit_key_path: Option<PathBuf>,
}

/// Default of [`ServerConfig::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`ServerConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default of [`ServerConfig::rate_limit_per_minute`]: far above what the app (a few
/// requests a minute, more while someone clicks through a queue) or a busy policy
/// engine needs, far below a loop.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 6000;
/// Default of [`ServerConfig::create_rate_limit_per_minute`].
pub const DEFAULT_CREATE_RATE_LIMIT_PER_MINUTE: u32 = 600;

impl ServerConfig {
    /// Defaults of the binary: 127.0.0.1:8000, `./countersign-server.db`, 24 h expiry.
    pub fn new(addr: SocketAddr, db_path: impl Into<PathBuf>) -> Self {
        ServerConfig {
            addr,
            db_path: db_path.into(),
            default_expiry: chrono::Duration::hours(24),
            demo: false,
            demo_trickle: None,
            sweep_interval: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(15),
            tls: None,
            quorum: Vec::new(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            create_rate_limit_per_minute: DEFAULT_CREATE_RATE_LIMIT_PER_MINUTE,
            require_receipts: Vec::new(),
            audit_key_path: None,
        }
    }

    /// Plain HTTP on an address other machines can reach: bearer tokens and decisions
    /// would cross the network readable by anyone on the path.
    /// Where the audit-head signing key lives: `audit_key_path`, else beside the
    /// database file.
    pub fn audit_key_file(&self) -> PathBuf {
        self.audit_key_path.clone().unwrap_or_else(|| {
            let mut name = self.db_path.as_os_str().to_owned();
            name.push(".audit-key");
            PathBuf::from(name)
        })
    }

    pub fn plain_http_beyond_loopback(&self) -> bool {
        self.tls.is_none() && !self.addr.ip().is_loopback()
    }
}

/// Parses durations such as `24h`, `90m`, `30s`, `1d`, `500ms`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ServerError> {
    let t = text.trim();
    let bad = || {
        ServerError::Config(format!(
            "invalid duration {text:?} (use e.g. 24h, 90m, 30s)"
        ))
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs_per = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1,
        "m" | "min" | "mins" => 60,
        "h" | "hr" | "hrs" => 3600,
        "d" | "day" | "days" => 86_400,
        "ms" => return Ok(Duration::from_millis(n)),
        _ => return Err(bad()),
    };
    n.checked_mul(secs_per)
        .map(Duration::from_secs)
        .filter(|d| !d.is_zero())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("-5s").is_err());
    }
}
