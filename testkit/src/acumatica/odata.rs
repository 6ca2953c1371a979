//! The generic-inquiry OData service of the tenant (FACTS 11):
//! `GET /t/{tenant}/api/odata/gi` (the service document) and
//! `GET /t/{tenant}/api/odata/gi/$metadata` (the CSDL document).
//!
//! The fake exposes no generic inquiries, so both list none: what a real
//! tenant answers when no inquiry has "Expose via OData" set. Clients that
//! read the metadata at start-up (`easy_acumatica` builds its inquiry
//! methods from it) then see an empty set instead of a 404. Access is Basic
//! authentication as a conventional user, not an API session.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Response, header};
use serde_json::json;

use super::reply::{bytes_response, json_response, message, not_found};
use super::routes::{S, basic_auth};

/// The CSDL of a service without entity sets. The container name is the
/// one clients look the inquiries up under (EA `service_factory.py`).
const EMPTY_METADATA: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">"#,
    r#"<edmx:DataServices><Schema Namespace="Default" xmlns="http://docs.oasis-open.org/odata/ns/edm">"#,
    r#"<EntityContainer Name="Default" /></Schema></edmx:DataServices></edmx:Edmx>"#,
);

/// `Ok` for the site's tenant and user; otherwise the answer to send.
fn admit(
    inner: &super::routes::Inner,
    tenant: &str,
    headers: &HeaderMap,
) -> Result<(), Box<Response<Body>>> {
    let auth = inner.auth();
    if !auth.is_tenant(tenant) {
        return Err(Box::new(not_found(&format!("/t/{tenant}/api/odata/gi"))));
    }
    match basic_auth(headers) {
        Some((user, password)) if auth.check_basic(&user, &password) => Ok(()),
        _ => {
            let mut r = message(401, "Authorization has been denied for this request.");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Acumatica\""),
            );
            Err(Box::new(r))
        }
    }
}

pub(crate) async fn service(
    State(inner): S,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    if let Err(r) = admit(&inner, &tenant, &headers) {
        return *r;
    }
    json_response(
        200,
        &json!({"@odata.context": format!("/t/{tenant}/api/odata/gi/$metadata"), "value": []}),
    )
}

pub(crate) async fn metadata(
    State(inner): S,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response<Body> {
    if let Err(r) = admit(&inner, &tenant, &headers) {
        return *r;
    }
    bytes_response(200, "application/xml", EMPTY_METADATA.as_bytes().to_vec())
}
