//! Closest valid names for "did you mean" hints.

/// How many suggestions an error carries.
pub const MAX_SUGGESTIONS: usize = 3;

/// The up to three candidates closest to `wanted` by edit distance (Levenshtein, ignoring
/// letter case), nearest first, ties by name.
///
/// Candidates far from the wanted value (more edits than the longer of the two strings has
/// characters, i.e. nothing in common) are still offered when nothing closer exists, because a
/// user picking from three valid codes is better off than one told nothing.
///
/// ```
/// use sync_core::mapping::closest_names;
/// let got = closest_names("6110", ["6100", "6200", "1000", "6110-X"]);
/// assert_eq!(got, ["6100", "6110-X", "6200"]);
/// ```
pub fn closest_names<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter(|c| *c != wanted)
        .map(|c| (strsim::levenshtein(&wanted_lower, &c.to_lowercase()), c))
        .collect();
    scored.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, c)| c.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_first_and_case_insensitive() {
        assert_eq!(
            closest_names("headofice", ["HEADOFFICE", "EAST", "WEST", "HQ"]),
            ["HEADOFFICE", "EAST", "HQ"]
        );
        assert!(closest_names("x", std::iter::empty()).is_empty());
        assert_eq!(closest_names("a", ["a", "b"]), ["b"]);
    }
}
