#!/usr/bin/env python3
"""Generates the typed entity structs in src/entity/*.rs from the Default
24.200.001 OpenAPI file (shared/reference/acumatica, copied from
github.com/Acumatica/AcumaticaRESTAPIClientForCSharp EndpointDefinitions).

Only the struct definitions are generated, between the markers
`// BEGIN GENERATED` and `// END GENERATED` of each module; everything else
in those files is written by hand. Run from the crate directory:

    python3 tools/gen_entities.py /path/to/Default_24.200.001.openapi3.json
"""
import json
import re
import sys

SCALARS = {
    "StringValue": "String",
    "GuidValue": "String",
    "DecimalValue": "Decimal",
    "DateTimeValue": "Timestamp",
    "IntValue": "i32",
    "ShortValue": "i16",
    "LongValue": "i64",
    "BooleanValue": "bool",
    "ByteValue": "u8",
    "DoubleValue": "f64",
}

MODULES = {
    "vendor": ["Vendor", "Contact", "Address", "AttributeValue"],
    "bill": ["Bill", "BillDetail", "BillTaxDetail", "BillApplicationDetail"],
    "purchase_order": ["PurchaseOrder", "PurchaseOrderDetail", "PurchaseOrderTaxDetail"],
    "check": ["Check", "CheckDetail", "CheckHistoryDetail"],
    "account": ["Account", "Subaccount", "Ledger", "LedgerBranches", "LedgerCompanies",
                "FinancialPeriod", "FinancialPeriodDetail"],
    "journal": ["JournalTransaction", "JournalTransactionDetail"],
    "item": ["StockItem", "NonStockItem"],
}
MODELLED = {t for ts in MODULES.values() for t in ts}
TOP_LEVEL = {"Vendor", "Bill", "PurchaseOrder", "Check", "Account", "Subaccount", "Ledger",
             "FinancialPeriod", "JournalTransaction", "StockItem", "NonStockItem"}
KEYWORDS = {"type", "override", "ref", "box", "move", "match", "mod", "loop", "use", "impl",
            "where", "self", "super", "crate", "async", "await", "final", "macro", "priv",
            "virtual", "yield", "try", "abstract", "become", "do", "typeof", "unsized", "gen"}
RESERVED = {"system", "extra"}


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.replace("URLs", "Urls"))
    s = re.sub(r"([A-Z])([A-Z][a-z])", r"\1_\2", s)
    s = s.lower()
    if s in KEYWORDS:
        s = "r#" + s
    return s


def props(schemas, name):
    sch = schemas[name]
    out = {}
    for part in sch.get("allOf", [sch]):
        out.update(part.get("properties", {}))
    return out


def rust_type(prop):
    if "$ref" in prop:
        target = prop["$ref"].rsplit("/", 1)[1]
        if target in SCALARS:
            return "value", SCALARS[target], target
        return "linked", target if target in MODELLED else "DynamicEntity", target
    if prop.get("type") == "array":
        target = prop["items"]["$ref"].rsplit("/", 1)[1]
        return "details", target if target in MODELLED else "DynamicEntity", target
    raise ValueError(prop)


def gen_struct(schemas, name):
    p = props(schemas, name)
    lines = []
    kind = "top-level entity" if name in TOP_LEVEL else "detail or linked entity"
    lines.append(f"/// `{name}` ({kind} of the Default endpoint; fields of 24.200.001).")
    lines.append("///")
    lines.append("/// Unset fields are [`Value::absent`] and are not sent; fields the client does")
    lines.append("/// not model (custom fields, newer endpoint versions) are kept in `extra` and")
    lines.append("/// written back unchanged. `Debug` shows the fields that are present, as")
    lines.append("/// they would be sent.")
    lines.append("#[derive(Clone, Default, PartialEq, Serialize)]")
    lines.append(f"pub struct {name} {{")
    lines.append("    /// `id`, `rowNumber`, `note`, `custom`, `files`, `_links`, `error`, `delete`.")
    lines.append("    #[serde(flatten)]")
    lines.append("    pub system: SystemFields,")
    seen = set()
    arms = []
    for field in sorted(p, key=str.lower):
        if field in ("id", "rowNumber", "note", "custom", "error", "files", "_links", "delete"):
            continue
        shape, rtype, wire = rust_type(p[field])
        ident = snake(field)
        assert ident not in seen and ident.lstrip("r#") not in RESERVED, (name, field)
        seen.add(ident)
        arms.append(f"            \"{field}\" => out.{ident} = map.next_value()?,")
        if shape == "value":
            lines.append(f"    /// `{field}` ({wire}).")
            lines.append(f"    #[serde(rename = \"{field}\", default, skip_serializing_if = \"Value::is_absent\")]")
            lines.append(f"    pub {ident}: Value<{rtype}>,")
        elif shape == "details":
            lines.append(f"    /// `{field}`: detail lines of `{wire}` (only when expanded).")
            lines.append(f"    #[serde(rename = \"{field}\", default, skip_serializing_if = \"Option::is_none\")]")
            lines.append(f"    pub {ident}: Option<Vec<{rtype}>>,")
        else:
            lines.append(f"    /// `{field}`: linked `{wire}` (only when expanded).")
            lines.append(f"    #[serde(rename = \"{field}\", default, skip_serializing_if = \"Option::is_none\")]")
            lines.append(f"    pub {ident}: Option<{rtype}>,")
    lines.append("    /// Fields not modelled above, kept verbatim.")
    lines.append("    #[serde(flatten)]")
    lines.append("    pub extra: Map<String, Json>,")
    lines.append("}")
    lines.append(f"compact_debug!({name});")
    lines.append("")
    lines.append(f"impl<'de> Deserialize<'de> for {name} {{")
    lines.append("    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {")
    lines.append(f"        deserializer.deserialize_map(EntityVisitor::<{name}>::new(\"{name}\"))")
    lines.append("    }")
    lines.append("}")
    lines.append("")
    lines.append(f"impl ReadField for {name} {{")
    lines.append("    fn system_mut(&mut self) -> &mut SystemFields {")
    lines.append("        &mut self.system")
    lines.append("    }")
    lines.append("    fn extra_mut(&mut self) -> &mut Map<String, Json> {")
    lines.append("        &mut self.extra")
    lines.append("    }")
    lines.append("    fn read_field<'de, A: serde::de::MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {")
    lines.append("        let out = self;")
    lines.append("        match key {")
    lines.extend(arms)
    lines.append("            _ => return Ok(false),")
    lines.append("        }")
    lines.append("        Ok(true)")
    lines.append("    }")
    lines.append("}")
    return "\n".join(lines)


def main():
    spec = json.load(open(sys.argv[1]))
    schemas = spec["components"]["schemas"]
    for module, types in MODULES.items():
        path = f"src/entity/{module}.rs"
        body = "\n\n".join(gen_struct(schemas, t) for t in types)
        try:
            text = open(path).read()
        except FileNotFoundError:
            text = "// BEGIN GENERATED\n// END GENERATED\n"
        start = text.index("// BEGIN GENERATED")
        end = text.index("// END GENERATED")
        text = text[:start] + "// BEGIN GENERATED by tools/gen_entities.py; do not edit by hand.\n" + body + "\n" + text[end:]
        open(path, "w").write(text)


if __name__ == "__main__":
    main()
