//! Text tables for people, the same in every program (sweep-collect's status table and
//! frontier, sweep-submit's plan): how wide they may be ([`width`]), and how a cell too long
//! for its column is wrapped ([`wrap`]) or, where only one line fits, cut ([`shorten`]).

use console::measure_text_width;
use std::io::IsTerminal;

/// The width a table written to stdout fits into: the terminal's, when stdout is one and
/// says its size; else `COLUMNS` (set by shells, and by hand: `COLUMNS=200 sweep-collect
/// --format table M | less -S`); else 80.
pub fn width() -> usize {
    let real = std::io::stdout()
        .is_terminal()
        .then(|| console::Term::stdout().size_checked())
        .flatten()
        .map(|(_, w)| usize::from(w));
    fit(real)
}

/// The width given the terminal's (`None`: not a terminal, or one that does not say).
fn fit(real: Option<usize>) -> usize {
    real.filter(|&w| w > 0)
        .or_else(columns)
        .unwrap_or(DEFAULT_WIDTH)
}

/// The width when nothing says otherwise.
pub const DEFAULT_WIDTH: usize = 80;

/// `COLUMNS`, when it holds a positive number.
fn columns() -> Option<usize> {
    std::env::var("COLUMNS")
        .ok()?
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|&w| w > 0)
}

/// Display columns `s` takes (escape sequences take none, wide characters two).
pub fn text_width(s: &str) -> usize {
    measure_text_width(s)
}

/// `text` in lines of at most `width` display columns, broken between words; a word longer
/// than a line is broken where the line ends. Never loses a character but the spaces where
/// lines break; an empty text is one empty line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let needed = text_width(&line) + usize::from(!line.is_empty()) + text_width(word);
        if needed <= width {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // A word longer than a line: as much as fits on each.
        for c in word.chars() {
            if text_width(&line) + text_width(c.encode_utf8(&mut [0; 4])) > width {
                lines.push(std::mem::take(&mut line));
            }
            line.push(c);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `s` cut to `width` display columns, ending in `…` when cut.
pub fn shorten(s: &str, width: usize) -> String {
    if text_width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    for c in s.chars() {
        if text_width(&out) + text_width(c.encode_utf8(&mut [0; 4])) + 1 > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_and_fits() {
        let text = "TIMEOUT: the job reached its time limit of 00:10:00 at 2026-12-07T18:31:25; last line: Loading safetensors checkpoint shards: 40% (2/5)";
        for width in [10, 24, 40, 80] {
            let lines = wrap(text, width);
            assert!(lines.iter().all(|l| text_width(l) <= width), "{lines:?}");
            let kept = |s: &str| s.replace(' ', "");
            assert_eq!(kept(&lines.concat()), kept(text), "{width}");
            if width >= 24 {
                assert_eq!(lines.join(" "), text, "no word is longer: {width}");
            }
        }
        assert_eq!(wrap("abcdefgh ij", 3), ["abc", "def", "gh", "ij"]);
        assert_eq!(wrap("", 5), [""]);
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }

    #[test]
    fn the_width_is_the_terminals_then_columns_then_80() {
        std::env::set_var("COLUMNS", "123");
        assert_eq!(fit(Some(100)), 100);
        assert_eq!(fit(Some(0)), 123, "a terminal that says 0 says nothing");
        assert_eq!(fit(None), 123);
        std::env::set_var("COLUMNS", "junk");
        assert_eq!(fit(None), 80);
        std::env::remove_var("COLUMNS");
        assert_eq!(fit(None), 80);
    }
}
