//! Between the flat field paths of a [`ReferenceMapping`](crate::mapping::ReferenceMapping)
//! (`VendorName`, `MainContact/Email`) and Acumatica's nested, `{"value": …}`-wrapped JSON.

use serde_json::{Map, Value};

/// The current record as the flat map [`ReferenceRecord::diff`](crate::mapping::ReferenceRecord::diff)
/// reads: each path walked through linked entities; a missing step gives no entry.
pub(crate) fn flatten(record: &Map<String, Value>, paths: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    for path in paths {
        let mut segments = path.split('/');
        let Some(first) = segments.next() else {
            continue;
        };
        let mut at = record.get(first);
        for segment in segments {
            at = at.and_then(Value::as_object).and_then(|o| o.get(segment));
        }
        if let Some(v) = at {
            out.insert(path.clone(), v.clone());
        }
    }
    out
}

/// The body of a `PUT`: every path nested into linked entities, every leaf wrapped as
/// `{"value": x}`.
pub(crate) fn wrap(payload: &Map<String, Value>) -> Value {
    let mut root = Map::new();
    for (path, value) in payload {
        let segments: Vec<&str> = path.split('/').collect();
        let Some((leaf, parents)) = segments.split_last() else {
            continue;
        };
        let mut at = &mut root;
        for parent in parents {
            let entry = at
                .entry((*parent).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(next) = entry else {
                unreachable!("made an object just above")
            };
            at = next;
        }
        let mut wrapped = Map::new();
        wrapped.insert("value".to_owned(), value.clone());
        at.insert((*leaf).to_owned(), Value::Object(wrapped));
    }
    Value::Object(root)
}

/// The linked entities the paths go through (first segments of `a/b` paths), for `$expand`.
pub(crate) fn linked(paths: &[String]) -> Vec<String> {
    let mut out: Vec<String> = paths
        .iter()
        .filter_map(|p| p.split_once('/').map(|(first, _)| first.to_owned()))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wraps_and_nests_paths() {
        let payload = json!({"VendorID": "V1", "MainContact/Email": "ap@x.test", "MaxReceipt": 5});
        let body = wrap(payload.as_object().unwrap());
        assert_eq!(
            body,
            json!({"VendorID": {"value": "V1"}, "MainContact": {"Email": {"value": "ap@x.test"}}, "MaxReceipt": {"value": 5}})
        );
    }

    #[test]
    fn flattens_linked_paths_and_skips_missing_ones() {
        let current =
            json!({"VendorID": {"value": "V1"}, "MainContact": {"Email": {"value": "a@b"}}});
        let paths = vec![
            "VendorID".to_owned(),
            "MainContact/Email".to_owned(),
            "MainContact/Phone1".to_owned(),
            "Terms".to_owned(),
        ];
        let flat = flatten(current.as_object().unwrap(), &paths);
        assert_eq!(
            Value::Object(flat),
            json!({"VendorID": {"value": "V1"}, "MainContact/Email": {"value": "a@b"}})
        );
        assert_eq!(linked(&paths), ["MainContact"]);
    }
}
