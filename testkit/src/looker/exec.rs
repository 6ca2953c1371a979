//! Running a compiled query: rows are streamed straight from the generator
//! when the order allows it, otherwise filtered, grouped and sorted in a
//! bounded buffer.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use rust_decimal::Decimal;

use super::catalog::Agg;
use super::config::LookerConfig;
use super::data::{self, IdRange, RowSource};
use super::filter::Matcher;
use super::query::Compiled;
use super::value::Value;

/// One output row, borrowed: the visible columns in output order.
#[derive(Clone, Copy)]
pub(crate) struct RowRef<'a> {
    values: &'a [Value],
    /// Where each output column is in `values`; `None`: in order.
    order: Option<&'a [usize]>,
}

impl<'a> RowRef<'a> {
    /// A row whose values are the output columns, in order.
    pub(crate) fn new(values: &'a [Value]) -> Self {
        RowRef {
            values,
            order: None,
        }
    }

    /// The output columns in order.
    pub(crate) fn iter(self) -> impl Iterator<Item = &'a Value> {
        let (values, order) = (self.values, self.order);
        let n = order.map_or(values.len(), <[usize]>::len);
        (0..n).map(move |i| match order {
            Some(order) => &values[order[i]],
            None => &values[i],
        })
    }
}

/// Result rows, one borrowed row at a time.
pub(crate) trait RowCursor: Send {
    /// The next output row (visible columns only), or `None` at the end.
    fn next_row(&mut self) -> Option<RowRef<'_>>;
}

/// Why a query cannot run.
#[derive(Debug)]
pub(crate) struct ExecError(pub String);

/// Starts a query. `limit` is the effective row cap (`None`: every row).
pub(crate) fn run(
    plan: &Compiled,
    config: &LookerConfig,
    limit: Option<u64>,
    generated: Arc<AtomicU64>,
) -> Result<Box<dyn RowCursor>, ExecError> {
    let explore = plan.explore;
    if let Some(direction) = streamable(plan) {
        let range = seek_range(plan);
        let source = data::open(explore, config, range, direction, generated);
        return Ok(Box::new(StreamCursor {
            source,
            row: vec![Value::Null; explore.columns],
            out: vec![Value::Null; plan.outputs.len()],
            direct: direct_columns(plan),
            plan: plan.clone(),
            remaining: limit,
        }));
    }
    let source = data::open(explore, config, None, false, generated);
    let rows = buffer(plan, source, limit, config.max_buffered_rows)?;
    Ok(Box::new(VecCursor {
        rows: rows.into_iter(),
        current: Vec::new(),
        visible: plan.visible,
    }))
}

/// A cursor without rows.
pub(crate) fn empty() -> Box<dyn RowCursor> {
    Box::new(VecCursor {
        rows: Vec::new().into_iter(),
        current: Vec::new(),
        visible: 0,
    })
}

/// `Some(descending)` when rows can go out in generation order: a unique key
/// is selected and every sort is on a column that follows the key order,
/// all in one direction.
fn streamable(plan: &Compiled) -> Option<bool> {
    let explore = plan.explore;
    let key = explore.key_column?;
    let key_selected = plan.outputs[..plan.visible]
        .iter()
        .any(|&i| explore.fields[i].column == Some(key));
    if !key_selected {
        return None;
    }
    let mut direction = None;
    for &(pos, desc) in &plan.sorts {
        let col = explore.fields[plan.outputs[pos]].column?;
        if !explore.monotonic.contains(&col) || direction.is_some_and(|d| d != desc) {
            return None;
        }
        direction = Some(desc);
    }
    Some(direction.unwrap_or(false))
}

/// Ids to generate, from filters on the key column.
fn seek_range(plan: &Compiled) -> Option<IdRange> {
    let key = plan.explore.key_column?;
    let (mut lo, mut hi) = (1u64, u64::MAX);
    for (col, m) in &plan.column_filters {
        if *col != key {
            continue;
        }
        if let Some((l, h)) = m.int_bounds() {
            if let Some(l) = l {
                lo = lo.max(u64::try_from(l).unwrap_or(0));
            }
            if let Some(h) = h {
                hi = hi.min(u64::try_from(h).unwrap_or(0));
            }
        }
    }
    Some(IdRange { lo, hi })
}

fn passes(filters: &[(usize, Matcher)], row: &[Value]) -> bool {
    filters.iter().all(|(i, m)| m.matches(&row[*i]))
}

/// Output value of field `field` for a single source row.
fn project_one(plan: &Compiled, field: usize, row: &[Value]) -> Value {
    let f = &plan.explore.fields[field];
    match (f.column, f.agg) {
        (Some(col), _) => row[col].clone(),
        (None, Some(Agg::Count)) => Value::Int(1),
        (None, Some(Agg::Sum(col))) => row[col]
            .as_decimal()
            .map_or(Value::Dec(Decimal::ZERO), Value::Dec),
        (None, None) => Value::Null,
    }
}

/// The source column of each visible output when every output is a plain
/// column and no filter needs the projected row: the cursor can then hand
/// out the source row itself instead of copying each value.
fn direct_columns(plan: &Compiled) -> Option<Vec<usize>> {
    if !plan.output_filters.is_empty() {
        return None;
    }
    plan.outputs[..plan.visible]
        .iter()
        .map(|&f| plan.explore.fields[f].column)
        .collect()
}

struct StreamCursor {
    source: Box<dyn RowSource>,
    row: Vec<Value>,
    out: Vec<Value>,
    /// See [`direct_columns`].
    direct: Option<Vec<usize>>,
    plan: Compiled,
    remaining: Option<u64>,
}

impl RowCursor for StreamCursor {
    fn next_row(&mut self) -> Option<RowRef<'_>> {
        loop {
            if self.remaining == Some(0) {
                return None;
            }
            if !self.source.next_into(&mut self.row) {
                self.remaining = Some(0);
                return None;
            }
            if !passes(&self.plan.column_filters, &self.row) {
                continue;
            }
            if self.direct.is_none() {
                for (slot, &field) in self.out.iter_mut().zip(&self.plan.outputs) {
                    *slot = project_one(&self.plan, field, &self.row);
                }
                if !passes(&self.plan.output_filters, &self.out) {
                    continue;
                }
            }
            if let Some(r) = &mut self.remaining {
                *r -= 1;
            }
            return Some(match &self.direct {
                Some(order) => RowRef {
                    values: &self.row,
                    order: Some(order),
                },
                None => RowRef::new(&self.out[..self.plan.visible]),
            });
        }
    }
}

struct VecCursor {
    rows: std::vec::IntoIter<Vec<Value>>,
    current: Vec<Value>,
    visible: usize,
}

impl RowCursor for VecCursor {
    fn next_row(&mut self) -> Option<RowRef<'_>> {
        self.current = self.rows.next()?;
        self.current.truncate(self.visible);
        Some(RowRef::new(&self.current))
    }
}

fn compare(sorts: &[(usize, bool)], a: &[Value], b: &[Value]) -> Ordering {
    for &(pos, desc) in sorts {
        let o = a[pos].total_cmp(&b[pos]);
        let o = if desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[derive(Clone)]
enum Acc {
    Count(i64),
    Sum(Decimal),
}

fn too_many(plan: &Compiled, max: usize) -> ExecError {
    let key = plan
        .explore
        .key_column
        .and_then(|k| plan.explore.column_field(k))
        .map(|f| f.name.clone());
    let hint = match key {
        Some(k) => format!(
            "select '{k}' and sort by it (or another field that follows it, in one direction) to stream every row, or set a smaller limit"
        ),
        None => "set a smaller limit or filter the query".to_owned(),
    };
    ExecError(format!(
        "the Looker fake buffers at most {max} rows to sort or group a result and this query needs more; {hint}"
    ))
}

/// Filters, groups, sorts and limits every row in memory (bounded).
fn buffer(
    plan: &Compiled,
    mut source: Box<dyn RowSource>,
    limit: Option<u64>,
    max: usize,
) -> Result<Vec<Vec<Value>>, ExecError> {
    let explore = plan.explore;
    let mut row = vec![Value::Null; explore.columns];
    let mut rows: Vec<Vec<Value>> = Vec::new();
    // Keep at most this many rows before a sort-and-cut (top-N).
    let keep = limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    if plan.row_per_source_row() {
        while source.next_into(&mut row) {
            if !passes(&plan.column_filters, &row) {
                continue;
            }
            let out: Vec<Value> = plan
                .outputs
                .iter()
                .map(|&f| project_one(plan, f, &row))
                .collect();
            if !passes(&plan.output_filters, &out) {
                continue;
            }
            rows.push(out);
            if let Some(k) = keep.filter(|k| *k <= max) {
                if rows.len() >= k.saturating_mul(2).max(1024) {
                    rows.sort_by(|a, b| compare(&plan.sorts, a, b));
                    rows.truncate(k);
                }
            } else if rows.len() > max {
                return Err(too_many(plan, max));
            }
        }
    } else {
        let dims: Vec<(usize, usize)> = plan
            .outputs
            .iter()
            .enumerate()
            .filter_map(|(pos, &f)| explore.fields[f].column.map(|c| (pos, c)))
            .collect();
        let measures: Vec<(usize, Agg)> = plan
            .outputs
            .iter()
            .enumerate()
            .filter_map(|(pos, &f)| explore.fields[f].agg.map(|a| (pos, a)))
            .collect();
        let mut index: HashMap<Vec<Value>, usize> = HashMap::new();
        let mut groups: Vec<(Vec<Value>, Vec<Acc>)> = Vec::new();
        while source.next_into(&mut row) {
            if !passes(&plan.column_filters, &row) {
                continue;
            }
            let key: Vec<Value> = dims.iter().map(|&(_, c)| row[c].clone()).collect();
            let at = match index.get(&key) {
                Some(&at) => at,
                None => {
                    if groups.len() >= max {
                        return Err(too_many(plan, max));
                    }
                    let accs = measures
                        .iter()
                        .map(|(_, a)| match a {
                            Agg::Count => Acc::Count(0),
                            Agg::Sum(_) => Acc::Sum(Decimal::ZERO),
                        })
                        .collect();
                    groups.push((key.clone(), accs));
                    index.insert(key, groups.len() - 1);
                    groups.len() - 1
                }
            };
            for (acc, (_, agg)) in groups[at].1.iter_mut().zip(&measures) {
                match (acc, agg) {
                    (Acc::Count(n), _) => *n += 1,
                    (Acc::Sum(s), Agg::Sum(col)) => {
                        *s += row[*col].as_decimal().unwrap_or_default()
                    }
                    _ => {}
                }
            }
        }
        for (key, accs) in groups {
            let mut out = vec![Value::Null; plan.outputs.len()];
            for ((pos, _), v) in dims.iter().zip(key) {
                out[*pos] = v;
            }
            for ((pos, _), acc) in measures.iter().zip(accs) {
                out[*pos] = match acc {
                    Acc::Count(n) => Value::Int(n),
                    Acc::Sum(s) => Value::Dec(s),
                };
            }
            if passes(&plan.output_filters, &out) {
                rows.push(out);
            }
        }
    }
    rows.sort_by(|a, b| compare(&plan.sorts, a, b));
    if let Some(k) = keep {
        rows.truncate(k);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::looker::query::QuerySpec;
    use serde_json::json;

    fn collect(
        body: serde_json::Value,
        config: &LookerConfig,
        limit: Option<u64>,
    ) -> Vec<Vec<Value>> {
        let plan = QuerySpec::from_json(&body).unwrap().compile().unwrap();
        let mut cur = run(&plan, config, limit, Arc::default()).unwrap();
        let mut out = Vec::new();
        while let Some(r) = cur.next_row() {
            out.push(r.iter().cloned().collect());
        }
        out
    }

    #[test]
    fn streamed_rows_follow_the_field_order_not_the_column_order() {
        let cfg = LookerConfig::default().with_gl_lines_rows(10);
        let fields = json!(["gl_lines.amount", "gl_lines.id", "gl_lines.period"]);
        let direct = collect(
            json!({"model":"finance","view":"gl_lines","fields":fields,"sorts":["gl_lines.id"]}),
            &cfg,
            None,
        );
        // An output filter (on a hidden measure) takes the projecting path.
        let projected = collect(
            json!({"model":"finance","view":"gl_lines","fields":fields,"sorts":["gl_lines.id"],
                   "filters":{"gl_lines.count":">0"}}),
            &cfg,
            None,
        );
        assert_eq!(direct.len(), 10);
        assert_eq!(direct, projected);
        assert_eq!(direct[2][1], Value::Int(3));
        assert!(matches!(direct[2][0], Value::Dec(_)));
        assert!(matches!(direct[2][2], Value::Str(_)));
    }

    #[test]
    fn keyset_pages_stream_from_the_key() {
        let cfg = LookerConfig::default().with_gl_lines_rows(1000);
        let rows = collect(
            json!({"model":"finance","view":"gl_lines","fields":["gl_lines.id","gl_lines.amount"],
                   "filters":{"gl_lines.id":">990"},"sorts":["gl_lines.id"]}),
            &cfg,
            Some(5),
        );
        let ids: Vec<Value> = rows.iter().map(|r| r[0].clone()).collect();
        assert_eq!(ids, (991..=995).map(Value::Int).collect::<Vec<_>>());
    }

    #[test]
    fn grouping_sums_exactly() {
        let cfg = LookerConfig::default().with_gl_lines_rows(1000);
        let rows = collect(
            json!({"model":"finance","view":"gl_lines","fields":["gl_lines.branch","gl_lines.net_amount","gl_lines.count"],
                   "sorts":["gl_lines.branch"]}),
            &cfg,
            None,
        );
        assert_eq!(rows.len(), 3);
        let total: i64 = rows
            .iter()
            .map(|r| match r[2] {
                Value::Int(n) => n,
                _ => 0,
            })
            .sum();
        assert_eq!(total, 1000);
        let net: Decimal = rows.iter().map(|r| r[1].as_decimal().unwrap()).sum();
        assert!(net.is_zero());
    }

    #[test]
    fn unstreamable_sorts_are_bounded() {
        let cfg = LookerConfig::default()
            .with_gl_lines_rows(5000)
            .with_max_buffered_rows(1000);
        let body = json!({"model":"finance","view":"gl_lines","fields":["gl_lines.id","gl_lines.amount"],
                          "sorts":["gl_lines.amount desc"]});
        let plan = QuerySpec::from_json(&body).unwrap().compile().unwrap();
        let err = run(&plan, &cfg, None, Arc::default()).err().unwrap();
        assert!(err.0.contains("gl_lines.id"), "{}", err.0);
        // With a small limit the top rows are kept while scanning.
        let top = collect(body, &cfg, Some(10));
        assert_eq!(top.len(), 10);
        assert!(
            top.windows(2)
                .all(|w| w[0][1].total_cmp(&w[1][1]) != Ordering::Less)
        );
    }
}
