//! [`ListQuery`]: the contract API's query parameters (`$filter`,
//! `$select`, `$expand`, `$custom`, `$top`, `$skip`) and how they are
//! encoded into the URL.

use url::Url;

use crate::filter::Filter;

/// Query parameters for reads and writes.
///
/// `$top` and `$skip` set here limit the *whole* listing (the paging streams
/// pick their own page sizes inside that range); key and id reads and PUTs
/// ignore them (the API takes only `$select`, `$filter`, `$expand` and
/// `$custom` there).
///
/// ```
/// use acumatica_client::{ListQuery, filter::Filter};
///
/// let q = ListQuery::new()
///     .filter(Filter::eq("Status", "Active"))
///     .select(["VendorID", "VendorName"])
///     .expand(["MainContact"])
///     .custom(["Document.UsrRating"])
///     .top(10);
/// assert_eq!(
///     q.to_query_string(),
///     "$filter=Status%20eq%20%27Active%27&$select=VendorID,VendorName&$expand=MainContact&$custom=Document.UsrRating&$top=10"
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct ListQuery {
    pub(crate) filter: Option<Filter>,
    pub(crate) select: Vec<String>,
    pub(crate) expand: Vec<String>,
    pub(crate) custom: Vec<String>,
    pub(crate) top: Option<u32>,
    pub(crate) skip: Option<u32>,
    pub(crate) page_size: Option<u32>,
    pub(crate) concurrency: Option<usize>,
}

impl ListQuery {
    /// No parameters: every record, top-level fields only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A query that expands every detail collection of `E`
    /// ([`Entity::DETAILS`](crate::Entity::DETAILS)), e.g. `Details` for a
    /// journal transaction.
    ///
    /// ```
    /// use acumatica_client::{ListQuery, entity::Bill};
    /// assert_eq!(
    ///     ListQuery::with_details::<Bill>().to_query_string(),
    ///     "$expand=Details,TaxDetails,Applications"
    /// );
    /// ```
    pub fn with_details<E: crate::Entity>() -> Self {
        Self::new().expand(E::DETAILS.iter().copied())
    }

    /// Sets `$filter`, combined with `and` when one is set already.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(match self.filter.take() {
            Some(existing) => existing.and(filter),
            None => filter,
        });
        self
    }

    /// Adds fields to `$select` (top-level or `Details/Field`).
    pub fn select<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.select.extend(fields.into_iter().map(Into::into));
        self
    }

    /// Adds detail or linked entities to `$expand` (nothing is expanded by
    /// default; nested ones explicitly, like `MainContact/Address`).
    pub fn expand<S: Into<String>>(mut self, entities: impl IntoIterator<Item = S>) -> Self {
        for e in entities {
            let e = e.into();
            if !self.expand.contains(&e) {
                self.expand.push(e);
            }
        }
        self
    }

    /// Adds `$custom` fields (`View.Field`, `Details/View.Field`).
    pub fn custom<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.custom.extend(fields.into_iter().map(Into::into));
        self
    }

    /// At most this many records in all.
    pub fn top(mut self, n: u32) -> Self {
        self.top = Some(n);
        self
    }

    /// Skip this many records first.
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = Some(n);
        self
    }

    /// Records per page for the paging streams (default: the client's).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n.max(1));
        self
    }

    /// Offset paging with up to `n` page requests in flight (default 1).
    /// Pages still arrive in order; a few requests past the last page may
    /// be started and are cancelled. Keep `n` within the licence's
    /// concurrent-request limit (see
    /// [`max_concurrent_requests`](crate::ClientBuilder::max_concurrent_requests)).
    /// Keyset paging is always sequential.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// The `$filter`, if any.
    pub fn filter_ref(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    /// Parameters as `(name, value)` pairs, in a stable order.
    pub(crate) fn pairs(&self, with_paging: bool) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(f) = &self.filter {
            out.push(("$filter", f.to_string()));
        }
        if !self.select.is_empty() {
            out.push(("$select", self.select.join(",")));
        }
        if !self.expand.is_empty() {
            out.push(("$expand", self.expand.join(",")));
        }
        if !self.custom.is_empty() {
            out.push(("$custom", self.custom.join(",")));
        }
        if with_paging {
            if let Some(t) = self.top {
                out.push(("$top", t.to_string()));
            }
            if let Some(s) = self.skip {
                out.push(("$skip", s.to_string()));
            }
        }
        out
    }

    /// The encoded query string (without `?`).
    pub fn to_query_string(&self) -> String {
        encode(&self.pairs(true))
    }
}

/// Percent-encodes query pairs. Values are form-encoded and then `+` (a
/// space) is written as `%20`, so no server can read a `+` in a
/// `datetimeoffset` literal as a space: literal plus signs are already `%2B`.
/// Commas and slashes in `$select`/`$expand` lists stay readable.
pub(crate) fn encode(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let value: String = url::form_urlencoded::byte_serialize(v.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
                .replace("%2C", ",")
                .replace("%2F", "/");
            format!("{k}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Sets `pairs` as the query of `url` (none when empty).
pub(crate) fn apply(url: &mut Url, pairs: &[(&str, String)]) {
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        url.set_query(Some(&encode(pairs)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone};

    #[test]
    fn datetimeoffset_is_percent_encoded() {
        let t = FixedOffset::east_opt(3 * 3600)
            .unwrap()
            .with_ymd_and_hms(2024, 7, 15, 10, 31, 28)
            .unwrap()
            + chrono::Duration::milliseconds(402);
        let q = ListQuery::new().filter(Filter::gt("LastModified", t));
        assert_eq!(
            q.to_query_string(),
            "$filter=LastModified%20gt%20datetimeoffset%272024-07-15T10%3A31%3A28.402%2B03%3A00%27"
        );
    }

    #[test]
    fn filters_combine_with_and() {
        let q = ListQuery::new()
            .filter(Filter::eq("A", 1))
            .filter(Filter::eq("B", 2));
        assert_eq!(q.filter_ref().unwrap().to_string(), "A eq 1 and B eq 2");
        let q = ListQuery::new()
            .expand(["Details"])
            .expand(["Details", "Branches"]);
        assert_eq!(q.expand, ["Details", "Branches"]);
    }
}
