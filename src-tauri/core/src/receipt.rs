//! This device's signing key: made at login, registered with the server, kept next to
//! the token (keychain or the private fallback file), and used to sign every decision
//! when the approver makes it (see `countersign_api::receipt`).

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::api::receipt::{public_key_hex, Expected, ReceiptSigned};
use crate::api::{Approval, DecisionKind, Device, Receipt};
use crate::client::{ApiClient, Failure};
use crate::error::{CoreError, Result};
use crate::token::TokenStore;

/// An Ed25519 key pair of this device and the id the server gave its public key.
#[derive(Clone, Serialize, Deserialize)]
pub struct DeviceKey {
    pub key_id: String,
    /// Hex of the 32-byte secret key.
    secret: String,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("DeviceKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// A fresh key pair from the OS's random source; `key_id` is set once registered.
    pub fn generate() -> DeviceKey {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        DeviceKey {
            key_id: String::new(),
            secret: hex::encode(secret),
        }
    }

    fn secret(&self) -> Result<[u8; 32]> {
        hex::decode(&self.secret)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| CoreError::Token("the stored device key is unreadable".into()))
    }

    pub fn public_key(&self) -> Result<String> {
        Ok(public_key_hex(&self.secret()?))
    }

    /// The receipt for deciding `approval` now as `signer`, over the request as cached
    /// here (what the approver saw), for the server of `epoch`: v2, or v1 when the
    /// epoch is unknown (a server older than epochs).
    #[allow(clippy::too_many_arguments)] // the decision's parts, each bound by the receipt
    pub fn sign(
        &self,
        approval: &Approval,
        kind: DecisionKind,
        notes: Option<&str>,
        reason: Option<&str>,
        signer: &str,
        epoch: Option<&str>,
        decided_at: DateTime<Utc>,
    ) -> Result<Receipt> {
        let expected = Expected::for_approval(approval, kind, notes, reason, signer, epoch);
        Receipt::sign(
            &self.secret()?,
            &self.key_id,
            ReceiptSigned::for_decision(&expected, decided_at),
        )
        .map_err(|e| CoreError::Protocol(e.to_string()))
    }

    pub fn load(tokens: &TokenStore, account: &str) -> Result<Option<DeviceKey>> {
        match tokens.load_device_key(account)? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| CoreError::Token(format!("the stored device key is unreadable: {e}"))),
        }
    }

    fn save(&self, tokens: &TokenStore, account: &str) -> Result<()> {
        let json = serde_json::to_string(self).map_err(|e| CoreError::Token(e.to_string()))?;
        tokens.save_device_key(account, &json)?;
        Ok(())
    }
}

/// "Countersign on <host>", the name the history shows for this device's decisions.
pub fn device_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unnamed host".to_string());
    format!("Countersign on {host}")
}

/// Registers this device's key at login: the stored key when there is one (the same
/// key answers the same id), else a new one. `None` when the server has no device
/// endpoint (an older server: decisions go unsigned) or refused the key; the login
/// itself never fails here.
pub async fn register(client: &ApiClient, tokens: &TokenStore, account: &str) -> Option<DeviceKey> {
    let stored = match DeviceKey::load(tokens, account) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the stored device key; making a new one");
            None
        }
    };
    let mut candidates = stored.into_iter().collect::<Vec<_>>();
    candidates.push(DeviceKey::generate());
    for mut key in candidates {
        let public = key.public_key().ok()?;
        match client.register_device(&public, &device_name()).await {
            Ok(r) => {
                key.key_id = r.key_id;
                if let Err(e) = key.save(tokens, account) {
                    tracing::warn!(error = %e, "cannot store the device key; decisions go unsigned");
                    return None;
                }
                return Some(key);
            }
            // The old key was revoked or is someone else's: try a fresh one.
            Err(Failure::Rejected { status: 409, .. }) => continue,
            Err(Failure::Rejected { status: 404, .. }) => {
                tracing::warn!(
                    "this server has no device keys (an older version): decisions are sent unsigned"
                );
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot register this device's key; decisions are sent unsigned until the next sign-in");
                return None;
            }
        }
    }
    None
}

/// Registers the signed-in device's stored key again (after a server forgot it).
/// True when the server took it under the same id, so queued receipts are valid.
pub async fn reregister(engine: &crate::Engine, client: &ApiClient) -> bool {
    let Some(key) = engine.device_key() else {
        return false;
    };
    let Ok(public) = key.public_key() else {
        return false;
    };
    match client.register_device(&public, &device_name()).await {
        Ok(r) if r.key_id == key.key_id => {
            tracing::info!(key_id = %key.key_id, "registered this device's key again");
            true
        }
        Ok(r) => {
            tracing::warn!(ours = %key.key_id, theirs = %r.key_id, "the server named this device's key differently");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot register this device's key again");
            false
        }
    }
}

/// Store key of the org's device keys as last fetched, for verifying offline.
const DEVICE_KEYS_META: &str = "device_keys";

/// Where the keys a receipt was checked with came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeysSource {
    File,
    Server,
    Cache,
}

/// The org's device keys: from the server when it answers within `wait` (and then
/// cached), else the copy cached by the last successful fetch.
pub async fn org_device_keys(
    engine: &crate::Engine,
    wait: std::time::Duration,
) -> Result<(Vec<Device>, KeysSource)> {
    if let Ok(client) = engine.client() {
        match tokio::time::timeout(wait, client.devices()).await {
            Ok(Ok(list)) => {
                let json = serde_json::to_string(&list.items)
                    .map_err(|e| CoreError::Protocol(e.to_string()))?;
                engine
                    .blocking(move |e| e.store().meta_set(DEVICE_KEYS_META, &json))
                    .await?;
                return Ok((list.items, KeysSource::Server));
            }
            Ok(Err(e)) => tracing::info!(error = %e, "device keys: using the cached copy"),
            Err(_) => tracing::info!("device keys: the server is slow; using the cached copy"),
        }
    }
    let cached = engine
        .blocking(|e| e.reader()?.meta_get(DEVICE_KEYS_META))
        .await?;
    match cached {
        Some(json) => serde_json::from_str(&json)
            .map(|keys| (keys, KeysSource::Cache))
            .map_err(|e| CoreError::Protocol(format!("cached device keys are unreadable: {e}"))),
        None => Err(CoreError::Invalid(
            "no device keys: the server is not reachable and none are cached here \
             (sign in and run this once online, or pass --keys FILE with the JSON of \
             GET /api/v1/orgs/ORG/devices)"
                .into(),
        )),
    }
}

/// Why a receipt did not verify offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineFailure {
    /// The approval carries no receipt (an unsigned decision).
    Unsigned,
    /// No key with the receipt's id among the org's keys.
    UnknownDevice(String),
    /// The key was revoked before the decision was made.
    RevokedBefore(String),
    BadSignature(String),
    Mismatch(String),
}

impl std::fmt::Display for OfflineFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OfflineFailure::Unsigned => {
                f.write_str("the decision carries no receipt (it was made unsigned)")
            }
            OfflineFailure::UnknownDevice(m)
            | OfflineFailure::RevokedBefore(m)
            | OfflineFailure::BadSignature(m)
            | OfflineFailure::Mismatch(m) => f.write_str(m),
        }
    }
}

/// Checks `receipt` (or, when `None`, the one in `approval.decision`) against the
/// approval and the org's keys: the signature, that it is for exactly this approval,
/// its request and its decision, and that the device is the decider's own (signer =
/// decider). For an approved quorum approval checked through its decision, every vote
/// must carry its voter's own receipt, one distinct signer per vote. `epoch` is the
/// server's epoch when known (a v2 receipt must name it); `None` skips that one check.
/// Returns the signing device (of the deciding receipt).
pub fn verify_offline(
    approval: &Approval,
    receipt: Option<&Receipt>,
    keys: &[Device],
    epoch: Option<&str>,
) -> std::result::Result<Device, OfflineFailure> {
    let explicit = receipt.is_some();
    let receipt = receipt
        .or_else(|| approval.decision.as_ref().and_then(|d| d.receipt.as_ref()))
        .ok_or(OfflineFailure::Unsigned)?;
    // Against the decision the approval records; without one, the receipt's own
    // kind, notes and reason (it still binds the approval and its request).
    let s = &receipt.signed;
    let decided = match &approval.decision {
        Some(d) => Decided {
            kind: d.kind,
            by: Some(&d.by),
            at: d.at,
            notes: d.notes.as_deref(),
            reason: d.reason.as_deref(),
        },
        None => Decided {
            kind: s.kind,
            by: None,
            at: s.decided_at,
            notes: s.notes.as_deref(),
            reason: s.reason.as_deref(),
        },
    };
    let device = check_one(approval, receipt, keys, &decided, epoch)?;
    let quorum = approval.required_approvals > 1
        && approval
            .decision
            .as_ref()
            .is_some_and(|d| d.kind == DecisionKind::Approve);
    if quorum && !explicit {
        let mut signers = std::collections::HashSet::new();
        for vote in &approval.approvals {
            let r = vote.receipt.as_ref().ok_or_else(|| {
                OfflineFailure::Mismatch(format!(
                    "the approve by {} carries no receipt: a quorum is verified vote by vote",
                    vote.by
                ))
            })?;
            let voted = Decided {
                kind: DecisionKind::Approve,
                by: Some(&vote.by),
                at: vote.at,
                notes: vote.notes.as_deref(),
                reason: None,
            };
            let d = check_one(approval, r, keys, &voted, epoch)?;
            if !signers.insert(d.owner.clone()) {
                return Err(OfflineFailure::Mismatch(format!(
                    "{} signed more than one approve: one signer per vote",
                    d.owner
                )));
            }
        }
        if signers.len() < usize::from(approval.required_approvals) {
            return Err(OfflineFailure::Mismatch(format!(
                "{} distinct signed approves for a quorum of {}",
                signers.len(),
                approval.required_approvals
            )));
        }
    }
    Ok(device)
}

/// One decision (or one quorum vote) a receipt must stand for.
struct Decided<'a> {
    kind: DecisionKind,
    /// Who decided; `None` when the approval records no decision (the receipt's own
    /// signer, or the device's owner, is then taken as the decider).
    by: Option<&'a str>,
    at: DateTime<Utc>,
    notes: Option<&'a str>,
    reason: Option<&'a str>,
}

fn check_one(
    approval: &Approval,
    receipt: &Receipt,
    keys: &[Device],
    decided: &Decided<'_>,
    epoch: Option<&str>,
) -> std::result::Result<Device, OfflineFailure> {
    let device = keys
        .iter()
        .find(|d| d.key_id == receipt.key_id)
        .ok_or_else(|| {
            OfflineFailure::UnknownDevice(format!(
                "device key {} is not one of the org's keys",
                receipt.key_id
            ))
        })?;
    // A revocation does not undo past decisions: only a key revoked before the
    // decision fails it.
    if let Some(revoked) = device.revoked_at {
        if revoked < decided.at {
            return Err(OfflineFailure::RevokedBefore(format!(
                "device key {} was revoked at {revoked}, before the decision",
                receipt.key_id
            )));
        }
    }
    let by = decided.by.unwrap_or(device.owner.as_str());
    if device.owner != by {
        return Err(OfflineFailure::Mismatch(format!(
            "the receipt was signed with device key {} of {}, but {by} decided",
            receipt.key_id, device.owner
        )));
    }
    receipt
        .verify_signature(&device.public_key)
        .map_err(|e| OfflineFailure::BadSignature(e.to_string()))?;
    let expected = Expected::for_approval(
        approval,
        decided.kind,
        decided.notes,
        decided.reason,
        by,
        epoch,
    );
    receipt
        .check_matches(&expected)
        .map_err(|e| OfflineFailure::Mismatch(e.to_string()))?;
    Ok(device.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Decision;
    use crate::store::approvals::tests::approval;

    fn device(key: &DeviceKey, revoked_at: Option<DateTime<Utc>>) -> Device {
        Device {
            key_id: key.key_id.clone(),
            public_key: key.public_key().unwrap(),
            owner: "alice".into(),
            name: "Countersign on test".into(),
            created_at: Utc::now() - chrono::Duration::days(1),
            revoked_at,
        }
    }

    fn decided() -> (DeviceKey, Approval) {
        let mut key = DeviceKey::generate();
        key.key_id = "dev-1".into();
        let now = Utc::now();
        let mut a = approval("appr-1", "bot", 1, now - chrono::Duration::hours(1));
        a.params = serde_json::json!({"amount": 10});
        let receipt = key
            .sign(
                &a,
                DecisionKind::Approve,
                Some("ok"),
                None,
                "alice",
                Some("epoch-1"),
                now,
            )
            .unwrap();
        a.decision = Some(Decision {
            kind: DecisionKind::Approve,
            by: "alice".into(),
            at: now,
            notes: Some("ok".into()),
            reason: None,
            receipt: Some(receipt),
        });
        (key, a)
    }

    #[test]
    fn a_revocation_after_the_decision_does_not_undo_it_one_before_does() {
        let (key, a) = decided();
        let at = a.decision.as_ref().unwrap().at;
        let later = [device(&key, Some(at + chrono::Duration::minutes(5)))];
        assert_eq!(
            verify_offline(&a, None, &later, None).unwrap().key_id,
            "dev-1"
        );
        let earlier = [device(&key, Some(at - chrono::Duration::minutes(5)))];
        assert!(matches!(
            verify_offline(&a, None, &earlier, None),
            Err(OfflineFailure::RevokedBefore(_))
        ));
        assert!(matches!(
            verify_offline(&a, None, &[], None),
            Err(OfflineFailure::UnknownDevice(_))
        ));
    }

    #[test]
    fn what_runs_must_be_what_was_approved() {
        let (key, mut a) = decided();
        let keys = [device(&key, None)];
        assert!(verify_offline(&a, None, &keys, Some("epoch-1")).is_ok());
        a.params = serde_json::json!({"amount": 10000});
        assert!(matches!(
            verify_offline(&a, None, &keys, Some("epoch-1")),
            Err(OfflineFailure::Mismatch(_))
        ));
        a.decision.as_mut().unwrap().receipt = None;
        assert_eq!(
            verify_offline(&a, None, &keys, Some("epoch-1")).unwrap_err(),
            OfflineFailure::Unsigned
        );
    }

    #[test]
    fn the_signer_must_be_the_decider_and_each_vote_its_own() {
        let (key, mut a) = decided();
        let keys = [device(&key, None)];
        // Alice's receipt under Bob's name: refused, as the server refuses it.
        a.decision.as_mut().unwrap().by = "bob".into();
        assert!(matches!(
            verify_offline(&a, None, &keys, None),
            Err(OfflineFailure::Mismatch(_))
        ));
        // Another server database (epoch) than the one it was signed for.
        a.decision.as_mut().unwrap().by = "alice".into();
        assert!(verify_offline(&a, None, &keys, Some("epoch-1")).is_ok());
        assert!(matches!(
            verify_offline(&a, None, &keys, Some("epoch-2")),
            Err(OfflineFailure::Mismatch(_))
        ));

        // A 2-of-2: both votes signed by alice's key (bob's vote carrying her
        // receipt) is one signer, not two.
        let mut q = a.clone();
        q.required_approvals = 2;
        let now = q.decision.as_ref().unwrap().at;
        let sign = |by: &str, notes: Option<&str>| {
            key.sign(
                &q,
                DecisionKind::Approve,
                notes,
                None,
                by,
                Some("epoch-1"),
                now,
            )
            .unwrap()
        };
        let alice = sign("alice", None);
        q.approvals = vec![
            crate::api::ApprovalVote {
                by: "alice".into(),
                at: now,
                notes: None,
                receipt: Some(alice.clone()),
            },
            crate::api::ApprovalVote {
                by: "bob".into(),
                at: now,
                notes: Some("ok".into()),
                receipt: Some(alice.clone()),
            },
        ];
        let d = q.decision.as_mut().unwrap();
        d.by = "bob".into();
        d.receipt = Some(alice);
        assert!(matches!(
            verify_offline(&q, None, &keys, None),
            Err(OfflineFailure::Mismatch(_))
        ));
        // An unsigned vote in a quorum is not verified either.
        q.approvals[1].receipt = None;
        assert!(verify_offline(&q, None, &keys, None).is_err());
    }
}
