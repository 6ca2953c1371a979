//! Deterministic demo data from [`crate::seed`]: the same options give the
//! same records, ids and timestamps on every run.
//!
//! `LastModifiedDateTime` values are spread over 2026 and deliberately not
//! in key order (a permutation of the record index), so an incremental sync
//! that assumes "key order = modification order" fails its tests.

use rust_decimal::Decimal;

use super::schema::{Schema, schema};
use super::store::{Store, Table};
use super::value::{Row, Val, date_ms, det_uuid};
use crate::seed;

/// How many records of each generated entity to seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSize {
    /// Journal transactions, four lines each (up to 100 000 for benchmarks).
    pub journal_transactions: usize,
    /// AP bills with one to three lines.
    pub bills: usize,
    /// AP checks, each applied to a bill.
    pub checks: usize,
    /// Purchase orders with lines.
    pub purchase_orders: usize,
    /// Stock items.
    pub stock_items: usize,
    /// Non-stock items.
    pub non_stock_items: usize,
}

impl Default for DataSize {
    fn default() -> Self {
        DataSize {
            journal_transactions: 60,
            bills: 40,
            checks: 20,
            purchase_orders: 15,
            stock_items: 25,
            non_stock_items: 10,
        }
    }
}

/// 2026-01-05T08:00:00Z: the first modification time of the seed.
const BASE_MS: i64 = 1_767_600_000_000;
/// Modification times span 280 days.
const SPAN_MS: i64 = 280 * 24 * 3600 * 1000;

/// The modification time of record `i` of `n` of stream `kind`.
fn spread(kind: u64, i: u64, n: u64) -> i64 {
    let n = n.max(1);
    // 7919 is prime, so i -> i*7919 mod n is a permutation when n is not a
    // multiple of it.
    let p = if n.is_multiple_of(7919) {
        i
    } else {
        (i * 7919 + kind * 13) % n
    };
    BASE_MS + (p as i64) * (SPAN_MS / n as i64) + ((i as i64 * 37) % 1000)
}

/// A subaccount code in the form the real API stores and serves it: the
/// segments without the display separator (`"100-000"` -> `"100000"`, see
/// [`seed::Subaccount`]).
pub(crate) fn raw_subaccount(cd: &'static str) -> Val {
    match seed::SUBACCOUNTS.iter().find(|s| s.cd == cd) {
        Some(s) => Val::Static(s.raw),
        None => Val::Str(cd.replace('-', "").into_boxed_str()),
    }
}

fn idx(s: &Schema, f: &str) -> u16 {
    s.idx(f)
}

fn st(v: &'static str) -> Val {
    Val::Static(v)
}

fn owned(v: String) -> Val {
    Val::Str(v.into_boxed_str())
}

fn money(cents: i64) -> Val {
    Val::Dec(Decimal::new(cents, 2))
}

fn month_name(m: u32) -> &'static str {
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ][(m.clamp(1, 12) - 1) as usize]
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let next = if m == 12 {
        date_ms(y + 1, 1, 1)
    } else {
        date_ms(y, m + 1, 1)
    };
    ((next - date_ms(y, m, 1)) / 86_400_000) as u32
}

fn account_desc(cd: &str) -> &'static str {
    seed::ACCOUNTS
        .iter()
        .find(|a| a.cd == cd)
        .map_or("", |a| a.description)
}

/// Seed every table.
pub(crate) fn seed_all(store: &mut Store, size: &DataSize) {
    accounts(store);
    subaccounts(store);
    ledgers(store);
    periods(store);
    let n_vendors = seed::VENDORS.len() as u64;
    for i in 0..n_vendors {
        let row = vendor(i, n_vendors);
        add(store, "Vendor", row);
    }
    let plan: [(&str, usize); 6] = [
        ("StockItem", size.stock_items),
        ("NonStockItem", size.non_stock_items),
        ("Bill", size.bills),
        ("Check", size.checks),
        ("PurchaseOrder", size.purchase_orders),
        ("JournalTransaction", size.journal_transactions),
    ];
    for (entity, n) in plan {
        for i in 0..n as u64 {
            let row = generate(store.table_mut(entity), i, n as u64);
            add(store, entity, row);
        }
    }
}

fn add(store: &mut Store, entity: &str, row: Row) {
    let s = store.table(entity).schema;
    for f in ["LastModifiedDateTime", "LastModified"] {
        if let Some((i, _)) = s.field(f)
            && let Some(ms) = row.get(i).and_then(Val::as_dt)
        {
            store.observe_ms(ms);
        }
    }
    let t = store.table_mut(entity);
    t.generated += 1;
    t.put(row);
}

/// Record `i` of `n` of a generated entity (numbered entities take the next
/// number of `table`). Used by the seed and by mid-listing inserts.
pub(crate) fn generate(table: &mut Table, i: u64, n: u64) -> Row {
    match table.def.name {
        "Vendor" => vendor(i, n),
        "StockItem" => stock_item(i, n),
        "NonStockItem" => non_stock_item(i, n),
        "Bill" => {
            let nbr = table.next_number().unwrap_or_default();
            bill(i, n, nbr)
        }
        "Check" => {
            let nbr = table.next_number().unwrap_or_default();
            check(i, n, nbr)
        }
        "PurchaseOrder" => {
            let nbr = table.next_number().unwrap_or_default();
            purchase_order(i, n, nbr)
        }
        "JournalTransaction" => {
            let nbr = table.next_number().unwrap_or_default();
            journal(i, n, nbr)
        }
        // Reference data is not generated beyond the seed.
        _ => Row::default(),
    }
}

/// Whether [`generate`] can make new records of `entity`.
pub(crate) fn can_generate(entity: &str) -> bool {
    matches!(
        entity,
        "Vendor"
            | "StockItem"
            | "NonStockItem"
            | "Bill"
            | "Check"
            | "PurchaseOrder"
            | "JournalTransaction"
    )
}

fn accounts(store: &mut Store) {
    let s = schema("Account").expect("catalogue");
    let n = seed::ACCOUNTS.len() as u64;
    for (i, a) in seed::ACCOUNTS.iter().enumerate() {
        let ms = spread(1, i as u64, n);
        let class = match a.kind {
            seed::AccountType::Asset => "ASSETS",
            seed::AccountType::Liability => "LIABILITIES",
            seed::AccountType::Income => "INCOME",
            seed::AccountType::Expense => "EXPENSES",
        };
        let cash = a.cd == "10100" || a.cd == "10200";
        let row = Row::new(det_uuid(1, i as u64))
            .with(idx(s, "AccountCD"), st(a.cd))
            .with(idx(s, "AccountClass"), st(class))
            .with(idx(s, "AccountID"), Val::Int(a.id as i64))
            .with(idx(s, "Active"), Val::Bool(a.active))
            .with(idx(s, "CashAccount"), Val::Bool(cash))
            .with(idx(s, "ChartOfAccountsOrder"), Val::Int(i as i64))
            .with(idx(s, "CreatedDateTime"), Val::Dt(BASE_MS - 86_400_000))
            .with(idx(s, "CurrencyID"), st(seed::CURRENCY))
            .with(idx(s, "Description"), st(a.description))
            .with(idx(s, "LastModifiedDateTime"), Val::Dt(ms))
            .with(idx(s, "PostOption"), st("Summary"))
            .with(idx(s, "RequireUnits"), Val::Bool(false))
            .with(idx(s, "Secured"), Val::Bool(false))
            .with(idx(s, "Type"), st(a.kind.label()))
            .with(idx(s, "UseDefaultSubaccount"), Val::Bool(false));
        add(store, "Account", row);
    }
}

fn subaccounts(store: &mut Store) {
    let s = schema("Subaccount").expect("catalogue");
    for (i, sub) in seed::SUBACCOUNTS.iter().enumerate() {
        let row = Row::new(det_uuid(2, i as u64))
            .with(idx(s, "Active"), Val::Bool(sub.active))
            .with(idx(s, "Description"), st(sub.description))
            .with(idx(s, "Secured"), Val::Bool(false))
            .with(idx(s, "SubaccountCD"), raw_subaccount(sub.cd))
            .with(idx(s, "SubaccountID"), Val::Int(sub.id as i64));
        add(store, "Subaccount", row);
    }
}

/// The company all branches belong to.
pub(crate) const COMPANY_ID: &str = "MLDEMO";
const COMPANY_NAME: &str = "ML Demo Company";

fn ledgers(store: &mut Store) {
    let s = schema("Ledger").expect("catalogue");
    let lb = schema("LedgerBranches").expect("catalogue");
    let lc = schema("LedgerCompanies").expect("catalogue");
    let mut row = Row::new(det_uuid(3, 0))
        .with(idx(s, "ConsolidationSource"), Val::Bool(false))
        .with(idx(s, "Currency"), st(seed::CURRENCY))
        .with(idx(s, "Description"), st("Actual Ledger"))
        .with(idx(s, "LastModifiedDateTime"), Val::Dt(spread(3, 0, 1)))
        .with(idx(s, "LedgerID"), st(seed::LEDGER))
        .with(idx(s, "Type"), st("Actual"));
    for (i, b) in seed::BRANCHES.iter().enumerate() {
        row.kids_mut(idx(s, "Branches")).push(
            Row::new(det_uuid(3, 100 + i as u64))
                .with(idx(lb, "Active"), Val::Bool(true))
                .with(idx(lb, "BranchID"), st(b.id))
                .with(idx(lb, "BranchName"), st(b.name))
                .with(idx(lb, "CompanyName"), st(COMPANY_NAME)),
        );
    }
    row.kids_mut(idx(s, "Companies")).push(
        Row::new(det_uuid(3, 200))
            .with(idx(lc, "Active"), Val::Bool(true))
            .with(idx(lc, "Company"), st(COMPANY_ID))
            .with(idx(lc, "CompanyName"), st(COMPANY_NAME))
            .with(
                idx(lc, "CompanyType"),
                st("With Branches Not Requiring Balancing"),
            ),
    );
    add(store, "Ledger", row);
}

/// Financial years served: the year before [`seed::FINANCIAL_YEAR`] (all
/// closed) and that year (closed up to [`seed::LAST_CLOSED_MONTH`]).
fn periods(store: &mut Store) {
    let s = schema("FinancialPeriod").expect("catalogue");
    let d = schema("FinancialPeriodDetail").expect("catalogue");
    for (yi, year) in [seed::FINANCIAL_YEAR - 1, seed::FINANCIAL_YEAR]
        .into_iter()
        .enumerate()
    {
        let mut row = Row::new(det_uuid(4, yi as u64))
            .with(
                idx(s, "CreatedDateTime"),
                Val::Dt(BASE_MS - 86_400_000 * 400),
            )
            .with(idx(s, "FinancialYear"), owned(year.to_string()))
            .with(
                idx(s, "LastModifiedDateTime"),
                Val::Dt(spread(4, yi as u64, 2)),
            )
            .with(idx(s, "NbrOfPeriods"), Val::Int(12))
            .with(idx(s, "StartDate"), Val::Dt(date_ms(year, 1, 1)))
            .with(idx(s, "UserDefinedPeriods"), Val::Bool(false));
        for m in 1..=12u32 {
            let open = year == seed::FINANCIAL_YEAR && seed::period_is_open(m);
            let days = days_in_month(year, m);
            row.kids_mut(idx(s, "Details")).push(
                Row::new(det_uuid(4, 100 + yi as u64 * 12 + m as u64))
                    .with(idx(d, "AdjustmentPeriod"), Val::Bool(false))
                    .with(idx(d, "ClosedInAP"), Val::Bool(!open))
                    .with(idx(d, "ClosedInAR"), Val::Bool(!open))
                    .with(idx(d, "ClosedInCA"), Val::Bool(!open))
                    .with(idx(d, "ClosedInFA"), Val::Bool(!open))
                    .with(idx(d, "ClosedInIN"), Val::Bool(!open))
                    .with(idx(d, "Description"), st(month_name(m)))
                    .with(idx(d, "EndDate"), Val::Dt(date_ms(year, m, days)))
                    .with(idx(d, "FinancialPeriodID"), owned(format!("{m:02}{year}")))
                    .with(idx(d, "LengthInDays"), Val::Int(days as i64))
                    .with(idx(d, "PeriodNbr"), owned(format!("{m:02}")))
                    .with(idx(d, "StartDate"), Val::Dt(date_ms(year, m, 1)))
                    .with(idx(d, "Status"), st(if open { "Open" } else { "Closed" })),
            );
        }
        add(store, "FinancialPeriod", row);
    }
}

fn vendor(i: u64, n: u64) -> Row {
    let s = schema("Vendor").expect("catalogue");
    let c = schema("Contact").expect("catalogue");
    let a = schema("Address").expect("catalogue");
    let (id, name, class, terms, status): (Val, Val, &'static str, &'static str, &'static str) =
        match seed::VENDORS.get(i as usize) {
            Some(v) => (st(v.id), st(v.name), v.class, v.terms, v.status),
            None => (
                owned(format!("V{:06}", i + 1)),
                owned(format!("Generated Vendor {}", i + 1)),
                "DEFAULT",
                "30D",
                "Active",
            ),
        };
    let email = owned(format!("ap{}@vendor{}.example", i + 1, i + 1));
    let ms = spread(5, i, n);
    let mut row = Row::new(det_uuid(5, i))
        .with(idx(s, "APAccount"), st("20000"))
        .with(idx(s, "APSubaccount"), raw_subaccount("000-000"))
        .with(idx(s, "CashAccount"), st("10200"))
        .with(
            idx(s, "CreatedDateTime"),
            Val::Dt(BASE_MS - 86_400_000 * 30),
        )
        .with(idx(s, "CurrencyID"), st(seed::CURRENCY))
        .with(idx(s, "LastModifiedDateTime"), Val::Dt(ms))
        .with(idx(s, "LegalName"), name.clone())
        .with(idx(s, "LocationName"), st("Primary Location"))
        .with(idx(s, "PaymentMethod"), st("CHECK"))
        .with(idx(s, "Status"), st(status))
        .with(idx(s, "Terms"), st(terms))
        .with(idx(s, "VendorClass"), st(class))
        .with(idx(s, "VendorID"), id)
        .with(idx(s, "VendorName"), name.clone());
    let address = Row::new(det_uuid(5, 10_000 + i))
        .with(
            idx(a, "AddressLine1"),
            owned(format!("{} Main Street", 100 + i)),
        )
        .with(
            idx(a, "City"),
            st(["Seattle", "Portland", "Denver", "Austin"][(i % 4) as usize]),
        )
        .with(idx(a, "Country"), st("US"))
        .with(idx(a, "PostalCode"), owned(format!("98{:03}", i % 1000)))
        .with(
            idx(a, "State"),
            st(["WA", "OR", "CO", "TX"][(i % 4) as usize]),
        );
    let mut contact = Row::new(det_uuid(5, 20_000 + i))
        .with(idx(c, "CompanyName"), name.clone())
        .with(idx(c, "DisplayName"), name)
        .with(idx(c, "Email"), email)
        .with(idx(c, "Phone1"), owned(format!("+1 555 01{:02}", i % 100)));
    contact.kids_mut(idx(c, "Address")).push(address);
    row.kids_mut(idx(s, "MainContact")).push(contact);
    row
}

const ITEMS: &[(&str, &str)] = &[
    ("CPU", "Processor"),
    ("RAM", "Memory module"),
    ("SSD", "Solid state drive"),
    ("HDD", "Hard disk drive"),
    ("MON", "Monitor"),
    ("KBD", "Keyboard"),
    ("MSE", "Mouse"),
    ("CBL", "Cable"),
];

fn stock_item(i: u64, n: u64) -> Row {
    let s = schema("StockItem").expect("catalogue");
    let (code, desc) = ITEMS[(i as usize) % ITEMS.len()];
    let ms = spread(6, i, n);
    let cost = 1_000 + (i as i64 * 731) % 50_000;
    Row::new(det_uuid(6, i))
        .with(idx(s, "AverageCost"), money(cost))
        .with(idx(s, "BaseUOM"), st("EA"))
        .with(idx(s, "DefaultPrice"), money(cost * 3 / 2))
        .with(idx(s, "DefaultWarehouseID"), st("WHOLESALE"))
        .with(
            idx(s, "Description"),
            owned(format!("{desc} model {}", i + 1)),
        )
        .with(idx(s, "InventoryAccount"), st("10100"))
        .with(idx(s, "InventoryID"), owned(format!("{code}{:05}", i + 1)))
        .with(idx(s, "IsAKit"), Val::Bool(false))
        .with(idx(s, "ItemClass"), st("STOCKITEM"))
        .with(
            idx(s, "ItemStatus"),
            st(if i % 9 == 8 { "Inactive" } else { "Active" }),
        )
        .with(idx(s, "ItemType"), st("Finished Good"))
        .with(idx(s, "LastCost"), money(cost))
        .with(idx(s, "LastModified"), Val::Dt(ms))
        .with(idx(s, "LastModifiedDateTime"), Val::Dt(ms))
        .with(idx(s, "PostingClass"), st("STOCKITEM"))
        .with(idx(s, "PurchaseUOM"), st("EA"))
        .with(idx(s, "SalesUOM"), st("EA"))
        .with(idx(s, "TaxCategory"), st("TAXABLE"))
        .with(idx(s, "ValuationMethod"), st("Average"))
}

fn non_stock_item(i: u64, n: u64) -> Row {
    let s = schema("NonStockItem").expect("catalogue");
    let ms = spread(7, i, n);
    let kinds = [
        ("CONSULT", "Consulting hour", "HOUR"),
        ("SUPPORT", "Support plan", "MONTH"),
        ("TRAVEL", "Travel expense", "EA"),
    ];
    let (code, desc, unit) = kinds[(i as usize) % kinds.len()];
    Row::new(det_uuid(7, i))
        .with(idx(s, "BaseUnit"), st(unit))
        .with(
            idx(s, "CurrentCost"),
            money(5_000 + (i as i64 * 311) % 10_000),
        )
        .with(
            idx(s, "DefaultPrice"),
            money(9_000 + (i as i64 * 311) % 10_000),
        )
        .with(idx(s, "Description"), owned(format!("{desc} {}", i + 1)))
        .with(idx(s, "ExpenseAccount"), st("63000"))
        .with(idx(s, "ExpenseSubaccount"), raw_subaccount("300-000"))
        .with(idx(s, "InventoryID"), owned(format!("{code}{:04}", i + 1)))
        .with(idx(s, "ItemClass"), st("NONSTOCK"))
        .with(idx(s, "ItemStatus"), st("Active"))
        .with(idx(s, "ItemType"), st("Service"))
        .with(idx(s, "LastModifiedDateTime"), Val::Dt(ms))
        .with(idx(s, "PostingClass"), st("NONSTOCK"))
        .with(idx(s, "PurchaseUnit"), st(unit))
        .with(idx(s, "RequireReceipt"), Val::Bool(false))
        .with(idx(s, "SalesAccount"), st("40000"))
        .with(idx(s, "SalesSubaccount"), raw_subaccount("000-000"))
        .with(idx(s, "SalesUnit"), st(unit))
        .with(idx(s, "TaxCategory"), st("EXEMPT"))
}

fn active_vendor(i: u64) -> &'static str {
    let active: Vec<&seed::Vendor> = seed::VENDORS
        .iter()
        .filter(|v| v.status == "Active")
        .collect();
    active[(i as usize) % active.len()].id
}

fn doc_date(i: u64, n: u64) -> (u32, i64) {
    // Documents fall in January to October of the financial year.
    let month = 1 + ((i * 10) / n.max(1)) as u32;
    let day = 1 + (i % 28) as u32;
    (
        month.min(12),
        date_ms(seed::FINANCIAL_YEAR, month.min(12), day),
    )
}

fn bill(i: u64, n: u64, nbr: String) -> Row {
    let s = schema("Bill").expect("catalogue");
    let d = schema("BillDetail").expect("catalogue");
    let (month, date) = doc_date(i, n);
    let expense = ["61000", "62000", "63000", "64000"];
    let lines = 1 + (i % 3);
    let mut total = 0i64;
    let mut row = Row::new(det_uuid(8, i));
    for l in 0..lines {
        let amount = 10_000 + ((i * 131 + l * 977) % 200_000) as i64;
        total += amount;
        let acct = expense[((i + l) % 4) as usize];
        let cc = seed::COST_CENTERS[((i + l) as usize) % seed::COST_CENTERS.len()];
        row.kids_mut(idx(s, "Details")).push(
            Row::new(det_uuid(8, 1_000_000 + i * 4 + l))
                .with(idx(d, "Account"), st(acct))
                .with(idx(d, "Amount"), money(amount))
                .with(idx(d, "Branch"), st(seed::BRANCHES[(i % 3) as usize].id))
                .with(idx(d, "Description"), st(account_desc(acct)))
                .with(idx(d, "ExtendedCost"), money(amount))
                .with(idx(d, "Qty"), Val::Dec(Decimal::ONE))
                .with(idx(d, "Subaccount"), raw_subaccount(cc.subaccount))
                .with(
                    idx(d, "TransactionDescription"),
                    owned(format!("Bill {nbr} line {}", l + 1)),
                )
                .with(idx(d, "UnitCost"), money(amount))
                .with(idx(d, "UOM"), st("EA")),
        );
    }
    let open = seed::period_is_open(month);
    let status = match (open, i % 4) {
        (false, _) => "Closed",
        (true, 0) => "On Hold",
        (true, 1) => "Balanced",
        _ => "Open",
    };
    row.with(idx(s, "Amount"), money(total))
        .with(idx(s, "ApprovedForPayment"), Val::Bool(status != "On Hold"))
        .with(
            idx(s, "Balance"),
            money(if status == "Closed" { 0 } else { total }),
        )
        .with(idx(s, "BranchID"), st(seed::BRANCHES[(i % 3) as usize].id))
        .with(idx(s, "CurrencyID"), st(seed::CURRENCY))
        .with(idx(s, "Date"), Val::Dt(date))
        .with(
            idx(s, "Description"),
            owned(format!("Vendor bill {}", i + 1)),
        )
        .with(idx(s, "DueDate"), Val::Dt(date + 30 * 86_400_000))
        .with(idx(s, "Hold"), Val::Bool(status == "On Hold"))
        .with(idx(s, "IsTaxValid"), Val::Bool(true))
        .with(idx(s, "LastModifiedDateTime"), Val::Dt(spread(8, i, n)))
        .with(idx(s, "LocationID"), st("MAIN"))
        .with(idx(s, "PostPeriod"), owned(seed::period_id(month)))
        .with(idx(s, "ReferenceNbr"), owned(nbr))
        .with(idx(s, "Status"), st(status))
        .with(idx(s, "TaxTotal"), money(0))
        .with(idx(s, "Terms"), st("30D"))
        .with(idx(s, "Type"), st("Bill"))
        .with(idx(s, "Vendor"), st(active_vendor(i)))
        .with(idx(s, "VendorRef"), owned(format!("INV-{:05}", 10_000 + i)))
}

fn check(i: u64, n: u64, nbr: String) -> Row {
    let s = schema("Check").expect("catalogue");
    let d = schema("CheckDetail").expect("catalogue");
    let (_, date) = doc_date(i, n);
    let amount = 10_000 + ((i * 131) % 200_000) as i64;
    let mut row = Row::new(det_uuid(9, i));
    row.kids_mut(idx(s, "Details")).push(
        Row::new(det_uuid(9, 1_000_000 + i))
            .with(idx(d, "AmountPaid"), money(amount))
            .with(idx(d, "Balance"), money(0))
            .with(idx(d, "CashDiscountBalance"), money(0))
            .with(idx(d, "DocType"), st("Bill"))
            .with(idx(d, "ReferenceNbr"), owned(format!("{:06}", i + 1))),
    );
    row.with(idx(s, "ApplicationDate"), Val::Dt(date + 20 * 86_400_000))
        .with(idx(s, "CashAccount"), st("10200"))
        .with(idx(s, "CurrencyID"), st(seed::CURRENCY))
        .with(idx(s, "Description"), owned(format!("Payment {}", i + 1)))
        .with(idx(s, "Hold"), Val::Bool(false))
        .with(idx(s, "LastModifiedDateTime"), Val::Dt(spread(9, i, n)))
        .with(idx(s, "PaymentAmount"), money(amount))
        .with(idx(s, "PaymentMethod"), st("CHECK"))
        .with(idx(s, "PaymentRef"), owned(format!("CHK{:05}", 1000 + i)))
        .with(idx(s, "ReferenceNbr"), owned(nbr))
        .with(idx(s, "Status"), st("Closed"))
        .with(idx(s, "Type"), st("Payment"))
        .with(idx(s, "UnappliedBalance"), money(0))
        .with(idx(s, "Vendor"), st(active_vendor(i)))
}

fn purchase_order(i: u64, n: u64, nbr: String) -> Row {
    let s = schema("PurchaseOrder").expect("catalogue");
    let d = schema("PurchaseOrderDetail").expect("catalogue");
    let (_, date) = doc_date(i, n);
    let mut row = Row::new(det_uuid(10, i));
    let mut total = 0i64;
    for l in 0..2u64 {
        let qty = 1 + ((i + l) % 10) as i64;
        let cost = 2_500 + ((i * 53 + l * 17) % 10_000) as i64;
        total += qty * cost;
        let (code, _) = ITEMS[((i + l) as usize) % ITEMS.len()];
        row.kids_mut(idx(s, "Details")).push(
            Row::new(det_uuid(10, 1_000_000 + i * 2 + l))
                .with(idx(d, "Account"), st("10100"))
                .with(idx(d, "BranchID"), st("HQ"))
                .with(idx(d, "ExtendedCost"), money(qty * cost))
                .with(
                    idx(d, "InventoryID"),
                    owned(format!("{code}{:05}", ((i + l) % 25) + 1)),
                )
                .with(idx(d, "LineNbr"), Val::Int(l as i64 + 1))
                .with(idx(d, "LineType"), st("Goods for IN"))
                .with(idx(d, "OrderNbr"), owned(nbr.clone()))
                .with(idx(d, "OrderQty"), Val::Dec(Decimal::new(qty, 0)))
                .with(idx(d, "OrderType"), st("Normal"))
                .with(idx(d, "Subaccount"), raw_subaccount("000-000"))
                .with(idx(d, "UnitCost"), money(cost))
                .with(idx(d, "UOM"), st("EA"))
                .with(idx(d, "WarehouseID"), st("WHOLESALE")),
        );
    }
    let status = ["Open", "Closed", "On Hold", "Pending Approval"][(i % 4) as usize];
    row.with(idx(s, "BaseCurrencyID"), st(seed::CURRENCY))
        .with(idx(s, "Branch"), st("HQ"))
        .with(idx(s, "ControlTotal"), money(total))
        .with(idx(s, "CurrencyID"), st(seed::CURRENCY))
        .with(idx(s, "Date"), Val::Dt(date))
        .with(
            idx(s, "Description"),
            owned(format!("Purchase order {}", i + 1)),
        )
        .with(idx(s, "Hold"), Val::Bool(status == "On Hold"))
        .with(idx(s, "LastModifiedDateTime"), Val::Dt(spread(10, i, n)))
        .with(idx(s, "LineTotal"), money(total))
        .with(idx(s, "Location"), st("MAIN"))
        .with(idx(s, "OrderNbr"), owned(nbr))
        .with(idx(s, "OrderTotal"), money(total))
        .with(idx(s, "Status"), st(status))
        .with(idx(s, "TaxTotal"), money(0))
        .with(idx(s, "Terms"), st("30D"))
        .with(idx(s, "Type"), st("Normal"))
        .with(idx(s, "VendorID"), st(active_vendor(i)))
}

fn journal(i: u64, n: u64, nbr: String) -> Row {
    let s = schema("JournalTransaction").expect("catalogue");
    let d = schema("JournalTransactionDetail").expect("catalogue");
    let (month, date) = doc_date(i, n);
    let branch = seed::BRANCHES[(i % seed::BRANCHES.len() as u64) as usize].id;
    let a = 5_000 + ((i * 7_919) % 400_000) as i64;
    let b = 2_500 + ((i * 104_729) % 150_000) as i64;
    let expense = ["61000", "62000", "63000", "64000"];
    let e1 = expense[(i % 4) as usize];
    let e2 = expense[((i + 1) % 4) as usize];
    let cc1 = seed::COST_CENTERS[(i as usize) % seed::COST_CENTERS.len()].subaccount;
    let cc2 = seed::COST_CENTERS[(i as usize + 2) % seed::COST_CENTERS.len()].subaccount;
    let lines: [(&'static str, &'static str, i64, i64); 4] = [
        (e1, cc1, a, 0),
        (e2, cc2, b, 0),
        ("20000", "000-000", 0, a),
        ("10200", "000-000", 0, b),
    ];
    let mut row = Row::new(det_uuid(11, i));
    let details = row.kids_mut(idx(s, "Details"));
    details.reserve_exact(4);
    for (l, (acct, sub, debit, credit)) in lines.into_iter().enumerate() {
        details.push(
            Row::new(det_uuid(11, 1_000_000_000 + i * 4 + l as u64))
                .with(idx(d, "Account"), st(acct))
                .with(idx(d, "BranchID"), st(branch))
                .with(idx(d, "CreditAmount"), money(credit))
                .with(idx(d, "DebitAmount"), money(debit))
                .with(idx(d, "Description"), st(account_desc(acct)))
                .with(idx(d, "IsNonPM"), Val::Bool(true))
                .with(idx(d, "LineNbr"), Val::Int(l as i64 + 1))
                .with(idx(d, "Qty"), Val::Dec(Decimal::ZERO))
                .with(idx(d, "Subaccount"), raw_subaccount(sub))
                .with(
                    idx(d, "TransactionDescription"),
                    owned(format!("Accrual {} line {}", i + 1, l + 1)),
                ),
        );
    }
    let status = if !seed::period_is_open(month) {
        "Posted"
    } else {
        ["On Hold", "Balanced", "Posted"][(i % 3) as usize]
    };
    let ms = spread(11, i, n);
    row.with(idx(s, "BatchNbr"), owned(nbr))
        .with(idx(s, "BranchID"), st(branch))
        .with(idx(s, "CreatedDateTime"), Val::Dt(ms))
        .with(idx(s, "CurrencyID"), st(seed::CURRENCY))
        .with(
            idx(s, "Description"),
            owned(format!("Monthly accrual {}", i + 1)),
        )
        .with(idx(s, "Hold"), Val::Bool(status == "On Hold"))
        .with(idx(s, "LastModifiedDateTime"), Val::Dt(ms))
        .with(idx(s, "LedgerID"), st(seed::LEDGER))
        .with(idx(s, "Module"), st("GL"))
        .with(idx(s, "PostPeriod"), owned(seed::period_id(month)))
        .with(idx(s, "Status"), st(status))
        .with(idx(s, "TransactionDate"), Val::Dt(date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acumatica::render::journal_totals;

    #[test]
    fn deterministic_and_balanced() {
        let mut a = Store::new();
        let mut b = Store::new();
        seed_all(&mut a, &DataSize::default());
        seed_all(&mut b, &DataSize::default());
        let ja: Vec<_> = a.table("JournalTransaction").all().map(|r| r.id).collect();
        let jb: Vec<_> = b.table("JournalTransaction").all().map(|r| r.id).collect();
        assert_eq!(ja, jb);
        assert_eq!(ja.len(), 60);
        for r in a.table("JournalTransaction").all() {
            let (d, c) = journal_totals(r);
            assert_eq!(d, c);
            assert!(d > Decimal::ZERO);
        }
        assert_eq!(a.table("Account").len(), seed::ACCOUNTS.len());
        assert_eq!(a.table("Vendor").len(), seed::VENDORS.len());
        assert_eq!(a.table("FinancialPeriod").len(), 2);
    }

    #[test]
    fn modification_times_are_not_in_key_order() {
        let mut s = Store::new();
        seed_all(&mut s, &DataSize::default());
        let t = s.table("JournalTransaction");
        let lm = t.schema.idx("LastModifiedDateTime");
        let times: Vec<i64> = t
            .all()
            .map(|r| r.get(lm).and_then(Val::as_dt).unwrap())
            .collect();
        assert!(times.windows(2).any(|w| w[0] > w[1]));
        let mut sorted = times.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), times.len(), "distinct times");
    }
}
