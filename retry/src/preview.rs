//! Short excerpts of response bodies for error messages.

/// Returns at most `max_chars` characters of `body` on one line, with runs of
/// white space folded and an ellipsis when something was cut.
///
/// Used when a server (or a proxy in front of it) answers with something that
/// is not the JSON the API documents. An HTML page (a `502 Bad Gateway` from
/// nginx, a login portal, a maintenance page) is not dumped as markup: it is
/// named as an HTML page with its title, which is what a reader needs to know
/// that something in front of the service answered.
///
/// ```
/// use ml_connector_retry::preview;
///
/// let page = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>";
/// assert_eq!(
///     preview(page, 200),
///     "an HTML page titled \"502 Bad Gateway\" (a proxy or gateway in front of the service \
///      answered)"
/// );
/// assert_eq!(preview("not  json\n at all", 20), "not json at all");
/// assert_eq!(preview("short", 3), "sho…");
/// ```
pub fn preview(body: &str, max_chars: usize) -> String {
    if let Some(page) = html_page(body) {
        return page;
    }
    fold(body, max_chars)
}

/// Names an HTML document (by its `<title>`, else its first `<h1>`), or
/// `None` when `body` is not one.
fn html_page(body: &str) -> Option<String> {
    let start = body.trim_start();
    if !start.starts_with('<') {
        return None;
    }
    // Only the head of the text is searched: enough for any page's title.
    let head: String = start
        .chars()
        .take(4096)
        .collect::<String>()
        .to_ascii_lowercase();
    let is_html = ["<!doctype html", "<html", "<head", "<body", "<title"]
        .iter()
        .any(|tag| head.contains(tag));
    if !is_html {
        return None;
    }
    let original: String = start.chars().take(4096).collect();
    let title = ["title", "h1"].iter().find_map(|tag| {
        let open = head.find(&format!("<{tag}"))?;
        let text_start = open + head[open..].find('>')? + 1;
        let text_end = text_start + head[text_start..].find(&format!("</{tag}"))?;
        // Lower-casing ASCII keeps byte offsets, so they index the original.
        let text = fold(original.get(text_start..text_end)?, 80);
        (!text.is_empty()).then_some(text)
    });
    Some(match title {
        Some(t) => format!(
            "an HTML page titled \"{t}\" (a proxy or gateway in front of the service answered)"
        ),
        None => "an HTML page (a proxy or gateway in front of the service answered)".to_owned(),
    })
}

fn fold(body: &str, max_chars: usize) -> String {
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
    fn html_pages_are_named_by_title_not_dumped() {
        let nginx = "\n<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
                     <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
                     </body>\r\n</html>";
        let p = preview(nginx, 300);
        assert!(
            p.starts_with("an HTML page titled \"502 Bad Gateway\""),
            "{p}"
        );
        assert!(!p.contains('<'), "{p}");
        let doctype = "<!DOCTYPE html><HTML><BODY><H1>Service  Unavailable</H1></BODY></HTML>";
        assert!(preview(doctype, 300).contains("titled \"Service Unavailable\""));
        let bare = "<html><body><p>down</p></body></html>";
        assert!(preview(bare, 300).starts_with("an HTML page (a proxy"));
        // XML or other markup is shown as it is.
        assert_eq!(preview("<error>x</error>", 300), "<error>x</error>");
        // A title that never closes does not panic or dump.
        assert!(preview("<html><title>cut", 300).starts_with("an HTML page (a proxy"));
        // Non-ASCII before the title keeps offsets right.
        let p = preview(
            "<html><head><meta content=\"ünï\"><title>Wartung läuft</title>",
            300,
        );
        assert!(p.contains("titled \"Wartung läuft\""), "{p}");
    }

    #[test]
    fn folds_and_cuts() {
        assert_eq!(preview("", 10), "");
        assert_eq!(preview("a  b\n\tc", 10), "a b c");
        assert_eq!(preview("abcdefghij", 4), "abcd…");
        assert_eq!(preview("ab cd", 3), "ab…");
        assert_eq!(preview("ünïcödé text", 4), "ünïc…");
    }
}
