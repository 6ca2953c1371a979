//! Paging: keyset paging over query results, offset paging over list
//! endpoints.
//!
//! Query results have no offset, page or cursor (FACTS section 5). For an
//! explore whose unlimited results do not stream (table calculations,
//! pivots, totals make Looker build the whole result in memory), keyset
//! paging runs one query per page: sorted ascending on a unique numeric key
//! field, limited to `page_size` rows, filtered to keys greater than the last
//! key of the previous page. It stops at the first page with fewer rows.
//!
//! Looker's *list* endpoints (e.g. `GET /lookml_models`) do take `limit` and
//! `offset`; [`Client::offset_pages`] walks them.

use std::cmp::Ordering;
use std::pin::Pin;

use futures::{Stream, StreamExt, TryStreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::query::WriteQuery;
use crate::rows::{Row, RowStream};
use crate::run::{ResultFormat, RunOptions};
use crate::transport::Request;

/// A boxed stream of items, as returned by the paging methods.
pub type ItemStream<T> = Pin<Box<dyn Stream<Item = Result<T>> + Send>>;

/// A LookML model (`LookmlModel`, the properties useful to a client).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct LookmlModel {
    /// Model name.
    #[serde(default)]
    pub name: Option<String>,
    /// Label.
    #[serde(default)]
    pub label: Option<String>,
    /// LookML project.
    #[serde(default)]
    pub project_name: Option<String>,
    /// Whether the model has content.
    #[serde(default)]
    pub has_content: Option<bool>,
    /// Its explores.
    #[serde(default)]
    pub explores: Option<Vec<LookmlModelNavExplore>>,
}

/// An explore as listed in a model (`LookmlModelNavExplore`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct LookmlModelNavExplore {
    /// Explore name.
    #[serde(default)]
    pub name: Option<String>,
    /// Label.
    #[serde(default)]
    pub label: Option<String>,
    /// Hidden in the UI.
    #[serde(default)]
    pub hidden: Option<bool>,
    /// Group label.
    #[serde(default)]
    pub group_label: Option<String>,
}

struct Keyset {
    client: Client,
    query: WriteQuery,
    key: String,
    page_size: u32,
    options: RunOptions,
    current: Option<RowStream<Row>>,
    in_page: u64,
    pages: u64,
    last: Option<String>,
    done: bool,
}

impl Keyset {
    async fn next_row(&mut self) -> Option<Result<Row>> {
        if self.done {
            return None;
        }
        let out = self.next_inner().await;
        if matches!(out, Some(Err(_)) | None) {
            self.done = true;
        }
        out
    }

    async fn next_inner(&mut self) -> Option<Result<Row>> {
        loop {
            if self.current.is_none() {
                let mut q = self.query.clone().with_limit(i64::from(self.page_size));
                if let Some(last) = &self.last {
                    q = q.filter(self.key.clone(), format!(">{last}"));
                }
                let opts = self
                    .options
                    .clone()
                    .limit(i64::from(self.page_size))
                    .allow_truncation(true);
                match self
                    .client
                    .run_inline_query_rows::<Row>(&q, ResultFormat::Json, &opts)
                    .await
                {
                    Ok(s) => self.current = Some(s),
                    Err(e) => return Some(Err(e)),
                }
                self.in_page = 0;
                self.pages += 1;
            }
            let stream = self.current.as_mut().expect("just set");
            match stream.next().await {
                Some(Ok(row)) => {
                    self.in_page += 1;
                    let key = match key_text(&row, &self.key) {
                        Ok(k) => k,
                        Err(e) => return Some(Err(e)),
                    };
                    if let Some(prev) = &self.last
                        && compare_keys(&key, prev) != Ordering::Greater
                    {
                        return Some(Err(Error::config(format!(
                            "keyset paging on `{}` needs unique, ascending keys, but page {} \
                             returned `{key}` after `{prev}`: choose a unique key field (a \
                             primary key)",
                            self.key, self.pages
                        ))));
                    }
                    self.last = Some(key);
                    return Some(Ok(row));
                }
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    self.current = None;
                    if self.in_page < u64::from(self.page_size) {
                        return None;
                    }
                }
            }
        }
    }
}

/// The key of a row as filter text: a number, or a string holding one.
fn key_text(row: &Row, key: &str) -> Result<String> {
    match row.get(key) {
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(serde_json::Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
            Ok(s.trim().to_owned())
        }
        Some(other) => Err(Error::config(format!(
            "keyset paging needs a numeric key, but `{key}` is {other}; page on a numeric \
             unique field such as an id"
        ))),
        None => Err(Error::config(format!(
            "keyset paging: the rows have no `{key}` value; add the key field to the query's fields"
        ))),
    }
}

/// Orders two numeric keys exactly for integers, by value otherwise.
fn compare_keys(a: &str, b: &str) -> Ordering {
    match (a.parse::<i128>(), b.parse::<i128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => {
            let x = a.parse::<f64>().unwrap_or(f64::NAN);
            let y = b.parse::<f64>().unwrap_or(f64::NAN);
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

impl Client {
    /// Keyset paging: runs `query` page by page, sorted ascending on
    /// `key_field` (a unique numeric field, such as a primary key), each
    /// page limited to `page_size` rows and filtered to keys above the last
    /// one seen, and streams the rows of all pages as [`Row`]s.
    ///
    /// Use it for explores whose unlimited results do not stream (table
    /// calculations, pivots, totals). Each page is one query (one
    /// `db_query` API call). The query must not sort or filter on the key
    /// itself; the key must be among its fields. Keys that do not increase
    /// strictly (a key that is not unique) stop the stream with an error, so
    /// no row is skipped silently.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use looker_client::{RunOptions, WriteQuery};
    ///
    /// # async fn demo(client: looker_client::Client) -> Result<(), looker_client::Error> {
    /// let q = WriteQuery::new("thelook", "orders").fields(["orders.id", "orders.total"]);
    /// let mut rows = client.keyset_rows(&q, "orders.id", 10_000, &RunOptions::new())?;
    /// while let Some(row) = rows.try_next().await? {
    ///     println!("{}", row["orders.id"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn keyset_rows(
        &self,
        query: &WriteQuery,
        key_field: &str,
        page_size: u32,
        options: &RunOptions,
    ) -> Result<ItemStream<Row>> {
        query.check_required()?;
        if page_size == 0 {
            return Err(Error::config(
                "keyset paging needs a page_size of at least 1",
            ));
        }
        if let Some(sorts) = &query.sorts {
            let only_key = sorts.iter().all(|s| {
                let mut parts = s.split_whitespace();
                parts.next() == Some(key_field) && matches!(parts.next(), None | Some("asc"))
            });
            if !sorts.is_empty() && !only_key {
                return Err(Error::config(format!(
                    "keyset paging sorts on `{key_field}` itself; remove the query's sorts {sorts:?}"
                )));
            }
        }
        if query
            .filters
            .as_ref()
            .is_some_and(|f| f.contains_key(key_field))
        {
            return Err(Error::config(format!(
                "keyset paging filters on `{key_field}` itself; remove the query's filter on it \
                 (filter on another field, or page over the whole key range)"
            )));
        }
        if !query
            .fields
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == key_field))
        {
            return Err(Error::config(format!(
                "keyset paging needs the key `{key_field}` among the query's fields"
            )));
        }
        let query = query.clone().sorts([key_field]);
        let state = Keyset {
            client: self.clone(),
            query,
            key: key_field.to_owned(),
            page_size,
            options: options.clone(),
            current: None,
            in_page: 0,
            pages: 0,
            last: None,
            done: false,
        };
        Ok(Box::pin(futures::stream::unfold(
            state,
            |mut st| async move {
                let item = st.next_row().await?;
                Some((item, st))
            },
        )))
    }

    /// Keyset paging as [`keyset_rows`](Self::keyset_rows), each row decoded
    /// into `T`.
    pub fn keyset_rows_as<T: DeserializeOwned + Send + 'static>(
        &self,
        query: &WriteQuery,
        key_field: &str,
        page_size: u32,
        options: &RunOptions,
    ) -> Result<ItemStream<T>> {
        let rows = self.keyset_rows(query, key_field, page_size, options)?;
        let mut index: u64 = 0;
        Ok(Box::pin(rows.and_then(move |row| {
            let i = index;
            index += 1;
            let out = serde_path_to_error::deserialize(serde_json::Value::Object(row))
                .map_err(|e| crate::rows::row_error(i, &e.path().to_string(), e.into_inner()));
            futures::future::ready(out)
        })))
    }

    /// Offset paging over a list endpoint that takes `limit` and `offset`
    /// (such as `lookml_models`, `users`, `looks`): requests pages of
    /// `page_size` until one comes back short, and streams the items.
    /// `path` is relative to `/api/4.0`; `query` adds parameters.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// # async fn demo(client: looker_client::Client) -> Result<(), looker_client::Error> {
    /// let users: Vec<serde_json::Value> = client
    ///     .offset_pages("users", &[("fields", "id,email")], 100)?
    ///     .try_collect()
    ///     .await?;
    /// # let _ = users; Ok(()) }
    /// ```
    pub fn offset_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        page_size: u32,
    ) -> Result<ItemStream<T>> {
        if page_size == 0 {
            return Err(Error::config(
                "offset paging needs a page_size of at least 1",
            ));
        }
        let segments = crate::client::split_path(path)?;
        let base: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let client = self.clone();
        // State: the next offset, or None when the last page was short.
        let pages = futures::stream::try_unfold(Some(0u64), move |offset| {
            let client = client.clone();
            let segments = segments.clone();
            let base = base.clone();
            async move {
                let Some(offset) = offset else {
                    return Ok(None);
                };
                let mut req = Request::get(&segments);
                for (k, v) in &base {
                    req = req.query(k, v);
                }
                req = req.query("limit", page_size).query("offset", offset);
                let page: Vec<T> = client.call_json(&req).await?;
                let next = (page.len() as u64 == u64::from(page_size))
                    .then_some(offset + u64::from(page_size));
                if page.is_empty() {
                    return Ok(None);
                }
                Ok(Some((
                    futures::stream::iter(page.into_iter().map(Ok)),
                    next,
                )))
            }
        });
        Ok(Box::pin(pages.try_flatten()))
    }

    /// `GET /lookml_models`, all of them, `page_size` per request.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// # async fn demo(client: looker_client::Client) -> Result<(), looker_client::Error> {
    /// let mut models = client.lookml_models(50)?;
    /// while let Some(m) = models.try_next().await? {
    ///     println!("{:?}", m.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn lookml_models(&self, page_size: u32) -> Result<ItemStream<LookmlModel>> {
        self.offset_pages("lookml_models", &[], page_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_exactly() {
        assert_eq!(compare_keys("10", "9"), Ordering::Greater);
        assert_eq!(
            compare_keys("9007199254740993", "9007199254740992"),
            Ordering::Greater
        );
        assert_eq!(compare_keys("1.5", "1.25"), Ordering::Greater);
        assert_eq!(compare_keys("3", "3"), Ordering::Equal);
    }

    #[test]
    fn key_text_accepts_numbers_and_numeric_strings() {
        let row: Row = serde_json::from_str(r#"{"a": 12, "b": " 7 ", "c": "x"}"#).unwrap();
        assert_eq!(key_text(&row, "a").unwrap(), "12");
        assert_eq!(key_text(&row, "b").unwrap(), "7");
        assert!(
            key_text(&row, "c")
                .unwrap_err()
                .to_string()
                .contains("numeric key")
        );
        assert!(
            key_text(&row, "d")
                .unwrap_err()
                .to_string()
                .contains("no `d` value")
        );
    }
}
