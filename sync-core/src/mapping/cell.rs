//! Reading cells of a Looker row.

use serde_json::Value;

use super::Row;

/// The cell's value, unwrapping Looker's `json_detail` form (`{"value": …, "rendered": …}`).
/// `None` when the column is absent or the cell is `null`.
pub(crate) fn cell<'a>(row: &'a Row, column: &str) -> Option<&'a Value> {
    let v = row.get(column)?;
    let v = match v {
        Value::Object(o) if o.contains_key("value") => o.get("value")?,
        other => other,
    };
    (!v.is_null()).then_some(v)
}

/// A scalar cell as text: strings trimmed, numbers in their exact JSON text, booleans as
/// `true`/`false`. `Ok(None)` for absent, null or blank cells; `Err(json)` for arrays and
/// objects.
pub(crate) fn cell_text(row: &Row, column: &str) -> Result<Option<String>, String> {
    match cell(row, column) {
        None => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            Ok((!t.is_empty()).then(|| t.to_owned()))
        }
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(other.to_string()),
    }
}
