//! `links` on the approvals the server returns: `app` opens the approval in the desktop
//! app (`countersign://approvals/<id>?org=<org>`), `api` is its URL in this API, so an
//! integration that posts an approval to a chat or mail can put a one-click link in it.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use countersign_api::{Approval, ApprovalLinks};

use crate::error::ApiError;
use crate::state::AppState;

/// Scheme, host and port under which the caller reached this server.
///
/// Taken from the request (`Host`, and `X-Forwarded-Proto` from a TLS-terminating
/// proxy; always `https` when the server serves TLS itself), since the bound address (`0.0.0.0:8000`, an ephemeral port) says nothing
/// about the name clients use. Falls back to the bound address when the request has no
/// usable `Host`.
#[derive(Debug, Clone)]
pub struct LinkBase(String);

impl LinkBase {
    pub fn new(base: impl Into<String>) -> Self {
        LinkBase(base.into())
    }

    pub fn links(&self, a: &Approval) -> ApprovalLinks {
        ApprovalLinks::new(&self.0, &a.org_id, &a.id)
    }

    /// Sets `links` on `a` and hands it back.
    pub fn apply(&self, mut a: Approval) -> Approval {
        a.links = Some(self.links(&a));
        a
    }

    pub fn apply_all(&self, items: &mut [Approval]) {
        for a in items {
            a.links = Some(self.links(a));
        }
    }
}

/// An authority fit to put in a URL: a host name, IPv4 or bracketed IPv6, and a port.
/// Anything else (a header forged with `/`, `@`, spaces) is not echoed into a link.
fn plausible_authority(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

impl FromRequestParts<AppState> for LinkBase {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header_text = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        // Serving TLS itself, the server knows the scheme; behind a proxy, the proxy says.
        let scheme = match header_text("x-forwarded-proto") {
            _ if state.config.tls.is_some() => "https",
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let host = header_text(header::HOST.as_str())
            .filter(|h| plausible_authority(h))
            .map(str::to_string)
            .unwrap_or_else(|| state.config.addr.to_string());
        Ok(LinkBase(format!("{scheme}://{host}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_authorities_are_echoed() {
        assert!(plausible_authority("127.0.0.1:8000"));
        assert!(plausible_authority("countersign.example.com"));
        assert!(plausible_authority("[::1]:8000"));
        assert!(!plausible_authority("evil.example/phish?"));
        assert!(!plausible_authority("user@host"));
        assert!(!plausible_authority("a b"));
        assert!(!plausible_authority(""));
    }
}
