//! Listing, paging, filters, incremental reads, discovery and reference data.

use acumatica_client::entity::{Account, Ledger, StockItem, Subaccount, Vendor};
use acumatica_client::{ErrorKind, Filter, ListQuery, SiteInfo};
use chrono::{FixedOffset, TimeZone};
use futures::TryStreamExt;
use rust_decimal::Decimal;
use serde_json::json;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::support::*;

fn raw_query_is(expected: &'static str) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    move |r: &Request| r.url.query() == Some(expected)
}

#[tokio::test]
async fn empty_objects_decode_as_unset_in_a_real_list_response() {
    let s = server().await;
    let (_, body) = jetbuilt("stockitem_list", 1);
    Mock::given(method("GET"))
        .and(path(format!("{EP}/StockItem")))
        .and(query_param("$top", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let items: Vec<StockItem> = client
        .list(ListQuery::new().top(1))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert!(item.abc_code.is_null(), "{{}} is unset");
    assert_eq!(item.abc_code.get(), None);
    assert_eq!(item.inventory_id.get().unwrap(), "#12-796524");
    assert_eq!(item.msrp.get().unwrap(), &Decimal::new(280, 0));
    assert_eq!(
        item.last_modified
            .get()
            .unwrap()
            .to_utc()
            .unwrap()
            .to_rfc3339(),
        "2020-02-06T18:03:19.213+00:00"
    );
    assert_eq!(item.system.note.get().map(String::as_str), Some(""));
    assert!(
        item.last_modified_date_time.is_absent(),
        "not in 20.200.001"
    );
}

#[tokio::test]
async fn offset_paging_stops_on_a_short_page_and_drops_repeats() {
    let s = server().await;
    let id = |n: u32| format!("00000000-0000-0000-0000-00000000000{n}");
    let pages = [
        (
            None,
            vec![
                record(&id(1), "VendorID", "A"),
                record(&id(2), "VendorID", "B"),
            ],
        ),
        // A row shifted: B comes again.
        (
            Some("2"),
            vec![
                record(&id(2), "VendorID", "B"),
                record(&id(3), "VendorID", "C"),
            ],
        ),
        (Some("4"), vec![record(&id(4), "VendorID", "D")]),
    ];
    for (skip, rows) in pages {
        let m = Mock::given(method("GET"))
            .and(path(format!("{EP}/Vendor")))
            .and(query_param("$top", "2"))
            .and(query_param("$filter", "Status eq 'Active'"));
        let m = match skip {
            Some(k) => m.and(query_param("$skip", k)),
            None => m.and(query_param_is_missing("$skip")),
        };
        m.respond_with(ResponseTemplate::new(200).set_body_json(json!(rows)))
            .expect(1)
            .mount(&s)
            .await;
    }
    let client = anonymous(&s);
    let query = ListQuery::new()
        .filter(Filter::eq("Status", "Active"))
        .page_size(2);
    let pages: Vec<_> = client
        .list_pages::<Vendor>(query.clone())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[1].repeats_dropped, 1);
    assert_eq!(pages[1].returned, 2);
    let ids: Vec<String> = pages
        .iter()
        .flat_map(|p| p.records.iter())
        .map(|v| v.vendor_id.get().unwrap().clone())
        .collect();
    assert_eq!(ids, ["A", "B", "C", "D"]);
}

#[tokio::test]
async fn a_full_page_of_repeats_is_an_error_not_an_endless_loop() {
    let s = server().await;
    let rows = json!([record(
        "00000000-0000-0000-0000-000000000001",
        "VendorID",
        "A"
    )]);
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows))
        .expect(2)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let err = client
        .list_json("Vendor", ListQuery::new().page_size(1))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ignore $skip"), "{err}");
}

#[tokio::test]
async fn keyset_paging_asks_for_keys_after_the_last_one() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/StockItem")))
        .and(query_param_is_missing("$filter"))
        .and(query_param("$top", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            record("00000000-0000-0000-0000-000000000001", "InventoryID", "A1"),
            record("00000000-0000-0000-0000-000000000002", "InventoryID", "B2"),
        ])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/StockItem")))
        .and(query_param("$filter", "InventoryID gt 'B2'"))
        .and(query_param_is_missing("$skip"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([record(
            "00000000-0000-0000-0000-000000000003",
            "InventoryID",
            "C'3"
        ),])))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let items: Vec<StockItem> = client
        .list_keyset("InventoryID", ListQuery::new().page_size(2))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
}

#[tokio::test]
async fn changed_since_encodes_datetimeoffset_and_bounds_the_window() {
    let s = server().await;
    let tz = FixedOffset::east_opt(3 * 3600).unwrap();
    let since =
        tz.with_ymd_and_hms(2024, 7, 15, 10, 31, 28).unwrap() + chrono::Duration::milliseconds(402);
    let until = tz.with_ymd_and_hms(2024, 7, 16, 0, 0, 0).unwrap();
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Bill")))
        .and(raw_query_is(
            "$filter=LastModifiedDateTime%20gt%20datetimeoffset%272024-07-15T10%3A31%3A28.402%2B03%3A00%27\
             %20and%20LastModifiedDateTime%20le%20datetimeoffset%272024-07-16T00%3A00%3A00.000%2B03%3A00%27\
             &$expand=Details&$top=500",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let bills: Vec<acumatica_client::entity::Bill> = client
        .changed_since(since, Some(until), ListQuery::new().expand(["Details"]))
        .try_collect()
        .await
        .unwrap();
    assert!(bills.is_empty());
}

#[tokio::test]
async fn changed_since_uses_last_modified_for_old_stock_items_and_refuses_subaccounts() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path("/entity/Default/23.200.001/StockItem"))
        .and(query_param(
            "$filter",
            "LastModified gt datetimeoffset'2024-01-01T00:00:00.000+00:00'",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    let client = builder(&s).endpoint_version("23.200.001").build().unwrap();
    let since = chrono::Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .unwrap()
        .fixed_offset();
    let items: Vec<StockItem> = client
        .changed_since(since, None, ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert!(items.is_empty());
    let err = client
        .changed_since::<Subaccount>(since, None, ListQuery::new())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unsupported);
    assert!(
        err.to_string()
            .contains("Subaccount has no LastModifiedDateTime"),
        "{err}"
    );
}

#[tokio::test]
async fn lookup_by_natural_keys_is_one_request_with_ored_terms() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/JournalTransaction")))
        .and(query_param(
            "$filter",
            "Description eq 'run-1' or Description eq 'run-2' or Description eq 'O''Brien run'",
        ))
        .and(query_param("$expand", "Details"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "id": "00000000-0000-0000-0000-0000000000aa",
            "BatchNbr": {"value": "000042"}, "Module": {"value": "GL"},
            "Description": {"value": "run-2"},
            "Details": [{"Account": {"value": "10200"}, "DebitAmount": {"value": 100.5}}]
        }])))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let found = client
        .find_journal_transactions("Description", &["run-1", "run-2", "run-1", "O'Brien run"])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].batch_nbr.get().unwrap(), "000042");
    let line = &found[0].details.as_ref().unwrap()[0];
    assert_eq!(line.debit_amount.get().unwrap(), &Decimal::new(1005, 1));
}

#[tokio::test]
async fn long_key_lists_are_chunked() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/JournalTransaction")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(3)
        .mount(&s)
        .await;
    let client = builder(&s).lookup_chunk(2).build().unwrap();
    client
        .find_journal_transactions("Description", &["a", "b", "c", "d", "e"])
        .await
        .unwrap();
}

#[tokio::test]
async fn reference_data_queries() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Account")))
        .and(query_param("$filter", "Active eq true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "AccountCD": {"value": "10200"}, "Active": {"value": true}, "AccountID": {"value": 1187},
            "Type": {"value": "Asset"}, "LastModifiedDateTime": {"value": "2023-12-14T17:20:45.16+00:00"}
        }])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Ledger")))
        .and(query_param("$expand", "Branches"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "LedgerID": {"value": "ACTUAL"}, "Type": {"value": "Actual"},
            "Branches": [{"BranchID": {"value": "HQ"}, "Active": {"value": true}}]
        }])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/FinancialPeriod")))
        .and(query_param("$expand", "Details"))
        .and(query_param("$filter", "FinancialYear eq '2025'"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "FinancialYear": {"value": "2025"}, "NbrOfPeriods": {"value": 12},
            "Details": [
                {"FinancialPeriodID": {"value": "012025"}, "Status": {"value": "Closed"}, "ClosedInAP": {"value": true}},
                {"FinancialPeriodID": {"value": "022025"}, "Status": {"value": "Open"}, "ClosedInAP": {"value": false}}
            ]
        }])))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let accounts: Vec<Account> = client.accounts(true).await.unwrap();
    assert_eq!(accounts[0].account_id.get(), Some(&1187));
    let ledgers: Vec<Ledger> = client.ledgers().await.unwrap();
    assert_eq!(
        ledgers[0].branches.as_ref().unwrap()[0]
            .branch_id
            .get()
            .unwrap(),
        "HQ"
    );
    let years = client.financial_periods(Some("2025")).await.unwrap();
    let periods = years[0].details.as_ref().unwrap();
    assert_eq!(years[0].nbr_of_periods.get(), Some(&12));
    assert!(periods[0].is_closed() && periods[0].closed_in_ap.get() == Some(&true));
    assert!(!periods[1].is_closed() && periods[1].accepts_postings());
}

#[tokio::test]
async fn get_by_keys_and_id_and_select() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Bill/Debit%20Adj./000123")))
        .and(query_param("$select", "ReferenceNbr,Amount"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "b6410d82-9476-ef11-8c65-ac198e472cfe", "ReferenceNbr": {"value": "000123"}, "Amount": {"value": "201.73"}
        })))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "{EP}/Bill/b6410d82-9476-ef11-8c65-ac198e472cfe"
        )))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "b6410d82-9476-ef11-8c65-ac198e472cfe"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let bill: acumatica_client::entity::Bill = client
        .get_by_keys(
            &["Debit Adj.", "000123"],
            &ListQuery::new().select(["ReferenceNbr", "Amount"]),
        )
        .await
        .unwrap();
    assert_eq!(
        bill.amount.get().unwrap().to_string(),
        "201.73",
        "decimals are read from strings too"
    );
    use acumatica_client::Entity;
    let by_id: acumatica_client::entity::Bill = client
        .get_by_id("b6410d82-9476-ef11-8c65-ac198e472cfe", &ListQuery::new())
        .await
        .unwrap();
    assert_eq!(by_id.id(), Some("b6410d82-9476-ef11-8c65-ac198e472cfe"));
    let err = client
        .get_by_keys::<Vendor>(&["A/B"], &ListQuery::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("by its id"), "{err}");
}

#[tokio::test]
async fn dynamic_entities_for_other_entity_names() {
    let s = server().await;
    let (_, customer) = jetbuilt("customer_create_ok", 1);
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Customer")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([customer])))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let rows: Vec<_> = client
        .list_dynamic("Customer", ListQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows[0].get_str("CustomerID"), Some("C1165"));
    assert_eq!(
        rows[0].get::<Decimal>("WriteOffLimit").unwrap(),
        Some(Decimal::new(30, 0))
    );
    assert_eq!(rows[0].get::<String>("AccountRef").unwrap(), None);
    assert!(rows[0].get::<bool>("CustomerName").is_err());
}

#[tokio::test]
async fn discovery_parses_both_shapes() {
    let s = server().await;
    let doc = fixture("doc_examples.json");
    let object =
        doc["GET_entity_response__IntegrationDev_RESTExample_Basic_Get_List_of_Endpoints.md"]
            .clone();
    Mock::given(method("GET"))
        .and(path("/entity"))
        .respond_with(ResponseTemplate::new(200).set_body_json(object.clone()))
        .expect(1)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let info = client.site_info().await.unwrap();
    assert_eq!(info.build_version.as_deref(), Some("25.093.0036"));
    let versions: Vec<String> = info
        .versions_of("Default")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        versions,
        [
            "20.200.001",
            "22.200.001",
            "23.200.001",
            "24.200.001",
            "25.200.001"
        ]
    );
    let bare = SiteInfo::from_json(&object["endpoints"]).unwrap();
    assert_eq!(bare.endpoints.len(), info.endpoints.len());
    assert!(SiteInfo::from_json(&json!({"version": {}})).is_err());
}

#[tokio::test]
async fn an_instance_path_and_user_agent_are_used_for_every_url() {
    let s = server().await;
    Mock::given(method("POST"))
        .and(path("/AcumaticaERP/identity/connect/token"))
        .and(wiremock::matchers::header("user-agent", "sync-bot/1.0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("A1", None, 3600)))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/AcumaticaERP/entity/Default/24.200.001/Vendor/V1"))
        .and(wiremock::matchers::header("user-agent", "sync-bot/1.0"))
        .and(wiremock::matchers::header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(record(
            "00000000-0000-0000-0000-000000000001",
            "VendorID",
            "V1",
        )))
        .expect(1)
        .mount(&s)
        .await;
    let client = acumatica_client::Client::builder(format!("{}/AcumaticaERP/", s.uri()))
        .endpoint_version("24.200.001")
        .user_agent("sync-bot/1.0")
        .oauth_password("GUID", "secret", "user", "pass")
        .build()
        .unwrap();
    assert_eq!(
        client.endpoint_url().path(),
        "/AcumaticaERP/entity/Default/24.200.001/"
    );
    let v: Vendor = client
        .get_by_keys(&["V1"], &ListQuery::new())
        .await
        .unwrap();
    assert_eq!(v.vendor_id.get().unwrap(), "V1");
}

#[tokio::test]
async fn requests_per_minute_spreads_requests() {
    let s = server().await;
    Mock::given(method("GET"))
        .and(path(format!("{EP}/Vendor")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(3)
        .mount(&s)
        .await;
    // 600 per minute: one every 100 ms after the first.
    let client = builder(&s).requests_per_minute(600).build().unwrap();
    let started = std::time::Instant::now();
    for _ in 0..3 {
        client.get_json("Vendor", &ListQuery::new()).await.unwrap();
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(190));
}

#[tokio::test]
async fn concurrent_offset_paging_keeps_order_drops_repeats_and_stops_on_a_short_page() {
    let s = server().await;
    let id = |n: u32| format!("00000000-0000-0000-0000-00000000000{n}");
    let pages = [
        (
            None,
            vec![
                record(&id(1), "BatchNbr", "1"),
                record(&id(2), "BatchNbr", "2"),
            ],
            300,
        ),
        (
            Some("2"),
            vec![
                record(&id(2), "BatchNbr", "2"),
                record(&id(3), "BatchNbr", "3"),
            ],
            100,
        ),
        (Some("4"), vec![record(&id(4), "BatchNbr", "4")], 0),
    ];
    for (skip, rows, delay_ms) in pages {
        let m = Mock::given(method("GET"))
            .and(path(format!("{EP}/JournalTransaction")))
            .and(query_param("$top", "2"))
            .and(query_param("$expand", "Details"));
        let m = match skip {
            Some(k) => m.and(query_param("$skip", k)),
            None => m.and(query_param_is_missing("$skip")),
        };
        m.respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!(rows))
                .set_delay(std::time::Duration::from_millis(delay_ms)),
        )
        .expect(1)
        .mount(&s)
        .await;
    }
    // Pages past the end may be requested ahead and are then dropped.
    Mock::given(method("GET"))
        .and(path(format!("{EP}/JournalTransaction")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(0..=2)
        .mount(&s)
        .await;
    let client = anonymous(&s);
    let query = ListQuery::new()
        .expand(["Details"])
        .page_size(2)
        .concurrency(3);
    let batches: Vec<acumatica_client::entity::JournalTransaction> =
        client.list(query).try_collect().await.unwrap();
    let numbers: Vec<&str> = batches
        .iter()
        .map(|b| b.batch_nbr.get().unwrap().as_str())
        .collect();
    assert_eq!(
        numbers,
        ["1", "2", "3", "4"],
        "in order, the repeat dropped"
    );
}
