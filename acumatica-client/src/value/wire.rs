//! Streaming visitors for the `{"value": x}` wrapper: each field is read
//! straight from the response text into its Rust type, without building a
//! `serde_json::Value` first.
//!
//! Numbers stay exact: the workspace builds serde_json with
//! `arbitrary_precision`, under which a number reaches `deserialize_any` as a
//! one-entry map holding its text under a private key; the text goes to
//! [`WireType::from_wire_number`].

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::SeqAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::{Slot, Value, WireType};

/// The key serde_json (with `arbitrary_precision`) uses for a number's text.
/// It is not public API of serde_json, but it is part of its serialized
/// form and has not changed since the feature was introduced.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

fn not_wrapped(found: impl fmt::Display) -> String {
    format!(
        "expected a wrapped field like {{\"value\": ...}}, found {}",
        ml_connector_retry::preview(&found.to_string(), 60)
    )
}

/// The keys a wrapper can hold, read without allocating.
enum WrapperKey {
    Value,
    Error,
    /// A bare number (arbitrary precision form), not a wrapper.
    Number,
    Other,
}

impl<'de> Deserialize<'de> for WrapperKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = WrapperKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<WrapperKey, E> {
                Ok(match key {
                    "value" => WrapperKey::Value,
                    "error" => WrapperKey::Error,
                    NUMBER_TOKEN => WrapperKey::Number,
                    _ => WrapperKey::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// Reads `{"value": x, "error": "..."}`, `{}` or `null` into a [`Value`].
pub(super) struct WrapperVisitor<T>(PhantomData<T>);

impl<T> WrapperVisitor<T> {
    pub(super) fn new() -> Self {
        Self(PhantomData)
    }
}

impl<'de, T: WireType> Visitor<'de> for WrapperVisitor<T> {
    type Value = Value<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a wrapped field like {\"value\": ...}")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value<T>, E> {
        Ok(Value::null())
    }

    fn visit_none<E: de::Error>(self) -> Result<Value<T>, E> {
        Ok(Value::null())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value<T>, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<T>, A::Error> {
        let mut slot = Slot::Null;
        let mut error = None;
        while let Some(key) = map.next_key::<WrapperKey>()? {
            match key {
                WrapperKey::Value => {
                    slot = match map.next_value_seed(WireSeed::<T>(PhantomData))? {
                        Some(v) => Slot::Set(v),
                        None => Slot::Null,
                    };
                }
                WrapperKey::Error => {
                    error = match map.next_value::<Json>()? {
                        Json::Null => None,
                        Json::String(s) => Some(s),
                        other => Some(other.to_string()),
                    };
                }
                WrapperKey::Number => {
                    let text: String = map.next_value()?;
                    return Err(de::Error::custom(not_wrapped(text)));
                }
                WrapperKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value { slot, error })
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value<T>, E> {
        Err(E::custom(not_wrapped(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value<T>, E> {
        Err(E::custom(not_wrapped(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value<T>, E> {
        Err(E::custom(not_wrapped(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value<T>, E> {
        Err(E::custom(not_wrapped(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value<T>, E> {
        Err(E::custom(not_wrapped(Json::String(v.to_owned()))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value<T>, A::Error> {
        let json = Json::deserialize(SeqAccessDeserializer::new(seq))?;
        Err(de::Error::custom(not_wrapped(json)))
    }
}

/// Reads what sits inside the wrapper: `None` for `null`.
pub(super) struct WireSeed<T>(pub(super) PhantomData<T>);

impl<'de, T: WireType> DeserializeSeed<'de> for WireSeed<T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_any(WireVisitor::<T>(PhantomData))
    }
}

struct WireVisitor<T>(PhantomData<T>);

impl<T> WireVisitor<T> {
    fn via_json<E: de::Error>(json: Json) -> Result<Option<T>, E>
    where
        T: WireType,
    {
        T::from_wire(&json).map(Some).map_err(E::custom)
    }
}

impl<'de, T: WireType> Visitor<'de> for WireVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        T::from_wire_str(v).map(Some).map_err(E::custom)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<T>, E> {
        Self::via_json(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        T::from_wire_number(&v.to_string())
            .map(Some)
            .map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        T::from_wire_number(&v.to_string())
            .map(Some)
            .map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
        match serde_json::Number::from_f64(v) {
            Some(n) => Self::via_json(Json::Number(n)),
            None => Err(E::custom(format!("expected a finite number, found {v}"))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
        Self::via_json(Json::deserialize(SeqAccessDeserializer::new(seq))?)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        // An exact number arrives as {NUMBER_TOKEN: "<digits>"}; any other
        // object (only `WireType for serde_json::Value` accepts one) is
        // collected as it is.
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<ObjectKey>()? {
            match key {
                ObjectKey::Number if object.is_empty() => {
                    return map.next_value_seed(NumberText::<T>(PhantomData)).map(Some);
                }
                ObjectKey::Number => {
                    object.insert(NUMBER_TOKEN.to_owned(), map.next_value()?);
                }
                ObjectKey::Other(key) => {
                    object.insert(key, map.next_value()?);
                }
            }
        }
        Self::via_json(Json::Object(object))
    }
}

/// A key inside the wrapper's value: the exact-number marker, or an object key.
enum ObjectKey {
    Number,
    Other(String),
}

impl<'de> Deserialize<'de> for ObjectKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = ObjectKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<ObjectKey, E> {
                Ok(if key == NUMBER_TOKEN {
                    ObjectKey::Number
                } else {
                    ObjectKey::Other(key.to_owned())
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// Hands a number's exact text to [`WireType::from_wire_number`] without
/// copying it.
struct NumberText<T>(PhantomData<T>);

impl<'de, T: WireType> DeserializeSeed<'de> for NumberText<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<T: WireType> Visitor<'_> for NumberText<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the text of a number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        T::from_wire_number(text).map_err(E::custom)
    }
}
