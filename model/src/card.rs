//! A model package's card (`README.md`) as text to embed: its prose lines, real text nobody here wrote
//! (the demo's and the load runs' sentences, the sink measurement's sequences). The steering script
//! (`scripts/measure_steering.py`) applies the same rule in Python.

/// The card's prose lines: trimmed, at least 20 characters, starting with a letter (not markup,
/// tables, code or links).
pub fn prose_lines(card: &str) -> impl Iterator<Item = &str> {
    card.lines()
        .map(str::trim)
        .filter(|line| line.len() >= 20 && line.starts_with(char::is_alphabetic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prose_lines_are_kept() {
        let card = "# Title\n  A sentence long enough to embed.  \n| a | table |\nshort\n- a list item that is long\nAnother line that counts here";
        let lines: Vec<&str> = prose_lines(card).collect();
        assert_eq!(
            lines,
            [
                "A sentence long enough to embed.",
                "Another line that counts here"
            ]
        );
    }
}
