//! Decision receipts: a decision signed by the approver's device, bound to exactly the
//! request the approver saw.
//!
//! A receipt is `{"alg":"ed25519","key_id","signed":{...},"signature"}`. The signature
//! is Ed25519 over the RFC 8785 (JCS) canonical JSON of `signed`; `params_sha256` is
//! the SHA-256 of the parameters in the same canonical form. Keys and signatures are
//! lowercase hex (32 and 64 bytes).
//!
//! Two versions of `signed` exist, told apart by `v`:
//! - **v1** (no `v`): the org, the approval, the kind of decision, the parameters'
//!   hash, the notes and reason, and when the approver decided. It does not name the
//!   signer or the rest of the request; it is still verified where it was recorded
//!   (audit trails, approvals decided before v2), with the signer taken from the
//!   device key's registered owner.
//! - **v2** (`"v": 2`): all of v1, and the approver (`signer`, the token subject the
//!   device key is registered to), the request's `action`, `agent_id`, the SHA-256 of
//!   its `summary` (UTF-8), `created_at`, `expires_at`, `required_approvals`, and the
//!   server's `epoch` (its database identity, as the changes feed publishes it). So a
//!   receipt cannot be posted by another approver, cannot stand for a request the
//!   server changed after the approver saw it, and does not verify on a rebuilt server
//!   that reuses the approval id.
//!
//! `signed` is verified in the form this crate serializes it: every field of its
//! version present (`null` where absent; v2 fields absent in v1) and times as RFC 3339
//! UTC with milliseconds and `Z` (e.g. `2026-11-25T21:44:07.123Z`). Anything else
//! fails as `bad_signature`.
//!
//! This module is the one definition shared by the client (signing), the server
//! (verifying before applying, `verify-audit`) and the offline verifier.

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::DecisionKind;

/// The only signature algorithm receipts use.
pub const RECEIPT_ALG: &str = "ed25519";

/// The receipt version clients sign now (see the module docs).
pub const RECEIPT_VERSION: u8 = 2;

/// A decision signed by a registered device.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
// Not `deny_unknown_fields`: a receipt also arrives inside approvals a server sends,
// which clients read leniently. A field unknown here is neither kept nor verified: a
// signature that covered one fails as `bad_signature`; one added after signing is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Always `ed25519`.
    pub alg: String,
    /// The device key that signed, as `POST /devices` returned it.
    pub key_id: String,
    pub signed: ReceiptSigned,
    /// Hex Ed25519 signature (64 bytes) over the canonical JSON of `signed`.
    pub signature: String,
}

/// What the approver's device signs. The fields after `decided_at` are v2's: absent
/// (not `null`) in a v1 receipt, so a v1 receipt serializes exactly as it was signed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptSigned {
    /// `2` for v2; absent for v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u8>,
    pub org_id: String,
    pub approval_id: String,
    pub kind: DecisionKind,
    /// Hex SHA-256 of the approval's `params` in RFC 8785 canonical JSON.
    pub params_sha256: String,
    pub notes: Option<String>,
    pub reason: Option<String>,
    /// When the approver decided (not when the decision reached the server: a
    /// decision queued offline is signed when it is made).
    #[serde(serialize_with = "ser_millis", deserialize_with = "de_time")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub decided_at: DateTime<Utc>,
    /// v2: the approver, as the token subject the device key is registered to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// v2: the request's action, e.g. `kubernetes:deploy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// v2: the id of the agent that raised the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// v2: hex SHA-256 of the request's summary (its UTF-8 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_sha256: Option<String>,
    /// v2: when the request was created (server time).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_millis",
        deserialize_with = "de_opt_time"
    )]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub created_at: Option<DateTime<Utc>>,
    /// v2: when the request expires (server time).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_millis",
        deserialize_with = "de_opt_time"
    )]
    #[cfg_attr(feature = "ts", ts(type = "string | null"))]
    pub expires_at: Option<DateTime<Utc>>,
    /// v2: how many distinct approvers the request needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_approvals: Option<u8>,
    /// v2: the server's epoch (`ChangesPage::epoch`) the approver synced from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

fn ser_opt_millis<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_millis(t, s),
        None => s.serialize_none(),
    }
}

fn de_opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    })
    .transpose()
}

/// Hex SHA-256 of a request's summary (its UTF-8 bytes), as v2 receipts bind it.
pub fn summary_sha256(summary: &str) -> String {
    hex::encode(Sha256::digest(summary.as_bytes()))
}

fn truncate_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn ser_millis<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn de_time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

/// Why a receipt was refused. The server maps each to its 422 code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptError {
    /// Not `ed25519`, or a key or signature that is not well-formed hex of the right
    /// length, or a signature that does not verify: `bad_signature`.
    BadSignature(String),
    /// The receipt is for something other than the request it came with:
    /// `receipt_mismatch`.
    Mismatch(String),
}

impl std::fmt::Display for ReceiptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiptError::BadSignature(m) | ReceiptError::Mismatch(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ReceiptError {}

/// RFC 8785 canonical JSON of any serializable value.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<String, ReceiptError> {
    serde_json_canonicalizer::to_string(value)
        .map_err(|e| ReceiptError::BadSignature(format!("cannot canonicalise: {e}")))
}

/// Hex SHA-256 of `params` in canonical JSON (absent params are `null`).
pub fn params_sha256(params: &Value) -> String {
    // A serde_json::Value always canonicalises (its numbers are finite), so the
    // fallback is unreachable in practice; hashing the empty string keeps this total.
    let canonical = canonical_json(params).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Hex public key of a 32-byte Ed25519 secret key.
pub fn public_key_hex(secret: &[u8; 32]) -> String {
    hex::encode(SigningKey::from_bytes(secret).verifying_key().as_bytes())
}

/// What a receipt must say to be a receipt for this decision.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub org_id: &'a str,
    pub approval_id: &'a str,
    pub kind: DecisionKind,
    pub params: &'a Value,
    pub notes: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// The rest of the request and the signer, which v2 binds. `None` only where the
    /// caller knows no more than the v1 fields: a v2 receipt then fails as a mismatch.
    pub request: Option<Request<'a>>,
}

/// What a v2 receipt binds besides the v1 fields.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The approver who decides (server: the caller; audit: the entry's actor;
    /// offline: the decision's or vote's `by`).
    pub signer: &'a str,
    pub action: &'a str,
    pub agent_id: &'a str,
    pub summary: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub required_approvals: u8,
    /// The server's epoch. `None` when the checker does not know it (an offline
    /// verifier with no synced store): the receipt's epoch is then not checked. A
    /// signer without an epoch (a server older than epochs) signs v1.
    pub epoch: Option<&'a str>,
}

impl<'a> Expected<'a> {
    /// What a receipt for this decision by `signer` on `approval`, served by the
    /// server of `epoch`, must say: its org, id, parameters, action, agent, summary,
    /// times and quorum, and the decision's kind, notes and reason. The one
    /// definition of what a receipt binds, for signing and for every check.
    pub fn for_approval(
        approval: &'a crate::Approval,
        kind: DecisionKind,
        notes: Option<&'a str>,
        reason: Option<&'a str>,
        signer: &'a str,
        epoch: Option<&'a str>,
    ) -> Self {
        Expected {
            org_id: &approval.org_id,
            approval_id: &approval.id,
            kind,
            params: &approval.params,
            notes,
            reason,
            request: Some(Request {
                signer,
                action: &approval.action,
                agent_id: &approval.agent.id,
                summary: &approval.summary,
                created_at: approval.created_at,
                expires_at: approval.expires_at,
                required_approvals: approval.required_approvals,
                epoch,
            }),
        }
    }
}

impl ReceiptSigned {
    /// The `signed` part for a decision on `expected`, made at `decided_at`
    /// (truncated to milliseconds: the wire form). v2 when `expected` names the
    /// request and the server's epoch, else v1.
    pub fn for_decision(expected: &Expected<'_>, decided_at: DateTime<Utc>) -> ReceiptSigned {
        let mut signed = ReceiptSigned {
            v: None,
            org_id: expected.org_id.to_string(),
            approval_id: expected.approval_id.to_string(),
            kind: expected.kind,
            params_sha256: params_sha256(expected.params),
            notes: expected.notes.map(str::to_string),
            reason: expected.reason.map(str::to_string),
            decided_at: truncate_millis(decided_at),
            signer: None,
            action: None,
            agent_id: None,
            summary_sha256: None,
            created_at: None,
            expires_at: None,
            required_approvals: None,
            epoch: None,
        };
        if let Some((r, epoch)) = expected
            .request
            .and_then(|r| r.epoch.map(|epoch| (r, epoch)))
        {
            signed.v = Some(RECEIPT_VERSION);
            signed.signer = Some(r.signer.to_string());
            signed.action = Some(r.action.to_string());
            signed.agent_id = Some(r.agent_id.to_string());
            signed.summary_sha256 = Some(summary_sha256(r.summary));
            signed.created_at = Some(truncate_millis(r.created_at));
            signed.expires_at = Some(truncate_millis(r.expires_at));
            signed.required_approvals = Some(r.required_approvals);
            signed.epoch = Some(epoch.to_string());
        }
        signed
    }

    /// The receipt's version: 1 or 2. A `signed` that mixes the versions (a v1 with
    /// v2 fields, a v2 missing one) or names another version is refused.
    pub fn version(&self) -> Result<u8, ReceiptError> {
        let v2_fields = [
            self.signer.is_some(),
            self.action.is_some(),
            self.agent_id.is_some(),
            self.summary_sha256.is_some(),
            self.created_at.is_some(),
            self.expires_at.is_some(),
            self.required_approvals.is_some(),
            self.epoch.is_some(),
        ];
        match self.v {
            None if v2_fields.iter().all(|p| !p) => Ok(1),
            None => Err(ReceiptError::BadSignature(
                "a receipt without a version (v1) must not carry v2 fields".to_string(),
            )),
            Some(RECEIPT_VERSION) if v2_fields.iter().all(|p| *p) => Ok(RECEIPT_VERSION),
            Some(RECEIPT_VERSION) => Err(ReceiptError::BadSignature(
                "a v2 receipt must carry signer, action, agent_id, summary_sha256, \
                 created_at, expires_at, required_approvals and epoch"
                    .to_string(),
            )),
            Some(other) => Err(ReceiptError::BadSignature(format!(
                "receipt version {other} is not supported (1 or {RECEIPT_VERSION})"
            ))),
        }
    }
}

impl Receipt {
    /// Signs `signed` with a 32-byte Ed25519 secret key.
    pub fn sign(
        secret: &[u8; 32],
        key_id: &str,
        signed: ReceiptSigned,
    ) -> Result<Receipt, ReceiptError> {
        let message = canonical_json(&signed)?;
        let signature = SigningKey::from_bytes(secret).sign(message.as_bytes());
        Ok(Receipt {
            alg: RECEIPT_ALG.to_string(),
            key_id: key_id.to_string(),
            signed,
            signature: hex::encode(signature.to_bytes()),
        })
    }

    /// Checks the signature with the device's hex public key.
    pub fn verify_signature(&self, public_key_hex: &str) -> Result<(), ReceiptError> {
        if self.alg != RECEIPT_ALG {
            return Err(ReceiptError::BadSignature(format!(
                "receipt algorithm {:?} is not supported (only {RECEIPT_ALG})",
                self.alg
            )));
        }
        let key = decode_array::<32>(public_key_hex)
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| {
                ReceiptError::BadSignature(format!(
                    "device key {} is not a valid Ed25519 public key",
                    self.key_id
                ))
            })?;
        let signature = decode_array::<64>(&self.signature)
            .map(|b| Signature::from_bytes(&b))
            .ok_or_else(|| {
                ReceiptError::BadSignature("signature is not 64 bytes of hex".to_string())
            })?;
        self.signed.version()?;
        let message = canonical_json(&self.signed)?;
        key.verify(message.as_bytes(), &signature).map_err(|_| {
            ReceiptError::BadSignature(format!(
                "the signature does not verify with device key {}",
                self.key_id
            ))
        })
    }

    /// Checks that the receipt is for exactly this decision on this request.
    pub fn check_matches(&self, expected: &Expected<'_>) -> Result<(), ReceiptError> {
        let s = &self.signed;
        let mismatch = |what: &str| {
            Err(ReceiptError::Mismatch(format!(
                "the receipt's {what} does not match the request"
            )))
        };
        if s.org_id != expected.org_id {
            return mismatch("org_id");
        }
        if s.approval_id != expected.approval_id {
            return mismatch("approval_id");
        }
        if s.kind != expected.kind {
            return mismatch("kind");
        }
        if s.params_sha256 != params_sha256(expected.params) {
            return mismatch("params_sha256 (the approval's parameters)");
        }
        if s.notes.as_deref() != expected.notes {
            return mismatch("notes");
        }
        if s.reason.as_deref() != expected.reason {
            return mismatch("reason");
        }
        if s.version()? == 1 {
            return Ok(());
        }
        let Some(r) = expected.request else {
            return mismatch("request (a v2 receipt checked without the request)");
        };
        if s.signer.as_deref() != Some(r.signer) {
            return Err(ReceiptError::Mismatch(format!(
                "the receipt was signed by {:?}, not by {:?} who decided",
                s.signer.as_deref().unwrap_or_default(),
                r.signer
            )));
        }
        if s.action.as_deref() != Some(r.action) {
            return mismatch("action");
        }
        if s.agent_id.as_deref() != Some(r.agent_id) {
            return mismatch("agent_id");
        }
        if s.summary_sha256.as_deref() != Some(summary_sha256(r.summary).as_str()) {
            return mismatch("summary_sha256 (the request's summary)");
        }
        if s.created_at != Some(truncate_millis(r.created_at)) {
            return mismatch("created_at");
        }
        if s.expires_at != Some(truncate_millis(r.expires_at)) {
            return mismatch("expires_at");
        }
        if s.required_approvals != Some(r.required_approvals) {
            return mismatch("required_approvals");
        }
        if let Some(epoch) = r.epoch {
            if s.epoch.as_deref() != Some(epoch) {
                return mismatch("epoch (it was signed for another server database)");
            }
        }
        Ok(())
    }

    /// The approver a v2 receipt names; `None` for v1 (whose signer is only the
    /// device key's registered owner).
    pub fn signer(&self) -> Option<&str> {
        self.signed.signer.as_deref()
    }
}

fn decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    hex::decode(s).ok()?.try_into().ok()
}

// ---------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------

/// `POST /api/v1/orgs/{org}/devices` (approver token).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterDeviceRequest {
    /// Hex Ed25519 public key (32 bytes, 64 hex digits).
    pub public_key: String,
    /// Shown in the history as "signed on <name>", e.g. `Countersign on laptop-7`.
    pub name: String,
}

/// Answer of `POST /devices`. Registering the same key again returns the same id.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterDeviceResponse {
    pub key_id: String,
}

/// One registered device key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub key_id: String,
    /// Hex Ed25519 public key.
    pub public_key: String,
    /// The approver who registered it (the token's subject).
    pub owner: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Set once revoked: receipts made after this are refused; receipts made before
    /// stay valid (a revocation does not undo past decisions).
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/orgs/{org}/devices`: every device key of the org, oldest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    pub items: Vec<Device>,
}

/// How an audit entry of a decision records its receipt (in the entry's `data`):
/// `{"receipt": {...}, "device": "<name>"}` when signed, `{"unsigned": true}` when not.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionAuditData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// Name of the device that signed, as registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unsigned: bool,
    /// Quorum approvals only: whether this approve left the approval waiting for others,
    /// how many approvals it has with this one, and how many it needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_approvals: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 8785 §3.2.2 / Appendix B examples: number formatting as ECMAScript does it.
    #[test]
    fn canonical_numbers_follow_rfc_8785() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("1e30", "1e+30"),
            ("4.50", "4.5"),
            ("2e-3", "0.002"),
            ("0.000001", "0.000001"),
            ("1e-7", "1e-7"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("333333333.33333329", "333333333.3333333"),
            ("9007199254740992", "9007199254740992"),
            ("295147905179352830000", "295147905179352830000"),
            ("-5e-324", "-5e-324"),
        ];
        for (input, want) in cases {
            let v: Value = serde_json::from_str(input).expect(input);
            assert_eq!(canonical_json(&v).expect("canonical"), want, "{input}");
        }
    }

    // RFC 8785 §3.2.3 (sorting) and §3.2.2.2 (strings).
    #[test]
    fn canonical_objects_and_strings_follow_rfc_8785() {
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        let v: Value = serde_json::from_str(input).expect("json");
        assert_eq!(
            canonical_json(&v).expect("canonical"),
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\
             \"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"
        );
        // Keys sort by UTF-16 code units: "\u{10000}" (D800 DC00) before "\u{FB33}".
        let v = json!({"\u{FB33}": 1, "\u{10000}": 2, "\u{20ac}": 3, "1": 4, "\r": 5});
        assert_eq!(
            canonical_json(&v).expect("canonical"),
            "{\"\\r\":5,\"1\":4,\"€\":3,\"\u{10000}\":2,\"\u{FB33}\":1}"
        );
    }

    #[test]
    fn params_hash_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1.0, "x"]}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"a":[1,"x"],"b":1}"#).expect("json");
        assert_eq!(params_sha256(&a), params_sha256(&b));
        assert_ne!(
            params_sha256(&a),
            params_sha256(&json!({"a": [1, "y"], "b": 1}))
        );
        assert_eq!(
            params_sha256(&Value::Null),
            hex::encode(Sha256::digest(b"null"))
        );
    }

    fn fixture() -> ([u8; 32], Receipt, Value) {
        let secret = [7u8; 32];
        let params = json!({"amount": 1200.5, "to": "acct-9"});
        let expected = Expected {
            org_id: "org-demo",
            approval_id: "appr-1",
            kind: DecisionKind::Deny,
            params: &params,
            notes: Some("n"),
            reason: Some("r"),
            request: None,
        };
        let at = DateTime::parse_from_rfc3339("2026-11-25T21:44:07.123456Z")
            .expect("time")
            .with_timezone(&Utc);
        let receipt = Receipt::sign(&secret, "dev-1", ReceiptSigned::for_decision(&expected, at))
            .expect("signs");
        (secret, receipt, params)
    }

    #[test]
    fn a_signed_receipt_verifies_and_round_trips_through_json() {
        let (secret, receipt, params) = fixture();
        let wire = serde_json::to_value(&receipt).expect("json");
        assert_eq!(wire["signed"]["decided_at"], "2026-11-25T21:44:07.123Z");
        let back: Receipt = serde_json::from_value(wire).expect("parses");
        back.verify_signature(&public_key_hex(&secret))
            .expect("verifies");
        let expected = Expected {
            org_id: "org-demo",
            approval_id: "appr-1",
            kind: DecisionKind::Deny,
            params: &params,
            notes: Some("n"),
            reason: Some("r"),
            request: None,
        };
        back.check_matches(&expected).expect("matches");
        let other = json!({"amount": 1200.5, "to": "acct-10"});
        assert!(matches!(
            back.check_matches(&Expected {
                params: &other,
                ..expected
            }),
            Err(ReceiptError::Mismatch(_))
        ));
        assert!(matches!(
            back.check_matches(&Expected {
                approval_id: "appr-2",
                ..expected
            }),
            Err(ReceiptError::Mismatch(_))
        ));
    }

    #[test]
    fn a_tampered_receipt_or_a_wrong_key_fails() {
        let (secret, receipt, _) = fixture();
        let key = public_key_hex(&secret);
        let mut tampered = receipt.clone();
        tampered.signed.reason = Some("other".into());
        assert!(matches!(
            tampered.verify_signature(&key),
            Err(ReceiptError::BadSignature(_))
        ));
        assert!(matches!(
            receipt.verify_signature(&public_key_hex(&[8u8; 32])),
            Err(ReceiptError::BadSignature(_))
        ));
        let mut garbage = receipt.clone();
        garbage.signature = "zz".into();
        assert!(garbage.verify_signature(&key).is_err());
        let mut alg = receipt;
        alg.alg = "rsa".into();
        assert!(alg.verify_signature(&key).is_err());
        // A signer that signed a field this definition lacks: refused, not half-checked.
        let mut signed = serde_json::to_value(&alg.signed).expect("json");
        signed["amount_cap"] = 10.into();
        let sig = SigningKey::from_bytes(&secret)
            .sign(canonical_json(&signed).expect("canonical").as_bytes());
        let wire = json!({"alg": "ed25519", "key_id": "dev-1", "signed": signed,
                          "signature": hex::encode(sig.to_bytes())});
        let extra: Receipt = serde_json::from_value(wire).expect("lenient");
        assert!(matches!(
            extra.verify_signature(&key),
            Err(ReceiptError::BadSignature(_))
        ));
    }

    fn v2_approval() -> crate::Approval {
        serde_json::from_value(json!({
            "id": "appr-1", "org_id": "org-demo",
            "agent": {"id": "deploy-bot"},
            "action": "kubernetes:deploy", "summary": "Deploy app:v2 to production",
            "status": "pending", "reason_code": "R", "reason_text": "r",
            "params": {"replicas": 3},
            "created_at": "2026-11-25T21:00:00.123Z", "expires_at": "2026-11-26T21:00:00.123Z",
            "requested_by": "deploy-bot", "change_seq": 1, "required_approvals": 2
        }))
        .expect("approval")
    }

    #[test]
    fn a_v2_receipt_names_the_signer_and_the_whole_request() {
        let secret = [7u8; 32];
        let a = v2_approval();
        let expected = Expected::for_approval(
            &a,
            DecisionKind::Approve,
            None,
            None,
            "alice",
            Some("epoch-1"),
        );
        let receipt = Receipt::sign(
            &secret,
            "dev-1",
            ReceiptSigned::for_decision(&expected, Utc::now()),
        )
        .expect("signs");
        let wire = serde_json::to_value(&receipt).expect("json");
        assert_eq!(wire["signed"]["v"], 2);
        assert_eq!(wire["signed"]["signer"], "alice");
        assert_eq!(wire["signed"]["epoch"], "epoch-1");
        assert_eq!(wire["signed"]["required_approvals"], 2);
        assert_eq!(wire["signed"]["created_at"], "2026-11-25T21:00:00.123Z");
        let back: Receipt = serde_json::from_value(wire).expect("parses");
        back.verify_signature(&public_key_hex(&secret))
            .expect("verifies");
        back.check_matches(&expected).expect("matches");
        // Without knowing the epoch, everything else is still checked.
        let no_epoch = Expected::for_approval(&a, DecisionKind::Approve, None, None, "alice", None);
        back.check_matches(&no_epoch).expect("matches");

        // Another approver, server, or any change to the request the approver saw.
        let bob = Expected::for_approval(&a, DecisionKind::Approve, None, None, "bob", None);
        assert!(matches!(
            back.check_matches(&bob),
            Err(ReceiptError::Mismatch(_))
        ));
        let other_epoch =
            Expected::for_approval(&a, DecisionKind::Approve, None, None, "alice", Some("e2"));
        assert!(back.check_matches(&other_epoch).is_err());
        let changes: [fn(&mut crate::Approval); 6] = [
            |a| a.action = "kubernetes:delete".into(),
            |a| a.agent.id = "other-bot".into(),
            |a| a.summary = "Deploy app:v2 to staging".into(),
            |a| a.expires_at += chrono::Duration::hours(1),
            |a| a.created_at += chrono::Duration::seconds(1),
            |a| a.required_approvals = 1,
        ];
        for change in changes {
            let mut changed = a.clone();
            change(&mut changed);
            let e = Expected::for_approval(
                &changed,
                DecisionKind::Approve,
                None,
                None,
                "alice",
                Some("epoch-1"),
            );
            assert!(
                matches!(back.check_matches(&e), Err(ReceiptError::Mismatch(_))),
                "{changed:?}"
            );
        }
        // A v2 receipt checked against v1 knowledge only is not taken on trust.
        let v1_only = Expected {
            request: None,
            ..expected
        };
        assert!(back.check_matches(&v1_only).is_err());
    }

    #[test]
    fn v1_receipts_keep_their_signed_form_and_versions_do_not_mix() {
        let (secret, receipt, _) = fixture();
        let key = public_key_hex(&secret);
        let wire = serde_json::to_value(&receipt.signed).expect("json");
        let keys: Vec<_> = wire.as_object().expect("object").keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "approval_id",
                "decided_at",
                "kind",
                "notes",
                "org_id",
                "params_sha256",
                "reason"
            ]
        );
        assert_eq!(receipt.signed.version().expect("v1"), 1);
        // A v1 with a v2 field, a v2 missing one, an unknown version: refused.
        let mut mixed = receipt.clone();
        mixed.signed.signer = Some("alice".into());
        assert!(matches!(
            mixed.verify_signature(&key),
            Err(ReceiptError::BadSignature(_))
        ));
        let mut partial = receipt.clone();
        partial.signed.v = Some(2);
        assert!(partial.verify_signature(&key).is_err());
        let mut v3 = receipt;
        v3.signed.v = Some(3);
        assert!(v3.verify_signature(&key).is_err());
    }
}
