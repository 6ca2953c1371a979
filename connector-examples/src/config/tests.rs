use super::*;
use crate::exit::Exit;

const PATH: &str = "/etc/ml/ml-connector.toml";

fn parse(text: &str) -> CliResult<Config> {
    Config::from_str_with_env(text, Path::new(PATH), |_| None)
}

fn parse_env(text: &str, vars: &[(&str, &str)]) -> CliResult<Config> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_str_with_env(text, Path::new(PATH), move |k| {
        vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
}

const POST_FLOW: &str = r#"
[acumatica]
url = "https://erp.example.com/AcumaticaERP"
endpoint_version = "24.200.001"
tenant = "Co"
client_id = "abc"
username = "api"

[looker]
base_url = "https://example.cloud.looker.com"
client_id = "lk"

[[flows]]
name = "alloc"
kind = "post"
cron = "0 6 1 * *"
time_zone = "Europe/Berlin"
[flows.looker]
model = "finance"
explore = "overhead_allocation"
filters = { "overhead_allocation.period" = "102026" }
[flows.mapping]
lines.account = { column = "overhead_allocation.account" }
lines.branch = { column = "overhead_allocation.branch" }
lines.amount = { signed = "overhead_allocation.amount" }
lines.date = { column = "overhead_allocation.posting_date" }
document.ledger = { constant = "ACTUAL" }
document.description = "Allocation {period}"
"#;

#[test]
fn reads_connections_flows_and_defaults() {
    let c = parse(POST_FLOW).unwrap();
    let a = c.acumatica.as_ref().unwrap();
    assert_eq!(a.url, "https://erp.example.com/AcumaticaERP");
    assert_eq!(a.endpoint, "Default");
    assert_eq!(a.endpoint_version.as_deref(), Some("24.200.001"));
    assert_eq!(a.auth, AcumaticaAuth::Oauth);
    let l = c.looker.as_ref().unwrap();
    assert!(l.verify_ssl);
    assert_eq!(l.timeout, looker_client::DEFAULT_TIMEOUT);
    assert_eq!(
        c.store,
        StoreUrl::Sqlite(PathBuf::from("/etc/ml/ml-connector.db"))
    );
    let f = c.flow("alloc").unwrap();
    assert_eq!(f.kind(), FlowKind::Post);
    assert_eq!(f.time_zone, chrono_tz::Europe::Berlin);
    assert_eq!(f.line, Some(13));
    let post = f.post().unwrap();
    assert_eq!(
        post.mapping.flow, "alloc",
        "the flow name is the mapping's key space"
    );
    // Fields default to every column the mapping reads.
    assert!(post.query.fields.is_empty());
    assert_eq!(
        post.fields(),
        [
            "overhead_allocation.account",
            "overhead_allocation.amount",
            "overhead_allocation.branch",
            "overhead_allocation.posting_date"
        ]
    );
    assert_eq!(post.query.limit, -1);
    assert!(!post.options.release);
}

#[test]
fn environment_overrides_the_file() {
    let c = parse_env(
        POST_FLOW,
        &[
            ("ACUMATICA_URL", "https://other.example.com/erp"),
            ("ACUMATICA_ENDPOINT_VERSION", "23.200.001"),
            ("ACUMATICA_TENANT", "Other"),
            ("ACUMATICA_CLIENT_ID", "env-client"),
            ("LOOKERSDK_BASE_URL", "https://env.cloud.looker.com"),
            ("LOOKERSDK_VERIFY_SSL", "false"),
            ("LOOKERSDK_TIMEOUT", "7"),
            ("LOOKERSDK_CLIENT_ID", "env-lk"),
            (
                "ML_CONNECTOR_STORE_URL",
                "postgres://sync@db.example.com/state",
            ),
        ],
    )
    .unwrap();
    let a = c.acumatica.unwrap();
    assert_eq!(a.url, "https://other.example.com/erp");
    assert_eq!(a.endpoint_version.as_deref(), Some("23.200.001"));
    assert_eq!(a.tenant.as_deref(), Some("Other"));
    assert_eq!(a.client_id.as_deref(), Some("env-client"));
    assert_eq!(
        a.username.as_deref(),
        Some("api"),
        "not overridden: file value kept"
    );
    let l = c.looker.unwrap();
    assert_eq!(l.base_url, "https://env.cloud.looker.com");
    assert!(!l.verify_ssl);
    assert_eq!(l.timeout, Duration::from_secs(7));
    assert_eq!(l.client_id.as_deref(), Some("env-lk"));
    assert_eq!(
        c.store,
        StoreUrl::Postgres("postgres://sync@db.example.com/state".into())
    );
}

#[test]
fn environment_alone_configures_connections() {
    let c = parse_env(
        "",
        &[
            ("LOOKERSDK_BASE_URL", "https://x.cloud.looker.com"),
            ("ACUMATICA_URL", "https://e.example.com"),
        ],
    )
    .unwrap();
    assert_eq!(c.looker.unwrap().base_url, "https://x.cloud.looker.com");
    assert_eq!(c.acumatica.unwrap().endpoint, "Default");
    assert!(c.flows.is_empty());
}

#[test]
fn bad_environment_values_are_named() {
    let e = parse_env(POST_FLOW, &[("LOOKERSDK_VERIFY_SSL", "maybe")]).unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message.contains("LOOKERSDK_VERIFY_SSL") && e.message.contains("maybe"),
        "{e}"
    );
    let e = parse_env(POST_FLOW, &[("LOOKERSDK_TIMEOUT", "ten")]).unwrap_err();
    assert!(e.message.contains("LOOKERSDK_TIMEOUT"), "{e}");
}

#[test]
fn plaintext_secrets_are_refused_with_their_line() {
    for (text, key, env) in [
        (
            "[acumatica]\nurl = \"https://e\"\nclient_secret = \"s3cret\"\n",
            "acumatica.client_secret",
            "ACUMATICA_CLIENT_SECRET",
        ),
        (
            "[acumatica]\nurl = \"https://e\"\npassword = \"s3cret\"\n",
            "acumatica.password",
            "ACUMATICA_PASSWORD",
        ),
        (
            "[looker]\nbase_url = \"https://l\"\nclient_secret = \"s3cret\"\n",
            "looker.client_secret",
            "LOOKERSDK_CLIENT_SECRET",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.exit, Exit::Credentials, "{e}");
        assert!(e.message.starts_with(&format!("{PATH}:3:")), "{e}");
        assert!(e.message.contains(key), "{e}");
        assert!(
            !e.to_string().contains("s3cret"),
            "the secret itself is never echoed: {e}"
        );
        assert!(e.hint.as_deref().unwrap().contains(env), "{e}");
        assert!(e.hint.as_deref().unwrap().contains("vault store"), "{e}");
    }
}

#[test]
fn a_password_in_the_store_url_is_refused() {
    let e = parse("[store]\nurl = \"postgres://sync:hunter2@db/state\"\n").unwrap_err();
    assert_eq!(e.exit, Exit::Credentials);
    assert!(
        e.message.contains(":2:") && e.message.contains("PGPASSWORD"),
        "{e}"
    );
    assert!(!e.message.contains("hunter2"), "{e}");
}

#[test]
fn malformed_toml_names_file_line_and_column() {
    let e = parse("[looker]\nbase_url = \"https://l\"\ntimeout = \n").unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(e.message.starts_with(&format!("{PATH}:3:")), "{e}");
}

#[test]
fn a_wrong_type_names_the_key_and_line() {
    let e = parse("[looker]\nbase_url = \"https://l\"\n\ntimeout = \"soon\"\n").unwrap_err();
    assert!(e.message.starts_with(&format!("{PATH}:4:")), "{e}");
    assert!(e.message.contains("looker.timeout"), "{e}");
}

#[test]
fn an_unknown_key_is_named() {
    let e = parse("[looker]\nbase_url = \"https://l\"\nverify_tls = true\n").unwrap_err();
    assert!(
        e.message.contains(":3:") && e.message.contains("verify_tls"),
        "{e}"
    );
    assert!(
        e.message.contains("verify_ssl"),
        "lists the valid keys: {e}"
    );
}

#[test]
fn unknown_flow_lists_the_configured_ones() {
    let c = parse(POST_FLOW).unwrap();
    let e = c.flow("aloc").unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message.contains("unknown flow `aloc`") && e.message.contains("alloc"),
        "{e}"
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `alloc`?"));
    assert!(
        parse("")
            .unwrap()
            .flow("x")
            .unwrap_err()
            .message
            .contains("no flows are configured")
    );
}

#[test]
fn flow_problems_name_the_flow_and_line() {
    let bad_cron = POST_FLOW.replace("0 6 1 * *", "every monday");
    let e = parse(&bad_cron).unwrap_err();
    assert!(
        e.message.contains(":16:")
            && e.message.contains("flow `alloc`")
            && e.message.contains("cron"),
        "{e}"
    );
    // Six fields are seconds-first only when asked for; a date that never comes is refused;
    // both name the line.
    let six = POST_FLOW.replace("0 6 1 * *", "0 0 6 1 * *");
    let e = parse(&six).unwrap_err();
    assert!(
        e.exit == Exit::Usage
            && e.message.contains(":16:")
            && e.message.contains("six fields")
            && e.message.contains("cron_seconds = true"),
        "{e}"
    );
    let asked = six.replace("cron = ", "cron_seconds = true\ncron = ");
    assert!(parse(&asked).unwrap().flow("alloc").unwrap().cron_seconds);
    let five_asked = POST_FLOW.replace("cron = ", "cron_seconds = true\ncron = ");
    assert!(
        parse(&five_asked)
            .unwrap_err()
            .message
            .contains("needs six fields")
    );
    let never = POST_FLOW.replace("0 6 1 * *", "0 6 31 2 *");
    let e = parse(&never).unwrap_err();
    assert!(
        e.message.contains(":16:") && e.message.contains("never fires"),
        "{e}"
    );
    let bad_tz = POST_FLOW.replace("Europe/Berlin", "Mars/Olympus");
    let e = parse(&bad_tz).unwrap_err();
    assert!(
        e.message.contains("time_zone") && e.message.contains("Mars/Olympus"),
        "{e}"
    );
    let dup = format!(
        "{POST_FLOW}\n[[flows]]\nname = \"alloc\"\nkind = \"feed\"\nentities = [\"Vendor\"]\n"
    );
    let e = parse(&dup).unwrap_err();
    assert!(
        e.message.contains("used twice") && e.message.contains("line 13"),
        "{e}"
    );
}

#[test]
fn mapping_errors_name_the_mapping_key() {
    let bad = POST_FLOW.replace(
        "lines.amount = { signed = \"overhead_allocation.amount\" }\n",
        "",
    );
    let e = parse(&bad).unwrap_err();
    assert!(
        e.message.contains("flow `alloc`") && e.message.contains("amount"),
        "{e}"
    );
    let unknown_map = POST_FLOW.replace(
        "lines.branch = { column = \"overhead_allocation.branch\" }",
        "lines.branch = { column = \"overhead_allocation.branch\", map = \"branches\" }",
    );
    let e = parse(&unknown_map).unwrap_err();
    assert!(e.message.contains("branches"), "{e}");
}

#[test]
fn a_post_flow_needs_a_query_and_a_mapping_and_a_feed_needs_entities() {
    let e = parse("[[flows]]\nname = \"a\"\nkind = \"post\"\n").unwrap_err();
    assert!(
        e.message.contains(":1:") && e.message.contains("[flows.looker]"),
        "{e}"
    );
    let e = parse("[[flows]]\nname = \"a\"\nkind = \"feed\"\n").unwrap_err();
    assert!(e.message.contains("entities"), "{e}");
}

#[test]
fn store_urls() {
    let base = Path::new("/srv");
    assert_eq!(
        StoreUrl::parse("sqlite://state.db", base).unwrap(),
        StoreUrl::Sqlite("/srv/state.db".into())
    );
    assert_eq!(
        StoreUrl::parse("/var/x.db", base).unwrap(),
        StoreUrl::Sqlite("/var/x.db".into())
    );
    assert!(
        StoreUrl::parse("mysql://h/db", base)
            .unwrap_err()
            .contains("unsupported")
    );
}

#[test]
fn missing_file_is_a_usage_error_naming_the_path() {
    let e = Config::from_file(Path::new("/nonexistent/ml.toml"), |_| None).unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message.contains("/nonexistent/ml.toml") && e.message.contains("does not exist"),
        "{e}"
    );
}

#[test]
fn the_sandbox_config_parses() {
    let text = testkit::sandbox::demo_config("http://127.0.0.1:1", "http://127.0.0.1:2", "/tmp/x");
    let c = parse(&text).unwrap();
    assert_eq!(c.flows.len(), 3);
    assert_eq!(c.store, StoreUrl::Sqlite("/tmp/x/ml-connector.db".into()));
    assert_eq!(c.flow("gl_feed").unwrap().kind(), FlowKind::Feed);
    let vendors = c.flow("approved_vendors").unwrap();
    assert_eq!(vendors.kind(), FlowKind::Reference);
    assert_eq!(vendors.reference().unwrap().mapping.entity, "Vendor");
}

const REFERENCE_FLOW: &str = r#"
[[flows]]
name = "approved_vendors"
kind = "reference"
cron = "0 7 * * *"
[flows.looker]
model = "finance"
explore = "approved_vendors"
sorts = ["approved_vendors.vendor_id"]
[flows.reference]
lookup_page_size = 20
[flows.mapping]
entity = "Vendor"
key = { field = "VendorID", column = "approved_vendors.vendor_id" }
fields.VendorName = { column = "approved_vendors.vendor_name" }
fields.Terms = { column = "approved_vendors.terms" }
"#;

#[test]
fn a_reference_flow_reads_query_mapping_and_options() {
    let c = parse(REFERENCE_FLOW).unwrap();
    let f = c.flow("approved_vendors").unwrap();
    assert_eq!(f.kind(), FlowKind::Reference);
    assert_eq!(f.kind().to_string(), "reference");
    assert_eq!(f.line, Some(2));
    assert!(f.post().is_none() && f.feed().is_none());
    let r = f.reference().unwrap();
    assert_eq!(
        r.mapping.flow, "approved_vendors",
        "the flow name is the mapping's"
    );
    assert_eq!(r.mapping.entity, "Vendor");
    assert_eq!(r.options.lookup_page_size, 20);
    assert_eq!(
        r.fields(),
        [
            "approved_vendors.terms",
            "approved_vendors.vendor_id",
            "approved_vendors.vendor_name"
        ]
    );
    let (q, _, n) = f.looker_query().unwrap();
    assert_eq!((q.explore.as_str(), n), ("approved_vendors", 3));
}

#[test]
fn reference_mapping_errors_name_the_flow_line_and_key() {
    // An unknown key of a field: the line of [flows.mapping] and the key path.
    let bad = REFERENCE_FLOW.replace("fields.Terms = { column = ", "fields.Terms = { colum = ");
    let e = parse(&bad).unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message.contains(":12:")
            && e.message.contains("flow `approved_vendors`")
            && e.message.contains("flows.mapping.fields.Terms")
            && e.message.contains("colum"),
        "{e}"
    );
    assert!(
        e.hint.as_deref().unwrap().contains("ReferenceMapping"),
        "{e:?}"
    );
    // No key at all.
    let bad = REFERENCE_FLOW.replace(
        "key = { field = \"VendorID\", column = \"approved_vendors.vendor_id\" }\n",
        "",
    );
    let e = parse(&bad).unwrap_err();
    assert!(
        e.message.contains(":12:")
            && e.message.contains("key `flows.mapping`")
            && e.message.contains("missing field `key`"),
        "{e}"
    );
    // The key mapped as a field too: the mapping's own check, naming the field.
    let bad = REFERENCE_FLOW.replace(
        "fields.Terms",
        "fields.VendorID = { column = \"x.y\" }\nfields.Terms",
    );
    let e = parse(&bad).unwrap_err();
    assert!(
        e.message.contains("fields.VendorID") && e.message.contains("flow `approved_vendors`"),
        "{e}"
    );
    // Another flow's name in the mapping.
    let bad = REFERENCE_FLOW.replace(
        "entity = \"Vendor\"",
        "flow = \"vendors\"\nentity = \"Vendor\"",
    );
    let e = parse(&bad).unwrap_err();
    assert!(e.message.contains("says flow = \"vendors\""), "{e}");
    // Options out of range.
    let bad = REFERENCE_FLOW.replace("lookup_page_size = 20", "lookup_page_size = 0");
    let e = parse(&bad).unwrap_err();
    assert!(
        e.message.contains(":2:")
            && e.message.contains("[flows.reference]")
            && e.message.contains("lookup_page_size"),
        "{e}"
    );
    // No query, no mapping.
    let e = parse("[[flows]]\nname = \"v\"\nkind = \"reference\"\n").unwrap_err();
    assert!(
        e.message.contains("a reference flow needs [flows.looker]"),
        "{e}"
    );
    let e = parse(
        "[[flows]]\nname = \"v\"\nkind = \"reference\"\n[flows.looker]\nmodel = \"m\"\nexplore = \"e\"\n",
    )
    .unwrap_err();
    assert!(
        e.message.contains("a reference flow needs a mapping"),
        "{e}"
    );
}

#[test]
fn a_reference_mapping_file_must_name_the_flow() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = "flow = \"approved_vendors\"\nentity = \"Vendor\"\n\
                   key = { field = \"VendorID\", column = \"v.id\" }\n\
                   [fields]\nVendorName = { column = \"v.name\" }\n";
    std::fs::write(dir.path().join("vendors.toml"), mapping).unwrap();
    let text = "[[flows]]\nname = \"approved_vendors\"\nkind = \"reference\"\n\
                mapping_file = \"vendors.toml\"\n[flows.looker]\nmodel = \"m\"\nexplore = \"v\"\n";
    let path = dir.path().join("ml-connector.toml");
    let c = Config::from_str_with_env(text, &path, |_| None).unwrap();
    let r = c.flow("approved_vendors").unwrap().reference().unwrap();
    assert_eq!(r.mapping.fields.len(), 1);
    let other = text.replace("name = \"approved_vendors\"", "name = \"vendors\"");
    let e = Config::from_str_with_env(&other, &path, |_| None).unwrap_err();
    assert!(
        e.message.contains(":4:")
            && e.message
                .contains("mapping_file says flow = \"approved_vendors\""),
        "{e}"
    );
}

#[test]
fn the_readme_config_reference_parses() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## Config reference")
        .and_then(|i| {
            readme[i..]
                .find("```toml\n")
                .map(|j| i + j + "```toml\n".len())
        })
        .expect("the README has a config reference");
    let end = start + readme[start..].find("```").unwrap();
    let c = parse(&readme[start..end]).unwrap();
    let kinds: Vec<FlowKind> = c.flows.iter().map(FlowConfig::kind).collect();
    assert_eq!(kinds, [FlowKind::Post, FlowKind::Feed, FlowKind::Reference]);
    let r = c.flow("approved_vendors").unwrap().reference().unwrap();
    assert_eq!(r.mapping.maps["status"].len(), 3);
    let a = c.acumatica.as_ref().unwrap();
    assert_eq!(
        (a.request_branch.as_deref(), a.branch.as_deref()),
        (Some("Headquarters"), None)
    );
    // The keys the reference documents for a post flow are read as documented.
    let p = c.flow("overhead_allocation").unwrap().post().unwrap();
    assert_eq!(p.options.lease_ttl_secs, 300);
    assert_eq!(p.query.limit, -1, "an omitted limit reads every row");
    assert_eq!(
        p.mapping.document_date(),
        sync_core::mapping::DocumentDate::PeriodEnd
    );
    assert_eq!(
        p.mapping.lines.period.as_ref().map(|s| s.format),
        Some(sync_core::mapping::PeriodFormat::Yyyymm)
    );
}

// ---- keys of another kind of flow -----------------------------------------------------------

/// The line (1-based) of the first line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}"))
        + 1
}

const FEED_FLOW: &str = r#"
[[flows]]
name = "gl_feed"
kind = "feed"
entities = ["JournalTransaction"]
"#;

#[test]
fn a_reference_flow_refuses_feed_and_post_keys() {
    // [flows.feed] pasted into a reference flow.
    let text = format!("{REFERENCE_FLOW}[flows.feed]\nlag_secs = 60\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    let line = line_of(&text, "[flows.feed]");
    assert!(
        e.message.starts_with(&format!("{PATH}:{line}:"))
            && e.message.contains("flow `approved_vendors`")
            && e.message.contains("key `flows.feed` belongs to feed flows")
            && e.message.contains("kind = \"reference\" (line 4)"),
        "{e}"
    );
    let hint = e.hint.as_deref().unwrap();
    assert!(
        hint.contains("remove the [flows.feed] table")
            && hint.contains("kind = \"feed\" to copy Acumatica changes into the warehouse")
            && hint.contains("on line 4"),
        "{hint}"
    );

    // `entities` and `warehouse` on a reference flow: the first named, the other listed.
    let text = REFERENCE_FLOW.replace(
        "cron = \"0 7 * * *\"\n",
        "cron = \"0 7 * * *\"\nentities = [\"Vendor\"]\nwarehouse = \"sqlite://w.db\"\n",
    );
    let e = parse(&text).unwrap_err();
    assert!(
        e.message.starts_with(&format!("{PATH}:6:"))
            && e.message
                .contains("key `flows.entities` belongs to feed flows")
            && e.message.contains("`flows.warehouse` (line 7, feed flows)"),
        "{e}"
    );
    let hint = e.hint.as_deref().unwrap();
    assert!(
        hint.contains("remove the `entities` line and the `warehouse` line"),
        "{hint}"
    );

    // An empty `entities` is still a key the flow would ignore.
    let text = REFERENCE_FLOW.replace("cron = \"0 7 * * *\"\n", "entities = []\n");
    let e = parse(&text).unwrap_err();
    assert!(e.message.contains("key `flows.entities`"), "{e}");

    // [flows.post] on a reference flow.
    let text = format!("{REFERENCE_FLOW}[flows.post]\nrelease = true\n");
    let e = parse(&text).unwrap_err();
    assert!(
        e.message
            .starts_with(&format!("{PATH}:{}:", line_of(&text, "[flows.post]")))
            && e.message.contains("key `flows.post` belongs to post flows"),
        "{e}"
    );
    assert!(
        e.hint.as_deref().unwrap().contains("kind = \"post\""),
        "{e:?}"
    );
}

#[test]
fn a_feed_flow_refuses_looker_mapping_post_and_reference_keys() {
    let text = format!("{FEED_FLOW}[flows.post]\nrelease = true\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message
            .starts_with(&format!("{PATH}:{}:", line_of(&text, "[flows.post]")))
            && e.message.contains("flow `gl_feed`")
            && e.message.contains("key `flows.post` belongs to post flows")
            && e.message.contains("kind = \"feed\" (line 4)"),
        "{e}"
    );

    let text = format!("{FEED_FLOW}[flows.reference]\nlookup_page_size = 10\n");
    let e = parse(&text).unwrap_err();
    assert!(
        e.message
            .contains("key `flows.reference` belongs to reference flows"),
        "{e}"
    );

    // A query and a mapping: a feed reads Acumatica, not Looker; both listed.
    let text = format!(
        "{FEED_FLOW}[flows.looker]\nmodel = \"m\"\nexplore = \"e\"\n[flows.mapping]\nentity = \"Vendor\"\n"
    );
    let e = parse(&text).unwrap_err();
    assert!(
        e.message
            .starts_with(&format!("{PATH}:{}:", line_of(&text, "[flows.looker]")))
            && e.message
                .contains("key `flows.looker` belongs to post and reference flows")
            && e.message.contains(&format!(
                "`flows.mapping` (line {}, post and reference flows)",
                line_of(&text, "[flows.mapping]")
            )),
        "{e}"
    );
    let hint = e.hint.as_deref().unwrap();
    assert!(
        hint.contains("remove the [flows.looker] table and the [flows.mapping] table")
            && hint.contains("kind = \"post\" to post journals")
            && hint.contains("kind = \"reference\" to upsert Acumatica records"),
        "{hint}"
    );

    let text = FEED_FLOW.replace(
        "entities = [\"JournalTransaction\"]\n",
        "entities = [\"JournalTransaction\"]\nmapping_file = \"alloc.toml\"\n",
    );
    let e = parse(&text).unwrap_err();
    assert!(
        e.message.starts_with(&format!("{PATH}:6:"))
            && e.message.contains("key `flows.mapping_file`"),
        "{e}"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("remove the `mapping_file` line"),
        "{e:?}"
    );
}

#[test]
fn a_post_flow_refuses_reference_and_feed_keys() {
    let text = format!("{POST_FLOW}[flows.reference]\nlookup_page_size = 10\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message
            .starts_with(&format!("{PATH}:{}:", line_of(&text, "[flows.reference]")))
            && e.message.contains("flow `alloc`")
            && e.message
                .contains("key `flows.reference` belongs to reference flows")
            && e.message.contains("kind = \"post\" (line 15)"),
        "{e}"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("kind = \"reference\" to upsert Acumatica records"),
        "{e:?}"
    );

    let text = format!("{POST_FLOW}[flows.feed]\nlag_secs = 60\n");
    let e = parse(&text).unwrap_err();
    assert!(
        e.message.contains("key `flows.feed` belongs to feed flows"),
        "{e}"
    );

    let text = POST_FLOW.replace(
        "time_zone = \"Europe/Berlin\"\n",
        "time_zone = \"Europe/Berlin\"\nwarehouse = \"sqlite://w.db\"\n",
    );
    let e = parse(&text).unwrap_err();
    assert!(
        e.message.starts_with(&format!("{PATH}:18:"))
            && e.message
                .contains("key `flows.warehouse` belongs to feed flows"),
        "{e}"
    );

    // The wrong-kind error comes before the kind's own requirements: a post flow typed as a
    // feed is told about its query, not that it lacks entities.
    let text = POST_FLOW.replace("kind = \"post\"", "kind = \"feed\"");
    let e = parse(&text).unwrap_err();
    assert!(
        e.message
            .contains("key `flows.looker` belongs to post and reference flows")
            && e.message.contains("kind = \"feed\" (line 15)")
            && e.message.contains("`flows.mapping`"),
        "{e}"
    );
}

#[test]
fn each_kind_accepts_its_own_keys() {
    let text = format!("{FEED_FLOW}warehouse = \"sqlite://w.db\"\n[flows.feed]\nlag_secs = 5\n");
    let c = parse(&text).unwrap();
    assert_eq!(
        c.flow("gl_feed").unwrap().feed().unwrap().options.lag_secs,
        5
    );
    let text = format!("{POST_FLOW}[flows.post]\nrelease = true\n");
    assert!(
        parse(&text)
            .unwrap()
            .flow("alloc")
            .unwrap()
            .post()
            .unwrap()
            .options
            .release
    );
    parse(REFERENCE_FLOW).unwrap();
}

// ---- unknown keys: did you mean --------------------------------------------------------------

#[test]
fn unknown_keys_and_kinds_suggest_the_closest_name() {
    let e = parse("[looker]\nbase_url = \"https://l\"\nverify_tls = true\n").unwrap_err();
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `verify_ssl`?"),
        "{e:?}"
    );
    let e =
        parse("[acumatica]\nurl = \"https://e\"\nendpoint_verison = \"24.200.001\"\n").unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message.starts_with(&format!("{PATH}:3:")) && e.message.contains("endpoint_verison"),
        "{e}"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `endpoint_version`?"),
        "{e:?}"
    );
    // Top-level tables.
    let e = parse("[lookr]\nbase_url = \"https://l\"\n").unwrap_err();
    assert!(e.message.contains("lookr"), "{e}");
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `looker`?"),
        "{e:?}"
    );
    let e = parse("[[flow]]\nname = \"a\"\n").unwrap_err();
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `flows`?"),
        "{e:?}"
    );
    // A mistyped kind.
    let e =
        parse(&REFERENCE_FLOW.replace("kind = \"reference\"", "kind = \"refrence\"")).unwrap_err();
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `reference`?"),
        "{e:?}"
    );
    // Nothing close: no guess, only the reference (the message lists the valid keys).
    let e = parse("[acumatica]\nurl = \"https://e\"\ncolour = \"blue\"\n").unwrap_err();
    assert_eq!(
        e.hint.as_deref(),
        Some("see the config reference in connector-examples/README.md")
    );
    assert!(e.message.contains("expected one of"), "{e}");
}

#[test]
fn edit_distance_counts_single_character_edits() {
    assert_eq!(edit_distance("verify_tls", "verify_ssl"), 3);
    assert_eq!(edit_distance("flow", "flows"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("same", "same"), 0);
}

// ---- the Acumatica branch ------------------------------------------------------------------

const ACUMATICA: &str = "[acumatica]\nurl = \"https://erp.example.com/AcumaticaERP\"\n";

#[test]
fn a_login_branch_with_oauth_is_refused_pointing_to_request_branch() {
    // OAuth is the default.
    let text = format!("{ACUMATICA}tenant = \"Co\"\nbranch = \"HQ\"\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message.starts_with(&format!("{PATH}:4:"))
            && e.message.contains("`[acumatica] branch`")
            && e.message.contains("OAuth"),
        "{e}"
    );
    let hint = e.hint.as_deref().unwrap();
    assert!(
        hint.contains("request_branch") && hint.contains("ACUMATICA_REQUEST_BRANCH"),
        "{hint}"
    );
    let e = parse(&format!("{ACUMATICA}auth = \"oauth\"\nbranch = \"HQ\"\n")).unwrap_err();
    assert!(e.message.contains("`[acumatica] branch`"), "{e}");
    // From the environment: the variable named.
    let e = parse_env(ACUMATICA, &[("ACUMATICA_BRANCH", "HQ")]).unwrap_err();
    assert!(
        e.message.starts_with("ACUMATICA_BRANCH") && e.message.contains("`[acumatica] branch`"),
        "{e}"
    );
    assert!(
        e.hint.as_deref().unwrap().contains("request_branch"),
        "{e:?}"
    );
    // A session login keeps its branch.
    let c = parse(&format!("{ACUMATICA}auth = \"session\"\nbranch = \"HQ\"\n")).unwrap();
    let a = c.acumatica.unwrap();
    assert_eq!(
        (a.auth, a.branch.as_deref()),
        (AcumaticaAuth::Session, Some("HQ"))
    );
    let c = parse_env(
        &format!("{ACUMATICA}auth = \"session\"\n"),
        &[("ACUMATICA_BRANCH", "EAST")],
    )
    .unwrap();
    assert_eq!(c.acumatica.unwrap().branch.as_deref(), Some("EAST"));
}

#[test]
fn request_branch_is_read_overridden_and_checked_by_the_library_rules() {
    let text = format!("{ACUMATICA}request_branch = \"East Region\"\n");
    let a = parse(&text).unwrap().acumatica.unwrap();
    assert_eq!(a.request_branch.as_deref(), Some("East Region"));
    assert_eq!(a.auth, AcumaticaAuth::Oauth, "any sign-in takes it");
    assert_eq!(a.branch, None);
    let a = parse_env(&text, &[("ACUMATICA_REQUEST_BRANCH", "West Region")])
        .unwrap()
        .acumatica
        .unwrap();
    assert_eq!(a.request_branch.as_deref(), Some("West Region"));
    // With a session login, both: the login branch and the per-request one.
    let a = parse(&format!(
        "{ACUMATICA}auth = \"session\"\nbranch = \"HQ\"\nrequest_branch = \"East Region\"\n"
    ))
    .unwrap()
    .acumatica
    .unwrap();
    assert_eq!(
        (a.branch.as_deref(), a.request_branch.as_deref()),
        (Some("HQ"), Some("East Region"))
    );
    assert_eq!(
        parse(ACUMATICA).unwrap().acumatica.unwrap().request_branch,
        None
    );

    // Names a header cannot carry: acumatica-client's reason, the key and its line.
    for (name, reason) in [
        ("Café Nord", "not plain ASCII"),
        (" East Region", "white space"),
        ("", "empty"),
    ] {
        let text = format!("{ACUMATICA}\nrequest_branch = \"{name}\"\n");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(
            e.message.starts_with(&format!("{PATH}:4:"))
                && e.message.contains("key `acumatica.request_branch`")
                && e.message.contains(reason),
            "{name:?}: {e}"
        );
        assert!(
            e.hint.as_deref().unwrap().contains("branch's name"),
            "{e:?}"
        );
    }
    let e = parse_env(ACUMATICA, &[("ACUMATICA_REQUEST_BRANCH", "Ost\tRegion")]).unwrap_err();
    assert!(
        e.message.starts_with("ACUMATICA_REQUEST_BRANCH: ")
            && e.message.contains("control character"),
        "{e}"
    );
}

#[test]
fn a_settle_horizon_shorter_than_the_acumatica_timeout_is_refused_naming_key_file_and_why() {
    let c = parse(POST_FLOW).unwrap();
    assert_eq!(
        c.flow("alloc")
            .unwrap()
            .post()
            .unwrap()
            .options
            .settle_horizon(),
        sync_core::post::DEFAULT_SETTLE_HORIZON
    );
    let with_post = format!("{POST_FLOW}[flows.post]\nsettle_horizon_secs = 600\n");
    let e = parse(&with_post).unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message.contains(PATH)
            && e.message.contains(":13:")
            && e.message.contains("flow `alloc`")
            && e.message.contains("settle_horizon_secs")
            && e.message.contains("660")
            && e.message.contains("twice"),
        "{e}"
    );
    // A shorter request timeout allows a shorter horizon.
    let short = with_post.replace("username = \"api\"", "username = \"api\"\ntimeout = 300");
    let c = parse(&short).unwrap();
    assert_eq!(
        c.flow("alloc")
            .unwrap()
            .post()
            .unwrap()
            .options
            .settle_horizon_secs,
        600
    );
    let e = parse(&short.replace("settle_horizon_secs = 600", "settle_horizon_secs = 299"))
        .unwrap_err();
    assert!(e.message.contains("300 s"), "{e}");
}

#[test]
fn store_timeouts_are_read_and_checked() {
    let c = parse("[store]\nurl = \"postgres://sync@db/state\"\n").unwrap();
    assert_eq!(c.store_options, StoreOptions::default());
    let c = parse(
        "[store]\nurl = \"postgres://sync@db/state\"\nlock_timeout_secs = 5\nstatement_timeout_secs = 120\n",
    )
    .unwrap();
    assert_eq!(
        c.store_options,
        StoreOptions {
            lock_timeout: Some(std::time::Duration::from_secs(5)),
            statement_timeout: Some(std::time::Duration::from_secs(120)),
        }
    );
    let e =
        parse("[store]\nurl = \"postgres://sync@db/state\"\nlock_timeout_secs = 0\n").unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message.contains("store.lock_timeout_secs"),
        "{}",
        e.message
    );
    assert!(e.message.contains("1 to 3600"), "{}", e.message);
}

#[test]
fn the_looker_read_mode_and_task_settings_are_read_and_bad_values_named() {
    let with = |extra: &str| {
        POST_FLOW.replace(
            "filters = { \"overhead_allocation.period\" = \"102026\" }",
            &format!("filters = {{ \"overhead_allocation.period\" = \"102026\" }}\n{extra}"),
        )
    };
    let config = parse(&with("mode = \"inline\"\ntask = { deadline_secs = 90 }")).unwrap();
    let post = config.flow("alloc").unwrap().post().unwrap().clone();
    assert_eq!(post.query.mode, sync_core::post::LookerReadMode::Inline);
    assert_eq!(post.query.task.deadline_secs, 90);
    assert!(!post.query.uses_task());
    // The default: auto, and the unlimited query runs as a task.
    let post = parse(POST_FLOW)
        .unwrap()
        .flow("alloc")
        .unwrap()
        .post()
        .unwrap()
        .clone();
    assert!(post.query.uses_task());

    let e = parse(&with("mode = \"tasks\"")).unwrap_err();
    assert_eq!(e.exit, Exit::Usage);
    assert!(
        e.message.contains("flows[0].looker.mode") && e.message.contains("tasks"),
        "{e}"
    );
    assert!(e.to_string().contains("did you mean `task`?"), "{e}");
    let e = parse(&with("task = { first_poll_ms = 0 }")).unwrap_err();
    assert!(
        e.message.contains("flow `alloc`") && e.message.contains("looker.task.first_poll_ms"),
        "{e}"
    );
    assert!(
        e.message.contains(&format!("{PATH}:")),
        "names the file and line: {e}"
    );
}
