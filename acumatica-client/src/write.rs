//! Writes: `PUT` (insert-only, update-only or either), upsert by key with
//! only the changed fields, and `DELETE`.
//!
//! Exactly-once rules: a write is repeated only after an answer that proves
//! the server did nothing (429, 401 before renewal). A timeout, a dropped
//! connection, a gateway error (502/503/504) or an empty success body after
//! the request left gives [`ErrorKind::OutcomeUnknown`]: the document may
//! exist, so look it up by its natural key before creating it again.

use reqwest::Method;
use reqwest::header::{HeaderName, IF_MATCH, IF_NONE_MATCH};
use serde_json::{Map, Value as Json};

use crate::client::Client;
use crate::dynamic::DynamicEntity;
use crate::entity::{Entity, key_values};
use crate::error::{Error, ErrorKind, Result};
use crate::query::{self, ListQuery};
use crate::read::{decode, decode_value, key_path};
use crate::transport::Request;
use crate::value::decimal_from_json;

/// Which records a `PUT` may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PutMode {
    /// Insert or update (no precondition header).
    #[default]
    Upsert,
    /// Insert only: `If-None-Match: *`; an existing record gives
    /// [`ErrorKind::PreconditionFailed`].
    InsertOnly,
    /// Update only: `If-Match: *`; a missing record gives
    /// [`ErrorKind::PreconditionFailed`].
    UpdateOnly,
}

/// What [`Client::upsert_by_key`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Upserted<E> {
    /// The record did not exist and was inserted.
    Created(E),
    /// The record existed; the listed fields were sent and saved.
    Updated {
        /// The record as saved.
        record: E,
        /// Top-level field names that were sent because they differed.
        changed: Vec<String>,
    },
    /// The record already had every desired value; nothing was sent.
    Unchanged(E),
}

impl<E> Upserted<E> {
    /// The record, whatever happened.
    pub fn record(&self) -> &E {
        match self {
            Upserted::Created(r) | Upserted::Unchanged(r) | Upserted::Updated { record: r, .. } => {
                r
            }
        }
    }
}

impl Client {
    pub(crate) async fn put_raw(
        &self,
        entity: &str,
        body: Json,
        mode: PutMode,
        query: &ListQuery,
    ) -> Result<Json> {
        let mut url = self.entity_url(entity)?;
        query::apply(&mut url, &query.pairs(false));
        let mut req = Request::new(Method::PUT, url, entity).json(body);
        let header: Option<HeaderName> = match mode {
            PutMode::Upsert => None,
            PutMode::InsertOnly => Some(IF_NONE_MATCH),
            PutMode::UpdateOnly => Some(IF_MATCH),
        };
        if let Some(h) = header {
            req = req.header(h, "*");
        }
        let resp = self
            .execute(req)
            .await
            .map_err(|e| unknown_if_gateway(e, entity))?;
        if resp.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::new(
                ErrorKind::OutcomeUnknown,
                format!(
                    "PUT {entity} answered {} with an empty body, so it is not known whether the record was saved; \
                     look it up by its natural key before writing again",
                    resp.status
                ),
            )
            .with_status(resp.status));
        }
        decode::<Json>(&resp.body, &format!("PUT {entity} (the write succeeded)"))
    }

    /// `PUT` a typed record. Details come back when `query` expands them.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, PutMode, entity::Account};
    /// let mut account = Account::default();
    /// account.account_cd = "40000".into();
    /// account.account_group = "ACCG02".into();
    /// let saved = client.put(&account, PutMode::UpdateOnly, &ListQuery::new()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Validation`] with every field error of a 422,
    /// [`ErrorKind::PreconditionFailed`], [`ErrorKind::OutcomeUnknown`], and
    /// the usual authentication/server/transport errors.
    pub async fn put<E: Entity>(&self, record: &E, mode: PutMode, query: &ListQuery) -> Result<E> {
        let body = serde_json::to_value(record)
            .map_err(|e| Error::config(format!("cannot serialize the {} record: {e}", E::NAME)))?;
        let json = self.put_raw(E::NAME, body, mode, query).await?;
        decode_value(json, "", &format!("PUT {} (the write succeeded)", E::NAME))
    }

    /// Creates a record and fails if it exists (`If-None-Match: *`),
    /// expanding the entity's details so lines come back.
    ///
    /// # Errors
    /// As [`put`](Self::put).
    pub async fn insert<E: Entity>(&self, record: &E) -> Result<E> {
        self.put(
            record,
            PutMode::InsertOnly,
            &ListQuery::new().expand(E::DETAILS.iter().copied()),
        )
        .await
    }

    /// Updates a record and fails if it is missing (`If-Match: *`).
    ///
    /// # Errors
    /// As [`put`](Self::put).
    pub async fn update<E: Entity>(&self, record: &E) -> Result<E> {
        self.put(
            record,
            PutMode::UpdateOnly,
            &ListQuery::new().expand(E::DETAILS.iter().copied()),
        )
        .await
    }

    /// `PUT` a [`DynamicEntity`] to any entity name.
    ///
    /// # Errors
    /// As [`put`](Self::put).
    pub async fn put_dynamic(
        &self,
        entity: &str,
        record: &DynamicEntity,
        mode: PutMode,
        query: &ListQuery,
    ) -> Result<DynamicEntity> {
        let json = self
            .put_raw(entity, Json::Object(record.as_map().clone()), mode, query)
            .await?;
        decode_value(json, "", &format!("PUT {entity}"))
    }

    /// Escape hatch: `PUT` raw JSON to an entity name (values must already
    /// be wrapped as `{"value": x}`).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, PutMode};
    /// let body = serde_json::json!({"CustomerID": {"value": "C001"}, "CustomerName": {"value": "ACME"}});
    /// let saved = client.put_json("Customer", &body, PutMode::Upsert, &ListQuery::new()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`put`](Self::put).
    pub async fn put_json(
        &self,
        entity: &str,
        body: &Json,
        mode: PutMode,
        query: &ListQuery,
    ) -> Result<Json> {
        self.put_raw(entity, body.clone(), mode, query).await
    }

    /// Makes the record with `desired`'s key fields hold `desired`'s
    /// values, sending only what differs: reads the record by key; inserts
    /// it when missing; otherwise sends the key fields plus the changed
    /// fields with `If-Match: *`, or nothing when all values already match.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{Upserted, entity::Vendor};
    /// let mut v = Vendor::default();
    /// v.vendor_id = "ACME".into();
    /// v.vendor_name = "Acme Supplies Ltd".into();
    /// match client.upsert_by_key(&v).await? {
    ///     Upserted::Created(_) => println!("created"),
    ///     Upserted::Updated { changed, .. } => println!("updated {changed:?}"),
    ///     Upserted::Unchanged(_) => println!("nothing to do"),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] for auto-numbered entities (their key is
    /// assigned by the server; use [`insert`](Self::insert)); a
    /// configuration error when a key field is not set; otherwise as
    /// [`put`](Self::put).
    pub async fn upsert_by_key<E: Entity>(&self, desired: &E) -> Result<Upserted<E>> {
        if E::AUTO_NUMBERED {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{} is auto-numbered; create it with insert() and find it by a natural key",
                    E::NAME
                ),
            ));
        }
        let desired_json = serde_json::to_value(desired)
            .map_err(|e| Error::config(format!("cannot serialize the {} record: {e}", E::NAME)))?;
        let keys = key_values(&desired_json, E::KEY_FIELDS).ok_or_else(|| {
            Error::config(format!(
                "{} upsert needs the key fields {:?} set",
                E::NAME,
                E::KEY_FIELDS
            ))
        })?;
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let current = match self
            .get_dynamic_by_keys(E::NAME, &key_refs, &ListQuery::new())
            .await
        {
            Ok(c) => c,
            Err(e) if e.is_not_found() => {
                let created = self
                    .put(desired, PutMode::InsertOnly, &ListQuery::new())
                    .await?;
                return Ok(Upserted::Created(created));
            }
            Err(e) => return Err(e),
        };
        let current_json = Json::Object(current.into_map());
        let Json::Object(desired_map) = desired_json else {
            return Err(Error::config(format!(
                "{} did not serialize to an object",
                E::NAME
            )));
        };
        let mut body = Map::new();
        let mut changed = Vec::new();
        for (field, want) in &desired_map {
            if E::KEY_FIELDS.contains(&field.as_str()) {
                body.insert(field.clone(), want.clone());
                continue;
            }
            if matches!(
                field.as_str(),
                "id" | "rowNumber" | "_links" | "files" | "error"
            ) {
                continue;
            }
            if !same(want, current_json.get(field)) {
                body.insert(field.clone(), want.clone());
                changed.push(field.clone());
            }
        }
        if changed.is_empty() {
            let record = decode_value(current_json, "", &format!("GET {}", E::NAME))?;
            return Ok(Upserted::Unchanged(record));
        }
        let saved = self
            .put_raw(
                E::NAME,
                Json::Object(body),
                PutMode::UpdateOnly,
                &ListQuery::new(),
            )
            .await?;
        let record = decode_value(saved, "", &format!("PUT {} (the write succeeded)", E::NAME))?;
        Ok(Upserted::Updated { record, changed })
    }

    /// Deletes a record by its key fields (`DELETE <entity>/<keys>`).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// client.delete_by_keys("StockItem", &["CGFEEDER"]).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound`, authentication, server and transport errors.
    pub async fn delete_by_keys(&self, entity: &str, keys: &[&str]) -> Result<()> {
        self.entity_url(entity)?;
        let url = self.endpoint_path(&key_path(entity, keys)?)?;
        self.execute(Request::new(Method::DELETE, url, entity))
            .await?;
        Ok(())
    }

    /// Deletes a record by its `id`.
    ///
    /// # Errors
    /// As [`delete_by_keys`](Self::delete_by_keys).
    pub async fn delete_by_id(&self, entity: &str, id: &str) -> Result<()> {
        self.entity_url(entity)?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(Error::config(format!("{id:?} is not a record id (a GUID)")));
        }
        let url = self.endpoint_path(&format!("{entity}/{id}"))?;
        self.execute(Request::new(Method::DELETE, url, entity))
            .await?;
        Ok(())
    }
}

/// A gateway error or a body-less 500 after a write left: the server may
/// have applied it.
pub(crate) fn unknown_if_gateway(e: Error, what: &str) -> Error {
    let gateway = matches!(e.status(), Some(502..=504))
        || (e.status() == Some(500)
            && matches!(
                e.kind(),
                ErrorKind::Server {
                    exception_type: None,
                    exception_message: None
                }
            ));
    if gateway {
        Error::new(
            ErrorKind::OutcomeUnknown,
            format!(
                "{what}: {e}; the write may or may not have been applied, so it is not repeated: \
                 look the record up by its natural key first"
            ),
        )
        .with_status(e.status().unwrap_or(0))
    } else {
        e
    }
}

/// Whether the desired wire JSON already holds in `current`.
fn same(want: &Json, current: Option<&Json>) -> bool {
    let empty = Json::Object(Map::new());
    let current = current.unwrap_or(&empty);
    match (want, current) {
        (Json::Object(w), Json::Object(c))
            if w.contains_key("value") || c.contains_key("value") || w.is_empty() =>
        {
            scalar_eq(w.get("value"), c.get("value"))
        }
        (Json::Object(w), Json::Object(c)) => w
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "rowNumber" | "_links" | "error"))
            .all(|(k, v)| same(v, c.get(k))),
        (w, c) => w == c,
    }
}

fn scalar_eq(a: Option<&Json>, b: Option<&Json>) -> bool {
    let a = a.filter(|v| !v.is_null());
    let b = b.filter(|v| !v.is_null());
    match (a, b) {
        (None, None) => true,
        (Some(x @ Json::Number(_)), Some(y)) | (Some(y), Some(x @ Json::Number(_))) => {
            match (decimal_from_json(x), decimal_from_json(y)) {
                (Ok(p), Ok(q)) => p == q,
                _ => false,
            }
        }
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sameness_ignores_number_spelling_and_empty_wrappers() {
        assert!(same(&json!({"value": 100}), Some(&json!({"value": 100.0}))));
        assert!(same(&json!({"value": null}), Some(&json!({}))));
        assert!(same(&json!({"value": null}), None));
        assert!(!same(&json!({"value": "A"}), Some(&json!({"value": "B"}))));
        assert!(!same(&json!({"value": "A"}), None));
        assert!(same(
            &json!({"Email": {"value": "a@b"}}),
            Some(&json!({"Email": {"value": "a@b"}, "Phone1": {"value": "1"}}))
        ));
        assert!(!same(
            &json!({"Email": {"value": "x@b"}}),
            Some(&json!({"Email": {"value": "a@b"}}))
        ));
    }
}
