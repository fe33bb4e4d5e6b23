//! User settings, persisted in the store (never the token).

use serde::{Deserialize, Serialize};

/// Default "expiring soon" threshold: one hour.
pub const DEFAULT_EXPIRING_SOON_SECS: i64 = 3600;

/// Default undo window: a decision made in the app waits this long on the device
/// before it is sent, so Undo can take it back.
pub const DEFAULT_UNDO_WINDOW_SECS: i64 = 5;
/// The longest undo window the settings accept.
pub const MAX_UNDO_WINDOW_SECS: i64 = 60;

fn default_undo_window_secs() -> i64 {
    DEFAULT_UNDO_WINDOW_SECS
}

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
    /// Seconds a decision made in the app is held before it is sent (0: at once).
    #[serde(default = "default_undo_window_secs")]
    pub undo_window_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_url: None,
            org: None,
            subject: None,
            expiring_soon_secs: DEFAULT_EXPIRING_SOON_SECS,
            notifications_enabled: true,
            undo_window_secs: DEFAULT_UNDO_WINDOW_SECS,
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

/// Normalises and checks a server URL typed by a user: scheme http(s), a host, no
/// query, fragment or credentials, no trailing slash. Each refusal says what to type.
pub fn normalize_server_url(raw: &str) -> Result<String, crate::CoreError> {
    let bad = |why: String| crate::CoreError::Settings(why);
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(bad("the server URL is empty".into()));
    }
    // "127.0.0.1:8000" and "example.com" have no scheme; "localhost:8000" even parses
    // as one ("localhost:"), so look for "://" rather than trusting the parser.
    if !trimmed.contains("://") {
        return Err(bad(format!(
            "the server URL {trimmed:?} has no scheme: write https://{trimmed} (or \
             http://{trimmed} for a server on this machine)"
        )));
    }
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| {
        bad(format!(
            "{trimmed:?} is not a URL ({e}); write e.g. https://countersign.example.com"
        ))
    })?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(bad(format!(
            "the server URL must start with http:// or https://, got {trimmed:?}"
        )));
    }
    if parsed.host_str().unwrap_or_default().is_empty() {
        return Err(bad(format!("the server URL has no host: {trimmed:?}")));
    }
    // The API paths are appended to this URL: a query or fragment would end up in the
    // middle of every request (and every sync would fail), credentials in logs.
    if parsed.query().is_some() || parsed.fragment().is_some() {
        let base = &trimmed[..trimmed.find(['?', '#']).unwrap_or(trimmed.len())];
        return Err(bad(format!(
            "the server URL must not have a query string or fragment ({trimmed:?}); \
             give the server's base URL, e.g. {}",
            base.trim_end_matches('/')
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "the server URL must not contain a user name or password; the token is \
             read separately (--token-stdin or the prompt)"
                .into(),
        ));
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
        assert!(normalize_server_url("https://x.example/base").is_ok());
    }

    #[test]
    fn refusals_say_what_to_type() {
        let msg = |u: &str| normalize_server_url(u).unwrap_err().to_string();
        let m = msg("127.0.0.1:8000");
        assert!(m.contains("https://127.0.0.1:8000"), "{m}");
        assert!(!m.contains("relative URL"), "{m}");
        assert!(msg("localhost:8000").contains("http://localhost:8000"));
        let m = msg("https://x.example/?org=org-demo");
        assert!(m.contains("query string"), "{m}");
        assert!(m.contains("e.g. https://x.example"), "{m}");
        assert!(msg("https://x.example#frag").contains("fragment"));
        assert!(msg("https://bob:pw@x.example").contains("user name"));
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
