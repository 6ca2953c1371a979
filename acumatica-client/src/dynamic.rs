//! [`DynamicEntity`]: any entity as a JSON object, for entity names this
//! crate does not model (Customer, SalesOrder, custom endpoints) and for
//! detail types the typed structs leave untyped.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::value::{Value, WireType};

/// An entity as its JSON object, with typed access to wrapped fields.
///
/// ```
/// use acumatica_client::DynamicEntity;
/// use rust_decimal::Decimal;
///
/// let mut customer = DynamicEntity::new();
/// customer.set("CustomerID", "C001".to_string());
/// customer.set("CreditLimit", Decimal::new(150000, 2));
/// assert_eq!(
///     serde_json::to_string(&customer).unwrap(),
///     r#"{"CreditLimit":{"value":1500},"CustomerID":{"value":"C001"}}"#
/// );
/// let limit: Option<Decimal> = customer.get("CreditLimit").unwrap();
/// assert_eq!(limit, Some(Decimal::new(1500, 0)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DynamicEntity {
    fields: Map<String, Json>,
}

impl DynamicEntity {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps a JSON object.
    pub fn from_map(fields: Map<String, Json>) -> Self {
        Self { fields }
    }

    /// The JSON object.
    pub fn as_map(&self) -> &Map<String, Json> {
        &self.fields
    }

    /// The JSON object, mutable.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Json> {
        &mut self.fields
    }

    /// The JSON object, by value.
    pub fn into_map(self) -> Map<String, Json> {
        self.fields
    }

    /// The record `id`.
    pub fn id(&self) -> Option<&str> {
        self.fields.get("id").and_then(Json::as_str)
    }

    /// The record-level `error`.
    pub fn error(&self) -> Option<&str> {
        self.fields.get("error").and_then(Json::as_str)
    }

    /// The wrapped field `name` as a [`Value`] (absent when missing).
    ///
    /// # Errors
    /// A message naming the field when it is not a wrapper of type `T`.
    pub fn value<T: WireType>(&self, name: &str) -> Result<Value<T>, String> {
        match self.fields.get(name) {
            None => Ok(Value::absent()),
            Some(json) => Value::from_json(json).map_err(|e| format!("field {name}: {e}")),
        }
    }

    /// The value of wrapped field `name`; `None` when absent, `{}` or null.
    ///
    /// # Errors
    /// A message naming the field when it has the wrong type.
    pub fn get<T: WireType>(&self, name: &str) -> Result<Option<T>, String> {
        self.value(name).map(Value::into_inner)
    }

    /// The string value of wrapped field `name`.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.fields.get(name)?.get("value")?.as_str()
    }

    /// Sets wrapped field `name` to `value`.
    pub fn set<T: WireType>(&mut self, name: &str, value: T) -> &mut Self {
        self.fields
            .insert(name.to_owned(), Value::set(value).to_json());
        self
    }

    /// Sets wrapped field `name` to `{"value": null}` (clears it).
    pub fn set_null(&mut self, name: &str) -> &mut Self {
        self.fields
            .insert(name.to_owned(), Value::<Json>::null().to_json());
        self
    }

    /// Detail lines or a linked entity list under `name`.
    pub fn details(&self, name: &str) -> Vec<DynamicEntity> {
        match self.fields.get(name) {
            Some(Json::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_object().cloned().map(DynamicEntity::from_map))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl From<Map<String, Json>> for DynamicEntity {
    fn from(fields: Map<String, Json>) -> Self {
        Self { fields }
    }
}

impl crate::paging::Listed for DynamicEntity {
    fn record_id(&self) -> Option<&str> {
        self.fields.get("id").and_then(Json::as_str)
    }
}
