//! Single-record reads (by key fields or by `id`) and the raw JSON escape
//! hatch for any endpoint path.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use url::Url;

use crate::client::Client;
use crate::dynamic::DynamicEntity;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::query::{self, ListQuery};
use crate::transport::{Request, Response};

/// Decodes a JSON body into `T`, naming the JSON path that failed.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::decode(
            "",
            format!(
                "{what}: the server answered success with an empty body (treated as an error, not as \"no data\")"
            ),
        ));
    }
    // The fast path tracks no path; only a failure pays for a second,
    // path-tracking pass to say where it went wrong.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let e = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let path = e.path().to_string();
    Err(Error::decode(
        path.clone(),
        format!(
            "{what}: at {path}: {}; body starts: {}",
            e.inner(),
            ml_connector_retry::preview(&String::from_utf8_lossy(body), 160)
        ),
    ))
}

/// Decodes one JSON value into `T`, naming the path (prefixed by `prefix`).
pub(crate) fn decode_value<T: DeserializeOwned>(json: Json, prefix: &str, what: &str) -> Result<T> {
    serde_path_to_error::deserialize(json).map_err(|e| {
        let inner_path = e.path().to_string();
        let path = if inner_path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{inner_path}")
        };
        Error::decode(path.clone(), format!("{what}: at {path}: {}", e.inner()))
    })
}

/// Percent-encodes key values as path segments.
pub(crate) fn key_path(entity: &str, keys: &[&str]) -> Result<String> {
    if keys.is_empty() {
        return Err(Error::config(format!(
            "{entity}: at least one key value is needed"
        )));
    }
    let mut path = entity.to_owned();
    for k in keys {
        if k.is_empty() {
            return Err(Error::config(format!("{entity}: a key value is empty")));
        }
        if k.contains('/') || k.contains('|') {
            return Err(Error::config(format!(
                "{entity}: key value {k:?} contains '/' or '|', which the key URL cannot carry; read the record by its id instead"
            )));
        }
        path.push('/');
        path.extend(
            url::form_urlencoded::byte_serialize(k.as_bytes())
                .map(|s| if s == "+" { "%20" } else { s }),
        );
    }
    Ok(path)
}

fn check_entity_name(entity: &str) -> Result<()> {
    if entity.is_empty()
        || !entity
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(Error::config(format!(
            "entity name {entity:?} must be letters, digits or '_' (like \"Vendor\")"
        )));
    }
    Ok(())
}

impl Client {
    pub(crate) fn entity_url(&self, entity: &str) -> Result<Url> {
        check_entity_name(entity)?;
        self.endpoint_path(entity)
    }

    async fn get_url(
        &self,
        mut url: Url,
        pairs: &[(&str, String)],
        label: &str,
    ) -> Result<Response> {
        query::apply(&mut url, pairs);
        self.get_path(url, label).await
    }

    /// Reads one record by its key fields in URL order (cheaper than a
    /// `$filter` on keys). A missing record is
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) (Acumatica
    /// answers 500 `NoEntitySatisfiesTheConditionException`).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, entity::JournalTransaction};
    /// let batch: JournalTransaction = client
    ///     .get_by_keys(&["GL", "000042"], &ListQuery::new().expand(["Details"]))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `NotFound`, authentication, transport, server and decode errors; a
    /// configuration error for a key containing `/`.
    pub async fn get_by_keys<E: Entity>(&self, keys: &[&str], query: &ListQuery) -> Result<E> {
        let json = self.get_dynamic_by_keys(E::NAME, keys, query).await?;
        decode_value(
            Json::Object(json.into_map()),
            "",
            &format!("GET {}", E::NAME),
        )
    }

    /// Reads one record by its `id` (GUID).
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::{ListQuery, entity::Vendor};
    /// let v: Vendor = client.get_by_id("2eed8918-a59a-ee11-8359-0690322d016b", &ListQuery::new()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`get_by_keys`](Self::get_by_keys).
    pub async fn get_by_id<E: Entity>(&self, id: &str, query: &ListQuery) -> Result<E> {
        let json = self.get_dynamic_by_id(E::NAME, id, query).await?;
        decode_value(
            Json::Object(json.into_map()),
            "",
            &format!("GET {}", E::NAME),
        )
    }

    /// [`get_by_keys`](Self::get_by_keys) for any entity name.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// let customer = client.get_dynamic_by_keys("Customer", &["C001"], &Default::default()).await?;
    /// println!("{:?}", customer.get_str("CustomerName"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`get_by_keys`](Self::get_by_keys).
    pub async fn get_dynamic_by_keys(
        &self,
        entity: &str,
        keys: &[&str],
        query: &ListQuery,
    ) -> Result<DynamicEntity> {
        check_entity_name(entity)?;
        let url = self.endpoint_path(&key_path(entity, keys)?)?;
        let resp = self.get_url(url, &query.pairs(false), entity).await?;
        decode(&resp.body, &format!("GET {entity}"))
    }

    /// [`get_by_id`](Self::get_by_id) for any entity name.
    ///
    /// # Errors
    /// As [`get_by_keys`](Self::get_by_keys).
    pub async fn get_dynamic_by_id(
        &self,
        entity: &str,
        id: &str,
        query: &ListQuery,
    ) -> Result<DynamicEntity> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(Error::config(format!("{id:?} is not a record id (a GUID)")));
        }
        let url = self.endpoint_path(&format!("{entity}/{id}"))?;
        check_entity_name(entity)?;
        let resp = self.get_url(url, &query.pairs(false), entity).await?;
        decode(&resp.body, &format!("GET {entity}"))
    }

    /// Escape hatch: `GET` any path under the endpoint (`Customer`,
    /// `SalesOrder/SO/000123`, `JournalTransaction/$adHocSchema`) and return
    /// the JSON. Retries like every read; credentials go only to the site.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use acumatica_client::ListQuery;
    /// let schema = client.get_json("JournalTransaction/$adHocSchema", &ListQuery::new()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// A configuration error for a path that is a URL or leaves the
    /// endpoint; otherwise as [`get_by_keys`](Self::get_by_keys).
    pub async fn get_json(&self, path: &str, query: &ListQuery) -> Result<Json> {
        let url = self.endpoint_path(path)?;
        let label = path.split('/').next().unwrap_or(path).to_owned();
        let mut url = url;
        query::apply(&mut url, &query.pairs(true));
        let resp = self.execute(Request::new(Method::GET, url, label)).await?;
        decode(&resp.body, &format!("GET {path}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_are_encoded() {
        assert_eq!(
            key_path("Bill", &["Bill", "000123"]).unwrap(),
            "Bill/Bill/000123"
        );
        assert_eq!(
            key_path("Bill", &["Debit Adj.", "A&B"]).unwrap(),
            "Bill/Debit%20Adj./A%26B"
        );
        assert!(key_path("Bill", &["a/b"]).is_err());
        assert!(key_path("Bill", &[]).is_err());
    }

    #[test]
    fn decode_names_the_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Row {
            #[serde(rename = "Amount")]
            amount: crate::value::Value<rust_decimal::Decimal>,
        }
        let err = decode::<Vec<Row>>(
            br#"[{"Amount":{"value":1}},{"Amount":{"value":"abc"}}]"#,
            "GET Bill",
        )
        .unwrap_err();
        match err.kind() {
            crate::ErrorKind::Decode { path } => assert_eq!(path, "[1].Amount.value"),
            other => panic!("{other:?}"),
        }
        assert!(
            decode::<Json>(b"  ", "GET Bill")
                .unwrap_err()
                .to_string()
                .contains("empty body")
        );
    }
}
