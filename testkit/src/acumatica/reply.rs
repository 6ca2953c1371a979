//! Response bodies in the real shapes (FACTS section 9): `HttpError`
//! (`message`, `exceptionMessage`, `exceptionType`, `stackTrace`,
//! `modelState`), the 422 entity body, OAuth errors, IIS pages.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use super::input::ModelState;

pub(crate) const JSON: &str = "application/json; charset=utf-8";

pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    bytes_response(status, JSON, serde_json::to_vec(body).unwrap_or_default())
}

pub(crate) fn bytes_response(
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub(crate) fn empty(status: u16) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT);
    r
}

/// A server-side exception: 500 with the `HttpError` shape.
pub(crate) fn exception(status: u16, message: &str, exception_type: &str) -> Response<Body> {
    json_response(
        status,
        &json!({
            "message": "An error has occurred.",
            "exceptionMessage": message,
            "exceptionType": exception_type,
            "stackTrace": format!("   at {exception_type}..ctor()\r\n   at PX.Api.ContractBased.EntityService.Process()"),
        }),
    )
}

/// Missing record on GET/DELETE by key or id: 500, not 404 (FACTS 6).
pub(crate) fn no_entity() -> Response<Body> {
    exception(
        500,
        "No entity satisfies the condition.",
        "PX.Api.ContractBased.NoEntitySatisfiesTheConditionException",
    )
}

/// The optimizer refusing a `$filter` (FACTS 6 and 9).
pub(crate) fn cannot_optimize(detail: &str) -> Response<Body> {
    exception(
        500,
        &format!(
            "Optimization cannot be performed. The following part of the request cannot be optimized: {detail}"
        ),
        "PX.Api.ContractBased.Optimization.CannotOptimizeException",
    )
}

/// An OData parse error in `$filter`, `$select` or `$expand`.
pub(crate) fn odata_error(detail: &str) -> Response<Body> {
    exception(500, detail, "Microsoft.Data.OData.ODataException")
}

/// 400 with `modelState`.
pub(crate) fn bad_request(model_state: &ModelState) -> Response<Body> {
    let mut ms = serde_json::Map::new();
    for (k, v) in model_state {
        let entry = ms.entry(k.clone()).or_insert_with(|| json!([]));
        if let Some(a) = entry.as_array_mut() {
            a.push(json!(v));
        }
    }
    json_response(
        400,
        &json!({ "message": "The request is invalid.", "modelState": ms }),
    )
}

/// A plain `HttpError` with only `message`.
pub(crate) fn message(status: u16, text: &str) -> Response<Body> {
    json_response(status, &json!({ "message": text }))
}

/// 401 for data requests without a valid session or token.
pub(crate) fn unauthorized() -> Response<Body> {
    message(401, "You are not logged in.")
}

/// 404 of the Web API router for an unknown endpoint, version, entity or
/// action.
pub(crate) fn not_found(path: &str) -> Response<Body> {
    message(
        404,
        &format!("No HTTP resource was found that matches the request URI '{path}'."),
    )
}

/// 405 for a method the resource does not support.
pub(crate) fn method_not_allowed(method: &str) -> Response<Body> {
    message(
        405,
        &format!("The requested resource does not support http method '{method}'."),
    )
}

/// An OAuth token endpoint error.
pub(crate) fn oauth_error(status: u16, error: &str, description: Option<&str>) -> Response<Body> {
    let mut body = json!({ "error": error });
    if let Some(d) = description {
        body["error_description"] = json!(d);
    }
    json_response(status, &body)
}

/// IIS answering a POST without `Content-Length` (FACTS 3.2).
pub(crate) fn length_required() -> Response<Body> {
    bytes_response(
        411,
        "text/html; charset=us-ascii",
        b"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n<HTML><HEAD><TITLE>Length Required</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n<BODY><h2>Length Required</h2>\r\n<hr><p>HTTP Error 411. The request must be chunked or have a content length.</p>\r\n</BODY></HTML>\r\n".to_vec(),
    )
}

/// 415 for an entity body that is not declared as JSON (ASP.NET Web API).
pub(crate) fn unsupported_media_type(content_type: &str) -> Response<Body> {
    let media = if content_type.is_empty() {
        "application/octet-stream"
    } else {
        content_type
    };
    json_response(
        415,
        &json!({
            "message": format!("The request entity's media type '{media}' is not supported for this resource."),
            "exceptionMessage": format!(
                "No MediaTypeFormatter is available to read an object of type 'Entity' from content with media type '{media}'."
            ),
            "exceptionType": "System.Net.Http.UnsupportedMediaTypeException",
        }),
    )
}
