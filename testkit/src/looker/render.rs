//! Result formats, written chunk by chunk into a reused buffer so a result
//! of millions of rows streams without ever being held whole.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::Stream;
use serde_json::json;

use super::catalog::FieldDef;
use super::exec::{RowCursor, RowRef};
use super::query::Compiled;
use super::state::Counters;
use super::value::{write_csv_text, write_json_str};

/// Target size of one body chunk. Each chunk costs the server a write and
/// the client a hand-over from its connection task, so they are not small;
/// a stream holds one at a time while rendering.
pub(crate) const CHUNK: usize = 256 * 1024;

/// Result formats of the run endpoints the fake renders (FACTS section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    JsonBi,
    Csv,
    Txt,
    Sql,
}

/// Formats Looker has that the fake does not render.
const KNOWN_ELSEWHERE: &[&str] = &[
    "json_detail",
    "json_fe",
    "inline_json",
    "html",
    "md",
    "xlsx",
    "png",
    "jpg",
    "gsxml",
    "odc",
];

impl Format {
    /// Parses a `result_format`; the error says what to use instead.
    pub(crate) fn parse(s: &str) -> Result<Format, String> {
        Ok(match s {
            "json" => Format::Json,
            "json_bi" => Format::JsonBi,
            "csv" => Format::Csv,
            "txt" => Format::Txt,
            "sql" => Format::Sql,
            other if KNOWN_ELSEWHERE.contains(&other) => {
                return Err(format!(
                    "result format `{other}` exists in Looker but the fake does not render it; use json, json_bi, csv, txt or sql"
                ));
            }
            other => {
                return Err(format!(
                    "unknown result format `{other}`; use json, json_bi, csv, txt or sql"
                ));
            }
        })
    }

    /// The wire name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::JsonBi => "json_bi",
            Format::Csv => "csv",
            Format::Txt => "txt",
            Format::Sql => "sql",
        }
    }

    /// The `Content-Type` of the answer.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Json | Format::JsonBi => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Txt | Format::Sql => "text/plain; charset=utf-8",
        }
    }
}

/// The SQL the fake claims to run (returned by `sql` and in `json_bi`).
pub(crate) fn sql_text(plan: &Compiled, limit: Option<u64>) -> String {
    let e = plan.explore;
    let select: Vec<String> = plan.outputs[..plan.visible]
        .iter()
        .map(|&i| e.fields[i].sql_expr(e))
        .collect();
    let mut sql = format!(
        "SELECT\n    {}\nFROM analytics.{} AS {}\n",
        select.join(",\n    "),
        e.base_view,
        e.base_view
    );
    for j in e.joins {
        sql.push_str(&format!(
            "LEFT JOIN analytics.{j} AS {j} ON {j}.id = {}.{j}_id\n",
            e.base_view
        ));
    }
    if let Some(l) = limit {
        sql.push_str(&format!("LIMIT {l}"));
    }
    sql
}

enum Stage {
    Header,
    Rows,
    Done,
}

/// Writes a result in one format from a row cursor.
pub(crate) struct Renderer {
    format: Format,
    cursor: Box<dyn RowCursor>,
    header: Vec<u8>,
    footer: &'static [u8],
    /// `"view.field":` for each column (JSON formats).
    keys: Vec<Vec<u8>>,
    stage: Stage,
    first: bool,
    counters: Arc<Counters>,
}

impl Renderer {
    pub(crate) fn new(
        format: Format,
        plan: &Compiled,
        limit: Option<u64>,
        filters: &std::collections::BTreeMap<String, String>,
        cursor: Box<dyn RowCursor>,
        counters: Arc<Counters>,
    ) -> Renderer {
        let e = plan.explore;
        let fields: Vec<&FieldDef> = plan.outputs[..plan.visible]
            .iter()
            .map(|&i| &e.fields[i])
            .collect();
        let keys = fields
            .iter()
            .map(|f| {
                let mut k = Vec::new();
                write_json_str(&mut k, &f.name);
                k.push(b':');
                k
            })
            .collect();
        let mut header = Vec::new();
        let footer: &'static [u8] = match format {
            Format::Json => {
                header.push(b'[');
                b"]"
            }
            Format::JsonBi => {
                let metadata = json!({
                    "big_query_metadata": {"total_bytes_processed": 0, "backend_cache_hit": false},
                    "fields": {
                        "dimensions": fields.iter().filter(|f| !f.is_measure()).map(|f| f.json_bi()).collect::<Vec<_>>(),
                        "measures": fields.iter().filter(|f| f.is_measure()).map(|f| f.json_bi()).collect::<Vec<_>>(),
                        "pivots": [],
                        "table_calculations": [],
                    },
                    "pivots": [],
                    "has_subtotals": false,
                    "has_totals": false,
                    "columns_truncated": "false",
                    "filter_expression": null,
                    "filters": filters,
                    "sql": sql_text(plan, limit),
                });
                header.extend_from_slice(b"{\"metadata\":");
                header.extend_from_slice(metadata.to_string().as_bytes());
                header.extend_from_slice(b",\"rows\":[");
                b"]}"
            }
            Format::Csv | Format::Txt => {
                // Looker's CSV/TXT downloads head each column with the
                // field label ("View Label Field Label"), not its name.
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        header.push(if format == Format::Csv { b',' } else { b'\t' });
                    }
                    let label = f.label();
                    if format == Format::Csv {
                        write_csv_text(&mut header, &label);
                    } else {
                        header.extend_from_slice(label.as_bytes());
                    }
                }
                header.push(b'\n');
                b""
            }
            Format::Sql => {
                header.extend_from_slice(sql_text(plan, limit).as_bytes());
                b""
            }
        };
        counters.streams_started.fetch_add(1, Ordering::Relaxed);
        counters.active_streams.fetch_add(1, Ordering::Relaxed);
        Renderer {
            format,
            cursor,
            header,
            footer,
            keys,
            stage: Stage::Header,
            first: true,
            counters,
        }
    }

    /// Appends up to about `target` bytes to `out`; `false` once the whole
    /// result has been written.
    pub(crate) fn fill(&mut self, out: &mut Vec<u8>, target: usize) -> bool {
        if let Stage::Header = self.stage {
            out.append(&mut self.header);
            self.stage = Stage::Rows;
            if self.format == Format::Sql {
                self.finish();
            }
        }
        if let Stage::Done = self.stage {
            return false;
        }
        let mut rows = 0u64;
        let mut more = true;
        while out.len() < target {
            match self.cursor.next_row() {
                Some(row) => write_row(self.format, &self.keys, self.first, out, row),
                None => {
                    out.extend_from_slice(self.footer);
                    more = false;
                    break;
                }
            }
            self.first = false;
            rows += 1;
        }
        self.counters.rows_served.fetch_add(rows, Ordering::Relaxed);
        if !more {
            self.finish();
        }
        more
    }

    fn finish(&mut self) {
        if !matches!(self.stage, Stage::Done) {
            self.stage = Stage::Done;
            self.counters
                .streams_finished
                .fetch_add(1, Ordering::Relaxed);
            self.counters.active_streams.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Renderer {
    fn drop(&mut self) {
        if !matches!(self.stage, Stage::Done) {
            self.counters
                .streams_aborted
                .fetch_add(1, Ordering::Relaxed);
            self.counters.active_streams.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn write_row(format: Format, keys: &[Vec<u8>], first: bool, out: &mut Vec<u8>, row: RowRef<'_>) {
    match format {
        Format::Json | Format::JsonBi => {
            if !first {
                out.push(b',');
            }
            out.push(b'{');
            for (i, (k, v)) in keys.iter().zip(row.iter()).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(k);
                v.write_json(out);
            }
            out.push(b'}');
        }
        Format::Csv => {
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                v.write_csv(out);
            }
            out.push(b'\n');
        }
        Format::Txt => {
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                v.write_tsv(out);
            }
            out.push(b'\n');
        }
        Format::Sql => {}
    }
}

/// The body stream: chunks of about [`CHUNK`] bytes produced on demand, so
/// the client's pace drives generation. Each chunk is rendered into its own
/// buffer, which becomes the chunk without a copy.
pub(crate) fn body_stream(
    renderer: Renderer,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    futures::stream::unfold(Some(renderer), |state| async move {
        let mut r = state?;
        // Room for the last row, which may pass the target.
        let mut buf = Vec::with_capacity(CHUNK + 4096);
        let more = r.fill(&mut buf, CHUNK);
        r.counters
            .bytes_served
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        if more {
            Some((Ok(Bytes::from(buf)), Some(r)))
        } else if buf.is_empty() {
            None
        } else {
            Some((Ok(Bytes::from(buf)), None))
        }
    })
}
