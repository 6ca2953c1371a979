//! The GL inquiries of the Default endpoint, run as the contract API runs
//! an inquiry (FACTS section 8, `CompaniesStructure`): a `PUT` of the
//! inquiry entity with its parameters, answered with the parameters and,
//! when `$expand=Results` asks for them, the result rows. Nothing is
//! stored. Both are computed from the fake's journal transactions:
//!
//! - `AccountSummaryInquiry` (GL401000): per branch, account and
//!   subaccount of a ledger, the balance before the period, the period's
//!   debit and credit turnover and the balance after it, from **posted**
//!   batches (GL history is updated by posting; the fake's release posts
//!   at once, so a released batch counts and a balanced or held one does
//!   not). Balances carry the account's sign as the form shows them:
//!   debit minus credit for asset and expense accounts, credit minus debit
//!   for liability and income accounts; `PtdTotal` is the period's change
//!   with that sign, so `EndingBalance = BeginningBalance + PtdTotal`.
//! - `AccountDetailsForPeriodInquiry` (GL404001): the journal lines of a
//!   ledger in a range of periods, posted ones and, on request, released
//!   but unposted (`IncludeUnposted`) and unreleased (`IncludeUnreleased`)
//!   ones. The contract has no account parameter: callers pick the account
//!   from the rows.
//!
//! The fake keeps no exchange rates: journals hold base-currency amounts,
//! so the `Currency…` balance fields are left unset and the detail rows'
//! base-currency amounts equal the entered ones.
//!
//! Bad parameters answer 422 with the parameters and an `error` on each bad
//! field (FACTS section 9); a mistyped or unwrapped value is a 400 model
//! error, and unknown field names are ignored, as for any PUT.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::Response;
use rust_decimal::Decimal;
use serde_json::Value as J;
use uuid::Uuid;

use super::input::{Input, parse};
use super::render::{Shape, to_value};
use super::reply::{bad_request, json_response};
use super::schema::{EntityDef, Schema, schema};
use super::store::{Store, key_of};
use super::value::{Row, Val};
use super::write::period_status;

/// Whether `entity` is an inquiry this module runs.
pub(crate) fn is_inquiry(entity: &str) -> bool {
    matches!(
        entity,
        "AccountSummaryInquiry" | "AccountDetailsForPeriodInquiry"
    )
}

fn sch(name: &str) -> &'static Schema {
    schema(name).expect("catalogue")
}

/// `PUT <inquiry>`: validate the parameters and answer them with the rows.
pub(crate) fn run(
    store: &Store,
    def: &EntityDef,
    version: &str,
    shape: &Shape,
    body: &[u8],
) -> Response<Body> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return bad_request(&vec![(
            String::new(),
            "The request body should not be empty.".to_owned(),
        )]);
    }
    let obj = match serde_json::from_slice::<J>(body) {
        Ok(J::Object(o)) => o,
        Ok(_) => {
            return bad_request(&vec![(
                "entity".to_owned(),
                "The request body must be a JSON object of the entity.".to_owned(),
            )]);
        }
        Err(e) => {
            return bad_request(&vec![(
                "entity".to_owned(),
                format!("Unexpected character encountered while parsing value: {e}"),
            )]);
        }
    };
    let s = sch(def.name);
    let mut model = Vec::new();
    let input = parse(s, version, &obj, "", &mut model);
    if !model.is_empty() {
        return bad_request(&model);
    }
    let mut row = Row::new(Uuid::new_v4());
    for (idx, v) in &input.vals {
        row.set(*idx, v.clone());
    }
    let outcome = match def.name {
        "AccountSummaryInquiry" => summary(store, s, &input, &mut row),
        _ => details(store, s, &input, &mut row),
    };
    match outcome {
        Ok(()) => json_response(200, &to_value(shape, &row, None)),
        Err(errors) => {
            let mut body = to_value(shape, &row, None);
            if let J::Object(o) = &mut body {
                o.insert(
                    "error".into(),
                    J::String(format!(
                        "The parameters of {} have errors; nothing was run.",
                        def.name
                    )),
                );
                for (field, msg) in errors {
                    let slot = o
                        .entry(field)
                        .or_insert_with(|| J::Object(Default::default()));
                    if let J::Object(f) = slot {
                        f.insert("error".into(), J::String(msg));
                    }
                }
            }
            json_response(422, &body)
        }
    }
}

type FieldErrors = Vec<(String, String)>;

fn text(input: &Input, s: &Schema, field: &str) -> Option<String> {
    input
        .get(s.idx(field))?
        .as_ref()?
        .as_str()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

fn flag(input: &Input, s: &Schema, field: &str) -> bool {
    matches!(input.get(s.idx(field)), Some(Some(Val::Bool(true))))
}

/// `MMYYYY` (or `MM-YYYY`) as a sortable `(year, month)`, when the fake's
/// financial calendar has the period.
fn period_key(store: &Store, p: &str) -> Option<(u32, u32)> {
    period_status(store, p)?;
    let p = p.replace('-', "");
    Some((p[2..].parse().ok()?, p[..2].parse().ok()?))
}

fn format_period((y, m): (u32, u32)) -> String {
    format!("{m:02}{y}")
}

/// A required period parameter: its key, or a field error.
fn required_period(
    store: &Store,
    input: &Input,
    s: &Schema,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<(u32, u32)> {
    match text(input, s, field) {
        None => {
            errors.push((field.into(), format!("'{field}' cannot be empty.")));
            None
        }
        Some(p) => {
            let key = period_key(store, &p);
            if key.is_none() {
                errors.push((
                    field.into(),
                    format!(
                        "Financial period '{p}' does not exist in the financial calendar (periods are MMYYYY, e.g. 012026)."
                    ),
                ));
            }
            key
        }
    }
}

fn required_ledger(
    store: &Store,
    input: &Input,
    s: &Schema,
    errors: &mut FieldErrors,
) -> Option<String> {
    match text(input, s, "Ledger") {
        None => {
            errors.push(("Ledger".into(), "'Ledger' cannot be empty.".into()));
            None
        }
        Some(l) => match store.table("Ledger").by_key(&key_of(&[&l])) {
            Some(r) => r
                .get(sch("Ledger").idx("LedgerID"))
                .and_then(Val::as_str)
                .map(str::to_owned),
            None => {
                errors.push((
                    "Ledger".into(),
                    format!("Ledger '{l}' cannot be found in the system."),
                ));
                None
            }
        },
    }
}

/// One journal line with its batch, as both inquiries read it.
struct Line<'a> {
    batch: &'a Row,
    line: &'a Row,
    period: (u32, u32),
    status: &'a str,
}

/// Every line of the ledger's journal transactions whose batch status
/// `keep` accepts.
fn lines<'a>(store: &'a Store, ledger: &str, keep: impl Fn(&str) -> bool) -> Vec<Line<'a>> {
    let jt = sch("JournalTransaction");
    let details = jt.idx("Details");
    let mut out = Vec::new();
    for batch in store.table("JournalTransaction").all() {
        let get = |f: &str| batch.get(jt.idx(f)).and_then(Val::as_str).unwrap_or("");
        let status = get("Status");
        if !get("LedgerID").eq_ignore_ascii_case(ledger) || !keep(status) {
            continue;
        }
        let Some(period) = period_key(store, get("PostPeriod")) else {
            continue;
        };
        for line in batch.kids(details) {
            out.push(Line {
                batch,
                line,
                period,
                status,
            });
        }
    }
    out
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[derive(Default)]
struct Balance {
    before: Decimal,
    debit: Decimal,
    credit: Decimal,
    last: (u32, u32),
}

fn summary(store: &Store, s: &Schema, input: &Input, row: &mut Row) -> Result<(), FieldErrors> {
    let mut errors = Vec::new();
    let ledger = required_ledger(store, input, s, &mut errors);
    let period = required_period(store, input, s, "Period", &mut errors);
    let branch = text(input, s, "Branch");
    if let Some(b) = &branch
        && !crate::seed::BRANCHES.iter().any(|x| same(x.id, b))
    {
        errors.push((
            "Branch".into(),
            format!("Branch '{b}' cannot be found in the system."),
        ));
    }
    let (Some(ledger), Some(period)) = (ledger, period) else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let sub_filter = text(input, s, "Subaccount");
    let class_filter = text(input, s, "AccountClass");
    let (jt, d) = (sch("JournalTransaction"), sch("JournalTransactionDetail"));
    let acct = sch("Account");
    let mut balances: BTreeMap<(String, String, String), Balance> = BTreeMap::new();
    for l in lines(store, &ledger, |st| st == "Posted") {
        if l.period > period {
            continue;
        }
        let field = |f: &str| {
            l.line
                .get(d.idx(f))
                .and_then(Val::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let line_branch = Some(field("BranchID"))
            .filter(|b| !b.is_empty())
            .or_else(|| {
                l.batch
                    .get(jt.idx("BranchID"))
                    .and_then(Val::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let (account, sub) = (field("Account"), field("Subaccount"));
        if branch.as_deref().is_some_and(|b| !same(b, &line_branch))
            || sub_filter.as_deref().is_some_and(|f| !same(f, &sub))
        {
            continue;
        }
        let money = |f: &str| {
            l.line
                .get(d.idx(f))
                .and_then(Val::as_dec)
                .unwrap_or_default()
        };
        let b = balances.entry((line_branch, account, sub)).or_default();
        if l.period < period {
            b.before += money("DebitAmount") - money("CreditAmount");
        } else {
            b.debit += money("DebitAmount");
            b.credit += money("CreditAmount");
        }
        b.last = b.last.max(l.period);
    }
    let out = sch("AccountSummaryRow");
    let results = row.kids_mut(s.idx("Results"));
    for ((branch, account, sub), b) in balances {
        let account_row = store.table("Account").by_key(&key_of(&[&account]));
        let info = |f: &str| {
            account_row
                .as_ref()
                .and_then(|r| r.get(acct.idx(f)))
                .and_then(Val::as_str)
                .map(str::to_owned)
        };
        if class_filter
            .as_deref()
            .is_some_and(|c| !info("AccountClass").is_some_and(|a| same(&a, c)))
        {
            continue;
        }
        let kind = info("Type").unwrap_or_default();
        // Liability and income accounts show credit balances as positive.
        let sign = if matches!(kind.as_str(), "Liability" | "Income") {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::ONE
        };
        let begin = sign * b.before;
        let ptd = sign * (b.debit - b.credit);
        let mut r = Row::new(Uuid::new_v4())
            .with(out.idx("Account"), Val::Str(account.into()))
            .with(out.idx("BeginningBalance"), Val::Dec(begin))
            .with(out.idx("Branch"), Val::Str(branch.into()))
            .with(out.idx("CreditTotal"), Val::Dec(b.credit))
            .with(out.idx("DebitTotal"), Val::Dec(b.debit))
            .with(out.idx("EndingBalance"), Val::Dec(begin + ptd))
            .with(
                out.idx("LastActivity"),
                Val::Str(format_period(b.last).into()),
            )
            .with(out.idx("PtdTotal"), Val::Dec(ptd))
            .with(out.idx("Subaccount"), Val::Str(sub.into()));
        for (from, to) in [
            ("AccountClass", "AccountClass"),
            ("ConsolidationAccount", "ConsolidationAccount"),
            ("Description", "Description"),
            ("Type", "Type"),
        ] {
            if let Some(v) = info(from) {
                r.set(out.idx(to), Some(Val::Str(v.into())));
            }
        }
        results.push(r);
    }
    Ok(())
}

fn details(store: &Store, s: &Schema, input: &Input, row: &mut Row) -> Result<(), FieldErrors> {
    let mut errors = Vec::new();
    let ledger = required_ledger(store, input, s, &mut errors);
    let from = required_period(store, input, s, "FromPeriod", &mut errors);
    // An empty `ToPeriod` reads the one period `FromPeriod` names.
    let to = match text(input, s, "ToPeriod") {
        None => from,
        Some(_) => required_period(store, input, s, "ToPeriod", &mut errors),
    };
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        errors.push((
            "ToPeriod".into(),
            format!(
                "'ToPeriod' ({}) is before 'FromPeriod' ({}).",
                format_period(t),
                format_period(f)
            ),
        ));
    }
    let (Some(ledger), Some(from), Some(to)) = (ledger, from, to) else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let unposted = flag(input, s, "IncludeUnposted");
    let unreleased = flag(input, s, "IncludeUnreleased");
    let keep = |st: &str| match st {
        "Posted" => true,
        "Unposted" => unposted,
        "Balanced" | "On Hold" => unreleased,
        _ => false,
    };
    let (jt, d, out) = (
        sch("JournalTransaction"),
        sch("JournalTransactionDetail"),
        sch("AccountDetailsForPeriodInquiryDetail"),
    );
    let mut found: Vec<Line<'_>> = lines(store, &ledger, keep)
        .into_iter()
        .filter(|l| (from..=to).contains(&l.period))
        .collect();
    let batch_nbr = |l: &Line<'_>| {
        l.batch
            .get(jt.idx("BatchNbr"))
            .and_then(Val::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let line_nbr = |l: &Line<'_>| match l.line.get(d.idx("LineNbr")) {
        Some(Val::Int(n)) => *n,
        _ => 0,
    };
    found.sort_by_key(|l| (l.period, batch_nbr(l), line_nbr(l)));
    let results = row.kids_mut(s.idx("Results"));
    for l in found {
        let mut r = Row::new(l.line.id);
        let mut copy = |from_row: &Row, from: &Schema, f: &str, to: &str| {
            if let Some(v) = from_row.get(from.idx(f)) {
                r.set(out.idx(to), Some(v.clone()));
            }
        };
        copy(l.line, d, "Account", "Account");
        copy(l.batch, jt, "BatchNbr", "BatchNumber");
        copy(l.batch, jt, "BranchID", "Branch");
        copy(l.line, d, "BranchID", "Branch");
        copy(l.line, d, "CreditAmount", "CreditAmount");
        copy(l.line, d, "CreditAmount", "CreditAmountInBaseCurrency");
        copy(l.batch, jt, "CurrencyID", "Currency");
        copy(l.line, d, "VendorOrCustomer", "CustomerVendor");
        copy(l.line, d, "DebitAmount", "DebitAmount");
        copy(l.line, d, "DebitAmount", "DebitAmountInBaseCurrency");
        copy(l.batch, jt, "LastModifiedDateTime", "LastModifiedDateTime");
        copy(l.batch, jt, "LedgerID", "Ledger");
        copy(l.batch, jt, "Module", "Module");
        copy(l.line, d, "Project", "Project");
        copy(l.line, d, "ProjectTask", "ProjectTask");
        copy(l.line, d, "ReferenceNbr", "RefNumber");
        copy(l.line, d, "Subaccount", "Subaccount");
        copy(l.batch, jt, "TransactionDate", "TransactionDate");
        copy(
            l.line,
            d,
            "TransactionDescription",
            "TransactionDescription",
        );
        r.set(
            out.idx("PeriodID"),
            Some(Val::Str(format_period(l.period).into())),
        );
        r.set(out.idx("Posted"), Some(Val::Bool(l.status == "Posted")));
        r.set(
            out.idx("Released"),
            Some(Val::Bool(matches!(l.status, "Posted" | "Unposted"))),
        );
        results.push(r);
    }
    Ok(())
}

/// A line of [`Acumatica::post_journal`](super::Acumatica::post_journal):
/// `(account, subaccount, debit, credit)`.
pub type PostedLine<'a> = (&'a str, &'a str, Decimal, Decimal);

impl super::Acumatica {
    /// Puts a **posted** GL batch straight into the books of ledger
    /// `ACTUAL` in `period` (`MMYYYY`, open or closed), without an API call:
    /// an opening balance, or a manual journal a tie-out should catch. The
    /// inquiries count it like a batch released through the API. Returns
    /// the batch number.
    ///
    /// ```
    /// use rust_decimal::Decimal;
    /// use testkit::acumatica::{Acumatica, AcumaticaOptions};
    /// let site = Acumatica::new(&AcumaticaOptions::default());
    /// let amount = Decimal::new(100_000, 2);
    /// let nbr = site
    ///     .post_journal("012026", "Opening balance", &[
    ///         ("10200", "000000", amount, Decimal::ZERO),
    ///         ("20000", "000000", Decimal::ZERO, amount),
    ///     ])
    ///     .unwrap();
    /// assert!(site.journal_transactions().iter().any(|b| b.batch_nbr == nbr && b.status == "Posted"));
    /// assert!(site.post_journal("012026", "unbalanced", &[("10200", "000000", amount, Decimal::ZERO)]).is_err());
    /// ```
    ///
    /// # Errors
    /// When the period is not in the financial calendar, an account does
    /// not exist, there are no lines, or debits and credits differ.
    pub fn post_journal(
        &self,
        period: &str,
        description: &str,
        lines: &[PostedLine<'_>],
    ) -> Result<String, super::MutationError> {
        let fail = |m: String| Err(super::MutationError(m));
        let mut store = self.inner.write();
        let Some(key) = period_key(&store, period) else {
            return fail(format!(
                "period '{period}' is not in the fake's financial calendar (MMYYYY)"
            ));
        };
        if lines.is_empty() {
            return fail("a journal needs at least one line".into());
        }
        let (dr, cr) = lines
            .iter()
            .fold((Decimal::ZERO, Decimal::ZERO), |(d, c), l| {
                (d + l.2, c + l.3)
            });
        if dr != cr {
            return fail(format!(
                "debits {dr} and credits {cr} differ; a posted batch balances"
            ));
        }
        if let Some((a, ..)) = lines
            .iter()
            .find(|(a, ..)| store.table("Account").by_key(&key_of(&[a])).is_none())
        {
            return fail(format!(
                "account '{a}' does not exist in the fake's chart of accounts"
            ));
        }
        let (jt, d) = (sch("JournalTransaction"), sch("JournalTransactionDetail"));
        let branch = crate::seed::BRANCHES[0].id;
        let now = store.now_ms();
        let date = super::value::date_ms(key.0 as i32, key.1.min(12), 1);
        let table = store.table_mut("JournalTransaction");
        let nbr = table.next_number().expect("journals are numbered");
        let mut row = Row::new(Uuid::new_v4())
            .with(jt.idx("BatchNbr"), Val::Str(nbr.clone().into()))
            .with(jt.idx("BranchID"), Val::Static(branch))
            .with(jt.idx("CreatedDateTime"), Val::Dt(now))
            .with(jt.idx("CurrencyID"), Val::Static(crate::seed::CURRENCY))
            .with(jt.idx("Description"), Val::Str(description.into()))
            .with(jt.idx("Hold"), Val::Bool(false))
            .with(jt.idx("LastModifiedDateTime"), Val::Dt(now))
            .with(jt.idx("LedgerID"), Val::Static(crate::seed::LEDGER))
            .with(jt.idx("Module"), Val::Static("GL"))
            .with(jt.idx("PostPeriod"), Val::Str(format_period(key).into()))
            .with(jt.idx("Status"), Val::Static("Posted"))
            .with(jt.idx("TransactionDate"), Val::Dt(date));
        let kids = row.kids_mut(jt.idx("Details"));
        for (n, (account, sub, debit, credit)) in lines.iter().enumerate() {
            kids.push(
                Row::new(Uuid::new_v4())
                    .with(d.idx("Account"), Val::Str((*account).into()))
                    .with(d.idx("BranchID"), Val::Static(branch))
                    .with(d.idx("CreditAmount"), Val::Dec(*credit))
                    .with(d.idx("DebitAmount"), Val::Dec(*debit))
                    .with(d.idx("LineNbr"), Val::Int(n as i64 + 1))
                    .with(d.idx("Subaccount"), Val::Str((*sub).into()))
                    .with(
                        d.idx("TransactionDescription"),
                        Val::Str(description.into()),
                    ),
            );
        }
        table.put(row);
        Ok(nbr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acumatica::generate::{DataSize, seed_all};
    use crate::seed;
    use axum::body::to_bytes;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// A seeded store plus one batch of `status` in `period` (MMYYYY) and
    /// `ledger`: debit 10200 / credit 40000 for `amount`.
    fn with_batch(
        store: &mut Store,
        nbr: &str,
        status: &'static str,
        period: &str,
        ledger: &'static str,
        amount: &str,
    ) {
        let (jt, d) = (sch("JournalTransaction"), sch("JournalTransactionDetail"));
        let mut row = Row::new(Uuid::new_v4())
            .with(jt.idx("BatchNbr"), Val::Str(nbr.into()))
            .with(jt.idx("Module"), Val::Static("GL"))
            .with(jt.idx("LedgerID"), Val::Static(ledger))
            .with(jt.idx("BranchID"), Val::Static(seed::BRANCHES[0].id))
            .with(jt.idx("PostPeriod"), Val::Str(period.into()))
            .with(jt.idx("Status"), Val::Static(status));
        let lines = row.kids_mut(jt.idx("Details"));
        for (n, (acct, dr, cr)) in [("10200", amount, "0"), ("40000", "0", amount)]
            .into_iter()
            .enumerate()
        {
            lines.push(
                Row::new(Uuid::new_v4())
                    .with(d.idx("Account"), Val::Static(acct))
                    .with(d.idx("Subaccount"), Val::Static("000000"))
                    .with(d.idx("LineNbr"), Val::Int(n as i64 + 1))
                    .with(d.idx("DebitAmount"), Val::Dec(dec(dr)))
                    .with(d.idx("CreditAmount"), Val::Dec(dec(cr))),
            );
        }
        store.table_mut("JournalTransaction").put(row);
    }

    async fn ask(store: &Store, entity: &str, body: J) -> (u16, J) {
        let def = super::super::schema::entity(entity).unwrap();
        let shape = Shape::build(sch(entity), "24.200.001", None, Some("Results")).unwrap();
        let resp = run(
            store,
            def,
            "24.200.001",
            &shape,
            body.to_string().as_bytes(),
        );
        let status = resp.status().as_u16();
        let bytes = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn row_of<'a>(body: &'a J, account: &str) -> Option<&'a J> {
        body["Results"].as_array()?.iter().find(|r| {
            r["Account"]["value"] == account
                && r["Branch"]["value"] == seed::BRANCHES[0].id
                && r["Subaccount"]["value"] == "000000"
        })
    }

    fn amount(row: &J, f: &str) -> Decimal {
        dec(&row[f]["value"].to_string())
    }

    #[tokio::test]
    async fn summary_counts_posted_batches_of_the_ledger_up_to_the_period() {
        let mut store = Store::new();
        seed_all(&mut store, &DataSize::default());
        let period = seed::period_id(11);
        let q = serde_json::json!({"Ledger": {"value": "ACTUAL"}, "Period": {"value": period}});
        let (_, before) = ask(&store, "AccountSummaryInquiry", q.clone()).await;
        with_batch(&mut store, "T1", "Posted", &period, "ACTUAL", "100.25");
        with_batch(
            &mut store,
            "T2",
            "Posted",
            &seed::period_id(10),
            "ACTUAL",
            "7.10",
        );
        with_batch(&mut store, "T3", "Balanced", &period, "ACTUAL", "1000");
        with_batch(
            &mut store,
            "T4",
            "Posted",
            &seed::period_id(12),
            "ACTUAL",
            "2000",
        );
        // Another ledger's batch (no such ledger is seeded; the lines are
        // read by their LedgerID) must not count.
        with_batch(&mut store, "T5", "Posted", &period, "BUDGET", "3000");
        let (status, after) = ask(&store, "AccountSummaryInquiry", q).await;
        assert_eq!(status, 200, "{after}");
        assert_eq!(after["Period"]["value"], period);
        let zero = serde_json::json!({});
        for (acct, sign) in [("10200", Decimal::ONE), ("40000", Decimal::NEGATIVE_ONE)] {
            let (b, a) = (
                row_of(&before, acct).unwrap_or(&zero),
                row_of(&after, acct).unwrap(),
            );
            let get = |r: &J, f: &str| {
                if r.get(f).is_some() {
                    amount(r, f)
                } else {
                    Decimal::ZERO
                }
            };
            // T2 (the period before) moves the opening balance only.
            assert_eq!(
                get(a, "BeginningBalance") - get(b, "BeginningBalance"),
                dec("7.10"),
                "{acct}"
            );
            let (dr, cr) = if sign == Decimal::ONE {
                ("100.25", "0")
            } else {
                ("0", "100.25")
            };
            assert_eq!(
                get(a, "DebitTotal") - get(b, "DebitTotal"),
                dec(dr),
                "{acct}"
            );
            assert_eq!(
                get(a, "CreditTotal") - get(b, "CreditTotal"),
                dec(cr),
                "{acct}"
            );
            assert_eq!(
                get(a, "EndingBalance") - get(b, "EndingBalance"),
                dec("107.35"),
                "{acct}"
            );
            assert_eq!(
                get(a, "EndingBalance"),
                get(a, "BeginningBalance") + get(a, "PtdTotal")
            );
        }
    }

    #[tokio::test]
    async fn bad_parameters_are_field_errors() {
        let mut store = Store::new();
        seed_all(&mut store, &DataSize::default());
        let (status, body) = ask(
            &store,
            "AccountSummaryInquiry",
            serde_json::json!({"Ledger": {"value": "NOPE"}, "Period": {"value": "132026"}, "Whatever": {"value": 1}}),
        )
        .await;
        assert_eq!(status, 422);
        assert!(body["Ledger"]["error"].as_str().unwrap().contains("NOPE"));
        assert!(body["Period"]["error"].as_str().unwrap().contains("132026"));
        assert!(body["error"].is_string());
        let (status, body) = ask(
            &store,
            "AccountDetailsForPeriodInquiry",
            serde_json::json!({"Ledger": {"value": "ACTUAL"}}),
        )
        .await;
        assert_eq!(status, 422);
        assert!(
            body["FromPeriod"]["error"]
                .as_str()
                .unwrap()
                .contains("cannot be empty")
        );
        let (status, _) = ask(
            &store,
            "AccountSummaryInquiry",
            serde_json::json!({"Ledger": "ACTUAL"}),
        )
        .await;
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn details_list_the_lines_of_the_period_range() {
        let mut store = Store::new();
        seed_all(&mut store, &DataSize::default());
        let (p10, p11) = (seed::period_id(10), seed::period_id(11));
        with_batch(&mut store, "ZZ1", "Posted", &p11, "ACTUAL", "5.5");
        with_batch(&mut store, "ZZ2", "Balanced", &p11, "ACTUAL", "6");
        let q = serde_json::json!({"Ledger": {"value": "ACTUAL"}, "FromPeriod": {"value": p10}, "ToPeriod": {"value": p11}});
        let (status, body) = ask(&store, "AccountDetailsForPeriodInquiry", q.clone()).await;
        assert_eq!(status, 200, "{body}");
        let ours: Vec<&J> = body["Results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["BatchNumber"]["value"]
                    .as_str()
                    .unwrap()
                    .starts_with("ZZ")
            })
            .collect();
        assert_eq!(ours.len(), 2, "the balanced batch is left out");
        assert_eq!(amount(ours[0], "DebitAmount"), dec("5.5"));
        assert_eq!(ours[0]["PeriodID"]["value"], p11);
        assert_eq!(ours[0]["Posted"]["value"], true);
        let mut with_unreleased = q;
        with_unreleased["IncludeUnreleased"] = serde_json::json!({"value": true});
        let (_, body) = ask(&store, "AccountDetailsForPeriodInquiry", with_unreleased).await;
        let n = body["Results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["BatchNumber"]["value"]
                    .as_str()
                    .unwrap()
                    .starts_with("ZZ")
            })
            .count();
        assert_eq!(n, 4);
    }
}
