//! The branch and business date a request runs under (FACTS section 5:
//! the `PX-CbApiBranch` and `PX-CbApiBusinessDate` headers, which apply to
//! the one request that carries them).
//!
//! A cookie session can pick its branch once at login
//! ([`ClientBuilder::branch`](crate::ClientBuilder::branch)); an OAuth
//! client has no login of its own, so these headers are how it works in a
//! branch other than the user's default or on a business date other than
//! today. [`Client::with_branch`] and [`Client::with_business_date`] return a
//! view of the client that sends them on every endpoint request.

use chrono::NaiveDate;
use reqwest::header::{HeaderName, HeaderValue};

use crate::client::Client;
use crate::error::{Error, Result};

/// Header naming the branch a request runs in (the branch's **name**).
pub(crate) const BRANCH_HEADER: &str = "px-cbapibranch";
/// Header setting the business date of a request.
pub(crate) const BUSINESS_DATE_HEADER: &str = "px-cbapibusinessdate";

/// The per-request context a client view carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    pub branch: Option<String>,
    pub business_date: Option<NaiveDate>,
}

impl Scope {
    /// The headers to add to an endpoint request.
    pub(crate) fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(2);
        if let Some(branch) = &self.branch
            && let Ok(value) = HeaderValue::from_str(branch)
        {
            out.push((HeaderName::from_static(BRANCH_HEADER), value));
        }
        if let Some(date) = self.business_date {
            // Acumatica reads "any format"; ISO 8601 cannot be mistaken for
            // day-first or month-first.
            let value = HeaderValue::from_str(&date.format("%Y-%m-%d").to_string())
                .expect("a formatted date is a valid header value");
            out.push((HeaderName::from_static(BUSINESS_DATE_HEADER), value));
        }
        out
    }
}

fn check_branch(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::config(
            "the branch name is empty: give the branch's name as Acumatica shows it \
             (e.g. \"SweetLife Store\")",
        ));
    }
    if name.trim() != name {
        return Err(Error::config(format!(
            "the branch name {name:?} starts or ends with white space, which a header \
             cannot carry; remove it"
        )));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(Error::config(format!(
            "the branch name {name:?} contains the control character {c:?}, which a \
             header cannot carry"
        )));
    }
    if !name.is_ascii() {
        return Err(Error::config(format!(
            "the branch name {name:?} is not plain ASCII; HTTP headers do not carry \
             other characters reliably. Set BranchID on the records instead, or use a \
             branch whose name is ASCII"
        )));
    }
    Ok(())
}

impl Client {
    /// A view of this client whose endpoint requests run in the branch named
    /// `name` (the `PX-CbApiBranch` header, which takes the branch's name, not
    /// its ID). The view shares the token, session, pacing and connections
    /// with `self`; `self` is unchanged.
    ///
    /// ```
    /// # fn demo(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// let west = client.with_branch("SweetLife Store")?;
    /// assert_eq!(west.branch_override(), Some("SweetLife Store"));
    /// assert_eq!(client.branch_override(), None);
    /// assert!(client.with_branch("").is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the name is empty,
    /// has white space at either end, or holds characters a header cannot
    /// carry (control characters; anything outside ASCII).
    pub fn with_branch(&self, name: impl Into<String>) -> Result<Client> {
        let name = name.into();
        Client::check_branch_name(&name)?;
        let mut scope = self.scope.as_deref().cloned().unwrap_or_default();
        scope.branch = Some(name);
        Ok(self.scoped(scope))
    }

    /// A view of this client whose endpoint requests run on business date
    /// `date` (the `PX-CbApiBusinessDate` header, sent as `YYYY-MM-DD`): the
    /// date Acumatica uses for defaults such as a new document's date and
    /// period. Shares everything else with `self`.
    ///
    /// ```
    /// # fn demo(client: acumatica_client::Client) {
    /// use chrono::NaiveDate;
    /// let close = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    /// let at_close = client.with_business_date(close);
    /// assert_eq!(at_close.business_date_override(), Some(close));
    /// # }
    /// ```
    pub fn with_business_date(&self, date: NaiveDate) -> Client {
        let mut scope = self.scope.as_deref().cloned().unwrap_or_default();
        scope.business_date = Some(date);
        self.scoped(scope)
    }

    /// Whether `name` can be sent as a branch name by
    /// [`with_branch`](Self::with_branch), without a client: for checking a
    /// configuration before anything is built.
    ///
    /// ```
    /// use acumatica_client::Client;
    /// assert!(Client::check_branch_name("East Region").is_ok());
    /// let e = Client::check_branch_name("Zürich").unwrap_err();
    /// assert!(e.to_string().contains("ASCII"));
    /// ```
    ///
    /// # Errors
    /// As [`with_branch`](Self::with_branch).
    pub fn check_branch_name(name: &str) -> Result<()> {
        check_branch(name)
    }

    /// The branch this view's requests run in, if one was set with
    /// [`with_branch`](Self::with_branch).
    pub fn branch_override(&self) -> Option<&str> {
        self.scope.as_deref().and_then(|s| s.branch.as_deref())
    }

    /// The business date this view's requests carry, if one was set with
    /// [`with_business_date`](Self::with_business_date).
    pub fn business_date_override(&self) -> Option<NaiveDate> {
        self.scope.as_deref().and_then(|s| s.business_date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_a_header_cannot_carry_are_refused_with_the_reason() {
        assert!(check_branch("MAIN").is_ok());
        assert!(check_branch("SweetLife Store").is_ok());
        let e = check_branch("   ").unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = check_branch(" MAIN").unwrap_err().to_string();
        assert!(e.contains("white space"), "{e}");
        let e = check_branch("MA\nIN").unwrap_err().to_string();
        assert!(e.contains("control character"), "{e}");
        let e = check_branch("Café").unwrap_err().to_string();
        assert!(
            e.contains("not plain ASCII") && e.contains("BranchID"),
            "{e}"
        );
    }

    #[test]
    fn headers_carry_the_branch_name_and_an_iso_date() {
        let scope = Scope {
            branch: Some("SweetLife Store".into()),
            business_date: NaiveDate::from_ymd_opt(2025, 1, 31),
        };
        let headers: Vec<(String, String)> = scope
            .headers()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            headers,
            vec![
                ("px-cbapibranch".to_owned(), "SweetLife Store".to_owned()),
                ("px-cbapibusinessdate".to_owned(), "2025-01-31".to_owned()),
            ]
        );
        assert!(Scope::default().headers().is_empty());
    }
}
