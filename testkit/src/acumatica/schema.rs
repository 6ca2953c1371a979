//! The contract: entity schemas per endpoint version, keys, numbering and
//! actions of the top-level entities the fake serves.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::catalog::{MISSING_BEFORE_24, SCHEMAS};

/// The type of a field of the contract (FACTS section 5 value wrappers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldType {
    S,
    Dec,
    Dt,
    B,
    I,
    Sh,
    L,
    G,
    /// A linked entity (nested object, not wrapped).
    Linked(&'static str),
    /// A detail collection (array of entities).
    Detail(&'static str),
}

impl FieldType {
    pub(crate) fn is_value(self) -> bool {
        !matches!(self, FieldType::Linked(_) | FieldType::Detail(_))
    }

    /// The .NET wrapper type name, for error messages.
    pub(crate) fn wrapper(self) -> &'static str {
        match self {
            FieldType::S => "StringValue",
            FieldType::Dec => "DecimalValue",
            FieldType::Dt => "DateTimeValue",
            FieldType::B => "BooleanValue",
            FieldType::I => "IntValue",
            FieldType::Sh => "ShortValue",
            FieldType::L => "LongValue",
            FieldType::G => "GuidValue",
            FieldType::Linked(n) | FieldType::Detail(n) => n,
        }
    }
}

/// One schema (top-level entity, detail or linked entity).
#[derive(Debug)]
pub(crate) struct Schema {
    pub(crate) name: &'static str,
    pub(crate) fields: Vec<(&'static str, FieldType)>,
    index: HashMap<&'static str, u16>,
}

impl Schema {
    pub(crate) fn field(&self, name: &str) -> Option<(u16, FieldType)> {
        self.index
            .get(name)
            .map(|&i| (i, self.fields[i as usize].1))
    }

    pub(crate) fn idx(&self, name: &str) -> u16 {
        self.index
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("{}.{name} is not in the catalogue", self.name))
    }
}

/// Every schema of the catalogue, by name.
pub(crate) fn schema(name: &str) -> Option<&'static Schema> {
    static ALL: OnceLock<HashMap<&'static str, Schema>> = OnceLock::new();
    ALL.get_or_init(|| {
        SCHEMAS
            .iter()
            .map(|(name, fields)| {
                let index = fields
                    .iter()
                    .enumerate()
                    .map(|(i, (f, _))| (*f, i as u16))
                    .collect();
                (
                    *name,
                    Schema {
                        name,
                        fields: fields.to_vec(),
                        index,
                    },
                )
            })
            .collect()
    })
    .get(name)
}

/// Parsed `xx.yyy.zzz` endpoint version, compared component-wise.
pub(crate) fn version_key(v: &str) -> (u32, u32, u32) {
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// Whether `schema.field` exists in endpoint `version`. The catalogue is the
/// 24.200.001 one; 22 and 23 lack a few fields (FACTS section 2). Versions
/// before 22 are treated like 22, later ones like 24.
pub(crate) fn available(version: &str, schema: &str, field: &str) -> bool {
    let key = version_key(version);
    let as_version = if key >= (24, 0, 0) {
        return true;
    } else if key >= (23, 0, 0) {
        "23.200.001"
    } else {
        "22.200.001"
    };
    !MISSING_BEFORE_24
        .iter()
        .any(|(v, s, f)| *v == as_version && *s == schema && (*f == field || *f == "*"))
}

/// How new documents get their number (FACTS section 7: the numbering
/// sequence overrides any value sent).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Numbering {
    pub(crate) field: &'static str,
    pub(crate) prefix: &'static str,
    pub(crate) width: usize,
}

/// A top-level entity the fake serves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntityDef {
    pub(crate) name: &'static str,
    /// The form the entity maps to (FACTS section 8, "Screens").
    pub(crate) screen: &'static str,
    /// Key fields in URL order (FACTS section 8).
    pub(crate) keys: &'static [&'static str],
    pub(crate) numbering: Option<Numbering>,
    /// Contract actions (FACTS section 7).
    pub(crate) actions: &'static [&'static str],
    /// The cache name used in "Inserting 'X' record raised ..." messages.
    pub(crate) cache: &'static str,
}

const fn num(field: &'static str, prefix: &'static str) -> Option<Numbering> {
    Some(Numbering {
        field,
        prefix,
        width: 6,
    })
}

/// The top-level entities served.
pub(crate) const ENTITIES: &[EntityDef] = &[
    EntityDef {
        name: "Account",
        screen: "GL202500",
        keys: &["AccountCD"],
        numbering: None,
        actions: &[],
        cache: "Account",
    },
    EntityDef {
        name: "Subaccount",
        screen: "GL203000",
        keys: &["SubaccountCD"],
        numbering: None,
        actions: &[],
        cache: "Subaccount",
    },
    EntityDef {
        name: "Ledger",
        screen: "GL201500",
        keys: &["LedgerID"],
        numbering: None,
        actions: &[],
        cache: "Ledger",
    },
    EntityDef {
        name: "FinancialPeriod",
        screen: "GL201000",
        keys: &["FinancialYear"],
        numbering: None,
        actions: &[],
        cache: "Financial Year",
    },
    EntityDef {
        name: "Vendor",
        screen: "AP303000",
        keys: &["VendorID"],
        numbering: None,
        actions: &["CreateContactFromVendor"],
        cache: "Vendor",
    },
    EntityDef {
        name: "Bill",
        screen: "AP301000",
        keys: &["Type", "ReferenceNbr"],
        numbering: num("ReferenceNbr", ""),
        actions: &["ReleaseBill", "ReleaseRetainage", "ReverseBill"],
        cache: "AP Transactions",
    },
    EntityDef {
        name: "Check",
        screen: "AP302000",
        keys: &["Type", "ReferenceNbr"],
        numbering: num("ReferenceNbr", ""),
        actions: &["ReleaseCheck", "VoidCheck"],
        cache: "Payment",
    },
    EntityDef {
        name: "PurchaseOrder",
        screen: "PO301000",
        keys: &["Type", "OrderNbr"],
        numbering: num("OrderNbr", "PO"),
        actions: &[],
        cache: "Purchase Order",
    },
    EntityDef {
        name: "StockItem",
        screen: "IN202500",
        keys: &["InventoryID"],
        numbering: None,
        actions: &["UpdateStandardCostStockItem"],
        cache: "Stock Item",
    },
    EntityDef {
        name: "NonStockItem",
        screen: "IN202000",
        keys: &["InventoryID"],
        numbering: None,
        actions: &["UpdateStandardCostNonStockItem"],
        cache: "Non-Stock Item",
    },
    EntityDef {
        name: "JournalTransaction",
        screen: "GL301000",
        keys: &["Module", "BatchNbr"],
        numbering: num("BatchNbr", ""),
        actions: &["ReleaseJournalTransaction"],
        cache: "Batch",
    },
    // Inquiries: no keys and no stored records; a PUT runs them (inquiry.rs).
    EntityDef {
        name: "AccountSummaryInquiry",
        screen: "GL401000",
        keys: &[],
        numbering: None,
        actions: &[],
        cache: "Filter",
    },
    EntityDef {
        name: "AccountDetailsForPeriodInquiry",
        screen: "GL404001",
        keys: &[],
        numbering: None,
        actions: &[],
        cache: "Filter",
    },
];

/// The parameters of the actions that take some (SW23/SW24 action
/// schemas); the other actions take none.
pub(crate) const ACTION_PARAMETERS: &[(&str, &[(&str, FieldType)])] = &[
    (
        "CreateContactFromVendor",
        &[
            ("FirstName", FieldType::S),
            ("LastName", FieldType::S),
            ("JobTitle", FieldType::S),
            ("Phone1Type", FieldType::S),
            ("Phone1", FieldType::S),
            ("Phone2Type", FieldType::S),
            ("Phone2", FieldType::S),
            ("Email", FieldType::S),
            ("ContactClass", FieldType::S),
        ],
    ),
    (
        "ReleaseRetainage",
        &[
            ("AmtToRelease", FieldType::Dec),
            ("Date", FieldType::Dt),
            ("PostPeriod", FieldType::S),
        ],
    ),
];

/// Actions that first appear in a later endpoint version: `(action, first
/// version)` (FACTS section 2: 23.200.001 added both).
const ACTIONS_SINCE: &[(&str, &str)] = &[
    ("ReleaseRetainage", "23.200.001"),
    ("CreateContactFromVendor", "23.200.001"),
];

/// Whether endpoint `version` has the action.
pub(crate) fn action_available(version: &str, action: &str) -> bool {
    ACTIONS_SINCE
        .iter()
        .find(|(a, _)| *a == action)
        .is_none_or(|(_, since)| version_key(version) >= version_key(since))
}

/// A field outside the contract the fake answers through `$custom` and
/// lists in `$adHocSchema` (FACTS section 6: JournalTransaction header
/// totals in view `BatchModule`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CustomFieldDef {
    pub(crate) entity: &'static str,
    pub(crate) view: &'static str,
    pub(crate) field: &'static str,
    /// The `Custom…Field` type name (FACTS section 5).
    pub(crate) kind: &'static str,
}

const fn custom(
    entity: &'static str,
    view: &'static str,
    field: &'static str,
    kind: &'static str,
) -> CustomFieldDef {
    CustomFieldDef {
        entity,
        view,
        field,
        kind,
    }
}

/// Every custom field the fake knows.
pub(crate) const CUSTOM_FIELDS: &[CustomFieldDef] = &[
    custom(
        "JournalTransaction",
        "BatchModule",
        "CuryDebitTotal",
        "CustomDecimalField",
    ),
    custom(
        "JournalTransaction",
        "BatchModule",
        "CuryCreditTotal",
        "CustomDecimalField",
    ),
    custom(
        "JournalTransaction",
        "BatchModule",
        "CuryControlTotal",
        "CustomDecimalField",
    ),
];

/// The custom field `view.field` of `entity`, if the fake knows it.
pub(crate) fn custom_field(
    entity: &str,
    view: &str,
    field: &str,
) -> Option<&'static CustomFieldDef> {
    CUSTOM_FIELDS
        .iter()
        .find(|c| c.entity == entity && c.view == view && c.field == field)
}

/// The entity definition of a top-level name (case-sensitive, like the
/// contract).
pub(crate) fn entity(name: &str) -> Option<&'static EntityDef> {
    ENTITIES.iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_and_reference_resolves() {
        for e in ENTITIES {
            let s = schema(e.name).unwrap();
            for k in e.keys {
                assert!(s.field(k).is_some(), "{}.{k}", e.name);
            }
            if let Some(n) = e.numbering {
                assert!(s.field(n.field).is_some());
            }
        }
        for (name, fields) in SCHEMAS {
            for (f, t) in fields.iter() {
                if let FieldType::Linked(n) | FieldType::Detail(n) = t {
                    assert!(schema(n).is_some(), "{name}.{f} -> {n}");
                }
            }
        }
    }

    #[test]
    fn version_differences_follow_the_facts() {
        assert!(!available(
            "23.200.001",
            "StockItem",
            "LastModifiedDateTime"
        ));
        assert!(available("24.200.001", "StockItem", "LastModifiedDateTime"));
        assert!(available("22.200.001", "StockItem", "LastModified"));
        assert!(!available("22.200.001", "Bill", "IsTaxValid"));
        assert!(available("23.200.001", "Bill", "IsTaxValid"));
        assert!(available("25.200.001", "BillDetail", "LCNbr"));
        assert!(version_key("24.200.001") > version_key("3.200.001"));
    }
}
