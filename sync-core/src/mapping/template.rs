//! Description templates with `{name}` placeholders.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A text template such as `"Overhead {overhead_allocation.cost_center} {period}"`.
///
/// A placeholder is a name in braces. Names with a dot are Looker fields (`view.field`) read
/// from the row; names without a dot are built-ins (`flow`, `period`, `branch`, `ledger`,
/// `date`, and for lines also `account`, `subaccount`, `row`) or entries of the mapping's
/// `[constants]` table. Write `{{` and `}}` for literal braces. The template is checked when the
/// mapping is loaded, so an unknown name fails early, not in the middle of a run.
///
/// ```
/// use sync_core::mapping::Template;
///
/// let t: Template = "Alloc {view.cc} {{draft}}".parse().unwrap();
/// assert_eq!(t.placeholders().collect::<Vec<_>>(), ["view.cc"]);
/// let text = t.render(|name| (name == "view.cc").then(|| "Sales".to_string()));
/// assert_eq!(text, "Alloc Sales {draft}");
/// assert!("Alloc {view.cc".parse::<Template>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(String),
}

/// A template that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "template `{template}`: {problem} at character {position}; placeholders look like {{view.field}} and literal braces are written {{{{ and }}}}"
)]
pub struct TemplateError {
    template: String,
    problem: &'static str,
    position: usize,
}

impl Template {
    /// The template text as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The placeholder names in order of appearance (with repeats).
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Renders the template. `lookup` returns a placeholder's value; `None` renders as an empty
    /// string (the loader has already checked that every name is known).
    pub fn render(&self, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Placeholder(name) => {
                    if let Some(v) = lookup(name) {
                        out.push_str(&v);
                    }
                }
            }
        }
        out
    }

    fn parse(source: &str) -> Result<Self, TemplateError> {
        let err = |problem, position| TemplateError {
            template: source.to_owned(),
            problem,
            position,
        };
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => return Err(err("unmatched `}`", i)),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((j, '{')) => return Err(err("`{` inside a placeholder", j)),
                            Some((_, c)) => name.push(c),
                            None => return Err(err("unclosed `{`", i)),
                        }
                    }
                    let name = name.trim().to_owned();
                    if name.is_empty() {
                        return Err(err("empty placeholder", i));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Placeholder(name));
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }
}

impl std::str::FromStr for Template {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Template {
    type Error = TemplateError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Template> for String {
    fn from(t: Template) -> String {
        t.source
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        let t: Template = "{a.b}-{ c }{{x}}".parse().unwrap();
        assert_eq!(t.placeholders().collect::<Vec<_>>(), ["a.b", "c"]);
        assert_eq!(t.render(|n| Some(n.to_uppercase())), "A.B-C{x}");
        assert_eq!(t.render(|_| None), "-{x}");
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["{", "}", "{}", "a {b", "a } b", "{a{b}}"] {
            let e = bad.parse::<Template>().unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
