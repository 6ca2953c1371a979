//! Output: aligned text tables for people, JSON for automation.

use std::fmt::Write as _;

/// How a cell is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers and amounts.
    Right,
}

/// A plain text table with a header row, columns sized to their widest cell.
///
/// ```
/// use connector_examples::output::{Align, Table};
///
/// let mut t = Table::new(["Account", "Debit"]).align(1, Align::Right);
/// t.row(["69100", "12.50"]);
/// t.row(["69000", ""]);
/// let text = t.render();
/// assert!(text.contains("Account  Debit"));
/// assert!(text.contains("69100    12.50"));
/// ```
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Row>,
}

#[derive(Debug, Clone)]
enum Row {
    Cells(Vec<String>),
    Rule,
}

impl Table {
    /// A table with these column headings (all left-aligned).
    pub fn new<I, S>(header: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let header: Vec<String> = header.into_iter().map(Into::into).collect();
        let align = vec![Align::Left; header.len()];
        Table {
            header,
            align,
            rows: Vec::new(),
        }
    }

    /// Aligns column `index`.
    #[must_use]
    pub fn align(mut self, index: usize, align: Align) -> Self {
        if let Some(a) = self.align.get_mut(index) {
            *a = align;
        }
        self
    }

    /// Adds a row (missing cells are empty, extra cells are dropped).
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.header.len(), String::new());
        self.rows.push(Row::Cells(cells));
    }

    /// Adds a horizontal rule (e.g. above a totals row).
    pub fn rule(&mut self) {
        self.rows.push(Row::Rule);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, ending with a newline.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            if let Row::Cells(cells) = r {
                for (w, c) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = widths[i].saturating_sub(c.chars().count());
                match self.align[i] {
                    Align::Left => {
                        s.push_str(c);
                        s.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        s.extend(std::iter::repeat_n(' ', pad));
                        s.push_str(c);
                    }
                }
            }
            let _ = writeln!(out, "{}", s.trim_end());
        };
        line(&mut out, &self.header);
        let total: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let _ = writeln!(out, "{}", "-".repeat(total));
        for r in &self.rows {
            match r {
                Row::Cells(c) => line(&mut out, c),
                Row::Rule => {
                    let _ = writeln!(out, "{}", "-".repeat(total));
                }
            }
        }
        out
    }
}

/// Prints a JSON value on stdout (pretty, one document).
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
