//! The server's signed audit head, remembered: after each pull the client fetches the
//! org's signed head (`GET …/audit/head`), checks it against the server key it pinned
//! on first sight, and checks that the server's chain still holds the last head this
//! device saw. When it does not (the head went back to a lower seq, or the entry at
//! that seq now has another hash), the server's history was cut or replaced: restored
//! from an older copy of its database, or edited. That is said in a notice that
//! stays (in the store, shown by the app's banner and the CLI) until this device signs
//! in to another server or org,
//! and the remembered head is kept as it was: it is the evidence.
//!
//! Failing to ask (offline, an older server without the endpoint) says nothing and
//! never fails the sync: the check runs again on the next one.

use serde::{Deserialize, Serialize};

use crate::api::AuditHead;
use crate::client::{ApiClient, Failure};
use crate::conn_state::EngineEvent;
use crate::engine::Engine;
use crate::error::Result;

/// Store keys: the pinned server key, the last head seen, the standing notice.
pub const KEY_META: &str = "audit_key";
pub const HEAD_META: &str = "audit_head";
pub const NOTICE_META: &str = "audit_notice";

/// The last head this device saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenHead {
    pub seq: i64,
    pub hash: String,
    pub signed_at: chrono::DateTime<chrono::Utc>,
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadCheck {
    /// The server does not serve signed heads, or could not be asked: nothing known.
    Unknown,
    /// The chain holds what this device saw; now remembered at this head.
    Holds(SeenHead),
    /// Something is wrong; the notice says what.
    Broken(String),
}

fn not_served(f: &Failure) -> bool {
    matches!(f, Failure::Rejected { status: 404, .. })
}

/// Fetches, checks and remembers the org's audit head; sets the notice when the
/// server's chain no longer holds the head remembered here.
pub async fn check(engine: &Engine, client: &ApiClient) -> Result<HeadCheck> {
    let head = match client.audit_head(None).await {
        Ok(h) => h,
        Err(e) => {
            if !not_served(&e) {
                tracing::info!(error = %e, "audit head: not checked this time");
            }
            return Ok(HeadCheck::Unknown);
        }
    };
    let (pinned, seen) = engine
        .blocking(|e| {
            let r = e.reader()?;
            Ok((r.meta_get(KEY_META)?, r.meta_get(HEAD_META)?))
        })
        .await?;
    let seen: Option<SeenHead> = seen.and_then(|j| serde_json::from_str(&j).ok());
    let outcome = judge(client, &head, pinned.as_deref(), seen.as_ref()).await;
    let first_key = pinned.is_none().then(|| head.public_key.clone());
    let notice = match &outcome {
        HeadCheck::Broken(m) => Some(m.clone()),
        _ => None,
    };
    let remember = match &outcome {
        HeadCheck::Holds(h) => Some(
            serde_json::to_string(h)
                .map_err(|e| crate::error::CoreError::Protocol(format!("audit head: {e}")))?,
        ),
        _ => None,
    };
    let newly = engine
        .blocking(move |e| {
            let store = e.store();
            if let Some(key) = &first_key {
                store.meta_set(KEY_META, key)?;
            }
            if let Some(json) = &remember {
                store.meta_set(HEAD_META, json)?;
            }
            let Some(notice) = notice else {
                return Ok(false);
            };
            let before = store.meta_get(NOTICE_META)?;
            if before.is_none() {
                store.meta_set(NOTICE_META, &notice)?;
            }
            Ok(before.is_none())
        })
        .await?;
    if newly {
        if let HeadCheck::Broken(m) = &outcome {
            tracing::error!(notice = %m, "the server's audit trail lost what this device saw");
        }
        // The status (banner, tray) is re-read on this event.
        engine.emit(EngineEvent::Synced { at: engine.now() });
    }
    Ok(outcome)
}

async fn judge(
    client: &ApiClient,
    head: &AuditHead,
    pinned: Option<&str>,
    seen: Option<&SeenHead>,
) -> HeadCheck {
    let key = pinned.unwrap_or(&head.public_key);
    if head.public_key != key {
        return HeadCheck::Broken(format!(
            "The server now signs its audit trail with another key ({}…) than the one this \
             device first saw ({}…): its key file was replaced, or this is another server. \
             Its history cannot be vouched for; tell the server's operator.",
            short(&head.public_key),
            short(key)
        ));
    }
    if let Err(e) = head.verify(key) {
        return HeadCheck::Broken(format!(
            "The server's audit trail head is not validly signed ({e}); tell the server's operator."
        ));
    }
    if head.signed.org_id != client.org() {
        return HeadCheck::Broken(format!(
            "The server sent the audit head of org {:?} for {:?}.",
            head.signed.org_id,
            client.org()
        ));
    }
    let now = SeenHead {
        seq: head.signed.seq,
        hash: head.signed.hash.clone(),
        signed_at: head.signed.signed_at,
    };
    let Some(seen) = seen else {
        return HeadCheck::Holds(now);
    };
    let lost = || {
        HeadCheck::Broken(format!(
            "The server's audit trail no longer contains entry {} that this device saw \
             (signed by the server at {}): its history was cut back or replaced, for example \
             restored from an older copy of its database. Decisions recorded after that \
             point may be gone from it; tell the server's operator.",
            seen.seq,
            seen.signed_at.format("%Y-%m-%d %H:%M UTC")
        ))
    };
    if now.seq < seen.seq {
        return lost();
    }
    if now.seq == seen.seq {
        return if now.hash == seen.hash {
            HeadCheck::Holds(now)
        } else {
            lost()
        };
    }
    match client.audit_head(Some(seen.seq)).await {
        Ok(at) if at.verify(key).is_ok() && at.signed.seq == seen.seq => {
            if at.signed.hash == seen.hash {
                HeadCheck::Holds(now)
            } else {
                lost()
            }
        }
        Ok(_) => HeadCheck::Broken(
            "The server's statement about an earlier audit entry is not validly signed; \
             tell the server's operator."
                .to_string(),
        ),
        Err(e) if not_served(&e) => lost(),
        Err(e) => {
            tracing::info!(error = %e, "audit head: the earlier entry was not checked this time");
            HeadCheck::Unknown
        }
    }
}

fn short(key: &str) -> &str {
    key.get(..16).unwrap_or(key)
}
