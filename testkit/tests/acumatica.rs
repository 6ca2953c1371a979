//! The Acumatica fake against the facts of `reference/acumatica/FACTS.md`,
//! driven with plain HTTP (not our client crate).

use serde_json::{Value, json};
use testkit::acumatica::{AcumaticaFake, AcumaticaOptions, ListOrder, MidListingMutation};
use testkit::seed::{self, credentials as c};
use testkit::{FaultKind, FaultRule};

const V: &str = "24.200.001";

async fn fake() -> AcumaticaFake {
    AcumaticaFake::start(AcumaticaOptions::default())
        .await
        .unwrap()
}

async fn token_with(fake: &AcumaticaFake, scope: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/identity/connect/token", fake.url()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", c::ACUMATICA_CLIENT_ID),
            ("client_secret", c::ACUMATICA_CLIENT_SECRET),
            ("username", c::ACUMATICA_USERNAME),
            ("password", c::ACUMATICA_PASSWORD),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
}

async fn token(fake: &AcumaticaFake) -> String {
    let r = token_with(fake, "api offline_access").await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn new(fake: &AcumaticaFake) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: fake.endpoint_url(V),
            token: token(fake).await,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        r.json().await.unwrap()
    }

    async fn put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .put(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

fn journal(lines: Vec<Value>, hold: bool) -> Value {
    json!({
        "Module": {"value": "GL"},
        "TransactionDate": {"value": "2026-10-15T00:00:00"},
        "Description": {"value": "Overhead allocation"},
        "BranchID": {"value": "HQ"},
        "Hold": {"value": hold},
        "Details": lines,
    })
}

fn line(account: &str, sub: &str, debit: &str, credit: &str) -> Value {
    json!({
        "BranchID": {"value": "HQ"},
        "Account": {"value": account},
        "Subaccount": {"value": sub},
        "DebitAmount": {"value": debit.parse::<f64>().unwrap()},
        "CreditAmount": {"value": credit.parse::<f64>().unwrap()},
        "TransactionDescription": {"value": "line"},
    })
}

fn balanced() -> Value {
    journal(
        vec![
            line("69100", "100-000", "350.00", "0"),
            line("69000", "000-000", "0", "350.00"),
        ],
        false,
    )
}

#[tokio::test]
async fn endpoint_list_needs_no_sign_in_and_lists_the_versions() {
    let fake = fake().await;
    let v: Value = reqwest::get(format!("{}/entity", fake.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["version"]["acumaticaBuildVersion"], seed::ACUMATICA_BUILD);
    let versions: Vec<&str> = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, seed::ENDPOINT_VERSIONS);
    assert_eq!(v["endpoints"][0]["name"], "Default");
    assert_eq!(v["endpoints"][0]["href"], "/entity/Default/22.200.001/");
}

#[tokio::test]
async fn unauthenticated_is_401_everywhere_and_a_wrong_version_is_404_when_signed_in() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    for path in [
        "/entity/Default/24.200.001/Account",
        "/entity/Default/99.999.999/Account",
        "/entity/Nope/1/X",
    ] {
        let r = http
            .get(format!("{}{path}", fake.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let t = token(&fake).await;
    let r = http
        .get(format!("{}/entity/Default/99.999.999/Account", fake.url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!(
            "{}/entity/Default/24.200.001/NoSuchEntity",
            fake.url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{}/entity/Default/24.200.001/Account", fake.url()))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn oauth_scopes_refresh_rotation_and_reuse() {
    let fake = fake().await;
    let no_api: Value = token_with(&fake, "offline_access")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(no_api["error"], "invalid_scope");
    let api_only: Value = token_with(&fake, "api").await.json().await.unwrap();
    assert!(
        api_only.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    assert_eq!(api_only["token_type"], "Bearer");
    assert_eq!(api_only["expires_in"], 3600);

    let first: Value = token_with(&fake, "api offline_access")
        .await
        .json()
        .await
        .unwrap();
    let rt = first["refresh_token"].as_str().unwrap();
    let refresh = |rt: String| {
        let url = format!("{}/identity/connect/token", fake.url());
        async move {
            reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", c::ACUMATICA_CLIENT_ID),
                    ("client_secret", c::ACUMATICA_CLIENT_SECRET),
                    ("refresh_token", &rt),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let second = refresh(rt.to_owned()).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"], "rotated");
    let reused = refresh(rt.to_owned()).await;
    assert_eq!(reused.status(), 400);
    assert_eq!(
        reused.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(fake.state().auth_counters().refresh_reuse, 1);

    // The client id must carry the tenant.
    let r = reqwest::Client::new()
        .post(format!("{}/identity/connect/token", fake.url()))
        .form(&[
            ("grant_type", "password"),
            (
                "client_id",
                c::ACUMATICA_CLIENT_ID.split('@').next().unwrap(),
            ),
            ("client_secret", c::ACUMATICA_CLIENT_SECRET),
            ("username", c::ACUMATICA_USERNAME),
            ("password", c::ACUMATICA_PASSWORD),
            ("scope", "api"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
}

#[tokio::test]
async fn expired_tokens_get_401() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    assert_eq!(api.get("Account").await.status(), 200);
    fake.faults().expire_all_tokens();
    assert_eq!(api.get("Account").await.status(), 401);
    let fresh = Api::new(&fake).await;
    assert_eq!(fresh.get("Account").await.status(), 200);
    fake.faults().clear();
    fake.faults().expire_tokens_after_requests(2);
    let api = Api::new(&fake).await;
    assert_eq!(api.get("Account").await.status(), 200);
    assert_eq!(api.get("Account").await.status(), 200);
    assert_eq!(api.get("Account").await.status(), 401);
}

#[tokio::test]
async fn cookie_login_logout_wrong_password_and_the_session_cap() {
    let fake = AcumaticaFake::start(AcumaticaOptions::default().max_sessions(1))
        .await
        .unwrap();
    let url = fake.url().to_owned();
    let wrong = reqwest::Client::new()
        .post(format!("{url}/entity/auth/login"))
        .json(&json!({"name": "admin", "password": "nope", "tenant": seed::TENANT}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 500);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["exceptionType"], "PX.Data.PXException");
    assert!(
        body["exceptionMessage"]
            .as_str()
            .unwrap()
            .contains("Invalid credentials")
    );

    let jar = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let creds = json!({"name": c::ACUMATICA_USERNAME, "password": c::ACUMATICA_PASSWORD, "tenant": seed::TENANT, "branch": "HQ"});
    let r = jar
        .post(format!("{url}/entity/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let names: Vec<String> = r.cookies().map(|c| c.name().to_owned()).collect();
    assert!(
        names.contains(&".ASPXAUTH".to_owned()) && names.contains(&"ASP.NET_SessionId".to_owned()),
        "{names:?}"
    );
    assert_eq!(
        jar.get(format!("{url}/entity/Default/{V}/Vendor"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A second session is over the license cap.
    let other = reqwest::Client::new()
        .post(format!("{url}/entity/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 429);
    assert!(other.text().await.unwrap().contains("API Login Limit"));

    // Logout without Content-Length: IIS says 411 (raw request, so no
    // client adds the header for us).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(fake.server().addr())
        .await
        .unwrap();
    s.write_all(b"POST /entity/auth/logout HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 411"), "{raw}");

    let r = jar
        .post(format!("{url}/entity/auth/logout"))
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        jar.get(format!("{url}/entity/Default/{V}/Vendor"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(fake.state().active_sessions(), 0);
    let again = reqwest::Client::new()
        .post(format!("{url}/entity/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 204, "the slot is free after logout");
}

#[tokio::test]
async fn values_are_wrapped_unset_fields_are_empty_and_details_need_expand() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let list = api.json("JournalTransaction").await;
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 60);
    let first = &rows[0];
    assert!(first["id"].is_string());
    assert_eq!(first["rowNumber"], 1);
    assert_eq!(first["BatchNbr"], json!({"value": "000001"}));
    assert_eq!(first["Module"], json!({"value": "GL"}));
    assert!(
        first["LastModifiedDateTime"]["value"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
    assert_eq!(
        first["CreatedDateTime"]["value"],
        first["LastModifiedDateTime"]["value"]
    );
    assert!(first.get("Details").is_none(), "details only with $expand");
    assert_eq!(rows[1]["rowNumber"], 2);

    let one = api
        .json("JournalTransaction/GL/000001?$expand=Details")
        .await;
    let lines = one["Details"].as_array().unwrap();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["ProjectTask"], json!({}), "unset is {{}}");
    assert!(lines[0]["DebitAmount"]["value"].is_number());

    // Keys with '|' and the id form give the same record.
    let piped = api.json("JournalTransaction/GL|000001").await;
    let by_id = api
        .json(&format!(
            "JournalTransaction/{}",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(piped["id"], first["id"]);
    assert_eq!(by_id["BatchNbr"], first["BatchNbr"]);

    let sel = api
        .json("JournalTransaction?$select=BatchNbr,Details/Account&$expand=Details&$top=1")
        .await;
    assert!(sel[0].get("Description").is_none());
    assert!(sel[0]["Details"][0].get("DebitAmount").is_none());
    assert!(sel[0]["Details"][0]["Account"]["value"].is_string());

    let vendor = api
        .json("Vendor/V000001?$expand=MainContact,MainContact/Address")
        .await;
    assert!(
        vendor["MainContact"]["Email"]["value"]
            .as_str()
            .unwrap()
            .contains('@')
    );
    assert_eq!(vendor["MainContact"]["Address"]["Country"]["value"], "US");
}

#[tokio::test]
async fn missing_records_are_the_real_500() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    for path in [
        "JournalTransaction/GL/999999",
        "Vendor/NOPE",
        "Account/00000000-0000-0000-0000-000000000001",
    ] {
        let r = api.get(path).await;
        assert_eq!(r.status(), 500, "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["exceptionType"]
                .as_str()
                .unwrap()
                .contains("NoEntitySatisfiesTheConditionException")
        );
    }
}

#[tokio::test]
async fn filters_follow_the_odata_v3_subset() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let all = fake.state().journal_transactions();
    let mut times: Vec<&str> = all
        .iter()
        .map(|b| b.last_modified.as_deref().unwrap())
        .collect();
    times.sort();
    let cut = times[times.len() / 2];
    let expected = all
        .iter()
        .filter(|b| b.last_modified.as_deref().unwrap() > cut)
        .count();
    // URL-encoded as FACTS section 6 says (':' and '+').
    let lit = cut.replace(':', "%3A").replace('+', "%2B");
    let got = api
        .json(&format!(
            "JournalTransaction?$filter=LastModifiedDateTime%20gt%20datetimeoffset'{lit}'"
        ))
        .await;
    assert_eq!(got.as_array().unwrap().len(), expected);
    assert!(expected > 0 && expected < all.len());

    let hq = api.json("JournalTransaction?$filter=BranchID eq 'HQ' and (Status eq 'Posted' or Status eq 'Balanced')").await;
    let want = all
        .iter()
        .filter(|b| {
            b.branch.as_deref() == Some("HQ") && (b.status == "Posted" || b.status == "Balanced")
        })
        .count();
    assert_eq!(hq.as_array().unwrap().len(), want);

    let inactive = api.json("Account?$filter=Active eq false").await;
    assert_eq!(inactive.as_array().unwrap().len(), 1);
    assert_eq!(inactive[0]["AccountCD"]["value"], "65000");

    for bad in ["contains(Description,'x')", "tolower(Description) eq 'x'"] {
        let r = api.get(&format!("JournalTransaction?$filter={bad}")).await;
        assert_eq!(r.status(), 500, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["exceptionType"]
                .as_str()
                .unwrap()
                .contains("CannotOptimizeException"),
            "{body}"
        );
    }
    assert_eq!(
        api.get("JournalTransaction?$filter=NoSuchField eq 'x'")
            .await
            .status(),
        500
    );
    // StockItem has LastModifiedDateTime only from 24.200.001.
    let old = format!(
        "{}/entity/Default/23.200.001/StockItem?$filter=LastModifiedDateTime gt datetimeoffset'2026-01-01T00%3A00%3A00Z'",
        fake.url()
    );
    assert_eq!(
        api.http
            .get(old)
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
    let old_item: Value = api
        .http
        .get(format!(
            "{}/entity/Default/23.200.001/StockItem?$top=1",
            fake.url()
        ))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(old_item[0].get("LastModifiedDateTime").is_none());
    assert!(old_item[0]["LastModified"]["value"].is_string());
}

#[tokio::test]
async fn top_and_skip_page_in_key_order_with_skip_first() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let mut seen = Vec::new();
    for page in 0.. {
        let rows = api
            .json(&format!("JournalTransaction?$top=25&$skip={}", page * 25))
            .await;
        let rows = rows.as_array().unwrap().clone();
        if rows.is_empty() {
            break;
        }
        seen.extend(
            rows.iter()
                .map(|r| r["BatchNbr"]["value"].as_str().unwrap().to_owned()),
        );
    }
    let expected: Vec<String> = (1..=60).map(|i| format!("{i:06}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(api.get("JournalTransaction?$top=-1").await.status(), 400);
}

#[tokio::test]
async fn an_unwrapped_value_is_a_400() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let mut body = balanced();
    body["Description"] = json!("plain string");
    let r = api.put("JournalTransaction", &body).await;
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["message"], "The request is invalid.");
    assert!(
        err["modelState"]["entity.Description"][0]
            .as_str()
            .unwrap()
            .contains("StringValue")
    );
    let empty = api
        .http
        .put(format!("{}JournalTransaction", api.base))
        .bearer_auth(&api.token)
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    assert_eq!(
        empty.json::<Value>().await.unwrap()["modelState"][""][0],
        "The request body should not be empty."
    );
    assert_eq!(fake.state().created("JournalTransaction"), 0);
}

#[tokio::test]
async fn a_repeated_create_makes_a_duplicate() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let mut body = balanced();
    body["BatchNbr"] = json!({"value": "CLIENT-1"});
    let a: Value = api
        .put("JournalTransaction?$expand=Details", &body)
        .await
        .json()
        .await
        .unwrap();
    let b: Value = api
        .put("JournalTransaction?$expand=Details", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        a["BatchNbr"]["value"], "000061",
        "the numbering overrides the value sent"
    );
    assert_eq!(b["BatchNbr"]["value"], "000062");
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["Status"]["value"], "Balanced");
    assert_eq!(a["Details"].as_array().unwrap().len(), 2);
    assert_eq!(a["Details"][0]["LineNbr"]["value"], 1);
    assert_eq!(fake.state().created("JournalTransaction"), 2);
    assert_eq!(fake.state().count("JournalTransaction"), 62);
    let stored = fake.state().journal_transactions();
    let last = stored.last().unwrap();
    assert_eq!(last.lines[0].debit, "350.00".parse().unwrap());
    assert_eq!(last.lines[1].credit, "350.00".parse().unwrap());
    assert_eq!(last.post_period.as_deref(), Some("102026"));
    // Sent with the display separator, stored and served raw as the real API does.
    assert_eq!(last.lines[0].subaccount.as_deref(), Some("100000"));
    let subs = api
        .json("Subaccount?$filter=SubaccountCD eq '100000'")
        .await;
    assert_eq!(subs[0]["Description"]["value"], "Sales");
}

#[tokio::test]
async fn upsert_by_keys_and_by_id_and_preconditions() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let created: Value = api
        .put("JournalTransaction", &balanced())
        .await
        .json()
        .await
        .unwrap();
    let nbr = created["BatchNbr"]["value"].as_str().unwrap().to_owned();
    let update = json!({"Module": {"value": "GL"}, "BatchNbr": {"value": nbr}, "Description": {"value": "renamed"}});
    let updated: Value = api
        .put("JournalTransaction", &update)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["Description"]["value"], "renamed");
    let by_id = json!({"id": created["id"], "Description": {"value": "again"}});
    let updated: Value = api
        .put("JournalTransaction", &by_id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["BatchNbr"]["value"], nbr.as_str());
    assert_eq!(fake.state().created("JournalTransaction"), 1);

    let r = api
        .http
        .put(format!("{}JournalTransaction", api.base))
        .bearer_auth(&api.token)
        .header("If-None-Match", "*")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let missing = json!({"Module": {"value": "GL"}, "BatchNbr": {"value": "999999"}, "Description": {"value": "x"}});
    let r = api
        .http
        .put(format!("{}JournalTransaction", api.base))
        .bearer_auth(&api.token)
        .header("If-Match", "*")
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(fake.state().created("JournalTransaction"), 1);
}

async fn expect_422(api: &Api, body: &Value) -> Value {
    let r = api.put("JournalTransaction?$expand=Details", body).await;
    assert_eq!(r.status(), 422);
    r.json().await.unwrap()
}

#[tokio::test]
async fn validation_errors_have_the_real_422_shape() {
    let fake = fake().await;
    let api = Api::new(&fake).await;

    let body = expect_422(
        &api,
        &journal(
            vec![
                line("99999", "000-000", "10", "0"),
                line("65000", "000-000", "0", "10"),
                line("61000", "999-999", "5", "5"),
                json!({"BranchID": {"value": "MARS"}, "Account": {"value": "61000"}, "DebitAmount": {"value": 0}}),
            ],
            true,
        ),
    )
    .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("record raised at least one error"),
        "{body}"
    );
    assert_eq!(body["BatchNbr"]["value"], "<NEW>");
    let d = &body["Details"];
    assert!(d[0]["Account"]["error"].as_str().unwrap().contains("99999"));
    assert_eq!(d[0]["Account"]["value"], "99999");
    assert!(
        d[1]["Account"]["error"]
            .as_str()
            .unwrap()
            .contains("inactive")
    );
    assert!(
        d[2]["Subaccount"]["error"]
            .as_str()
            .unwrap()
            .contains("999999")
    );
    assert!(
        d[2]["DebitAmount"]["error"]
            .as_str()
            .unwrap()
            .contains("both")
    );
    assert!(d[3]["BranchID"]["error"].as_str().unwrap().contains("MARS"));

    let unbalanced = expect_422(
        &api,
        &journal(
            vec![
                line("61000", "000-000", "10", "0"),
                line("20000", "000-000", "0", "9"),
            ],
            false,
        ),
    )
    .await;
    assert_eq!(
        unbalanced["error"],
        "Batch is out of balance, please review."
    );
    // On hold, the same batch is accepted.
    let ok = api
        .put(
            "JournalTransaction",
            &journal(
                vec![
                    line("61000", "000-000", "10", "0"),
                    line("20000", "000-000", "0", "9"),
                ],
                true,
            ),
        )
        .await;
    assert_eq!(ok.status(), 200);

    let mut closed = balanced();
    closed["TransactionDate"] = json!({"value": "2026-03-10T00:00:00"});
    let body = expect_422(&api, &closed).await;
    assert!(
        body["PostPeriod"]["error"]
            .as_str()
            .unwrap()
            .contains("closed"),
        "{body}"
    );

    let mut bad_branch = balanced();
    bad_branch["BranchID"] = json!({"value": "NOWHERE"});
    let body = expect_422(&api, &bad_branch).await;
    assert!(
        body["BranchID"]["error"]
            .as_str()
            .unwrap()
            .contains("NOWHERE")
    );
    assert_eq!(fake.state().created("JournalTransaction"), 1);
}

#[tokio::test]
async fn release_answers_202_with_location_then_204() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let created: Value = api
        .put("JournalTransaction", &balanced())
        .await
        .json()
        .await
        .unwrap();
    let nbr = created["BatchNbr"]["value"].as_str().unwrap().to_owned();
    let r = api
        .http
        .post(format!("{}JournalTransaction/ReleaseJournalTransaction", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"entity": {"Module": {"value": "GL"}, "BatchNbr": {"value": nbr}}, "parameters": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!(
        "/entity/Default/{V}/JournalTransaction/ReleaseJournalTransaction/status/"
    )));
    let poll = || {
        api.http
            .get(format!("{}{location}", fake.url()))
            .bearer_auth(&api.token)
            .send()
    };
    assert_eq!(poll().await.unwrap().status(), 202);
    assert_eq!(poll().await.unwrap().status(), 204);
    let after = api.json(&format!("JournalTransaction/GL/{nbr}")).await;
    assert_eq!(after["Status"]["value"], "Posted");

    // A released batch cannot be changed; an on-hold one cannot be released.
    let change = json!({"id": created["id"], "Description": {"value": "late edit"}});
    assert_eq!(api.put("JournalTransaction", &change).await.status(), 422);
    let mut held = balanced();
    held["Hold"] = json!({"value": true});
    let held: Value = api
        .put("JournalTransaction", &held)
        .await
        .json()
        .await
        .unwrap();
    let r = api
        .http
        .post(format!(
            "{}JournalTransaction/ReleaseJournalTransaction",
            api.base
        ))
        .bearer_auth(&api.token)
        .json(&json!({"entity": {"id": held["id"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = api
        .http
        .post(format!("{}JournalTransaction/NoSuchAction", api.base))
        .bearer_auth(&api.token)
        .json(&json!({"entity": {"id": held["id"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn delete_removes_the_record() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let r = api
        .http
        .delete(format!("{}Vendor/V000006", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(api.get("Vendor/V000006").await.status(), 500);
    let r = api
        .http
        .delete(format!("{}Vendor/V000006", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
}

#[tokio::test]
async fn a_dropped_connection_after_the_write_still_applies_it() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    fake.faults().add(
        FaultRule::new(FaultKind::DropAfterWrite)
            .method("PUT")
            .path("/entity/Default/*/JournalTransaction")
            .times(1),
    );
    let err = api
        .http
        .put(format!("{}JournalTransaction", api.base))
        .bearer_auth(&api.token)
        .json(&balanced())
        .send()
        .await;
    assert!(err.is_err(), "the client never learns the outcome");
    assert_eq!(
        fake.state().created("JournalTransaction"),
        1,
        "but the batch exists"
    );
    let rec = fake.log().last().unwrap();
    assert_eq!((rec.status, rec.handler_status), (None, Some(200)));
}

#[tokio::test]
async fn the_request_log_never_holds_secrets() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    api.get("Account").await;
    let jar = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    jar.post(format!("{}/entity/auth/login", fake.url()))
        .json(&json!({"name": c::ACUMATICA_USERNAME, "password": c::ACUMATICA_PASSWORD}))
        .send()
        .await
        .unwrap();
    jar.get(format!("{}Account", api.base))
        .send()
        .await
        .unwrap();
    let dump = format!("{:?}", fake.log().entries());
    for secret in [
        c::ACUMATICA_PASSWORD,
        c::ACUMATICA_CLIENT_SECRET,
        api.token.as_str(),
    ] {
        assert!(!dump.contains(secret), "secret in the log");
    }
    let schemes: Vec<String> = fake
        .log()
        .entries()
        .iter()
        .map(|r| r.auth.to_string())
        .collect();
    assert_eq!(schemes, ["none", "Bearer", "none", "cookie"]);
    assert_eq!(fake.log().count("GET", "/entity/Default/*/Account"), 2);
}

#[tokio::test]
async fn data_changes_while_a_client_pages() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let t0 = api
        .json("JournalTransaction?$select=LastModifiedDateTime")
        .await;
    let watermark = t0
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["LastModifiedDateTime"]["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .max()
        .unwrap();
    fake.state()
        .mutate_mid_listing(MidListingMutation {
            entity: "JournalTransaction".into(),
            after_list_requests: 1,
            insert: 3,
            touch: 2,
            delete: 0,
        })
        .unwrap();
    let page1 = api.json("JournalTransaction?$top=20&$skip=0").await;
    assert_eq!(page1.as_array().unwrap().len(), 20);
    assert_eq!(
        fake.state().count("JournalTransaction"),
        63,
        "inserted after the first page was served"
    );
    let mut total = 20;
    for skip in (20..).step_by(20) {
        let page = api
            .json(&format!("JournalTransaction?$top=20&$skip={skip}"))
            .await;
        let n = page.as_array().unwrap().len();
        total += n;
        if n < 20 {
            break;
        }
    }
    assert_eq!(total, 63);
    // The touched and inserted rows are newer than anything before.
    let lit = watermark.replace(':', "%3A").replace('+', "%2B");
    let changed = api
        .json(&format!(
            "JournalTransaction?$filter=LastModifiedDateTime gt datetimeoffset'{lit}'"
        ))
        .await;
    let nbrs: Vec<&str> = changed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["BatchNbr"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(nbrs, ["000001", "000002", "000061", "000062", "000063"]);
    assert!(
        fake.state()
            .mutate_mid_listing(MidListingMutation {
                entity: "Account".into(),
                after_list_requests: 1,
                insert: 1,
                touch: 0,
                delete: 0
            })
            .is_err()
    );
}

fn batch_nbrs(page: &Value) -> Vec<String> {
    page.as_array()
        .unwrap()
        .iter()
        .map(|r| r["BatchNbr"]["value"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_shuffled_list_order_changes_between_requests_and_filters_still_apply() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let keyed = batch_nbrs(&api.json("JournalTransaction?$select=BatchNbr").await);
    let mut sorted = keyed.clone();
    sorted.sort();
    assert_eq!(keyed, sorted, "key order by default");
    fake.state().set_list_order(ListOrder::Shuffled { seed: 3 });
    let a = batch_nbrs(&api.json("JournalTransaction?$select=BatchNbr").await);
    let b = batch_nbrs(&api.json("JournalTransaction?$select=BatchNbr").await);
    assert_ne!(a, b, "a new order on every request");
    assert_ne!(a, keyed);
    let (mut a_sorted, mut b_sorted) = (a.clone(), b.clone());
    a_sorted.sort();
    b_sorted.sort();
    assert_eq!(a_sorted, keyed, "the same records, in another order");
    assert_eq!(b_sorted, keyed);
    // $top and $skip apply to the order of that request.
    let page = batch_nbrs(
        &api.json("JournalTransaction?$select=BatchNbr&$top=7&$skip=7")
            .await,
    );
    assert_eq!(page.len(), 7);
    // A time range filter still selects exactly the records in it.
    let all = api
        .json("JournalTransaction?$select=BatchNbr,LastModifiedDateTime")
        .await;
    let mut stamps: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["LastModifiedDateTime"]["value"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    stamps.sort_by_key(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap());
    let (from, to) = (&stamps[10], &stamps[20]);
    let enc = |s: &str| s.replace(':', "%3A").replace('+', "%2B");
    let range = api
        .json(&format!(
            "JournalTransaction?$select=BatchNbr&$filter=LastModifiedDateTime ge datetimeoffset'{}' and LastModifiedDateTime lt datetimeoffset'{}'",
            enc(from),
            enc(to)
        ))
        .await;
    assert_eq!(range.as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn mid_listing_deletes_shift_later_records_and_touch_together_shares_one_stamp() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let before = batch_nbrs(&api.json("JournalTransaction?$select=BatchNbr").await);
    fake.state()
        .mutate_mid_listing(MidListingMutation {
            entity: "JournalTransaction".into(),
            after_list_requests: 1,
            insert: 0,
            touch: 0,
            delete: 2,
        })
        .unwrap();
    assert_eq!(fake.state().pending_mutations(), 1);
    let page1 = batch_nbrs(
        &api.json("JournalTransaction?$select=BatchNbr&$top=10")
            .await,
    );
    assert_eq!(fake.state().pending_mutations(), 0);
    assert_eq!(page1, before[..10]);
    let page2 = batch_nbrs(
        &api.json("JournalTransaction?$select=BatchNbr&$top=10&$skip=10")
            .await,
    );
    // The first two were deleted, so offset 10 now starts two records later: two are skipped.
    assert_eq!(page2, before[12..22]);
    assert_eq!(fake.state().count("JournalTransaction"), before.len() - 2);

    let ms = fake
        .state()
        .touch_together("JournalTransaction", 5)
        .unwrap();
    let docs = fake.state().documents("JournalTransaction");
    let stamp = |d: &Value| {
        chrono::DateTime::parse_from_rfc3339(d["LastModifiedDateTime"]["value"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    assert!(docs[..5].iter().all(|d| stamp(d) == ms));
    assert!(docs[5..].iter().all(|d| stamp(d) < ms));
    assert!(docs[..5].iter().all(|d| {
        d["Description"]["value"]
            .as_str()
            .unwrap()
            .ends_with("(edited)")
    }));
}

#[tokio::test]
async fn injected_errors_use_the_real_error_shape() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    fake.faults().add(
        FaultRule::new(FaultKind::ServerError { status: 500 })
            .path("/entity/Default/*/Vendor")
            .times(1),
    );
    fake.faults().add(
        FaultRule::new(FaultKind::TooManyRequests { retry_after: None })
            .path("/entity/Default/*/Vendor")
            .after(1, 1),
    );
    let r = api.get("Vendor").await;
    assert_eq!(r.status(), 500);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "An error has occurred."
    );
    let r = api.get("Vendor").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(api.get("Vendor").await.status(), 200);
}

#[tokio::test]
async fn a_large_document_fits_in_one_put() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    // 12 000 lines are about 2.3 MB of JSON, above axum's 2 MB default and
    // well below IIS's 30 MB.
    let mut lines = Vec::new();
    for _ in 0..6_000 {
        lines.push(line("61000", "100-000", "1.25", "0"));
        lines.push(line("20000", "000-000", "0", "1.25"));
    }
    let body = journal(lines, false);
    assert!(serde_json::to_vec(&body).unwrap().len() > 2_000_000);
    let r = api.put("JournalTransaction", &body).await;
    assert_eq!(r.status(), 200);
    let stored = fake.state().journal_transactions();
    assert_eq!(stored.last().unwrap().lines.len(), 12_000);
    assert_eq!(stored.last().unwrap().lines[11_999].line_nbr, 12_000);
}

#[tokio::test]
async fn configurable_versions_bare_endpoint_list_and_patch_from_25() {
    use testkit::acumatica::EndpointListShape;
    let fake = AcumaticaFake::start(
        AcumaticaOptions::default()
            .versions(["24.200.001", "25.200.001"])
            .endpoint_list(EndpointListShape::BareArray),
    )
    .await
    .unwrap();
    let list: Value = reqwest::get(format!("{}/entity", fake.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[1]["version"], "25.200.001");

    let token = token(&fake).await;
    let http = reqwest::Client::new();
    let patch = |version: &str, body: Value| {
        http.patch(format!("{}JournalTransaction", fake.endpoint_url(version)))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    // Posted batches refuse changes (422); pick one still on hold.
    let held = fake
        .state()
        .journal_transactions()
        .into_iter()
        .find(|b| b.status == "On Hold")
        .unwrap();
    let body = json!({"Module": {"value": "GL"}, "BatchNbr": {"value": held.batch_nbr}, "Description": {"value": "patched"}});
    assert_eq!(
        patch("24.200.001", body.clone()).await.unwrap().status(),
        405,
        "no PATCH before 25.200.001"
    );
    let r = patch("25.200.001", body).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["Description"]["value"],
        "patched"
    );
    let missing = json!({"Module": {"value": "GL"}, "BatchNbr": {"value": "999999"}, "Description": {"value": "x"}});
    assert_eq!(
        patch("25.200.001", missing).await.unwrap().status(),
        404,
        "PATCH cannot insert"
    );
    assert_eq!(fake.state().created("JournalTransaction"), 0);
    assert_eq!(
        http.get(format!("{}Account", fake.endpoint_url("23.200.001")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "23.200.001 is not served here"
    );
}

#[tokio::test]
async fn put_by_filter_and_only_json_bodies() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let r = api
        .http
        .put(format!(
            "{}Vendor?$filter=VendorName eq 'Acme Office Supply'",
            api.base
        ))
        .bearer_auth(&api.token)
        .json(&json!({"Terms": {"value": "NET10"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["VendorID"]["value"], "V000001");
    assert_eq!(v["Terms"]["value"], "NET10");
    assert_eq!(fake.state().created("Vendor"), 0);

    let r = api
        .http
        .put(format!("{}JournalTransaction", api.base))
        .bearer_auth(&api.token)
        .header("content-type", "text/plain")
        .body(serde_json::to_vec(&balanced()).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.json::<Value>().await.unwrap()["exceptionType"],
        "System.Net.Http.UnsupportedMediaTypeException"
    );
    assert_eq!(fake.state().created("JournalTransaction"), 0);
}

/// FACTS section 7: on a site whose numbering sequence covers the entity, a
/// PUT asking for key "123" creates the record under the next number
/// ("C1165"); updates keep the key; off by default.
#[tokio::test]
async fn key_numbering_overrides_the_requested_vendor_id_on_insert_only() {
    let fake =
        AcumaticaFake::start(AcumaticaOptions::default().auto_number_keys("Vendor", "C1165"))
            .await
            .unwrap();
    let api = Api::new(&fake).await;
    let body = json!({"VendorID": {"value": "123"}, "VendorName": {"value": "Numbered Ltd"}, "VendorClass": {"value": "DEFAULT"}});
    let r = api.put("Vendor", &body).await;
    assert_eq!(r.status(), 200);
    let saved: Value = r.json().await.unwrap();
    assert_eq!(saved["VendorID"]["value"], "C1165", "{saved}");
    assert_eq!(
        api.get("Vendor/123").await.status(),
        500,
        "nothing under 123"
    );
    // The same request again makes a second record: the key no longer finds it.
    let again: Value = api.put("Vendor", &body).await.json().await.unwrap();
    assert_eq!(again["VendorID"]["value"], "C1166");
    assert_eq!(fake.state().created("Vendor"), 2);
    // An update by the saved key keeps it.
    let upd: Value = api
        .put(
            "Vendor",
            &json!({"VendorID": {"value": "C1165"}, "VendorName": {"value": "Renamed"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(upd["VendorID"]["value"], "C1165");
    assert_eq!(upd["VendorName"]["value"], "Renamed");
    assert_eq!(fake.state().created("Vendor"), 2);
    // Switched off, the requested key is kept again.
    fake.state().number_keys("Vendor", None).unwrap();
    let kept: Value = api.put("Vendor", &body).await.json().await.unwrap();
    assert_eq!(kept["VendorID"]["value"], "123");
}

#[tokio::test]
async fn without_key_numbering_the_requested_vendor_id_is_kept() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let body = json!({"VendorID": {"value": "123"}, "VendorName": {"value": "Plain Ltd"}, "VendorClass": {"value": "DEFAULT"}});
    let saved: Value = api.put("Vendor", &body).await.json().await.unwrap();
    assert_eq!(saved["VendorID"]["value"], "123");
}

#[tokio::test]
async fn swagger_json_per_version_needs_sign_in_and_has_the_version_format() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let url = |v: &str| format!("{}swagger.json", fake.endpoint_url(v));
    let r = http.get(url(V)).send().await.unwrap();
    assert_eq!(r.status(), 401, "authentication comes before routing");
    let t = token(&fake).await;
    for (version, key, value) in [
        ("22.200.001", "swagger", "2.0"),
        ("23.200.001", "swagger", "2.0"),
        ("24.200.001", "openapi", "3.0.1"),
    ] {
        let r = http.get(url(version)).bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 200, "{version}");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc[key], value, "{version}");
        assert_eq!(doc["info"]["title"], format!("Default/{version}"));
        assert!(doc["paths"]["/JournalTransaction/ReleaseJournalTransaction"]["post"].is_object());
    }
    let r = http
        .get(url("99.999.999"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn ad_hoc_schema_and_actions_follow_the_version() {
    let fake = fake().await;
    let api = Api::new(&fake).await;
    let jt = api.json("JournalTransaction/$adHocSchema").await;
    assert_eq!(
        jt["custom"]["BatchModule"]["CuryCreditTotal"]["type"],
        "CustomDecimalField"
    );
    assert_eq!(api.json("Vendor/$adHocSchema").await["custom"], json!({}));
    // CreateContactFromVendor came with 23.200.001 (FACTS 2): an unknown
    // action on 22 is a 404, as swagger.json of 22 does not list it.
    let http = reqwest::Client::new();
    let body = json!({"entity": {"VendorID": {"value": seed::VENDORS[0].id}}, "parameters": {}});
    let r = http
        .post(format!(
            "{}Vendor/CreateContactFromVendor",
            fake.endpoint_url("22.200.001")
        ))
        .bearer_auth(&api.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn generic_inquiry_odata_lists_none_to_the_sites_user() {
    let fake = fake().await;
    let http = reqwest::Client::new();
    let base = format!("{}/t/{}/api/odata/gi", fake.url(), seed::TENANT);
    let r = http.get(&base).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{base}/$metadata"))
        .basic_auth(c::ACUMATICA_USERNAME, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(&base)
        .basic_auth(c::ACUMATICA_USERNAME, Some(c::ACUMATICA_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["value"], json!([]));
    let r = http
        .get(format!("{base}/$metadata"))
        .basic_auth(c::ACUMATICA_USERNAME, Some(c::ACUMATICA_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let xml = r.text().await.unwrap();
    assert!(xml.contains("<EntityContainer Name=\"Default\""), "{xml}");
    assert!(!xml.contains("EntitySet"), "{xml}");
    // Conventional-user access opens no API session.
    assert_eq!(fake.state().active_sessions(), 0);
    let r = http
        .get(format!("{}/t/Other/api/odata/gi", fake.url()))
        .basic_auth(c::ACUMATICA_USERNAME, Some(c::ACUMATICA_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
