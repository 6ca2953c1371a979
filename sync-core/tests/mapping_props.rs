//! Properties of the mapping: exact decimals, and balance preserved from rows to journals.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sync_core::mapping::{
    JournalMapping, Period, Rounding, Row, parse_amount, to_currency_precision,
};
use sync_core::validate::{
    AccountInfo, BranchInfo, IssueKind, LedgerInfo, PeriodInfo, PeriodStatus, ReferenceData,
    ValidationPolicy, validate,
};

fn any_decimal() -> impl Strategy<Value = Decimal> {
    // Every mantissa rust_decimal holds (96 bits) at every scale it allows.
    (any::<i128>(), 0u32..=28).prop_map(|(m, scale)| {
        let bound = (1i128 << 96) - 1;
        Decimal::from_i128_with_scale(m % bound, scale)
    })
}

proptest! {
    #[test]
    fn decimal_amounts_round_trip_exactly(d in any_decimal()) {
        let text = d.to_string();
        // As a JSON number (kept as text by serde_json's arbitrary_precision).
        let number: Value = serde_json::from_str(&text).unwrap();
        prop_assert!(number.is_number());
        let back = parse_amount(&number).unwrap();
        prop_assert_eq!(back, d);
        prop_assert_eq!(back.to_string(), text.clone(), "scale is kept too");
        // As a JSON string.
        prop_assert_eq!(parse_amount(&json!(text)).unwrap(), d);
        // Through a whole JSON document, as a Looker response arrives.
        let doc = format!("[{{\"v.amount\": {text}}}]");
        let rows: Vec<Row> = serde_json::from_str(&doc).unwrap();
        prop_assert_eq!(parse_amount(&rows[0]["v.amount"]).unwrap(), d);
    }

    #[test]
    fn exponent_forms_are_exact(m in -1_000_000_000i64..1_000_000_000, exp in -10i32..10) {
        let text = format!("{m}e{exp}");
        let got = parse_amount(&serde_json::from_str::<Value>(&text).unwrap()).unwrap();
        let expected = if exp >= 0 {
            Decimal::from(m) * Decimal::from(10i64.pow(exp as u32))
        } else {
            Decimal::new(m, (-exp) as u32)
        };
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn currency_precision_never_changes_an_amount_that_fits(cents in any::<i64>(), extra_zeros in 0u32..6) {
        let mut d = Decimal::new(cents, 2);
        d.rescale(2 + extra_zeros);
        let out = to_currency_precision(d, 2, Rounding::Error).unwrap();
        prop_assert_eq!(out, d);
        prop_assert_eq!(out.scale(), 2);
    }

    #[test]
    fn rounding_moves_an_amount_by_at_most_half_a_cent(d in any_decimal()) {
        prop_assume!(d.abs() < Decimal::from(1_000_000_000_000i64));
        for rule in [Rounding::HalfEven, Rounding::HalfAwayFromZero] {
            let out = to_currency_precision(d, 2, rule).unwrap();
            prop_assert!((out - d).abs() <= Decimal::new(5, 3));
        }
    }
}

/// A balanced allocation for one branch: debit amounts, and credits splitting the same total.
fn branch_allocation() -> impl Strategy<Value = (Vec<i64>, Vec<i64>)> {
    (
        prop::collection::vec(1i64..50_000_000, 1..8),
        prop::collection::vec(1u32..100, 1..5),
    )
        .prop_map(|(debits, weights)| {
            let total: i64 = debits.iter().sum();
            let wsum: i64 = weights.iter().map(|w| i64::from(*w)).sum();
            let mut credits: Vec<i64> = weights
                .iter()
                .map(|w| total * i64::from(*w) / wsum)
                .collect();
            let assigned: i64 = credits.iter().sum();
            *credits.last_mut().unwrap() += total - assigned;
            (debits, credits)
        })
}

const MAPPING: &str = r#"
flow = "prop"
[lines]
account = { column = "p.account" }
branch = { column = "p.branch" }
amount = { signed = "p.amount" }
date = { column = "p.date" }
zero_amount = "skip"
[document]
ledger = { constant = "ACTUAL" }
description = "{period} {branch}"
"#;

proptest! {
    #[test]
    fn mapping_preserves_balance(
        allocations in prop::collection::vec(branch_allocation(), 1..4),
        as_strings in any::<bool>(),
        rotate in any::<prop::sample::Index>(),
    ) {
        let branches = ["HQ", "EAST", "WEST", "NORTH"];
        let mut rows: Vec<Value> = Vec::new();
        let mut expected: BTreeMap<&str, Decimal> = BTreeMap::new();
        for (b, (debits, credits)) in allocations.iter().enumerate() {
            let branch = branches[b];
            for (i, c) in debits.iter().enumerate() {
                rows.push(cell(branch, &format!("6{i:03}"), Decimal::new(*c, 2), as_strings));
                *expected.entry(branch).or_default() += Decimal::new(*c, 2);
            }
            for c in credits {
                rows.push(cell(branch, "6900", Decimal::new(-*c, 2), as_strings));
            }
        }
        // Row order must not matter.
        let n = rows.len();
        rows.rotate_left(rotate.index(n));
        let rows: Vec<Row> = rows.into_iter().map(|v| v.as_object().unwrap().clone()).collect();

        let mapping = JournalMapping::from_toml_str(MAPPING).unwrap();
        let mapped = mapping.map_rows(&rows).unwrap();
        prop_assert!(mapped.errors.is_empty(), "{:?}", mapped.errors);
        prop_assert_eq!(mapped.documents.len(), allocations.len());
        for doc in &mapped.documents {
            prop_assert!(doc.is_balanced(), "{} vs {}", doc.total_debit(), doc.total_credit());
            prop_assert_eq!(doc.total_debit(), expected[doc.branch.as_str()]);
            for l in &doc.lines {
                prop_assert!(l.debit.is_zero() != l.credit.is_zero());
                prop_assert!(l.debit >= Decimal::ZERO && l.credit >= Decimal::ZERO);
            }
        }
        let accounts: Vec<AccountInfo> = (0..8)
            .map(|i| AccountInfo::new(format!("6{i:03}"), true))
            .chain([AccountInfo::new("6900", true)])
            .collect();
        let data = ReferenceData::new()
            .with_accounts(accounts)
            .with_branches(branches.map(|b| BranchInfo::new(b, true)))
            .with_ledgers([LedgerInfo::new("ACTUAL", branches)])
            .with_periods([PeriodInfo::new(Period::new(2025, 1).unwrap(), PeriodStatus::Open)]);
        let report = validate(&mapped, &data, ValidationPolicy::AllOrNothing);
        prop_assert!(
            !report.issues.iter().any(|i| matches!(i.kind, IssueKind::Unbalanced { .. })),
            "{}", report
        );
        prop_assert!(report.is_clean(), "{}", report);
    }
}

fn cell(branch: &str, account: &str, amount: Decimal, as_string: bool) -> Value {
    let amount = if as_string {
        json!(amount.to_string())
    } else {
        serde_json::from_str(&amount.to_string()).unwrap()
    };
    json!({"p.account": account, "p.branch": branch, "p.amount": amount, "p.date": "2025-01-15"})
}
