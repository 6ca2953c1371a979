//! Looker fake: LookML metadata, queries, formats, limits, filters and sorts
//! (FACTS sections 3, 4, 5, 7).

mod looker_support;

use std::collections::BTreeMap;
use std::str::FromStr;

use looker_support::Looker;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use testkit::looker::LookerConfig;

fn gl(fields: &[&str]) -> Value {
    json!({"model": "finance", "view": "gl_lines", "fields": fields})
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string()).unwrap(),
        other => panic!("not a number: {other}"),
    }
}

#[tokio::test]
async fn models_page_with_limit_and_offset() {
    let l = Looker::start(LookerConfig::default()).await;
    let all: Vec<Value> = l.get("/lookml_models").await.json().await.unwrap();
    let names: Vec<&str> = all.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["bench", "finance"]);
    let resp = l.get("/lookml_models?limit=1&offset=1").await;
    assert_eq!(resp.headers()["x-total-count"], "2");
    let link = resp.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""),
        "{link}"
    );
    let page: Vec<Value> = resp.json().await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["name"], "finance");
    let explores: Vec<&str> = page[0]["explores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        explores,
        [
            "overhead_allocation",
            "gl_summary",
            "approved_vendors",
            "gl_lines"
        ]
    );
    assert_eq!(l.get("/lookml_models?limit=x").await.status(), 400);
}

#[tokio::test]
async fn explore_metadata_lists_qualified_dimensions_and_measures() {
    let l = Looker::start(LookerConfig::default()).await;
    let resp = l
        .get("/lookml_models/finance/explores/overhead_allocation")
        .await;
    assert_eq!(resp.status(), 200);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["id"], "finance::overhead_allocation");
    assert_eq!(e["model_name"], "finance");
    let dims = e["fields"]["dimensions"].as_array().unwrap();
    let cost_center = dims
        .iter()
        .find(|d| d["name"] == "cost_center.name")
        .expect("joined view field");
    assert_eq!(cost_center["type"], "string");
    assert_eq!(cost_center["category"], "dimension");
    assert_eq!(cost_center["view"], "cost_center");
    assert_eq!(cost_center["label"], "Cost Center Name");
    assert_eq!(cost_center["label_short"], "Name");
    let measures = e["fields"]["measures"].as_array().unwrap();
    let total = measures
        .iter()
        .find(|m| m["name"] == "overhead_allocation.total_amount")
        .unwrap();
    assert_eq!(total["measure"], true);
    assert_eq!(total["type"], "sum");
    assert!(
        dims.iter()
            .all(|d| d["measure"] == false && d["name"].as_str().unwrap().contains('.'))
    );
    // Partial response, as spectacles asks for it.
    let only: Value = l
        .get("/lookml_models/finance/explores/gl_lines?fields=fields")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        only.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["fields"]
    );
    assert_eq!(
        l.get("/lookml_models/finance/explores/nope").await.status(),
        404
    );
    assert_eq!(l.get("/lookml_models/nope").await.status(), 404);
}

#[tokio::test]
async fn the_same_body_returns_the_same_query() {
    let l = Looker::start(LookerConfig::default()).await;
    let body =
        json!({"model": "finance", "view": "gl_lines", "fields": ["gl_lines.id"], "limit": "10"});
    let resp = l.post("/queries", &body).await;
    assert_eq!(resp.status(), 200);
    let q: Value = resp.json().await.unwrap();
    assert!(q["id"].is_string());
    assert_eq!(q["slug"].as_str().unwrap().len(), 22);
    assert_eq!(q["limit"], "10");
    let again = l.create_query(&body).await;
    assert_eq!(again, q["id"].as_str().unwrap());
    let other = l.create_query(&json!({"model": "finance", "view": "gl_lines", "fields": ["gl_lines.id"], "limit": "11"})).await;
    assert_ne!(other, again);
    assert_eq!(l.fake.queries().len(), 2);
    assert_eq!(l.fake.counters().queries_created, 2);
    let fetched: Value = l
        .get(&format!("/queries/{again}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["fields"], json!(["gl_lines.id"]));
    let by_slug = l
        .get(&format!("/queries/slug/{}", q["slug"].as_str().unwrap()))
        .await;
    assert_eq!(by_slug.status(), 200);
    assert_eq!(l.get("/queries/999999").await.status(), 404);
}

#[tokio::test]
async fn unknown_fields_are_a_422_validation_error() {
    let l = Looker::start(LookerConfig::default()).await;
    let resp = l
        .post(
            "/queries/run/json",
            &json!({"model": "finance", "view": "gl_lines", "fields": ["gl_lines.id", "gl_lines.nope"],
                    "filters": {"gl_lines.bogus": "1"}}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Validation Failed");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(errors[0]["field"], "fields");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("gl_lines.nope")
    );
    assert!(errors[0]["code"].is_string());
    assert_eq!(errors[1]["field"], "filters");
    assert!(
        body["documentation_url"]
            .as_str()
            .unwrap()
            .contains("/422/")
    );
    // Unknown model and explore are named too.
    let resp = l
        .post(
            "/queries",
            &json!({"model": "sales", "view": "x", "fields": ["a.b"]}),
        )
        .await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "model");
    assert!(l.fake.queries().is_empty());
}

#[tokio::test]
async fn without_a_limit_5000_rows_come_back_and_minus_one_means_all() {
    let l = Looker::start(LookerConfig::default().with_gl_lines_rows(12_345)).await;
    let rows = l.rows(&gl(&["gl_lines.id"])).await;
    assert_eq!(rows.len(), 5000);
    let mut all = gl(&["gl_lines.id"]);
    all["limit"] = json!("-1");
    assert_eq!(l.rows(&all).await.len(), 12_345);
    let mut some = gl(&["gl_lines.id"]);
    some["limit"] = json!("7");
    assert_eq!(l.rows(&some).await.len(), 7);
    // A number where a string is declared is tolerated, like the real server.
    some["limit"] = json!(8);
    assert_eq!(l.rows(&some).await.len(), 8);
    // The run endpoint's `limit` parameter overrides the query's.
    let id = l.create_query(&all).await;
    let limited: Vec<Value> = l
        .get(&format!("/queries/{id}/run/json?limit=3"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(limited.len(), 3);
    some["limit"] = json!("ten");
    let resp = l.post("/queries/run/json", &some).await;
    assert_eq!(resp.status(), 422);
}

#[tokio::test]
async fn keyset_pages_with_a_greater_than_filter_visit_every_row_once() {
    let total = 2_503;
    let l = Looker::start(LookerConfig::default().with_gl_lines_rows(total)).await;
    let mut last = 0i64;
    let mut seen = Vec::new();
    loop {
        let rows = l
            .rows(&json!({"model": "finance", "view": "gl_lines", "fields": ["gl_lines.id", "gl_lines.amount"],
                          "filters": {"gl_lines.id": format!(">{last}")}, "sorts": ["gl_lines.id"], "limit": "1000"}))
            .await;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            seen.push(r["gl_lines.id"].as_i64().unwrap());
        }
        last = *seen.last().unwrap();
    }
    assert_eq!(seen, (1..=total as i64).collect::<Vec<_>>());
    // Seeking by the key: the last page did not regenerate the first rows.
    assert!(
        l.fake.counters().rows_generated < 2 * total,
        "{:?}",
        l.fake.counters()
    );
}

#[tokio::test]
async fn sorts_and_filters_apply() {
    let l = Looker::start(LookerConfig::default().with_gl_lines_rows(1000)).await;
    let rows = l
        .rows(&json!({"model": "finance", "view": "gl_lines", "fields": ["gl_lines.id", "gl_lines.branch"],
                      "filters": {"gl_lines.branch": "EAST,WEST", "gl_lines.id": "<=20"},
                      "sorts": ["gl_lines.id desc"]}))
        .await;
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r["gl_lines.id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert!(ids.iter().all(|&i| i <= 20));
    assert!(rows.iter().all(|r| r["gl_lines.branch"] != "HQ"));
    assert!(!rows.is_empty());
    // Sort by a measure over groups.
    let groups = l
        .rows(&json!({"model": "finance", "view": "gl_lines", "fields": ["gl_lines.account", "gl_lines.total_debit"],
                      "sorts": ["gl_lines.total_debit desc"]}))
        .await;
    let debits: Vec<Decimal> = groups
        .iter()
        .map(|r| dec(&r["gl_lines.total_debit"]))
        .collect();
    assert!(debits.windows(2).all(|w| w[0] >= w[1]), "{debits:?}");
    // String keyset comparison.
    let vendors = l
        .rows(&json!({"model": "finance", "view": "approved_vendors", "fields": ["approved_vendors.vendor_id"],
                      "filters": {"approved_vendors.vendor_id": ">V000004"}, "sorts": ["approved_vendors.vendor_id"]}))
        .await;
    let ids: Vec<&str> = vendors
        .iter()
        .map(|r| r["approved_vendors.vendor_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["V000005", "V000006"]);
}

#[tokio::test]
async fn allocation_balances_per_period_and_branch_and_uses_seed_references() {
    let l = Looker::start(LookerConfig::default()).await;
    let rows = l
        .rows(&json!({"model": "finance", "view": "overhead_allocation",
                      "fields": ["overhead_allocation.period", "overhead_allocation.branch", "cost_center.name",
                                 "overhead_allocation.subaccount", "overhead_allocation.account",
                                 "overhead_allocation.line_id", "overhead_allocation.amount"],
                      "limit": "-1"}))
        .await;
    assert_eq!(
        rows.len(),
        12 * testkit::seed::BRANCHES.len() * (testkit::seed::COST_CENTERS.len() + 1)
    );
    let mut sums: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for r in &rows {
        let key = (
            r["overhead_allocation.period"].as_str().unwrap().to_owned(),
            r["overhead_allocation.branch"].as_str().unwrap().to_owned(),
        );
        *sums.entry(key).or_default() += dec(&r["overhead_allocation.amount"]);
        let account = r["overhead_allocation.account"].as_str().unwrap();
        let sub = r["overhead_allocation.subaccount"].as_str().unwrap();
        let branch = r["overhead_allocation.branch"].as_str().unwrap();
        assert!(
            testkit::seed::ACCOUNTS
                .iter()
                .any(|a| a.cd == account && a.active),
            "{account}"
        );
        assert!(
            testkit::seed::SUBACCOUNTS.iter().any(|s| s.cd == sub),
            "{sub}"
        );
        assert!(
            testkit::seed::BRANCHES.iter().any(|b| b.id == branch),
            "{branch}"
        );
        if let Some(cc) = r["cost_center.name"].as_str() {
            let mapped = testkit::seed::COST_CENTERS
                .iter()
                .find(|c| c.name == cc)
                .expect("seed cost center");
            assert_eq!(mapped.subaccount, sub);
        }
    }
    assert_eq!(sums.len(), 36);
    assert!(sums.values().all(Decimal::is_zero), "{sums:?}");
    // The grouped measure agrees: zero per period and branch.
    let totals = l
        .rows(&json!({"model": "finance", "view": "overhead_allocation",
                      "fields": ["overhead_allocation.period", "overhead_allocation.branch", "overhead_allocation.total_amount"],
                      "limit": "-1"}))
        .await;
    assert_eq!(totals.len(), 36);
    assert!(
        totals
            .iter()
            .all(|r| dec(&r["overhead_allocation.total_amount"]).is_zero())
    );
}

#[tokio::test]
async fn data_problem_knobs_show_up_in_the_allocation() {
    let l = Looker::start(LookerConfig::default()).await;
    l.fake
        .update_config(|c| {
            c.data_problems
                .push(testkit::looker::DataProblem::unbalanced_journal(10, "HQ"));
            c.data_problems
                .push(testkit::looker::DataProblem::unmapped_cost_center(
                    11, "WEST",
                ));
        })
        .unwrap();
    let totals = l
        .rows(&json!({"model": "finance", "view": "overhead_allocation",
                      "fields": ["overhead_allocation.journal_key", "overhead_allocation.total_amount"],
                      "filters": {"overhead_allocation.total_amount": "NOT 0"}}))
        .await;
    assert_eq!(totals.len(), 1, "{totals:?}");
    assert_eq!(
        totals[0]["overhead_allocation.journal_key"],
        "ALLOC-102026-HQ"
    );
    assert_eq!(
        dec(&totals[0]["overhead_allocation.total_amount"]),
        Decimal::new(1, 2)
    );
    let unmapped = l
        .rows(&json!({"model": "finance", "view": "overhead_allocation",
                      "fields": ["overhead_allocation.line_id", "cost_center.name", "overhead_allocation.subaccount"],
                      "filters": {"cost_center.name": testkit::looker::UNMAPPED_COST_CENTER}}))
        .await;
    assert_eq!(unmapped.len(), 1);
    assert_eq!(unmapped[0]["overhead_allocation.subaccount"], Value::Null);
}

#[tokio::test]
async fn json_bi_csv_txt_and_sql_formats() {
    let l = Looker::start(LookerConfig::default()).await;
    let q = json!({"model": "finance", "view": "approved_vendors",
                   "fields": ["approved_vendors.vendor_id", "approved_vendors.vendor_name", "approved_vendors.count"],
                   "filters": {"approved_vendors.is_approved": "Yes"}, "sorts": ["approved_vendors.vendor_id"]});
    let resp = l.post("/queries/run/json_bi", &q).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let bi: Value = resp.json().await.unwrap();
    let meta = &bi["metadata"];
    assert_eq!(
        meta["fields"]["dimensions"][0]["name"],
        "approved_vendors.vendor_id"
    );
    assert_eq!(
        meta["fields"]["measures"][0]["name"],
        "approved_vendors.count"
    );
    assert_eq!(meta["filters"]["approved_vendors.is_approved"], "Yes");
    for key in [
        "big_query_metadata",
        "pivots",
        "has_subtotals",
        "has_totals",
        "columns_truncated",
        "filter_expression",
        "sql",
    ] {
        assert!(meta.get(key).is_some(), "metadata.{key}");
    }
    let rows = bi["rows"].as_array().unwrap();
    let active = testkit::seed::VENDORS
        .iter()
        .filter(|v| v.status == "Active")
        .count();
    assert_eq!(rows.len(), active);
    assert_eq!(rows[0]["approved_vendors.vendor_id"], "V000001");
    assert_eq!(rows[0]["approved_vendors.count"], 1);

    let csv = l.post("/queries/run/csv", &q).await.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "Approved Vendors Vendor ID,Approved Vendors Vendor Name,Approved Vendors Count"
    );
    assert_eq!(lines[1], "V000001,Acme Office Supply,1");
    assert_eq!(lines.len(), active + 1);
    let txt = l.post("/queries/run/txt", &q).await.text().await.unwrap();
    assert_eq!(
        txt.lines().nth(1).unwrap(),
        "V000001\tAcme Office Supply\t1"
    );
    let sql = l.post("/queries/run/sql", &q).await.text().await.unwrap();
    assert!(sql.starts_with("SELECT"), "{sql}");
    let bad = l.post("/queries/run/xlsx", &q).await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("json, json_bi, csv")
    );
}

#[tokio::test]
async fn gl_summary_balances_and_matches_the_pool() {
    let l = Looker::start(LookerConfig::default().with_months(10, 12)).await;
    let net = l
        .rows(&json!({"model": "finance", "view": "gl_summary",
                      "fields": ["gl_summary.period", "gl_summary.branch", "gl_summary.net_amount"]}))
        .await;
    assert_eq!(net.len(), 9);
    assert!(
        net.iter()
            .all(|r| dec(&r["gl_summary.net_amount"]).is_zero())
    );
    let pool = l
        .rows(&json!({"model": "finance", "view": "gl_summary",
                      "fields": ["gl_summary.period", "gl_summary.branch", "gl_summary.total_debit"],
                      "filters": {"gl_summary.account": testkit::seed::OVERHEAD_POOL_ACCOUNT, "gl_summary.period": "102026", "gl_summary.branch": "HQ"}}))
        .await;
    assert_eq!(
        dec(&pool[0]["gl_summary.total_debit"]),
        testkit::looker::overhead_pool(10, 0)
    );
}

#[tokio::test]
async fn url_encoded_queries_run_like_inline_ones() {
    let l = Looker::start(LookerConfig::default().with_gl_lines_rows(100)).await;
    let resp = l
        .get("/queries/models/finance/views/gl_lines/run/json?fields=gl_lines.id,gl_lines.branch&f[gl_lines.branch]=HQ&sorts=gl_lines.id+desc&limit=3")
        .await;
    assert_eq!(resp.status(), 200);
    let rows: Vec<Value> = resp.json().await.unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["gl_lines.branch"] == "HQ"));
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r["gl_lines.id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    let bad = l
        .get("/queries/models/finance/views/gl_lines/run/json?fields=gl_lines.zip")
        .await;
    assert_eq!(bad.status(), 422);
}
