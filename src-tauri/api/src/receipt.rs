//! Decision receipts: a decision signed by the approver's device, bound to exactly the
//! request the approver saw.
//!
//! A receipt is `{"alg":"ed25519","key_id","signed":{...},"signature"}`. `signed`
//! names the org, the approval, the kind of decision, the SHA-256 of the request's
//! parameters, the notes and reason, and when the approver decided. The signature is
//! Ed25519 over the RFC 8785 (JCS) canonical JSON of `signed`; `params_sha256` is the
//! SHA-256 of the parameters in the same canonical form. Keys and signatures are
//! lowercase hex (32 and 64 bytes).
//!
//! `signed` is verified in the form this crate serializes it: every field present
//! (`null` where absent) and `decided_at` as RFC 3339 UTC with milliseconds and `Z`
//! (e.g. `2026-11-25T21:44:07.123Z`). Anything else fails as `bad_signature`.
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

/// What the approver's device signs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptSigned {
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
}

impl<'a> Expected<'a> {
    /// What a receipt for this decision on `approval` must say: its org, id and
    /// parameters, and the decision's kind, notes and reason.
    pub fn for_approval(
        approval: &'a crate::Approval,
        kind: DecisionKind,
        notes: Option<&'a str>,
        reason: Option<&'a str>,
    ) -> Self {
        Expected {
            org_id: &approval.org_id,
            approval_id: &approval.id,
            kind,
            params: &approval.params,
            notes,
            reason,
        }
    }
}

impl ReceiptSigned {
    /// The `signed` part for a decision on `expected`, made at `decided_at`
    /// (truncated to milliseconds: the wire form).
    pub fn for_decision(expected: &Expected<'_>, decided_at: DateTime<Utc>) -> ReceiptSigned {
        let millis = decided_at.timestamp_millis();
        ReceiptSigned {
            org_id: expected.org_id.to_string(),
            approval_id: expected.approval_id.to_string(),
            kind: expected.kind,
            params_sha256: params_sha256(expected.params),
            notes: expected.notes.map(str::to_string),
            reason: expected.reason.map(str::to_string),
            decided_at: DateTime::from_timestamp_millis(millis).unwrap_or(decided_at),
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
        Ok(())
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
}
