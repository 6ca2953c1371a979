//! A `serde` deserializer for one CSV cell.
//!
//! Cells are text. A target that asks for a number parses the text; one
//! that takes anything (`serde_json::Value`, `rust_decimal::Decimal`) gets
//! the text itself, so no value passes through a float and amounts stay
//! exact. An empty cell is `None` for an `Option` and `null` for a `Value`.

use serde::de::value::{Error as DeError, StrDeserializer};
use serde::de::{self, Deserializer, IntoDeserializer, Visitor};

#[derive(Clone, Copy)]
pub(crate) struct Cell<'a>(pub(crate) &'a str);

impl<'a> IntoDeserializer<'a, DeError> for Cell<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_number {
    ($($method:ident => $visit:ident: $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let text = self.0.trim();
            match text.parse::<$ty>() {
                Ok(n) => visitor.$visit(n),
                Err(_) => Err(de::Error::invalid_value(de::Unexpected::Str(self.0), &visitor)),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for Cell<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_empty() {
            visitor.visit_unit()
        } else {
            visitor.visit_borrowed_str(self.0)
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(self.0)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Looker writes yesno dimensions as "Yes" / "No".
        match self.0.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => visitor.visit_bool(true),
            "false" | "no" | "0" => visitor.visit_bool(false),
            _ => Err(de::Error::invalid_value(
                de::Unexpected::Str(self.0),
                &visitor,
            )),
        }
    }

    parse_number! {
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let inner: StrDeserializer<'de, DeError> = self.0.into_deserializer();
        visitor.visit_enum(inner)
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn de<T: for<'a> Deserialize<'a>>(s: &str) -> Result<T, DeError> {
        T::deserialize(Cell(s))
    }

    #[test]
    fn cells_parse_as_asked() {
        assert_eq!(de::<u64>(" 42 ").unwrap(), 42);
        assert_eq!(de::<i32>("-7").unwrap(), -7);
        assert_eq!(de::<f64>("1.5").unwrap(), 1.5);
        assert!(de::<bool>("Yes").unwrap());
        assert!(!de::<bool>("no").unwrap());
        assert_eq!(de::<Option<u8>>("").unwrap(), None);
        assert_eq!(de::<String>("").unwrap(), "");
        assert_eq!(
            de::<serde_json::Value>("").unwrap(),
            serde_json::Value::Null
        );
        assert_eq!(de::<serde_json::Value>("0.10").unwrap(), "0.10");
        assert_eq!(
            de::<rust_decimal::Decimal>("1234567.8900")
                .unwrap()
                .to_string(),
            "1234567.8900"
        );
        let e = de::<u64>("x1").unwrap_err().to_string();
        assert!(e.contains("invalid value: string \"x1\""), "{e}");
    }
}
