//! Actions (`POST <entity>/<Action>` with `{"entity": ..., "parameters": ...}`):
//! 204 means done; 202 comes with a `Location` that is polled until it
//! answers 204 (FACTS section 7).

use std::time::Duration;

use reqwest::Method;
use reqwest::header::LOCATION;
use serde_json::{Map, Value as Json, json};
use tokio::time::Instant;
use url::Url;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Request, Safety};
use crate::write::unknown_if_gateway;

/// How an action ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionOutcome {
    /// Status polls made (0 when the server answered 204 at once).
    pub polls: u32,
    /// How long the action took, as measured by the client.
    pub elapsed: Duration,
}

impl Client {
    /// Runs action `action` of `entity` on `record` (the record's key fields
    /// or `{"id": "<guid>"}`) with `parameters`, and waits until it is done.
    ///
    /// The `POST` is never repeated after it may have reached the server
    /// (a dropped connection gives [`ErrorKind::OutcomeUnknown`]); the status
    /// polls are safe reads and are retried.
    ///
    /// ```no_run
    /// # async fn run(client: acumatica_client::Client) -> acumatica_client::Result<()> {
    /// use serde_json::json;
    /// client
    ///     .invoke_action(
    ///         "Bill",
    ///         "ReleaseBill",
    ///         json!({"Type": {"value": "Bill"}, "ReferenceNbr": {"value": "000123"}}),
    ///         json!({}),
    ///     )
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for an unknown action (404),
    /// [`ErrorKind::Validation`] when the action rejects the record (422),
    /// [`ErrorKind::ActionTimedOut`] when it still runs after the configured
    /// wait, [`ErrorKind::OutcomeUnknown`], and the usual errors.
    pub async fn invoke_action(
        &self,
        entity: &str,
        action: &str,
        record: Json,
        parameters: Json,
    ) -> Result<ActionOutcome> {
        if action.is_empty()
            || !action
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(Error::config(format!(
                "action name {action:?} must be letters, digits or '_'"
            )));
        }
        let url = self
            .entity_url(entity)?
            .join(&format!("{entity}/{action}"))
            .map_err(|e| Error::config(format!("cannot build the action URL: {e}")))?;
        let label = format!("{entity}/{action}");
        let parameters = match parameters {
            Json::Null => Json::Object(Map::new()),
            p => p,
        };
        let body = json!({ "entity": record, "parameters": parameters });
        let started = Instant::now();
        let resp = self
            .execute(Request::new(Method::POST, url, label.clone()).json(body))
            .await
            .map_err(|e| unknown_if_gateway(e, &label))?;
        match resp.status {
            // 204 is final; a Location on a 204 must not be followed.
            204 | 200 => {
                return Ok(ActionOutcome {
                    polls: 0,
                    elapsed: started.elapsed(),
                });
            }
            202 => {}
            other => {
                return Err(Error::new(
                    ErrorKind::Http,
                    format!("{label} answered {other}; expected 202 or 204"),
                )
                .with_status(other));
            }
        }
        let location = resp.header_str(LOCATION).ok_or_else(|| {
            Error::new(
                ErrorKind::Http,
                format!("{label} answered 202 without a Location header, so its completion cannot be followed"),
            )
            .with_status(202)
        })?;
        let status_url = self.resolve_location(location)?;
        self.wait_for_action(&label, status_url, started).await
    }

    /// A `Location` header as a URL on the site; anything else is refused.
    fn resolve_location(&self, location: &str) -> Result<Url> {
        let site = &self.inner.config.site;
        // Absolute paths (`/AcumaticaERP/entity/...`) resolve against the
        // origin; full URLs must be on the site.
        let url = site.join(location).map_err(|e| {
            Error::new(
                ErrorKind::Http,
                format!("invalid Location {location:?}: {e}"),
            )
        })?;
        if !self.inner.transport.same_origin(&url) {
            return Err(Error::new(
                ErrorKind::Http,
                format!(
                    "the action's Location {location:?} points to another host; it is not followed (credentials stay on the site)"
                ),
            ));
        }
        Ok(url)
    }

    async fn wait_for_action(
        &self,
        label: &str,
        status_url: Url,
        started: Instant,
    ) -> Result<ActionOutcome> {
        let config = &self.inner.config;
        let mut polls = 0u32;
        loop {
            if started.elapsed() >= config.action_timeout {
                return Err(Error::new(
                    ErrorKind::ActionTimedOut,
                    format!(
                        "{label} was still running after {:?} ({polls} status checks); it may still finish. Status URL: {}",
                        config.action_timeout,
                        status_url.path()
                    ),
                ));
            }
            tokio::time::sleep(config.action_poll_interval).await;
            polls += 1;
            let mut req = Request::new(Method::GET, status_url.clone(), format!("{label} status"));
            req.safety = Safety::Safe;
            let resp = self.execute(req).await?;
            match resp.status {
                202 => continue,
                200 | 204 => {
                    return Ok(ActionOutcome {
                        polls,
                        elapsed: started.elapsed(),
                    });
                }
                other => {
                    return Err(Error::new(
                        ErrorKind::Http,
                        format!("{label} status check answered {other}; expected 202 or 204"),
                    )
                    .with_status(other));
                }
            }
        }
    }
}
