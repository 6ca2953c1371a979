//! Short excerpts of response bodies for error messages.

/// Returns at most `max_chars` characters of `body` on one line, with runs of
/// white space folded and an ellipsis when something was cut.
///
/// Used when a server (or a proxy in front of it) answers with something that
/// is not the JSON the API documents, such as an HTML `502 Bad Gateway` page:
/// the error shows what came back without dumping a whole page into a log.
///
/// ```
/// use ml_connector_retry::preview;
///
/// let page = "<html>\n  <body>502   Bad Gateway</body>\n</html>";
/// assert_eq!(preview(page, 20), "<html> <body>502 Bad…");
/// assert_eq!(preview("short", 20), "short");
/// ```
pub fn preview(body: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(max_chars.min(body.len()) + 3);
    let mut count = 0;
    let mut cut = false;
    for word in body.split_whitespace() {
        let needed = if count == 0 { 0 } else { 1 };
        if count + needed >= max_chars {
            cut = true;
            break;
        }
        if needed == 1 {
            out.push(' ');
            count += 1;
        }
        for ch in word.chars() {
            if count == max_chars {
                cut = true;
                break;
            }
            out.push(ch);
            count += 1;
        }
        if cut {
            break;
        }
    }
    if cut {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::preview;

    #[test]
    fn folds_and_cuts() {
        assert_eq!(preview("", 10), "");
        assert_eq!(preview("a  b\n\tc", 10), "a b c");
        assert_eq!(preview("abcdefghij", 4), "abcd…");
        assert_eq!(preview("ab cd", 3), "ab…");
        assert_eq!(preview("ünïcödé text", 4), "ünïc…");
    }
}
