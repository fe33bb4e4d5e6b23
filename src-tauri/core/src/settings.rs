//! User settings, persisted in the store (never the token).

use serde::{Deserialize, Serialize};

/// Default "expiring soon" threshold: one hour.
pub const DEFAULT_EXPIRING_SOON_SECS: i64 = 3600;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Base URL of the server, e.g. `https://countersign.example.com`.
    pub server_url: Option<String>,
    pub org: Option<String>,
    /// Identity the token belongs to, as `/api/v1/me` reported at login.
    pub subject: Option<String>,
    /// Pending approvals expiring within this many seconds are "expiring soon".
    pub expiring_soon_secs: i64,
    pub notifications_enabled: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_url: None,
            org: None,
            subject: None,
            expiring_soon_secs: DEFAULT_EXPIRING_SOON_SECS,
            notifications_enabled: true,
        }
    }
}

impl Settings {
    /// Server and org, when both are set.
    pub fn endpoint(&self) -> Option<(&str, &str)> {
        match (&self.server_url, &self.org) {
            (Some(s), Some(o)) if !s.is_empty() && !o.is_empty() => Some((s.as_str(), o.as_str())),
            _ => None,
        }
    }
}

/// Normalises and checks a server URL typed by a user: scheme http(s), no trailing slash.
pub fn normalize_server_url(raw: &str) -> Result<String, crate::CoreError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| crate::CoreError::Settings(format!("server URL {trimmed:?}: {e}")))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(crate::CoreError::Settings(format!(
            "server URL must start with http:// or https://, got {trimmed:?}"
        )));
    }
    if parsed.host_str().is_none() {
        return Err(crate::CoreError::Settings(format!(
            "server URL has no host: {trimmed:?}"
        )));
    }
    Ok(trimmed.to_string())
}

/// Checks an org id: non-empty, URL-path safe.
pub fn validate_org(org: &str) -> Result<(), crate::CoreError> {
    let ok = !org.is_empty()
        && org.len() <= 128
        && org
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(crate::CoreError::Settings(format!(
            "org must be letters, digits, '-', '_' or '.', got {org:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_and_checked() {
        assert_eq!(
            normalize_server_url(" http://127.0.0.1:8000/ ").unwrap(),
            "http://127.0.0.1:8000"
        );
        assert!(normalize_server_url("ftp://x").is_err());
        assert!(normalize_server_url("not a url").is_err());
        assert!(validate_org("org-demo").is_ok());
        assert!(validate_org("org/../x").is_err());
        assert!(validate_org("").is_err());
    }

    #[test]
    fn endpoint_needs_both() {
        let mut s = Settings::default();
        assert_eq!(s.endpoint(), None);
        s.server_url = Some("http://x".into());
        assert_eq!(s.endpoint(), None);
        s.org = Some("o".into());
        assert_eq!(s.endpoint(), Some(("http://x", "o")));
    }
}
