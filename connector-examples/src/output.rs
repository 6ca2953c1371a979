//! Output: aligned text tables for people, JSON for automation.
//!
//! Text for people fits 80 columns unless `--wide` ([`Layout`]): tables shrink their widest
//! columns and wrap those cells, long lines wrap under their indentation. Colour only on a
//! terminal and never with `NO_COLOR` set. Everything goes through [`emit`], which ends
//! quietly when the reader of a pipe has gone (`ml-connector status | head -1`).

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

/// Writes `text` to stdout as is. When the reader has closed the pipe, the text and all later
/// output are dropped quietly (no panic, no message): the command still finishes its work and
/// exits with its own code.
///
/// ```
/// connector_examples::output::emit("hello\n");
/// ```
pub fn emit(text: &str) {
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes `text` and a newline to stdout unwrapped (see [`emit`]): for lines a program reads,
/// such as `status --check`'s one line per problem.
pub fn emit_line(text: &str) {
    emit(&format!("{text}\n"));
}

/// `println!` through [`emit_line`]: a closed pipe ends the output quietly instead of a panic.
macro_rules! outln {
    () => {
        $crate::output::emit_line("")
    };
    ($($arg:tt)*) => {
        $crate::output::emit_line(&format!($($arg)*))
    };
}
pub(crate) use outln;

/// `print!` through [`emit`]: a closed pipe ends the output quietly instead of a panic.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::emit(&format!($($arg)*))
    };
}
pub(crate) use out;

/// Whether stdout gets colour: it is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
pub fn colour_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// How text output is laid out: the width it must fit (`None` with `--wide`) and colour.
///
/// ```
/// use connector_examples::output::Layout;
/// let narrow = Layout { width: Some(20), colour: false };
/// narrow.line("  a line that is longer than twenty columns");
/// assert_eq!(
///     narrow.wrap("  a line that is longer than twenty columns"),
///     ["  a line that is", "    longer than", "    twenty columns"]
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The columns text must fit; `None`: as wide as it comes.
    pub width: Option<usize>,
    /// Whether styles are drawn with ANSI colour.
    pub colour: bool,
}

impl Layout {
    /// The width text fits without `--wide`.
    pub const NARROW: usize = 80;

    /// The layout of stdout: 80 columns unless `wide`, colour per [`colour_enabled`].
    pub fn stdout(wide: bool) -> Layout {
        Layout {
            width: (!wide).then_some(Self::NARROW),
            colour: colour_enabled(),
        }
    }

    /// `text` broken into lines that fit the width; continuation lines are indented two
    /// columns more than the first.
    pub fn wrap(&self, text: &str) -> Vec<String> {
        let Some(width) = self.width else {
            return text.split('\n').map(str::to_owned).collect();
        };
        if text.contains('\n') {
            return text.split('\n').flat_map(|l| self.wrap(l)).collect();
        }
        let indent = text.chars().take_while(|c| *c == ' ').count();
        let first = wrap_words(text.trim_start(), width.saturating_sub(indent).max(8));
        let mut out = Vec::new();
        let rest_indent = " ".repeat(indent + 2);
        let rest_width = width.saturating_sub(indent + 2).max(8);
        for (i, piece) in first.iter().enumerate() {
            if i == 0 {
                out.push(format!("{}{piece}", " ".repeat(indent)));
            } else {
                // Re-wrap the remainder at the narrower continuation width.
                let remainder = first[i..].join(" ");
                out.extend(
                    wrap_words(&remainder, rest_width)
                        .into_iter()
                        .map(|l| format!("{rest_indent}{l}")),
                );
                break;
            }
        }
        out
    }

    /// Prints `text` and a newline, wrapped to the width.
    pub fn line(&self, text: &str) {
        let mut s = String::new();
        for l in self.wrap(text) {
            s.push_str(&l);
            s.push('\n');
        }
        emit(&s);
    }

    /// Prints `table` fitted to the width, each line after `indent`.
    pub fn table(&self, table: &Table, indent: &str) {
        let inner = Layout {
            width: self.width.map(|w| w.saturating_sub(indent.chars().count())),
            ..*self
        };
        let mut s = String::new();
        for l in table.render_with(&inner).lines() {
            let _ = writeln!(s, "{indent}{l}");
        }
        emit(&s);
    }
}

/// `text` in lines of at most `width` characters, broken at spaces; a word longer than the
/// width is cut.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        while !word.is_empty() {
            let room = if len == 0 {
                width
            } else {
                width.saturating_sub(len + 1)
            };
            if word.len() <= room {
                if len > 0 {
                    current.push(' ');
                    len += 1;
                }
                current.extend(word.iter());
                len += word.len();
                break;
            }
            if len > 0 {
                lines.push(std::mem::take(&mut current));
                len = 0;
                continue;
            }
            let rest = word.split_off(width);
            lines.push(word.iter().collect());
            word = rest;
        }
    }
    if len > 0 || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// How a column's cells are coloured: by their text.
pub type PaintBy = fn(&str) -> Option<Paint>;

/// The narrowest a table column is made to fit the width.
const MIN_COLUMN: usize = 8;

/// A colour for a table cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Green: passed, succeeded.
    Good,
    /// Red: failed.
    Bad,
    /// Yellow: skipped, needs a look.
    Warn,
}

impl Paint {
    fn ansi(self) -> &'static str {
        match self {
            Paint::Good => "\x1b[32m",
            Paint::Bad => "\x1b[31m",
            Paint::Warn => "\x1b[33m",
        }
    }
}

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
    paint: Option<(usize, PaintBy)>,
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
            paint: None,
        }
    }

    /// Colours the cells of column `index` by their text (drawn only when the layout has
    /// colour).
    #[must_use]
    pub fn paint(mut self, index: usize, by: PaintBy) -> Self {
        self.paint = Some((index, by));
        self
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

    /// The table as text, one line per row, ending with a newline; as wide as its cells,
    /// without colour.
    pub fn render(&self) -> String {
        self.render_with(&Layout {
            width: None,
            colour: false,
        })
    }

    /// The table as text fitted to `layout`: while it is wider, its widest column is narrowed
    /// (not below 8 characters) and the cells of narrowed columns wrap onto more lines.
    pub fn render_with(&self, layout: &Layout) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            if let Row::Cells(cells) = r {
                for (w, c) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let gaps = 2 * widths.len().saturating_sub(1);
        if let Some(limit) = layout.width {
            // Narrow the widest column a column at a time, so wide columns end up alike.
            while widths.iter().sum::<usize>() + gaps > limit {
                let Some(widest) = widths
                    .iter_mut()
                    .filter(|w| **w > MIN_COLUMN)
                    .max_by_key(|w| **w)
                else {
                    break;
                };
                *widest -= 1;
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String], paint: bool| {
            let wrapped: Vec<Vec<String>> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| wrap_words(c, *w))
                .collect();
            let height = wrapped.iter().map(Vec::len).max().unwrap_or(1);
            for row in 0..height {
                let mut s = String::new();
                for (i, lines) in wrapped.iter().enumerate() {
                    if i > 0 {
                        s.push_str("  ");
                    }
                    let c = lines.get(row).map_or("", String::as_str);
                    let pad = widths[i].saturating_sub(c.chars().count());
                    let style = match self.paint {
                        Some((col, by)) if paint && layout.colour && col == i => by(c),
                        _ => None,
                    };
                    if let Some(p) = style {
                        s.push_str(p.ansi());
                    }
                    match self.align[i] {
                        Align::Left => {
                            s.push_str(c);
                            if style.is_some() {
                                s.push_str("\x1b[0m");
                            }
                            s.extend(std::iter::repeat_n(' ', pad));
                        }
                        Align::Right => {
                            s.extend(std::iter::repeat_n(' ', pad));
                            s.push_str(c);
                            if style.is_some() {
                                s.push_str("\x1b[0m");
                            }
                        }
                    }
                }
                let _ = writeln!(out, "{}", s.trim_end());
            }
        };
        line(&mut out, &self.header, false);
        let total: usize = widths.iter().sum::<usize>() + gaps;
        let _ = writeln!(out, "{}", "-".repeat(total));
        for r in &self.rows {
            match r {
                Row::Cells(c) => line(&mut out, c, true),
                Row::Rule => {
                    let _ = writeln!(out, "{}", "-".repeat(total));
                }
            }
        }
        out
    }
}

/// The validation problems as lines for people: problems that differ only in their journal
/// and rows (the same unknown account on every line) are said once, with all their rows and
/// the journals they are in.
///
/// ```
/// use sync_core::validate::{IssueKind, ValidationIssue};
/// let issue = |doc: usize, row: usize| ValidationIssue {
///     kind: IssueKind::UnknownAccount,
///     document: Some(doc),
///     partition: Some(format!("branch={doc}")),
///     rows: vec![row],
///     field: None,
///     column: "view.account".into(),
///     value: "69999".into(),
///     suggestions: vec!["69000".into()],
/// };
/// let lines = connector_examples::output::problem_lines(&[issue(0, 1), issue(0, 2), issue(1, 3)]);
/// assert_eq!(lines.len(), 1);
/// assert!(lines[0].starts_with("rows 1, 2, 3, column `view.account`: account `69999`"), "{}", lines[0]);
/// assert!(lines[0].ends_with("(in 2 journals: branch=0, branch=1)"), "{}", lines[0]);
/// ```
pub fn problem_lines(issues: &[sync_core::validate::ValidationIssue]) -> Vec<String> {
    use sync_core::validate::ValidationIssue;
    let general = |i: &ValidationIssue| ValidationIssue {
        document: None,
        partition: None,
        rows: Vec::new(),
        ..i.clone()
    };
    let mut groups: Vec<(ValidationIssue, Vec<&ValidationIssue>)> = Vec::new();
    for issue in issues {
        let key = general(issue);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(issue),
            None => groups.push((key, vec![issue])),
        }
    }
    groups
        .into_iter()
        .map(|(key, members)| {
            if let [one] = members.as_slice() {
                return one.to_string();
            }
            let mut rows: Vec<usize> = members
                .iter()
                .flat_map(|m| m.rows.iter().copied())
                .collect();
            rows.sort_unstable();
            rows.dedup();
            let mut journals: Vec<&str> = Vec::new();
            for m in &members {
                if let Some(p) = m.partition.as_deref()
                    && !journals.contains(&p)
                {
                    journals.push(p);
                }
            }
            let merged = ValidationIssue {
                rows,
                partition: (journals.len() == 1).then(|| journals[0].to_owned()),
                ..key
            };
            if journals.len() > 1 {
                format!(
                    "{merged} (in {} journals: {})",
                    journals.len(),
                    journals.join(", ")
                )
            } else {
                merged.to_string()
            }
        })
        .collect()
}

/// Prints a JSON value on stdout (pretty, one document).
pub fn print_json(value: &serde_json::Value) {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.push('\n');
    emit(&text);
}
