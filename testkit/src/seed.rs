//! The demo company both fakes are generated from.
//!
//! The Acumatica fake serves these accounts, subaccounts, branches, ledgers
//! and periods as reference data; the Looker fake's finance explores only
//! produce rows that reference them (an allocation that posts cleanly) plus
//! the deliberately broken cases a test asks for. One seed, two systems that
//! agree, as they would at a real customer.

/// The tenant (company login name) of the demo site.
pub const TENANT: &str = "MLDemo";

/// The Default endpoint versions the demo site serves, oldest first.
pub const ENDPOINT_VERSIONS: &[&str] = &["22.200.001", "23.200.001", "24.200.001"];

/// Acumatica build version reported by `GET /entity`.
pub const ACUMATICA_BUILD: &str = "24.212.0035";

/// The ledger journals post to.
pub const LEDGER: &str = "ACTUAL";

/// Base currency of the demo company.
pub const CURRENCY: &str = "USD";

/// A branch of the demo company.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Branch {
    /// Branch ID (CS102000), as `BranchID` fields carry it.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
}

/// Branches; journals are posted per branch.
pub const BRANCHES: &[Branch] = &[
    Branch {
        id: "HQ",
        name: "Headquarters",
    },
    Branch {
        id: "EAST",
        name: "East Region",
    },
    Branch {
        id: "WEST",
        name: "West Region",
    },
];

/// Account type as the GL shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountType {
    /// Balance sheet: assets.
    Asset,
    /// Balance sheet: liabilities.
    Liability,
    /// Profit and loss: income.
    Income,
    /// Profit and loss: expenses.
    Expense,
}

impl AccountType {
    /// The label Acumatica uses in `Account.Type`.
    pub fn label(self) -> &'static str {
        match self {
            AccountType::Asset => "Asset",
            AccountType::Liability => "Liability",
            AccountType::Income => "Income",
            AccountType::Expense => "Expense",
        }
    }
}

/// A GL account of the chart of accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// `AccountCD`.
    pub cd: &'static str,
    /// `AccountID` (the internal integer id).
    pub id: i32,
    /// `Description`.
    pub description: &'static str,
    /// `Type`.
    pub kind: AccountType,
    /// `Active`.
    pub active: bool,
}

/// The chart of accounts. `65000` is inactive on purpose: posting to it must
/// be refused, by the fake and by our validation before it.
pub const ACCOUNTS: &[Account] = &[
    Account {
        cd: "10100",
        id: 1010,
        description: "Petty Cash",
        kind: AccountType::Asset,
        active: true,
    },
    Account {
        cd: "10200",
        id: 1020,
        description: "Company Checking Account",
        kind: AccountType::Asset,
        active: true,
    },
    Account {
        cd: "20000",
        id: 2000,
        description: "Accounts Payable",
        kind: AccountType::Liability,
        active: true,
    },
    Account {
        cd: "40000",
        id: 4000,
        description: "Sales Revenue",
        kind: AccountType::Income,
        active: true,
    },
    Account {
        cd: "61000",
        id: 6100,
        description: "Rent Expense",
        kind: AccountType::Expense,
        active: true,
    },
    Account {
        cd: "62000",
        id: 6200,
        description: "Utilities Expense",
        kind: AccountType::Expense,
        active: true,
    },
    Account {
        cd: "63000",
        id: 6300,
        description: "IT Services Expense",
        kind: AccountType::Expense,
        active: true,
    },
    Account {
        cd: "64000",
        id: 6400,
        description: "Insurance Expense",
        kind: AccountType::Expense,
        active: true,
    },
    Account {
        cd: "65000",
        id: 6500,
        description: "Legacy Marketing (inactive)",
        kind: AccountType::Expense,
        active: false,
    },
    Account {
        cd: "69000",
        id: 6900,
        description: "Shared Overhead Pool",
        kind: AccountType::Expense,
        active: true,
    },
    Account {
        cd: "69100",
        id: 6910,
        description: "Allocated Overhead",
        kind: AccountType::Expense,
        active: true,
    },
];

/// A subaccount: two segments, `department-product`, in both of the forms
/// the demo systems use.
///
/// The two fakes disagree on purpose, as a real warehouse and Acumatica
/// would. Acumatica's contract API serves and takes a segmented
/// `SubaccountCD` as the bare segments, no separator: the official request
/// examples beside `reference/acumatica/FACTS.md` send
/// `"Subaccount": {"value": "000000"}`, and the recorded responses of a
/// real site return `"SalesSubaccount": {"value": "06000000"}`. So the
/// Acumatica fake stores and serves [`Subaccount::raw`]. A warehouse, and
/// so Looker, usually keeps the form people read on screens, with the
/// separator of the segment mask: the Looker fake's rows carry
/// [`Subaccount::cd`]. A flow maps one to the other with a value map (the
/// sandbox's demo config has one), which is what the demo shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subaccount {
    /// The code as people read it, with the segment separator (`100-000`):
    /// what the Looker fake shows.
    pub cd: &'static str,
    /// `SubaccountCD` as the Acumatica API has it: the segments without the
    /// separator (`100000`).
    pub raw: &'static str,
    /// `SubaccountID`.
    pub id: i32,
    /// `Description`.
    pub description: &'static str,
    /// `Active`.
    pub active: bool,
}

/// Subaccounts; the non-default ones are the cost centers.
pub const SUBACCOUNTS: &[Subaccount] = &[
    Subaccount {
        cd: "000-000",
        raw: "000000",
        id: 1,
        description: "Default",
        active: true,
    },
    Subaccount {
        cd: "100-000",
        raw: "100000",
        id: 2,
        description: "Sales",
        active: true,
    },
    Subaccount {
        cd: "200-000",
        raw: "200000",
        id: 3,
        description: "Operations",
        active: true,
    },
    Subaccount {
        cd: "300-000",
        raw: "300000",
        id: 4,
        description: "Engineering",
        active: true,
    },
    Subaccount {
        cd: "400-000",
        raw: "400000",
        id: 5,
        description: "Finance",
        active: true,
    },
    Subaccount {
        cd: "500-000",
        raw: "500000",
        id: 6,
        description: "Administration",
        active: true,
    },
];

/// A cost center as the warehouse (and so Looker) names it, with the
/// subaccount it maps to in Acumatica and its share of shared overhead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostCenter {
    /// The name Looker shows (`cost_center.name`).
    pub name: &'static str,
    /// The subaccount it posts to, as the warehouse shows it (a
    /// [`Subaccount::cd`], with the separator).
    pub subaccount: &'static str,
    /// Allocation weight in basis points; the weights add up to 10 000.
    pub weight_bp: u32,
}

/// Cost centers that share overhead. Weights add up to 100 %.
pub const COST_CENTERS: &[CostCenter] = &[
    CostCenter {
        name: "Sales",
        subaccount: "100-000",
        weight_bp: 3500,
    },
    CostCenter {
        name: "Operations",
        subaccount: "200-000",
        weight_bp: 2500,
    },
    CostCenter {
        name: "Engineering",
        subaccount: "300-000",
        weight_bp: 2000,
    },
    CostCenter {
        name: "Finance",
        subaccount: "400-000",
        weight_bp: 1000,
    },
    CostCenter {
        name: "Administration",
        subaccount: "500-000",
        weight_bp: 1000,
    },
];

/// Account the overhead pool is credited from when it is allocated.
pub const OVERHEAD_POOL_ACCOUNT: &str = "69000";
/// Account each cost center is debited with its share.
pub const ALLOCATED_OVERHEAD_ACCOUNT: &str = "69100";

/// Financial year of the demo periods.
pub const FINANCIAL_YEAR: i32 = 2026;

/// Periods `MMYYYY` of [`FINANCIAL_YEAR`] up to and including this month are
/// closed; later ones are open.
pub const LAST_CLOSED_MONTH: u32 = 9;

/// A financial period id in Acumatica's `MMYYYY` form.
pub fn period_id(month: u32) -> String {
    format!("{month:02}{FINANCIAL_YEAR}")
}

/// Whether the period of `month` (1..=12) in [`FINANCIAL_YEAR`] is open.
pub fn period_is_open(month: u32) -> bool {
    (1..=12).contains(&month) && month > LAST_CLOSED_MONTH
}

/// A vendor of the demo company.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vendor {
    /// `VendorID`.
    pub id: &'static str,
    /// `VendorName`.
    pub name: &'static str,
    /// `VendorClass`.
    pub class: &'static str,
    /// `Terms`.
    pub terms: &'static str,
    /// `Status` (`Active`, `On Hold`, `Inactive`).
    pub status: &'static str,
}

/// Vendors.
pub const VENDORS: &[Vendor] = &[
    Vendor {
        id: "V000001",
        name: "Acme Office Supply",
        class: "DEFAULT",
        terms: "30D",
        status: "Active",
    },
    Vendor {
        id: "V000002",
        name: "Northwind Utilities",
        class: "UTILITY",
        terms: "30D",
        status: "Active",
    },
    Vendor {
        id: "V000003",
        name: "Contoso Cloud Services",
        class: "SERVICES",
        terms: "15D",
        status: "Active",
    },
    Vendor {
        id: "V000004",
        name: "Fabrikam Insurance",
        class: "SERVICES",
        terms: "30D",
        status: "Active",
    },
    Vendor {
        id: "V000005",
        name: "Tailspin Property Mgmt",
        class: "DEFAULT",
        terms: "NET10",
        status: "On Hold",
    },
    Vendor {
        id: "V000006",
        name: "Litware Consulting",
        class: "SERVICES",
        terms: "30D",
        status: "Inactive",
    },
];

/// Demo credentials of both fakes. They are printed by the sandbox and are
/// worthless outside it.
pub mod credentials {
    /// Acumatica OAuth client id (`<guid>@<tenant>`).
    pub const ACUMATICA_CLIENT_ID: &str = "3F2504E0-4F89-11D3-9A0C-0305E82C3301@MLDemo";
    /// Acumatica OAuth client secret.
    pub const ACUMATICA_CLIENT_SECRET: &str = "demo-client-secret";
    /// Acumatica user name (OAuth password grant and cookie login).
    pub const ACUMATICA_USERNAME: &str = "admin";
    /// Acumatica password.
    pub const ACUMATICA_PASSWORD: &str = "demo-password";
    /// Looker API3 client id.
    pub const LOOKER_CLIENT_ID: &str = "demo-looker-client-id";
    /// Looker API3 client secret.
    pub const LOOKER_CLIENT_SECRET: &str = "demo-looker-client-secret";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_center_weights_sum_to_one_hundred_percent() {
        assert_eq!(
            COST_CENTERS.iter().map(|c| c.weight_bp).sum::<u32>(),
            10_000
        );
    }

    #[test]
    fn every_cost_center_maps_to_an_active_subaccount() {
        for cc in COST_CENTERS {
            assert!(
                SUBACCOUNTS
                    .iter()
                    .any(|s| s.cd == cc.subaccount && s.active),
                "{}",
                cc.name
            );
        }
    }

    #[test]
    fn the_raw_subaccount_is_the_shown_one_without_its_separator() {
        for s in SUBACCOUNTS {
            assert_eq!(s.raw, s.cd.replace('-', ""), "{}", s.cd);
            assert!(s.raw.bytes().all(|b| b.is_ascii_digit()), "{}", s.raw);
        }
    }

    #[test]
    fn allocation_accounts_exist_and_are_active() {
        for cd in [OVERHEAD_POOL_ACCOUNT, ALLOCATED_OVERHEAD_ACCOUNT] {
            assert!(ACCOUNTS.iter().any(|a| a.cd == cd && a.active), "{cd}");
        }
    }

    #[test]
    fn periods() {
        assert_eq!(period_id(3), "032026");
        assert!(!period_is_open(LAST_CLOSED_MONTH));
        assert!(period_is_open(LAST_CLOSED_MONTH + 1));
        assert!(!period_is_open(13));
    }
}
