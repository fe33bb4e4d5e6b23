//! Strict reading of request bodies: a deserializer wrapper that makes every struct
//! an object (never a JSON array in field order) and refuses an unknown key at any
//! depth.
//!
//! Why a wrapper and not `#[serde(deny_unknown_fields)]` on every type: the nested
//! types of a request (`AgentRef`, `TraceStep`, ...) are also parts of the responses
//! that clients deserialise, and those must stay lenient so a newer server adding a
//! field never breaks an older client. Strictness is a property of the server's
//! request path, so it lives here, applied once by the JSON extractor, and no
//! endpoint can forget it.
//!
//! How: serde's derived struct visitors accept both a map and a sequence; the wrapper
//! asks the underlying deserializer for a map instead (`deserialize_struct` becomes
//! `deserialize_map`), so an array is "invalid type: sequence, expected struct ...".
//! A derived visitor skips an unknown key by reading its value as `IgnoredAny`; the
//! wrapper refuses that read, naming the key's path. Values that keep what they are
//! given (`params`, `output`, the `risk` extras via `#[serde(flatten)]`) read through
//! `deserialize_any`/`deserialize_map` and are untouched.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// Deserializes `T` from JSON text through the strict wrapper.
pub fn from_slice<T: de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(Strict {
        inner: &mut de,
        path: Path::Root,
    })?;
    de.end()?;
    Ok(value)
}

/// Where a value sits in the body, for the unknown-key message (`agent.nmae`).
#[derive(Clone)]
enum Path {
    Root,
    Key(String),
}

impl Path {
    fn child_key(&self, key: &str) -> Path {
        match self {
            Path::Root => Path::Key(key.to_string()),
            Path::Key(p) => Path::Key(format!("{p}.{key}")),
        }
    }

    fn child_index(&self, i: usize) -> Path {
        match self {
            Path::Root => Path::Key(format!("[{i}]")),
            Path::Key(p) => Path::Key(format!("{p}[{i}]")),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("(body)"),
            Path::Key(p) => f.write_str(p),
        }
    }
}

struct Strict<D> {
    inner: D,
    path: Path,
}

struct StrictVisitor<V> {
    inner: V,
    path: Path,
}

struct StrictSeed<S> {
    inner: S,
    path: Path,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrictSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Strict {
            inner: deserializer,
            path: self.path,
        })
    }
}

macro_rules! forward_wrapped {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method(StrictVisitor { inner: visitor, path: self.path })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_wrapped!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = StrictVisitor {
            inner: visitor,
            path: self.path,
        };
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = StrictVisitor {
            inner: visitor,
            path: self.path,
        };
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = StrictVisitor {
            inner: visitor,
            path: self.path,
        };
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = StrictVisitor {
            inner: visitor,
            path: self.path,
        };
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    /// A struct is read as a map: a JSON array in field order is refused.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(StrictVisitor {
            inner: visitor,
            path: self.path,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = StrictVisitor {
            inner: visitor,
            path: self.path,
        };
        self.inner.deserialize_enum(name, variants, visitor)
    }

    /// Only a derived visitor skipping a key it does not know asks for this.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, D::Error> {
        Err(de::Error::custom(format_args!(
            "unknown field `{}`",
            self.path
        )))
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StrictVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool: bool,
        visit_i8: i8,
        visit_i16: i16,
        visit_i32: i32,
        visit_i64: i64,
        visit_i128: i128,
        visit_u8: u8,
        visit_u16: u16,
        visit_u32: u32,
        visit_u64: u64,
        visit_u128: u128,
        visit_f32: f32,
        visit_f64: f64,
        visit_char: char,
        visit_str: &str,
        visit_borrowed_str: &'de str,
        visit_string: String,
        visit_bytes: &[u8],
        visit_borrowed_bytes: &'de [u8],
        visit_byte_buf: Vec<u8>,
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Strict {
            inner: d,
            path: self.path,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Strict {
            inner: d,
            path: self.path,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(StrictSeq {
            inner: seq,
            path: self.path,
            index: 0,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(StrictMap {
            inner: map,
            path: self.path.clone(),
            value_path: self.path,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(StrictEnum {
            inner: data,
            path: self.path,
        })
    }
}

struct StrictSeq<A> {
    inner: A,
    path: Path,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let path = self.path.child_index(self.index);
        self.index += 1;
        self.inner
            .next_element_seed(StrictSeed { inner: seed, path })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct StrictMap<A> {
    inner: A,
    path: Path,
    /// The path of the value that follows the key just read.
    value_path: Path,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for StrictMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // JSON keys are strings: read the key once to know the path, then hand the
        // same string to the caller's seed (a field identifier, a map key, ...).
        let Some(key) = self.inner.next_key::<String>()? else {
            return Ok(None);
        };
        self.value_path = self.path.child_key(&key);
        let key: de::value::StringDeserializer<A::Error> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(StrictSeed {
            inner: seed,
            path: self.value_path.clone(),
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct StrictEnum<A> {
    inner: A,
    path: Path,
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for StrictEnum<A> {
    type Error = A::Error;
    type Variant = StrictVariant<A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), A::Error> {
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((
            value,
            StrictVariant {
                inner: variant,
                path: self.path,
            },
        ))
    }
}

struct StrictVariant<A> {
    inner: A,
    path: Path,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for StrictVariant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.newtype_variant_seed(StrictSeed {
            inner: seed,
            path: self.path,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner.tuple_variant(
            len,
            StrictVisitor {
                inner: visitor,
                path: self.path,
            },
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        // Unknown keys are refused inside; no request type has a struct variant, so
        // the array form is not worth a second code path here.
        self.inner.struct_variant(
            fields,
            StrictVisitor {
                inner: visitor,
                path: self.path,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_api::{CreateApprovalRequest, DenyRequest};
    use serde_json::json;

    fn create_body() -> serde_json::Value {
        json!({
            "agent": {"id": "bot", "name": "Bot", "version": "v1"},
            "action": "a:b", "summary": "s", "reason_code": "R", "reason_text": "r",
            "params": {"list": [1, 2, {"any": "thing"}]},
            "policy_trace": [{"step": "s1", "result": "pass"}],
            "risk": {"budget_used": 1, "recent_denials": 2}
        })
    }

    fn parse<T: de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, String> {
        from_slice(v.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_valid_body_reads_as_before_and_keeps_free_form_values() {
        let req: CreateApprovalRequest = parse(&create_body()).expect("valid");
        assert_eq!(req.params["list"][2]["any"], "thing");
        assert_eq!(req.risk.extra["recent_denials"], 2);
        assert_eq!(req.policy_trace[0].step, "s1");
    }

    #[test]
    fn unknown_keys_are_refused_at_every_depth_naming_the_path() {
        let mut body = create_body();
        body["agent"]["nmae"] = json!("x");
        let e = parse::<CreateApprovalRequest>(&body).unwrap_err();
        assert!(e.contains("unknown field `agent.nmae`"), "{e}");

        let mut body = create_body();
        body["policy_trace"][0]["details"] = json!("x");
        let e = parse::<CreateApprovalRequest>(&body).unwrap_err();
        assert!(e.contains("policy_trace[0].details"), "{e}");
    }

    #[test]
    fn arrays_in_place_of_objects_are_refused() {
        let e = parse::<DenyRequest>(&json!(["a reason"])).unwrap_err();
        assert!(e.contains("expected struct DenyRequest"), "{e}");
        let mut body = create_body();
        body["agent"] = json!(["bot", "Bot", "v1"]);
        let e = parse::<CreateApprovalRequest>(&body).unwrap_err();
        assert!(e.contains("invalid type: sequence"), "{e}");
    }

    #[test]
    fn trailing_content_is_refused() {
        assert!(from_slice::<DenyRequest>(br#"{"reason":"r"} {}"#).is_err());
    }
}
