//! The audit chain's signed head: the server's statement, signed with its own Ed25519
//! key, that its chain holds entry `seq` with hash `hash` for an org.
//!
//! A client remembers the last head it saw. When the server later no longer holds it
//! (its head went back to a lower `seq`, or the entry at that `seq` has another hash),
//! the server's history was cut or replaced: restored from an older copy of its
//! database, or edited. The signature is Ed25519 over the RFC 8785 canonical JSON of
//! `signed`, with the key published at `GET /api/v1/server-key`.

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::receipt::{canonical_json, ReceiptError, RECEIPT_ALG};

/// What the server signs about its chain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHeadSigned {
    pub org_id: String,
    /// Position in the server-wide chain of the org's latest entry (or of the entry
    /// asked for with `?seq=`); 0 when the org has none.
    pub seq: i64,
    /// That entry's hash (all zeros for seq 0). It covers every entry before it, of
    /// every org, so a head commits to the whole chain up to it.
    pub hash: String,
    #[serde(serialize_with = "ser_millis", deserialize_with = "de_time")]
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub signed_at: DateTime<Utc>,
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

/// `GET /api/v1/orgs/{org}/audit/head`: a signed [`AuditHeadSigned`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Always `ed25519`.
    pub alg: String,
    /// Hex Ed25519 public key of the server that signed (as `GET /server-key` has it).
    pub public_key: String,
    pub signed: AuditHeadSigned,
    /// Hex Ed25519 signature (64 bytes) over the canonical JSON of `signed`.
    pub signature: String,
}

/// `GET /api/v1/server-key`: the key the server signs its audit heads with.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerKey {
    /// Always `ed25519`.
    pub alg: String,
    /// Hex Ed25519 public key (32 bytes).
    pub public_key: String,
}

impl AuditHead {
    pub fn sign(secret: &[u8; 32], signed: AuditHeadSigned) -> Result<AuditHead, ReceiptError> {
        let key = SigningKey::from_bytes(secret);
        let message = canonical_json(&signed)?;
        Ok(AuditHead {
            alg: RECEIPT_ALG.to_string(),
            public_key: hex::encode(key.verifying_key().as_bytes()),
            signature: hex::encode(key.sign(message.as_bytes()).to_bytes()),
            signed,
        })
    }

    /// Checks the signature with `public_key_hex` (the key the verifier pinned, not
    /// necessarily the one the head names).
    pub fn verify(&self, public_key_hex: &str) -> Result<(), ReceiptError> {
        let bad = |m: &str| ReceiptError::BadSignature(m.to_string());
        if self.alg != RECEIPT_ALG {
            return Err(bad("audit head algorithm is not ed25519"));
        }
        let key = hex::decode(public_key_hex)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .ok_or_else(|| bad("the server key is not a valid Ed25519 public key"))?;
        let signature = hex::decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or_else(|| bad("the audit head's signature is not 64 bytes of hex"))?;
        let message = canonical_json(&self.signed)?;
        key.verify(message.as_bytes(), &signature)
            .map_err(|_| bad("the audit head's signature does not verify with the server key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_head_verifies_only_unchanged_and_with_its_key() {
        let head = AuditHead::sign(
            &[3; 32],
            AuditHeadSigned {
                org_id: "org-demo".into(),
                seq: 7,
                hash: "ab".repeat(32),
                signed_at: Utc::now(),
            },
        )
        .expect("signs");
        let back: AuditHead =
            serde_json::from_value(serde_json::to_value(&head).expect("json")).expect("parses");
        back.verify(&head.public_key).expect("verifies");
        let mut moved = back.clone();
        moved.signed.seq = 8;
        assert!(moved.verify(&head.public_key).is_err());
        let other = crate::receipt::public_key_hex(&[4; 32]);
        assert!(back.verify(&other).is_err());
    }
}
