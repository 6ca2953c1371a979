//! `Client::with_branch` / `with_business_date`: the `PX-CbApiBranch` and
//! `PX-CbApiBusinessDate` headers (FACTS section 5) go on every endpoint
//! request of the view, never on sign-in, and never from the original client.

use acumatica_client::entity::Vendor;
use acumatica_client::{ErrorKind, ListQuery};
use chrono::NaiveDate;
use futures::TryStreamExt;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn a_scoped_view_sends_branch_and_date_on_endpoint_requests_only() {
    let s = server().await;
    mount_password_grant(&s, "tok-1", None, 3600).await;
    // The view's list request must carry both headers.
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .and(header("px-cbapibranch", "SweetLife Store"))
        .and(header("px-cbapibusinessdate", "2026-10-31"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .named("scoped list")
        .expect(1)
        .with_priority(1)
        .mount(&s)
        .await;
    // The original client's list request lands here.
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .named("unscoped list")
        .expect(1)
        .with_priority(2)
        .mount(&s)
        .await;

    let client = oauth_builder(&s).build().unwrap();
    let close = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let view = client
        .with_branch("SweetLife Store")
        .unwrap()
        .with_business_date(close);
    assert_eq!(view.branch_override(), Some("SweetLife Store"));
    assert_eq!(view.business_date_override(), Some(close));
    let debug = format!("{view:?}");
    assert!(
        debug.contains("SweetLife Store") && debug.contains("2026-10-31"),
        "{debug}"
    );

    let _: Vec<Vendor> = view
        .list::<Vendor>(ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    let _: Vec<Vendor> = client
        .list::<Vendor>(ListQuery::new())
        .try_collect()
        .await
        .unwrap();

    let requests = s.received_requests().await.unwrap();
    for r in &requests {
        let scoped = r.headers.contains_key("px-cbapibranch")
            || r.headers.contains_key("px-cbapibusinessdate");
        if r.url.path() == "/identity/connect/token" {
            assert!(!scoped, "the sign-in request carried the scope headers");
        }
    }
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.headers.contains_key("px-cbapibranch"))
            .count(),
        1,
        "only the view's request carries the branch"
    );
}

#[tokio::test]
async fn a_bad_branch_name_is_refused_before_any_request() {
    let s = server().await;
    let client = anonymous(&s);
    for bad in ["", " HQ", "HQ\r\nX-Evil: 1", "Zürich"] {
        let e = client.with_branch(bad).unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Config, "{bad:?}: {e}");
    }
    assert!(s.received_requests().await.unwrap().is_empty());
}
