//! User settings, persisted in the store (never the token).

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

/// Default "expiring soon" threshold: one hour.
pub const DEFAULT_EXPIRING_SOON_SECS: i64 = 3600;
/// Bounds of the "expiring soon" threshold: under a minute the reminder comes too late
/// to act on; over a day nearly everything is "expiring".
pub const EXPIRING_SOON_MIN_SECS: i64 = 60;
pub const EXPIRING_SOON_MAX_SECS: i64 = 24 * 3600;

/// The document's "review pending approvals at start and end of day".
fn default_digest_times() -> Vec<String> {
    vec!["09:00".into(), "17:00".into()]
}

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
    /// Offer "Approve" on new-approval notifications. Off by default: the document asks
    /// to review the policy trace and risk snapshot before approving.
    #[serde(default)]
    pub approve_from_notification: bool,
    /// Announce the pending count at [`Settings::digest_times`] each day.
    #[serde(default)]
    pub digest_enabled: bool,
    /// Two local times of day, "HH:MM" (see [`parse_digest_time`]).
    #[serde(default = "default_digest_times")]
    pub digest_times: Vec<String>,
    /// Seconds a decision made in the app is held before it is sent (0: at once).
    #[serde(default = "default_undo_window_secs")]
    pub undo_window_secs: i64,
    /// The user signed in to a plain `http://` server beyond this machine, saying so
    /// explicitly (`--allow-insecure-http`, or the sign-in form's checkbox). See
    /// [`check_transport`].
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server_url: None,
            org: None,
            subject: None,
            expiring_soon_secs: DEFAULT_EXPIRING_SOON_SECS,
            notifications_enabled: true,
            approve_from_notification: false,
            digest_enabled: false,
            digest_times: default_digest_times(),
            undo_window_secs: DEFAULT_UNDO_WINDOW_SECS,
            allow_insecure_http: false,
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

/// Checks the "expiring soon" threshold (seconds), saying the allowed range.
pub fn validate_expiring_soon_secs(secs: i64) -> Result<(), crate::CoreError> {
    if (EXPIRING_SOON_MIN_SECS..=EXPIRING_SOON_MAX_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(crate::CoreError::Settings(format!(
            "the expiring-soon threshold must be between 1 minute and 24 hours \
             (1 to 1440 minutes), got {} minutes",
            secs / 60
        )))
    }
}

/// Reads a digest time typed as "HH:MM" (24-hour, local time), e.g. "09:00" or "17:30".
pub fn parse_digest_time(raw: &str) -> Result<NaiveTime, crate::CoreError> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| {
        crate::CoreError::Settings(format!(
            "a digest time is written as HH:MM in 24-hour local time, e.g. 09:00 or 17:30; \
             got {raw:?}"
        ))
    })
}

/// Checks and normalises the two digest times ("9:00" becomes "09:00"); they must differ.
pub fn normalize_digest_times(raw: &[String]) -> Result<Vec<String>, crate::CoreError> {
    let [a, b] = raw else {
        return Err(crate::CoreError::Settings(format!(
            "the digest needs exactly two times of day, got {}",
            raw.len()
        )));
    };
    let (a, b) = (parse_digest_time(a)?, parse_digest_time(b)?);
    if a == b {
        return Err(crate::CoreError::Settings(
            "the two digest times are the same; pick two different times of day".into(),
        ));
    }
    Ok(vec![
        a.format("%H:%M").to_string(),
        b.format("%H:%M").to_string(),
    ])
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

/// How a server URL is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `https://`.
    Tls,
    /// `http://` to this machine (127.0.0.0/8, ::1, `localhost`): nothing crosses a
    /// network.
    Loopback,
    /// `http://` to another machine: the bearer token and every decision cross the
    /// network readable (and changeable) by anyone on the path.
    InsecureHttp,
}

impl Transport {
    /// How `server_url` (a URL [`normalize_server_url`] accepted) is reached.
    pub fn of(server_url: &str) -> Transport {
        let Ok(url) = reqwest::Url::parse(server_url) else {
            return Transport::InsecureHttp;
        };
        if url.scheme() == "https" {
            return Transport::Tls;
        }
        // The URL parser has already put IP addresses in their one form (`[::1]`,
        // `127.0.0.1` for `127.1`), so a name that merely starts like one is a name.
        let host = url.host_str().unwrap_or_default();
        let ip = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => host.eq_ignore_ascii_case("localhost"),
        };
        if loopback {
            Transport::Loopback
        } else {
            Transport::InsecureHttp
        }
    }
}

/// The one rule for where a token may be sent: `https://` anywhere, `http://` only to
/// this machine, unless the user explicitly allows an unencrypted connection
/// (`allow_insecure_http`), which is then remembered and shown. Checked before any
/// connection is made.
pub fn check_transport(
    server_url: &str,
    allow_insecure_http: bool,
) -> Result<Transport, crate::CoreError> {
    let t = Transport::of(server_url);
    if t == Transport::InsecureHttp && !allow_insecure_http {
        return Err(crate::CoreError::Settings(format!(
            "refusing the unencrypted connection to {server_url}: over http:// the token \
             and every decision would cross the network readable by anyone on the path. \
             Use https://, or http:// only to this machine (127.0.0.1, ::1, localhost). \
             To connect anyway, allow an unencrypted connection explicitly \
             (countersign login --allow-insecure-http, or the sign-in form's checkbox)"
        )));
    }
    Ok(t)
}

/// Checks an org id with the API's one rule ([`countersign_api::is_valid_org_id`]).
pub fn validate_org(org: &str) -> Result<(), crate::CoreError> {
    if countersign_api::is_valid_org_id(org) {
        Ok(())
    } else {
        Err(crate::CoreError::Settings(format!(
            "{}, got {org:?}",
            countersign_api::ORG_ID_RULE
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_for_this_machine_only_unless_allowed() {
        for ok in [
            "http://127.0.0.1:8000",
            "http://127.1.2.3",
            "http://[::1]:8000",
            "http://localhost:8000",
            "http://LOCALHOST",
        ] {
            assert_eq!(
                check_transport(ok, false).unwrap(),
                Transport::Loopback,
                "{ok}"
            );
        }
        assert_eq!(
            check_transport("https://cs.example.com", false).unwrap(),
            Transport::Tls
        );
        for bad in [
            "http://example.invalid",
            "http://10.0.0.5:8000",
            "http://[::2]",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
        ] {
            let e = check_transport(bad, false).unwrap_err().to_string();
            assert!(e.contains("unencrypted"), "{bad}: {e}");
            assert_eq!(
                check_transport(bad, true).unwrap(),
                Transport::InsecureHttp,
                "{bad}"
            );
        }
    }

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
    fn thresholds_and_digest_times_are_checked_with_clear_messages() {
        assert!(validate_expiring_soon_secs(60).is_ok());
        assert!(validate_expiring_soon_secs(24 * 3600).is_ok());
        let m = validate_expiring_soon_secs(25 * 3600)
            .unwrap_err()
            .to_string();
        assert!(m.contains("between 1 minute and 24 hours"), "{m}");
        assert!(validate_expiring_soon_secs(59).is_err());
        assert_eq!(
            normalize_digest_times(&["9:00".into(), "17:30".into()]).unwrap(),
            ["09:00", "17:30"]
        );
        let m = normalize_digest_times(&["25:00".into(), "17:00".into()])
            .unwrap_err()
            .to_string();
        assert!(m.contains("HH:MM") && m.contains("25:00"), "{m}");
        assert!(normalize_digest_times(&["09:00".into(), "09:00".into()]).is_err());
        assert!(normalize_digest_times(&["09:00".into()]).is_err());
        // Settings saved before these fields existed still load, with the defaults.
        let old: Settings = serde_json::from_str(
            r#"{"server_url":null,"org":null,"subject":null,"expiring_soon_secs":3600,"notifications_enabled":true}"#,
        )
        .unwrap();
        assert!(!old.approve_from_notification && !old.digest_enabled);
        assert_eq!(old.digest_times, ["09:00", "17:00"]);
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
