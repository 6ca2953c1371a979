//! The rows behind the explores, all derived from [`crate::seed`].
//!
//! The small finance explores are built in memory per query (a few hundred
//! rows). The generated explores (`finance.gl_lines`, `bench.events`) compute
//! any row from its id alone, so a source can start anywhere, run in either
//! direction and never holds more than the row it is filling.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{Datelike, Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};

use super::catalog::{
    ExploreDef, SourceKind, alloc_col, event_col, line_col, summary_col, vendor_col,
};
use super::config::{DataProblem, DataProblemKind, LookerConfig, UNMAPPED_COST_CENTER};
use super::value::Value;
use crate::seed::{self, AccountType};

/// The subaccount of lines that belong to no cost center. Looker shows
/// subaccounts with their segment separator, as [`seed::Subaccount::cd`];
/// Acumatica has them without ([`seed::Subaccount::raw`]).
pub const DEFAULT_SUBACCOUNT: &str = seed::SUBACCOUNTS[0].cd;

/// One line of the overhead allocation (explore `finance.overhead_allocation`).
///
/// For each period and branch the journal `ALLOC-<period>-<branch>` credits
/// the pool account ([`seed::OVERHEAD_POOL_ACCOUNT`]) with the period's pool
/// (line 1) and debits [`seed::ALLOCATED_OVERHEAD_ACCOUNT`] on each cost
/// center's subaccount with its share (lines 2..). Shares are cut to cents
/// and the remainder goes to the first cost center, so every journal sums to
/// exactly zero unless a [`DataProblem`] says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocationLine {
    /// `ALLOC-<period>-<branch>-<line_nbr>`.
    pub line_id: String,
    /// `ALLOC-<period>-<branch>`: the natural key of the journal.
    pub journal_key: String,
    /// Financial period `MMYYYY`.
    pub period: String,
    /// Month of [`seed::FINANCIAL_YEAR`].
    pub month: u32,
    /// Last day of the period.
    pub posting_date: NaiveDate,
    /// Branch id.
    pub branch: &'static str,
    /// 1 for the pool credit, then one per cost center.
    pub line_nbr: u32,
    /// Cost center name (`None` on the pool line).
    pub cost_center: Option<&'static str>,
    /// Subaccount (`None` for an unmapped cost center).
    pub subaccount: Option<&'static str>,
    /// GL account.
    pub account: &'static str,
    /// Line description.
    pub description: String,
    /// Signed amount, debit positive.
    pub amount: Decimal,
}

/// The shared overhead pool of a month at the branch with index
/// `branch_index` in [`seed::BRANCHES`]: deterministic, with cents that do
/// not split evenly.
pub fn overhead_pool(month: u32, branch_index: usize) -> Decimal {
    let (m, b) = (i64::from(month), branch_index as i64);
    let cents = 1_250_000 + 173_311 * b + 41_177 * m + (m * 37 + b * 11) % 97;
    Decimal::new(cents, 2)
}

fn last_day(month: u32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(seed::FINANCIAL_YEAR, month, 1).unwrap_or_default();
    first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(first)
}

/// The allocation lines for the configured months and data problems.
pub fn allocation_lines(config: &LookerConfig) -> Vec<AllocationLine> {
    let (first, last) = config.months;
    let inactive = seed::ACCOUNTS
        .iter()
        .find(|a| !a.active)
        .map_or("65000", |a| a.cd);
    let mut out = Vec::new();
    for month in first..=last {
        let period = seed::period_id(month);
        for (bi, branch) in seed::BRANCHES.iter().enumerate() {
            let pool = overhead_pool(month, bi);
            let journal_key = format!("ALLOC-{period}-{}", branch.id);
            let mut lines = Vec::with_capacity(seed::COST_CENTERS.len() + 1);
            lines.push(AllocationLine {
                line_id: format!("{journal_key}-1"),
                journal_key: journal_key.clone(),
                period: period.clone(),
                month,
                posting_date: last_day(month),
                branch: branch.id,
                line_nbr: 1,
                cost_center: None,
                subaccount: Some(DEFAULT_SUBACCOUNT),
                account: seed::OVERHEAD_POOL_ACCOUNT,
                description: format!("Overhead pool {period} {}", branch.id),
                amount: -pool,
            });
            let shares: Vec<Decimal> = seed::COST_CENTERS
                .iter()
                .map(|cc| {
                    (pool * Decimal::from(cc.weight_bp) / Decimal::from(10_000))
                        .round_dp_with_strategy(2, RoundingStrategy::ToZero)
                })
                .collect();
            let remainder = pool - shares.iter().copied().sum::<Decimal>();
            for (i, (cc, share)) in seed::COST_CENTERS.iter().zip(shares).enumerate() {
                let nbr = i as u32 + 2;
                lines.push(AllocationLine {
                    line_id: format!("{journal_key}-{nbr}"),
                    journal_key: journal_key.clone(),
                    period: period.clone(),
                    month,
                    posting_date: last_day(month),
                    branch: branch.id,
                    line_nbr: nbr,
                    cost_center: Some(cc.name),
                    subaccount: Some(cc.subaccount),
                    account: seed::ALLOCATED_OVERHEAD_ACCOUNT,
                    description: format!("Overhead share {} {period}", cc.name),
                    amount: if i == 0 { share + remainder } else { share },
                });
            }
            for p in config
                .data_problems
                .iter()
                .filter(|p| p.month == month && p.branch == branch.id)
            {
                if let Some(line) = lines.last_mut() {
                    apply_problem(line, p, inactive);
                }
            }
            out.extend(lines);
        }
    }
    out
}

fn apply_problem(line: &mut AllocationLine, problem: &DataProblem, inactive: &'static str) {
    match problem.kind {
        DataProblemKind::UnmappedCostCenter => {
            line.cost_center = Some(UNMAPPED_COST_CENTER);
            line.subaccount = None;
            line.description = format!("Overhead share {UNMAPPED_COST_CENTER} {}", line.period);
        }
        DataProblemKind::InactiveAccount => line.account = inactive,
        DataProblemKind::UnbalancedJournal => line.amount += Decimal::new(1, 2),
    }
}

fn money(d: Decimal) -> Value {
    Value::Dec(d)
}

fn zero() -> Decimal {
    Decimal::new(0, 2)
}

fn opt_text(s: Option<&'static str>) -> Value {
    s.map_or(Value::Null, Value::text)
}

fn allocation_rows(config: &LookerConfig) -> Vec<Vec<Value>> {
    use alloc_col::*;
    allocation_lines(config)
        .into_iter()
        .map(|l| {
            let mut row = vec![Value::Null; COUNT];
            row[LINE_ID] = Value::Str(Cow::Owned(l.line_id));
            row[JOURNAL] = Value::Str(Cow::Owned(l.journal_key));
            row[PERIOD] = Value::Str(Cow::Owned(l.period));
            row[DATE] = Value::Date(l.posting_date);
            row[BRANCH] = Value::text(l.branch);
            row[LINE_NBR] = Value::Int(i64::from(l.line_nbr));
            row[COST_CENTER] = opt_text(l.cost_center);
            row[SUBACCOUNT] = opt_text(l.subaccount);
            row[ACCOUNT] = Value::text(l.account);
            row[DESCRIPTION] = Value::Str(Cow::Owned(l.description));
            row[AMOUNT] = money(l.amount);
            row[DEBIT] = money(if l.amount > Decimal::ZERO {
                l.amount
            } else {
                zero()
            });
            row[CREDIT] = money(if l.amount < Decimal::ZERO {
                -l.amount
            } else {
                zero()
            });
            row
        })
        .collect()
}

fn account(cd: &str) -> Option<&'static seed::Account> {
    seed::ACCOUNTS.iter().find(|a| a.cd == cd)
}

/// Active expense accounts other than the allocated-overhead account: where
/// bills are booked.
fn expense_accounts() -> &'static [&'static str] {
    static LIST: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        seed::ACCOUNTS
            .iter()
            .filter(|a| {
                a.kind == AccountType::Expense
                    && a.active
                    && a.cd != seed::ALLOCATED_OVERHEAD_ACCOUNT
            })
            .map(|a| a.cd)
            .collect()
    });
    &LIST
}

const PAYABLES_ACCOUNT: &str = "20000";
const REVENUE_ACCOUNT: &str = "40000";
const CASH_ACCOUNT: &str = "10200";

fn summary_rows(config: &LookerConfig) -> Vec<Vec<Value>> {
    use summary_col::*;
    let (first, last) = config.months;
    let mut out = Vec::new();
    for month in first..=last {
        let period = seed::period_id(month);
        for (bi, branch) in seed::BRANCHES.iter().enumerate() {
            // (account, subaccount, debit, credit)
            let mut entries: Vec<(&'static str, &'static str, Decimal, Decimal)> = Vec::new();
            let mut payable = Decimal::ZERO;
            for (k, cd) in expense_accounts().iter().enumerate() {
                let amount = if *cd == seed::OVERHEAD_POOL_ACCOUNT {
                    overhead_pool(month, bi)
                } else {
                    let cents = 150_000
                        + 31_337 * (k as i64 + 1)
                        + 7_919 * i64::from(month)
                        + 2_003 * bi as i64;
                    Decimal::new(cents, 2)
                };
                let sub = if *cd == seed::OVERHEAD_POOL_ACCOUNT {
                    DEFAULT_SUBACCOUNT
                } else {
                    seed::COST_CENTERS[(k + month as usize) % seed::COST_CENTERS.len()].subaccount
                };
                payable += amount;
                entries.push((cd, sub, amount, zero()));
            }
            entries.push((PAYABLES_ACCOUNT, DEFAULT_SUBACCOUNT, zero(), payable));
            let revenue = Decimal::new(
                4_000_000 + 250_013 * bi as i64 + 60_029 * i64::from(month),
                2,
            );
            entries.push((REVENUE_ACCOUNT, DEFAULT_SUBACCOUNT, zero(), revenue));
            entries.push((CASH_ACCOUNT, DEFAULT_SUBACCOUNT, revenue, zero()));
            for (cd, sub, debit, credit) in entries {
                let Some(acct) = account(cd) else { continue };
                let mut row = vec![Value::Null; COUNT];
                row[ROW_ID] = Value::Str(Cow::Owned(format!("{period}-{}-{cd}-{sub}", branch.id)));
                row[PERIOD] = Value::Str(Cow::Owned(period.clone()));
                row[BRANCH] = Value::text(branch.id);
                row[ACCOUNT] = Value::text(acct.cd);
                row[ACCOUNT_DESCRIPTION] = Value::text(acct.description);
                row[ACCOUNT_TYPE] = Value::text(acct.kind.label());
                row[SUBACCOUNT] = Value::text(sub);
                row[DEBIT] = money(debit);
                row[CREDIT] = money(credit);
                row[NET] = money(debit - credit);
                out.push(row);
            }
        }
    }
    out
}

fn vendor_rows() -> Vec<Vec<Value>> {
    use vendor_col::*;
    let base = NaiveDate::from_ymd_opt(seed::FINANCIAL_YEAR - 1, 1, 15).unwrap_or_default();
    seed::VENDORS
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (approval, approved) = match v.status {
                "Active" => ("Approved", true),
                "On Hold" => ("Suspended", false),
                _ => ("Revoked", false),
            };
            let expense = match (v.status, v.class) {
                ("Inactive", _) => seed::ACCOUNTS
                    .iter()
                    .find(|a| !a.active)
                    .map_or("65000", |a| a.cd),
                (_, "UTILITY") => "62000",
                (_, "SERVICES") => "63000",
                _ => "61000",
            };
            let mut row = vec![Value::Null; COUNT];
            row[ID] = Value::text(v.id);
            row[NAME] = Value::text(v.name);
            row[CLASS] = Value::text(v.class);
            row[TERMS] = Value::text(v.terms);
            row[STATUS] = Value::text(v.status);
            row[APPROVAL] = Value::text(approval);
            row[IS_APPROVED] = Value::YesNo(approved);
            row[APPROVED_DATE] = if v.status == "Inactive" {
                Value::Null
            } else {
                Value::Date(base + Days::new(30 * i as u64))
            };
            row[ACCOUNT] = Value::text(expense);
            row[SUBACCOUNT] =
                Value::text(seed::COST_CENTERS[i % seed::COST_CENTERS.len()].subaccount);
            row[SPEND_LIMIT] = money(Decimal::new(2_500_000 * (i as i64 + 1), 2));
            row
        })
        .collect()
}

/// A stream of source rows, filled into a caller-owned row.
pub(crate) trait RowSource: Send {
    /// Fills `row` (one value per source column) with the next row;
    /// `false` when there are no more rows.
    fn next_into(&mut self, row: &mut [Value]) -> bool;
}

/// Rows built in memory.
pub(crate) struct TableSource {
    rows: std::vec::IntoIter<Vec<Value>>,
}

impl RowSource for TableSource {
    fn next_into(&mut self, row: &mut [Value]) -> bool {
        match self.rows.next() {
            Some(src) => {
                for (dst, v) in row.iter_mut().zip(src) {
                    *dst = v;
                }
                true
            }
            None => false,
        }
    }
}

/// Ids of a generated explore to produce, inclusive, already clipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdRange {
    pub lo: u64,
    pub hi: u64,
}

/// Rows computed from their id, in id order or reversed.
pub(crate) struct GeneratedSource {
    kind: SourceKind,
    total: u64,
    next: u64,
    end: u64,
    desc: bool,
    done: bool,
    unflushed: u64,
    generated: Arc<AtomicU64>,
}

impl GeneratedSource {
    fn flush(&mut self) {
        if self.unflushed > 0 {
            self.generated.fetch_add(self.unflushed, Ordering::Relaxed);
            self.unflushed = 0;
        }
    }
}

impl Drop for GeneratedSource {
    fn drop(&mut self) {
        self.flush();
    }
}

impl RowSource for GeneratedSource {
    fn next_into(&mut self, row: &mut [Value]) -> bool {
        if self.done {
            return false;
        }
        let id = self.next;
        if id == self.end {
            self.done = true;
        } else if self.desc {
            self.next -= 1;
        } else {
            self.next += 1;
        }
        match self.kind {
            SourceKind::GlLines => fill_gl_line(self.total, id, row),
            _ => fill_event(self.total, id, row),
        }
        self.unflushed += 1;
        if self.unflushed >= 4096 {
            self.flush();
        }
        true
    }
}

/// Opens the rows of `explore`. `range` and `desc` apply to generated
/// explores only (in-memory ones are buffered and sorted by the caller).
pub(crate) fn open(
    explore: &ExploreDef,
    config: &LookerConfig,
    range: Option<IdRange>,
    desc: bool,
    generated: Arc<AtomicU64>,
) -> Box<dyn RowSource> {
    let total = match explore.source {
        SourceKind::Allocation => return table(allocation_rows(config), &generated),
        SourceKind::GlSummary => return table(summary_rows(config), &generated),
        SourceKind::Vendors => return table(vendor_rows(), &generated),
        SourceKind::GlLines => config.gl_lines_rows,
        SourceKind::Events => config.bench_events_rows,
    };
    let range = range.unwrap_or(IdRange { lo: 1, hi: total });
    let (lo, hi) = (range.lo.max(1), range.hi.min(total));
    let empty = lo > hi;
    Box::new(GeneratedSource {
        kind: explore.source,
        total,
        next: if desc { hi } else { lo },
        end: if desc { lo } else { hi },
        desc,
        done: empty,
        unflushed: 0,
        generated,
    })
}

fn table(rows: Vec<Vec<Value>>, generated: &AtomicU64) -> Box<dyn RowSource> {
    generated.fetch_add(rows.len() as u64, Ordering::Relaxed);
    Box::new(TableSource {
        rows: rows.into_iter(),
    })
}

const DAYS_PER_MONTH: u64 = 28;

/// The 12 * 28 posting days of the generated year, and their periods.
static DAYS: LazyLock<Vec<(NaiveDate, &'static str)>> = LazyLock::new(|| {
    let periods: &'static [String] = Box::leak(
        (1..=12)
            .map(seed::period_id)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    (0..12 * DAYS_PER_MONTH)
        .map(|d| {
            let month = (d / DAYS_PER_MONTH) as u32 + 1;
            let day = (d % DAYS_PER_MONTH) as u32 + 1;
            let date =
                NaiveDate::from_ymd_opt(seed::FINANCIAL_YEAR, month, day).unwrap_or_default();
            (date, periods[month as usize - 1].as_str())
        })
        .collect()
});

const LINE_DESCRIPTIONS: &[&str] = &["Vendor bill", "Card expense", "Accrual", "Recurring charge"];

fn fill_gl_line(total: u64, id: u64, row: &mut [Value]) {
    use line_col::*;
    let pairs = total.div_ceil(2).max(1);
    let p = (id - 1) / 2;
    let day = (p as u128 * DAYS.len() as u128 / pairs as u128) as usize;
    let (date, period) = DAYS[day.min(DAYS.len() - 1)];
    let branch = seed::BRANCHES[(p % seed::BRANCHES.len() as u64) as usize].id;
    let expenses = expense_accounts();
    let cents = 1_000 + (p.wrapping_mul(7_919) % 2_500_000) as i64;
    let amount = Decimal::new(cents, 2);
    row[ID] = Value::Int(id as i64);
    row[JOURNAL] = Value::Int(p as i64 + 1);
    row[PERIOD] = Value::text(period);
    row[DATE] = Value::Date(date);
    row[BRANCH] = Value::text(branch);
    row[DESCRIPTION] =
        Value::text(LINE_DESCRIPTIONS[(p % LINE_DESCRIPTIONS.len() as u64) as usize]);
    if (id - 1).is_multiple_of(2) {
        row[ACCOUNT] = Value::text(expenses[((p / 3) % expenses.len() as u64) as usize]);
        row[SUBACCOUNT] = Value::text(
            seed::COST_CENTERS[(p % seed::COST_CENTERS.len() as u64) as usize].subaccount,
        );
        row[DEBIT] = Value::Dec(amount);
        row[CREDIT] = Value::Dec(zero());
        row[AMOUNT] = Value::Dec(amount);
    } else {
        row[ACCOUNT] = Value::text(PAYABLES_ACCOUNT);
        row[SUBACCOUNT] = Value::text(DEFAULT_SUBACCOUNT);
        row[DEBIT] = Value::Dec(zero());
        row[CREDIT] = Value::Dec(amount);
        row[AMOUNT] = Value::Dec(-amount);
    }
}

const EVENT_KINDS: &[&str] = &["page_view", "login", "export", "query", "download", "share"];

fn fill_event(total: u64, id: u64, row: &mut [Value]) {
    use event_col::*;
    static YEAR_START: LazyLock<NaiveDate> =
        LazyLock::new(|| NaiveDate::from_ymd_opt(seed::FINANCIAL_YEAR, 1, 1).unwrap_or_default());
    let days = u64::from(
        YEAR_START
            .with_year(seed::FINANCIAL_YEAR + 1)
            .map_or(365, |next| (next - *YEAR_START).num_days() as u32),
    );
    let d = ((id - 1) as u128 * days as u128 / total.max(1) as u128) as u64;
    row[ID] = Value::Int(id as i64);
    row[DATE] = Value::Date(*YEAR_START + Days::new(d));
    row[KIND] = Value::text(EVENT_KINDS[(id.wrapping_mul(31) % EVENT_KINDS.len() as u64) as usize]);
    row[USER] = Value::Int(1 + (id.wrapping_mul(7_919) % 10_007) as i64);
    row[VALUE] = Value::Dec(Decimal::new((id.wrapping_mul(104_729) % 100_000) as i64, 2));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn allocation_journals_balance_and_use_seed_references() {
        let lines = allocation_lines(&LookerConfig::default());
        assert_eq!(
            lines.len(),
            12 * seed::BRANCHES.len() * (seed::COST_CENTERS.len() + 1)
        );
        let mut sums: BTreeMap<&str, Decimal> = BTreeMap::new();
        for l in &lines {
            *sums.entry(&l.journal_key).or_default() += l.amount;
            assert!(seed::ACCOUNTS.iter().any(|a| a.cd == l.account && a.active));
            assert!(seed::SUBACCOUNTS.iter().any(|s| Some(s.cd) == l.subaccount));
            assert_eq!(l.amount.scale(), 2, "{l:?}");
        }
        assert!(sums.values().all(|s| s.is_zero()), "{sums:?}");
        // The cut to cents leaves a remainder somewhere: prove it is handled.
        let pool = overhead_pool(1, 0);
        let cut: Decimal = seed::COST_CENTERS
            .iter()
            .map(|c| {
                (pool * Decimal::from(c.weight_bp) / Decimal::from(10_000))
                    .round_dp_with_strategy(2, RoundingStrategy::ToZero)
            })
            .sum();
        assert_ne!(cut, pool);
    }

    #[test]
    fn problems_are_injected_where_asked() {
        let cfg = LookerConfig::default()
            .with_data_problem(DataProblem::unbalanced_journal(10, "EAST"))
            .with_data_problem(DataProblem::unmapped_cost_center(11, "HQ"))
            .with_data_problem(DataProblem::inactive_account(12, "WEST"));
        let lines = allocation_lines(&cfg);
        let sum = |key: &str| {
            lines
                .iter()
                .filter(|l| l.journal_key == key)
                .map(|l| l.amount)
                .sum::<Decimal>()
        };
        assert_eq!(sum("ALLOC-102026-EAST"), Decimal::new(1, 2));
        assert_eq!(sum("ALLOC-112026-HQ"), Decimal::ZERO);
        let unmapped: Vec<_> = lines
            .iter()
            .filter(|l| l.cost_center == Some(UNMAPPED_COST_CENTER))
            .collect();
        assert_eq!(unmapped.len(), 1);
        assert_eq!(unmapped[0].subaccount, None);
        assert_eq!(lines.iter().filter(|l| l.account == "65000").count(), 1);
    }

    #[test]
    fn gl_summary_balances_per_period_and_branch() {
        let rows = summary_rows(&LookerConfig::default());
        let mut sums: BTreeMap<(String, String), Decimal> = BTreeMap::new();
        for r in &rows {
            let key = (
                format!("{:?}", r[summary_col::PERIOD]),
                format!("{:?}", r[summary_col::BRANCH]),
            );
            *sums.entry(key).or_default() += r[summary_col::NET].as_decimal().unwrap();
        }
        assert_eq!(sums.len(), 36);
        assert!(sums.values().all(|s| s.is_zero()));
    }

    #[test]
    fn generated_lines_are_monotonic_and_balanced() {
        let total = 10_001;
        let mut row = vec![Value::Null; line_col::COUNT];
        let mut prev_date = None;
        let mut net = Decimal::ZERO;
        for id in 1..=total {
            fill_gl_line(total, id, &mut row);
            let Value::Date(d) = row[line_col::DATE] else {
                panic!()
            };
            assert!(prev_date.is_none_or(|p| p <= d));
            prev_date = Some(d);
            if id < total {
                net += row[line_col::AMOUNT].as_decimal().unwrap();
            }
        }
        assert_eq!(prev_date.unwrap().month(), 12);
        assert!(net.is_zero());
    }
}
