//! The LookML the fake pretends to have: models, explores and their fields,
//! and the metadata documents `GET /lookml_models...` answers with.
//!
//! Shapes follow `LookmlModel`, `LookmlModelNavExplore`, `LookmlModelExplore`,
//! `LookmlModelExploreField` and `JsonBiField` of the Looker 4.0 OpenAPI
//! spec (see `shared/reference/looker/FACTS.md` section 7).

use std::sync::LazyLock;

use serde_json::{Value as Json, json};

/// The LookML project all models belong to.
pub const PROJECT: &str = "ml_demo";
/// The database connection the explores claim to query.
pub const CONNECTION: &str = "ml_demo_warehouse";
const DIALECT: &str = "postgres";

/// The type of a field, as LookML names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldType {
    String,
    Number,
    Date,
    YesNo,
    Count,
    Sum,
}

impl FieldType {
    /// The `type` property of the field metadata.
    pub(crate) fn looker_type(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Date => "date_date",
            FieldType::YesNo => "yesno",
            FieldType::Count => "count",
            FieldType::Sum => "sum",
        }
    }

    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, FieldType::Number | FieldType::Count | FieldType::Sum)
    }
}

/// How a measure aggregates the rows of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Agg {
    /// Number of rows.
    Count,
    /// Sum of a numeric column.
    Sum(usize),
}

/// One field of an explore.
#[derive(Clone, Debug)]
pub(crate) struct FieldDef {
    /// Fully qualified `view.field`.
    pub name: String,
    pub view: &'static str,
    pub view_label: &'static str,
    pub label_short: &'static str,
    pub description: &'static str,
    pub ty: FieldType,
    /// The source column of a dimension.
    pub column: Option<usize>,
    /// The aggregation of a measure.
    pub agg: Option<Agg>,
    pub primary_key: bool,
    pub dimension_group: Option<&'static str>,
    pub value_format_name: Option<&'static str>,
}

impl FieldDef {
    pub(crate) fn is_measure(&self) -> bool {
        self.agg.is_some()
    }

    /// `View Label Field Label`, as Looker composes `label`.
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.view_label, self.label_short)
    }

    fn category(&self) -> &'static str {
        if self.is_measure() {
            "measure"
        } else {
            "dimension"
        }
    }

    fn short_name(&self) -> &str {
        self.name
            .split_once('.')
            .map_or(self.name.as_str(), |(_, f)| f)
    }

    /// The `LookmlModelExploreField` document.
    pub(crate) fn metadata(&self, explore: &ExploreDef) -> Json {
        let source_file = format!("views/{}.view.lkml", self.view);
        let mut doc = json!({
            "align": if self.ty.is_numeric() { "right" } else { "left" },
            "can_filter": true,
            "category": self.category(),
            "default_filter_value": null,
            "description": self.description,
            "dimension_group": self.dimension_group.map(|g| format!("{}.{g}", self.view)),
            "enumerations": null,
            "error": null,
            "field_group_label": null,
            "field_group_variant": self.label_short,
            "fill_style": null,
            "fiscal_month_offset": 0,
            "has_allowed_values": false,
            "has_drills_metadata": false,
            "hidden": false,
            "is_filter": false,
            "is_fiscal": false,
            "is_numeric": self.ty.is_numeric(),
            "is_timeframe": self.ty == FieldType::Date,
            "can_time_filter": self.ty == FieldType::Date,
            "label": self.label(),
            "label_from_parameter": null,
            "label_short": self.label_short,
            "lookml_link": format!("/projects/{PROJECT}/files/{source_file}"),
        });
        let rest = json!({
            "links": [],
            "measure": self.is_measure(),
            "name": self.name,
            "strict_value_format": false,
            "parameter": false,
            "permanent": null,
            "primary_key": self.primary_key,
            "project_name": PROJECT,
            "requires_refresh_on_sort": false,
            "scope": self.view,
            "sortable": true,
            "source_file": source_file,
            "source_file_path": format!("{PROJECT}/{source_file}"),
            "sql": null,
            "sql_case": null,
            "filters": null,
            "suggest_dimension": self.name,
            "suggest_explore": explore.name,
            "suggestable": !self.is_measure() && !self.ty.is_numeric(),
            "suggestions": null,
            "synonyms": [],
            "tags": [],
            "type": self.ty.looker_type(),
            "user_attribute_filter_types": user_attribute_filter_types(self.ty),
            "value_format": null,
            "value_format_name": self.value_format_name,
            "view": self.view,
            "view_label": self.view_label,
            "dynamic": false,
            "week_start_day": "monday",
            "times_used": 0,
            "original_view": self.view,
            "datatype": if self.ty == FieldType::Date { Json::from("date") } else { Json::Null },
            "convert_tz": if self.ty == FieldType::Date { Json::from(false) } else { Json::Null },
        });
        // Two halves: one `json!` this size exceeds the macro recursion limit.
        if let (Json::Object(a), Json::Object(b)) = (&mut doc, rest) {
            a.extend(b);
        }
        doc
    }

    /// The `JsonBiField` document of the `json_bi` metadata.
    pub(crate) fn json_bi(&self) -> Json {
        json!({
            "sql": null,
            "view": self.view,
            "dimension_group": self.dimension_group.map(|g| format!("{}.{g}", self.view)),
            "category": self.category(),
            "field_group_label": null,
            "name": self.name,
            "type": self.ty.looker_type(),
            "view_label": self.view_label,
            "label": self.label(),
            "field_group_variant": self.label_short,
            "hidden": false,
            "description": self.description,
        })
    }

    /// The column as a generated `SELECT` would name it.
    pub(crate) fn sql_expr(&self, explore: &ExploreDef) -> String {
        match self.agg {
            Some(Agg::Count) => format!("COUNT(*) AS \"{}\"", self.name),
            Some(Agg::Sum(col)) => {
                let base = explore.column_field(col).map_or("?", |f| f.short_name());
                format!(
                    "COALESCE(SUM({}.{base}), 0) AS \"{}\"",
                    self.view, self.name
                )
            }
            None => format!("{}.{} AS \"{}\"", self.view, self.short_name(), self.name),
        }
    }
}

fn user_attribute_filter_types(ty: FieldType) -> Json {
    match ty {
        FieldType::String => json!(["advanced_filter_string", "string"]),
        FieldType::Date => json!(["advanced_filter_datetime", "datetime"]),
        FieldType::YesNo => json!(["yesno"]),
        _ => json!(["advanced_filter_number", "number"]),
    }
}

/// Where an explore's rows come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// `finance.overhead_allocation`: the period allocation of shared overhead.
    Allocation,
    /// `finance.gl_summary`: GL balances per period, branch and account.
    GlSummary,
    /// `finance.approved_vendors`: the vendor approval list.
    Vendors,
    /// `finance.gl_lines`: generated journal lines, sized by configuration.
    GlLines,
    /// `bench.events`: a plain, wide-open generated event stream.
    Events,
}

/// An explore with its fields and the layout of its source rows.
#[derive(Debug)]
pub(crate) struct ExploreDef {
    pub model: &'static str,
    pub name: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub group_label: &'static str,
    pub base_view: &'static str,
    pub joins: &'static [&'static str],
    pub source: SourceKind,
    pub fields: Vec<FieldDef>,
    /// Number of columns of a source row.
    pub columns: usize,
    /// The unique, ascending id column of a generated (lazily streamed) source.
    pub key_column: Option<usize>,
    /// Columns that never decrease along the generated order (key included):
    /// sorting by them in one direction needs no buffering.
    pub monotonic: &'static [usize],
}

impl ExploreDef {
    /// The field by its fully qualified name.
    pub(crate) fn field(&self, name: &str) -> Option<(usize, &FieldDef)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    /// The dimension reading a source column.
    pub(crate) fn column_field(&self, col: usize) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.column == Some(col))
    }

    /// `model::explore`, the `id` of the explore document.
    pub(crate) fn id(&self) -> String {
        format!("{}::{}", self.model, self.name)
    }

    /// The `LookmlModelNavExplore` entry of the model document.
    fn nav(&self) -> Json {
        json!({
            "name": self.name,
            "description": self.description,
            "label": self.label,
            "hidden": false,
            "group_label": self.group_label,
        })
    }

    /// The full `LookmlModelExplore` document.
    pub(crate) fn metadata(&self) -> Json {
        let pick = |measure: bool| -> Vec<Json> {
            self.fields
                .iter()
                .filter(|f| f.is_measure() == measure)
                .map(|f| f.metadata(self))
                .collect()
        };
        let views: Vec<&str> = std::iter::once(self.base_view)
            .chain(self.joins.iter().copied())
            .collect();
        let joins: Vec<Json> = self.joins.iter().map(|j| join_doc(j)).collect();
        let mut doc = json!({
            "id": self.id(),
            "name": self.name,
            "description": self.description,
            "label": self.label,
            "title": self.label,
            "scopes": views,
            "can_total": true,
            "can_develop": false,
            "can_see_lookml": false,
            "lookml_link": null,
            "can_save": true,
            "can_explain": false,
            "can_pivot_in_db": true,
            "can_subtotal": true,
            "has_timezone_support": true,
            "supports_cost_estimate": false,
            "connection_name": CONNECTION,
            "dialect_name": DIALECT,
            "null_sort_treatment": "low",
            "files": views.iter().map(|v| format!("{PROJECT}/views/{v}.view.lkml")).collect::<Vec<_>>(),
            "source_file": format!("{}.model.lkml", self.model),
            "project_name": PROJECT,
            "model_name": self.model,
            "view_name": self.base_view,
            "hidden": false,
            "sql_table_name": format!("analytics.{}", self.base_view),
        });
        let rest = json!({
            "access_filter_fields": [],
            "access_filters": [],
            "aliases": [],
            "always_filter": [],
            "conditionally_filter": [],
            "index_fields": self.fields.iter().filter(|f| f.primary_key).map(|f| f.name.clone()).collect::<Vec<_>>(),
            "sets": [],
            "tags": [],
            "errors": [],
            "fields": {
                "dimensions": pick(false),
                "measures": pick(true),
                "filters": [],
                "parameters": [],
            },
            "joins": joins,
            "group_label": self.group_label,
            "supported_measure_types": [],
            "always_join": [],
        });
        if let (Json::Object(a), Json::Object(b)) = (&mut doc, rest) {
            a.extend(b);
        }
        doc
    }
}

/// A `LookmlModelExploreJoins` entry.
fn join_doc(name: &str) -> Json {
    json!({
        "name": name,
        "dependent_fields": [],
        "fields": [],
        "foreign_key": null,
        "from": null,
        "outer_only": false,
        "relationship": "many_to_one",
        "required_joins": [],
        "sql_foreign_key": null,
        "sql_on": null,
        "sql_table_name": format!("analytics.{name}"),
        "type": "left_outer",
        "view_label": null,
    })
}

/// A LookML model.
#[derive(Debug)]
pub(crate) struct ModelDef {
    pub name: &'static str,
    pub label: &'static str,
    pub explores: Vec<ExploreDef>,
}

impl ModelDef {
    /// The `LookmlModel` document.
    pub(crate) fn metadata(&self) -> Json {
        json!({
            "can": {"index": true, "show": true},
            "allowed_db_connection_names": [CONNECTION],
            "explores": self.explores.iter().map(ExploreDef::nav).collect::<Vec<_>>(),
            "has_content": true,
            "label": self.label,
            "name": self.name,
            "project_name": PROJECT,
            "unlimited_db_connections": false,
        })
    }

    pub(crate) fn explore(&self, name: &str) -> Option<&ExploreDef> {
        self.explores.iter().find(|e| e.name == name)
    }
}

/// All models, in name order (the order `GET /lookml_models` lists them).
pub(crate) fn models() -> &'static [ModelDef] {
    &CATALOG
}

/// The model by name.
pub(crate) fn model(name: &str) -> Option<&'static ModelDef> {
    CATALOG.iter().find(|m| m.name == name)
}

/// The explore by model and explore name.
pub(crate) fn explore(model_name: &str, explore: &str) -> Option<&'static ExploreDef> {
    model(model_name)?.explore(explore)
}

static CATALOG: LazyLock<Vec<ModelDef>> = LazyLock::new(|| {
    let mut models = vec![
        ModelDef {
            name: "bench",
            label: "Bench",
            explores: vec![events()],
        },
        ModelDef {
            name: "finance",
            label: "Finance",
            explores: vec![
                overhead_allocation(),
                gl_summary(),
                approved_vendors(),
                gl_lines(),
            ],
        },
    ];
    models.sort_by_key(|m| m.name);
    models
});

/// Field constructor shorthand.
struct ViewFields {
    view: &'static str,
    view_label: &'static str,
    fields: Vec<FieldDef>,
}

impl ViewFields {
    fn new(view: &'static str, view_label: &'static str) -> Self {
        ViewFields {
            view,
            view_label,
            fields: Vec::new(),
        }
    }

    fn dim(
        mut self,
        name: &str,
        label: &'static str,
        ty: FieldType,
        col: usize,
        desc: &'static str,
    ) -> Self {
        let money = ty == FieldType::Number && desc.contains("USD");
        self.fields.push(FieldDef {
            name: format!("{}.{name}", self.view),
            view: self.view,
            view_label: self.view_label,
            label_short: label,
            description: desc,
            ty,
            column: Some(col),
            agg: None,
            primary_key: false,
            dimension_group: None,
            value_format_name: money.then_some("usd"),
        });
        self
    }

    fn key(
        mut self,
        name: &str,
        label: &'static str,
        ty: FieldType,
        col: usize,
        desc: &'static str,
    ) -> Self {
        self = self.dim(name, label, ty, col, desc);
        if let Some(f) = self.fields.last_mut() {
            f.primary_key = true;
        }
        self
    }

    fn date(
        mut self,
        group: &'static str,
        label: &'static str,
        col: usize,
        desc: &'static str,
    ) -> Self {
        self = self.dim(&format!("{group}_date"), label, FieldType::Date, col, desc);
        if let Some(f) = self.fields.last_mut() {
            f.dimension_group = Some(group);
        }
        self
    }

    fn measure(mut self, name: &str, label: &'static str, agg: Agg, desc: &'static str) -> Self {
        let ty = match agg {
            Agg::Count => FieldType::Count,
            Agg::Sum(_) => FieldType::Sum,
        };
        self.fields.push(FieldDef {
            name: format!("{}.{name}", self.view),
            view: self.view,
            view_label: self.view_label,
            label_short: label,
            description: desc,
            ty,
            column: None,
            agg: Some(agg),
            primary_key: false,
            dimension_group: None,
            value_format_name: matches!(agg, Agg::Sum(_)).then_some("usd"),
        });
        self
    }
}

/// Source columns of `finance.overhead_allocation`.
pub(crate) mod alloc_col {
    pub const LINE_ID: usize = 0;
    pub const JOURNAL: usize = 1;
    pub const PERIOD: usize = 2;
    pub const DATE: usize = 3;
    pub const BRANCH: usize = 4;
    pub const LINE_NBR: usize = 5;
    pub const COST_CENTER: usize = 6;
    pub const SUBACCOUNT: usize = 7;
    pub const ACCOUNT: usize = 8;
    pub const DESCRIPTION: usize = 9;
    pub const AMOUNT: usize = 10;
    pub const DEBIT: usize = 11;
    pub const CREDIT: usize = 12;
    pub const COUNT: usize = 13;
}

fn overhead_allocation() -> ExploreDef {
    use FieldType::*;
    use alloc_col::*;
    let mut fields = ViewFields::new("overhead_allocation", "Overhead Allocation")
        .key(
            "line_id",
            "Line ID",
            String,
            LINE_ID,
            "Unique id of the allocation line: journal key and line number.",
        )
        .dim(
            "journal_key",
            "Journal Key",
            String,
            JOURNAL,
            "One journal per period and branch: ALLOC-<period>-<branch>.",
        )
        .dim(
            "period",
            "Period",
            String,
            PERIOD,
            "Financial period in Acumatica's MMYYYY form.",
        )
        .date("posting", "Posting Date", DATE, "Last day of the period.")
        .dim("branch", "Branch", String, BRANCH, "Acumatica branch id.")
        .dim(
            "line_nbr",
            "Line Nbr",
            Number,
            LINE_NBR,
            "Line number within the journal; line 1 credits the overhead pool.",
        )
        .dim(
            "subaccount",
            "Subaccount",
            String,
            SUBACCOUNT,
            "Acumatica subaccount of the line; NULL when the cost center is not mapped.",
        )
        .dim(
            "account",
            "Account",
            String,
            ACCOUNT,
            "Acumatica GL account of the line.",
        )
        .dim(
            "description",
            "Description",
            String,
            DESCRIPTION,
            "Line description.",
        )
        .dim(
            "amount",
            "Amount",
            Number,
            AMOUNT,
            "Signed amount in USD: debits positive, credits negative.",
        )
        .dim(
            "debit_amount",
            "Debit Amount",
            Number,
            DEBIT,
            "Debit amount in USD (0 on credit lines).",
        )
        .dim(
            "credit_amount",
            "Credit Amount",
            Number,
            CREDIT,
            "Credit amount in USD (0 on debit lines).",
        )
        .measure(
            "total_amount",
            "Total Amount",
            Agg::Sum(AMOUNT),
            "Sum of signed amounts; zero for a balanced journal.",
        )
        .measure("count", "Count", Agg::Count, "Number of allocation lines.")
        .fields;
    let cost_center = ViewFields::new("cost_center", "Cost Center")
        .dim(
            "name",
            "Name",
            String,
            COST_CENTER,
            "Cost center name as the warehouse knows it; NULL on the pool line.",
        )
        .fields;
    fields.splice(6..6, cost_center);
    ExploreDef {
        model: "finance",
        name: "overhead_allocation",
        label: "Overhead Allocation",
        description: "Shared overhead allocated to cost centers, per period and branch; each journal balances to zero.",
        group_label: "Finance",
        base_view: "overhead_allocation",
        joins: &["cost_center"],
        source: SourceKind::Allocation,
        fields,
        columns: COUNT,
        key_column: None,
        monotonic: &[],
    }
}

/// Source columns of `finance.gl_summary`.
pub(crate) mod summary_col {
    pub const ROW_ID: usize = 0;
    pub const PERIOD: usize = 1;
    pub const BRANCH: usize = 2;
    pub const ACCOUNT: usize = 3;
    pub const ACCOUNT_DESCRIPTION: usize = 4;
    pub const ACCOUNT_TYPE: usize = 5;
    pub const SUBACCOUNT: usize = 6;
    pub const DEBIT: usize = 7;
    pub const CREDIT: usize = 8;
    pub const NET: usize = 9;
    pub const COUNT: usize = 10;
}

fn gl_summary() -> ExploreDef {
    use FieldType::*;
    use summary_col::*;
    let mut fields = ViewFields::new("gl_summary", "GL Summary")
        .key(
            "row_id",
            "Row ID",
            String,
            ROW_ID,
            "period-branch-account-subaccount.",
        )
        .dim(
            "period",
            "Period",
            String,
            PERIOD,
            "Financial period in Acumatica's MMYYYY form.",
        )
        .dim("branch", "Branch", String, BRANCH, "Acumatica branch id.")
        .dim(
            "account",
            "Account",
            String,
            ACCOUNT,
            "Acumatica GL account.",
        )
        .dim(
            "subaccount",
            "Subaccount",
            String,
            SUBACCOUNT,
            "Acumatica subaccount.",
        )
        .dim(
            "debit",
            "Debit",
            Number,
            DEBIT,
            "Period debit turnover in USD.",
        )
        .dim(
            "credit",
            "Credit",
            Number,
            CREDIT,
            "Period credit turnover in USD.",
        )
        .dim("net", "Net", Number, NET, "Debit minus credit in USD.")
        .measure(
            "total_debit",
            "Total Debit",
            Agg::Sum(DEBIT),
            "Sum of debits.",
        )
        .measure(
            "total_credit",
            "Total Credit",
            Agg::Sum(CREDIT),
            "Sum of credits.",
        )
        .measure(
            "net_amount",
            "Net Amount",
            Agg::Sum(NET),
            "Sum of debit minus credit; zero over a whole period and branch.",
        )
        .measure("count", "Count", Agg::Count, "Number of summary rows.")
        .fields;
    let account = ViewFields::new("account", "Account")
        .dim(
            "description",
            "Description",
            String,
            ACCOUNT_DESCRIPTION,
            "Account description from the chart of accounts.",
        )
        .dim(
            "type",
            "Type",
            String,
            ACCOUNT_TYPE,
            "Asset, Liability, Income or Expense.",
        )
        .fields;
    fields.splice(4..4, account);
    ExploreDef {
        model: "finance",
        name: "gl_summary",
        label: "GL Summary",
        description: "General ledger turnover per period, branch, account and subaccount.",
        group_label: "Finance",
        base_view: "gl_summary",
        joins: &["account"],
        source: SourceKind::GlSummary,
        fields,
        columns: COUNT,
        key_column: None,
        monotonic: &[],
    }
}

/// Source columns of `finance.approved_vendors`.
pub(crate) mod vendor_col {
    pub const ID: usize = 0;
    pub const NAME: usize = 1;
    pub const CLASS: usize = 2;
    pub const TERMS: usize = 3;
    pub const STATUS: usize = 4;
    pub const APPROVAL: usize = 5;
    pub const IS_APPROVED: usize = 6;
    pub const APPROVED_DATE: usize = 7;
    pub const ACCOUNT: usize = 8;
    pub const SUBACCOUNT: usize = 9;
    pub const SPEND_LIMIT: usize = 10;
    pub const COUNT: usize = 11;
}

fn approved_vendors() -> ExploreDef {
    use FieldType::*;
    use vendor_col::*;
    let fields = ViewFields::new("approved_vendors", "Approved Vendors")
        .key("vendor_id", "Vendor ID", String, ID, "Acumatica VendorID.")
        .dim("vendor_name", "Vendor Name", String, NAME, "Vendor name.")
        .dim(
            "vendor_class",
            "Vendor Class",
            String,
            CLASS,
            "Acumatica vendor class.",
        )
        .dim("terms", "Terms", String, TERMS, "Credit terms id.")
        .dim(
            "status",
            "Status",
            String,
            STATUS,
            "Vendor status in Acumatica: Active, On Hold or Inactive.",
        )
        .dim(
            "approval_status",
            "Approval Status",
            String,
            APPROVAL,
            "Approved, Suspended or Revoked.",
        )
        .dim(
            "is_approved",
            "Is Approved",
            YesNo,
            IS_APPROVED,
            "Whether bills from this vendor may be paid.",
        )
        .date(
            "approved",
            "Approved Date",
            APPROVED_DATE,
            "When the vendor was last approved; NULL if never.",
        )
        .dim(
            "default_expense_account",
            "Default Expense Account",
            String,
            ACCOUNT,
            "Acumatica expense account bills default to.",
        )
        .dim(
            "default_subaccount",
            "Default Subaccount",
            String,
            SUBACCOUNT,
            "Acumatica subaccount bills default to.",
        )
        .dim(
            "spend_limit",
            "Spend Limit",
            Number,
            SPEND_LIMIT,
            "Approved yearly spend in USD.",
        )
        .measure("count", "Count", Agg::Count, "Number of vendors.")
        .fields;
    ExploreDef {
        model: "finance",
        name: "approved_vendors",
        label: "Approved Vendors",
        description: "The vendor approval list, one row per Acumatica vendor.",
        group_label: "Finance",
        base_view: "approved_vendors",
        joins: &[],
        source: SourceKind::Vendors,
        fields,
        columns: COUNT,
        key_column: None,
        monotonic: &[],
    }
}

/// Source columns of `finance.gl_lines`.
pub(crate) mod line_col {
    pub const ID: usize = 0;
    pub const JOURNAL: usize = 1;
    pub const PERIOD: usize = 2;
    pub const DATE: usize = 3;
    pub const BRANCH: usize = 4;
    pub const ACCOUNT: usize = 5;
    pub const SUBACCOUNT: usize = 6;
    pub const DESCRIPTION: usize = 7;
    pub const DEBIT: usize = 8;
    pub const CREDIT: usize = 9;
    pub const AMOUNT: usize = 10;
    pub const COUNT: usize = 11;
}

fn gl_lines() -> ExploreDef {
    use FieldType::*;
    use line_col::*;
    let fields = ViewFields::new("gl_lines", "GL Lines")
        .key(
            "id",
            "ID",
            Number,
            ID,
            "Line id, 1..=N, ascending with posting date.",
        )
        .dim(
            "journal_id",
            "Journal ID",
            Number,
            JOURNAL,
            "Two lines per journal: a debit and its credit.",
        )
        .dim(
            "period",
            "Period",
            String,
            PERIOD,
            "Financial period in Acumatica's MMYYYY form.",
        )
        .date("posting", "Posting Date", DATE, "Posting date.")
        .dim("branch", "Branch", String, BRANCH, "Acumatica branch id.")
        .dim(
            "account",
            "Account",
            String,
            ACCOUNT,
            "Acumatica GL account.",
        )
        .dim(
            "subaccount",
            "Subaccount",
            String,
            SUBACCOUNT,
            "Acumatica subaccount.",
        )
        .dim(
            "description",
            "Description",
            String,
            DESCRIPTION,
            "Line description.",
        )
        .dim("debit", "Debit", Number, DEBIT, "Debit amount in USD.")
        .dim("credit", "Credit", Number, CREDIT, "Credit amount in USD.")
        .dim(
            "amount",
            "Amount",
            Number,
            AMOUNT,
            "Signed amount in USD: debits positive.",
        )
        .measure("count", "Count", Agg::Count, "Number of lines.")
        .measure(
            "total_debit",
            "Total Debit",
            Agg::Sum(DEBIT),
            "Sum of debits.",
        )
        .measure(
            "total_credit",
            "Total Credit",
            Agg::Sum(CREDIT),
            "Sum of credits.",
        )
        .measure(
            "net_amount",
            "Net Amount",
            Agg::Sum(AMOUNT),
            "Sum of signed amounts.",
        )
        .fields;
    ExploreDef {
        model: "finance",
        name: "gl_lines",
        label: "GL Lines",
        description: "Generated general ledger lines; the row count is a setting of the fake (up to millions).",
        group_label: "Finance",
        base_view: "gl_lines",
        joins: &[],
        source: SourceKind::GlLines,
        fields,
        columns: COUNT,
        key_column: Some(ID),
        monotonic: &[ID, JOURNAL, PERIOD, DATE],
    }
}

/// Source columns of `bench.events`.
pub(crate) mod event_col {
    pub const ID: usize = 0;
    pub const DATE: usize = 1;
    pub const KIND: usize = 2;
    pub const USER: usize = 3;
    pub const VALUE: usize = 4;
    pub const COUNT: usize = 5;
}

fn events() -> ExploreDef {
    use FieldType::*;
    use event_col::*;
    let fields = ViewFields::new("events", "Events")
        .key("id", "ID", Number, ID, "Event id, 1..=N.")
        .date(
            "occurred",
            "Occurred Date",
            DATE,
            "Day of the event, ascending with the id.",
        )
        .dim("kind", "Kind", String, KIND, "Event kind.")
        .dim("user_id", "User ID", Number, USER, "Acting user.")
        .dim("value", "Value", Number, VALUE, "Event value in USD.")
        .measure("count", "Count", Agg::Count, "Number of events.")
        .measure(
            "total_value",
            "Total Value",
            Agg::Sum(VALUE),
            "Sum of values.",
        )
        .fields;
    ExploreDef {
        model: "bench",
        name: "events",
        label: "Events",
        description: "A generated event stream for throughput benchmarks; the row count is a setting of the fake.",
        group_label: "Bench",
        base_view: "events",
        joins: &[],
        source: SourceKind::Events,
        fields,
        columns: COUNT,
        key_column: Some(ID),
        monotonic: &[ID, DATE],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_has_exactly_one_dimension() {
        for m in models() {
            for e in &m.explores {
                for col in 0..e.columns {
                    let n = e.fields.iter().filter(|f| f.column == Some(col)).count();
                    assert_eq!(n, 1, "{}.{} column {col}", m.name, e.name);
                }
                for f in &e.fields {
                    assert!(f.name.starts_with(&format!("{}.", f.view)), "{}", f.name);
                }
            }
        }
    }

    #[test]
    fn explore_metadata_has_qualified_fields() {
        let e = explore("finance", "overhead_allocation").unwrap();
        let doc = e.metadata();
        let dims: Vec<&str> = doc["fields"]["dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert!(dims.contains(&"cost_center.name"));
        assert!(dims.contains(&"overhead_allocation.posting_date"));
        assert_eq!(doc["id"], "finance::overhead_allocation");
        assert_eq!(doc["fields"]["measures"][0]["type"], "sum");
    }
}
