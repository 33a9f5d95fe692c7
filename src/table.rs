//! Text tables for people, the same in every program (sweep-collect's status table and
//! frontier, sweep-submit's plan): how wide they may be ([`width`]), how a cell too long for
//! its column is wrapped ([`wrap`]) or, where only one line fits, cut ([`shorten`]), and a
//! table of combinations ([`Table`]): fixed columns, the swept values that differ
//! ([`swept`]), the sweep of each row when there are several ([`Sweeps`]), and a note.

use crate::Record;
use console::measure_text_width;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;

/// The width a table fits into: the terminal's, when stdout is one that says its size, else
/// when stderr is (`sweep-collect --format table M | less`, or the frontier shown on stderr);
/// else `COLUMNS` (set by shells, and by hand: `COLUMNS=200 sweep-collect --format table M >
/// t.txt`); else 80.
pub fn width() -> usize {
    let out = std::io::stdout()
        .is_terminal()
        .then(|| console::Term::stdout().size_checked())
        .flatten();
    let err = || {
        std::io::stderr()
            .is_terminal()
            .then(|| console::Term::stderr().size_checked())
            .flatten()
    };
    fit(out.or_else(err).map(|(_, w)| usize::from(w)))
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

/// Two spaces between columns.
const GAP: usize = 2;
/// With less room than this beside the rows for a note that needs more, notes go below
/// them, indented, with the table's whole width; and the least room the notes keep beside
/// the rows before parameter columns are shortened or left out.
pub const MIN_NOTE: usize = 24;
/// How far a note below its row is indented.
pub const BELOW_INDENT: usize = 7;

/// The last column's text of a row: it wraps (a cause, a reason of a plan), or is cut to
/// its line (a pending job's reason, which is Slurm's and long).
pub struct Note {
    pub text: String,
    pub wraps: bool,
}

impl Note {
    /// A note that wraps.
    pub fn wrapping(text: String) -> Note {
        Note { text, wraps: true }
    }

    /// A note cut to one line.
    pub fn cut(text: String) -> Note {
        Note { text, wraps: false }
    }
}

/// A table for people: fixed columns, then the swept values (shortened, then left out, when
/// the width asks), then a note per row (wrapped in its column, or below its row when even
/// [`MIN_NOTE`] columns are missing beside it).
pub struct Table {
    pub fixed: Vec<Column>,
    pub params: Vec<Column>,
    /// The last column's header (`WHY`).
    pub note_header: String,
    /// One per row.
    pub notes: Vec<Note>,
}

/// A table as text, and how many parameter columns it left out.
pub struct Rendered {
    pub text: String,
    pub dropped: usize,
}

impl Table {
    /// The table fitted to `width` display columns; `style(column, row, padded)` paints a
    /// cell (`row` is `None` for the header line).
    pub fn render(
        mut self,
        width: usize,
        style: &dyn Fn(&str, Option<usize>, &str) -> String,
    ) -> Rendered {
        let has_note = self.notes.iter().any(|n| !n.text.is_empty());
        let fixed = &self.fixed;
        let used = |params: &[Column]| -> usize {
            fixed
                .iter()
                .chain(params)
                .map(|c| c.width() + GAP)
                .sum::<usize>()
        };
        // Too little room beside the rows for a note that needs more: each note on lines of
        // its own below its row, and the parameters keep their room.
        let longest = self.notes.iter().map(|n| text_width(&n.text)).max();
        let beside = width.saturating_sub(used(&self.params));
        let below = has_note && beside < MIN_NOTE && longest.unwrap_or(0) > beside;
        let room = match has_note && !below {
            true => MIN_NOTE.min(longest.unwrap_or(0)),
            false => 0,
        };
        // The longest parameter name first, a step at a time, down to its values' width
        // (at least 6): as much as needed, no more. A step abbreviates one word but the
        // last (`decode_workers` to `d_workers`: names often differ in their last word),
        // then cuts.
        while used(&self.params) + room > width {
            let longest = self
                .params
                .iter_mut()
                .filter(|p| text_width(&p.header) > header_floor(p))
                .max_by_key(|p| text_width(&p.header));
            let Some(p) = longest else { break };
            p.header = match abbreviate(&p.header) {
                Some(shorter) => shorter,
                None => shorten(&p.header, text_width(&p.header) - 1),
            };
        }
        let mut dropped = 0;
        while !self.params.is_empty() && used(&self.params) + room > width {
            self.params.pop();
            dropped += 1;
        }
        let note_width = match below {
            true => width.saturating_sub(BELOW_INDENT).max(MIN_NOTE),
            false => width.saturating_sub(used(&self.params)).max(8),
        };
        let mut columns = self.fixed;
        columns.extend(self.params);
        let widths: Vec<usize> = columns.iter().map(Column::width).collect();
        let note_at: usize = widths.iter().map(|w| w + GAP).sum();
        let mut text = String::new();
        let mut line = |row: Option<usize>, note: &Note| {
            let mut l = String::new();
            for (i, c) in columns.iter().enumerate() {
                let cell = match row {
                    Some(r) => &c.cells[r],
                    None => &c.header,
                };
                let pad = " ".repeat(widths[i].saturating_sub(text_width(cell)));
                let padded = match c.right {
                    true => format!("{pad}{cell}"),
                    false => format!("{cell}{pad}"),
                };
                l.push_str(&style(&c.header, row, &padded));
                l.push_str(&" ".repeat(GAP));
            }
            let lines = match note.wraps {
                true => wrap(&note.text, note_width),
                false => vec![shorten(&note.text, note_width)],
            };
            if has_note && !below {
                let first = lines.first().cloned().unwrap_or_default();
                l.push_str(&match row {
                    None => style("", None, &first),
                    Some(_) => first,
                });
            }
            text.push_str(l.trim_end());
            text.push('\n');
            if row.is_none() || note.text.is_empty() {
                return;
            }
            let (indent, rest) = match below {
                true => (BELOW_INDENT, &lines[..]),
                false => (note_at, &lines[1..]),
            };
            for w in rest {
                text.push_str(&" ".repeat(indent));
                text.push_str(w);
                text.push('\n');
            }
        };
        line(None, &Note::cut(self.note_header.clone()));
        for (r, note) in self.notes.iter().enumerate() {
            line(Some(r), note);
        }
        Rendered { text, dropped }
    }
}

/// A column: header, cells, right-aligned or not.
pub struct Column {
    pub header: String,
    pub cells: Vec<String>,
    pub right: bool,
}

impl Column {
    /// The widest cell or header, in display columns.
    pub fn width(&self) -> usize {
        self.cells
            .iter()
            .map(|c| text_width(c))
            .chain([text_width(&self.header)])
            .max()
            .unwrap_or(0)
    }
}

/// The sweeps of a table's records, by sweep directory, in order of first appearance, each
/// with the shortest name that tells it apart: its directory's name, with as many parent
/// directories as needed.
pub struct Sweeps {
    /// (sweep directory, name), in order of first appearance.
    dirs: Vec<(Option<String>, String)>,
}

impl Sweeps {
    /// The sweeps of `records`.
    pub fn of(records: &[&Record]) -> Sweeps {
        let mut dirs: Vec<Option<String>> = Vec::new();
        for r in records {
            if !dirs.contains(&r.sweep_dir) {
                dirs.push(r.sweep_dir.clone());
            }
        }
        let parts = |d: &Option<String>| -> Vec<String> {
            d.as_deref().map_or(Vec::new(), |d| {
                Path::new(d)
                    .components()
                    .rev()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .filter(|c| c != "/")
                    .collect()
            })
        };
        let name_of = |d: &Option<String>, depth: usize| -> String {
            let p = parts(d);
            match p.is_empty() {
                true => "-".to_string(),
                false => {
                    let mut taken: Vec<String> = p.into_iter().take(depth).collect();
                    taken.reverse();
                    taken.join("/")
                }
            }
        };
        let deepest = dirs.iter().map(|d| parts(d).len()).max().unwrap_or(1);
        let depth = (1..=deepest.max(1))
            .find(|&k| {
                let names: Vec<String> = dirs.iter().map(|d| name_of(d, k)).collect();
                names
                    .iter()
                    .enumerate()
                    .all(|(i, n)| !names[..i].contains(n))
            })
            .unwrap_or(deepest.max(1));
        Sweeps {
            dirs: dirs
                .into_iter()
                .map(|d| {
                    let name = name_of(&d, depth);
                    (d, name)
                })
                .collect(),
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.dirs.len()
    }

    /// True when there are none (no records).
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// True when there are two or more.
    pub fn several(&self) -> bool {
        self.dirs.len() > 1
    }

    /// Which of them `r` is of (0 for a record of none).
    pub fn position(&self, r: &Record) -> usize {
        self.dirs
            .iter()
            .position(|(d, _)| *d == r.sweep_dir)
            .unwrap_or(0)
    }

    /// The name of `r`'s sweep.
    pub fn name(&self, r: &Record) -> String {
        self.dirs[self.position(r)].1.clone()
    }
}

/// The narrowest a parameter's name is shortened to: its values' width, at least 6.
fn header_floor(p: &Column) -> usize {
    let cells = p.cells.iter().map(|c| text_width(c)).max();
    cells.unwrap_or(0).max(6)
}

pub fn column(
    header: &str,
    records: &[&Record],
    right: bool,
    f: impl Fn(&Record) -> String,
) -> Column {
    Column {
        header: header.to_string(),
        cells: records.iter().map(|r| f(r)).collect(),
        right,
    }
}

pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parameter columns: every swept key whose values are not the same in every record, in
/// the order keys first appear (slurm, then sglang, then per-role ones as `prefill.KEY`).
pub fn swept(records: &[&Record]) -> Vec<Column> {
    let mut order: Vec<String> = Vec::new();
    let mut values: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        for (key, value) in parameters(r) {
            let cells = values.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                vec![None; records.len()]
            });
            cells[i] = Some(value);
        }
    }
    order
        .into_iter()
        .filter_map(|key| {
            let cells = values.remove(&key)?;
            // Shown when two records that have it differ: a key of one sweep only, the same
            // in all its records, would be a column of "-" beside the other sweeps' rows.
            let mut present = cells.iter().flatten();
            let first = present.next()?;
            if present.all(|c| c == first) {
                return None;
            }
            let right = cells.iter().flatten().all(|c| c.parse::<f64>().is_ok());
            Some(Column {
                header: key,
                cells: cells
                    .into_iter()
                    .map(|c| c.unwrap_or_else(|| "-".to_string()))
                    .collect(),
                right,
            })
        })
        .collect()
}

/// A record's swept values as (column name, text).
fn parameters(r: &Record) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let p = &r.parameters;
    out.extend(p.slurm.iter().map(|(k, v)| (k.clone(), text(v))));
    out.extend(p.sglang.iter().map(|(k, v)| (k.clone(), text(v))));
    if let Some(roles) = &r.role_parameters {
        for (role, map) in [("prefill", &roles.prefill), ("decode", &roles.decode)] {
            out.extend(map.iter().map(|(k, v)| (format!("{role}.{k}"), text(v))));
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => one_line(s),
        other => other.to_string(),
    }
}

/// `name` with its first unabbreviated word but the last cut to its first letter
/// (`max-running-requests` to `m-running-requests`); `None` when none is left.
pub fn abbreviate(name: &str) -> Option<String> {
    let words: Vec<&str> = name.split(['_', '-', '.']).collect();
    let last = words.len().checked_sub(1)?;
    let k = words[..last].iter().position(|w| w.chars().count() > 1)?;
    let mut out = String::new();
    let mut rest = name;
    for (i, w) in words.iter().enumerate() {
        let word = if i == k {
            w.chars().next().map(String::from).unwrap_or_default()
        } else {
            w.to_string()
        };
        out.push_str(&word);
        rest = &rest[w.len()..];
        if let Some(sep) = rest.chars().next() {
            out.push(sep);
            rest = &rest[sep.len_utf8()..];
        }
    }
    Some(out)
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
    fn names_are_abbreviated_word_by_word_but_the_last() {
        assert_eq!(abbreviate("decode_workers").as_deref(), Some("d_workers"));
        assert_eq!(abbreviate("m-f-static"), None);
        assert_eq!(
            abbreviate("prefill.chunked-size").as_deref(),
            Some("p.chunked-size")
        );
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
