//! The human view (`--format table`, the default on a terminal): one line per combination
//! with its index, job, state, run time, the swept values that differ across the sweep, and
//! why it failed (or pends); then a summary by state. Fitted to the terminal's width: when
//! fewer than 40 columns are left beside the rows for causes that need more, each cause goes
//! on its own indented line below its row; long parameter names are shortened, then
//! parameter columns left out (said in the summary); the cause is cut with `…`.

use crate::failure;
use anyhow::Result;
use console::{measure_text_width, Style};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use sweep::record::SubmitStatus;
use sweep::{JobState, Record};

/// Two spaces between columns.
const GAP: usize = 2;
/// The least room the last column gets before parameter columns are shortened or left out.
const MIN_WHY: usize = 24;
/// With less room than this beside a row for a cause that needs more, causes go below their
/// rows, indented, with the terminal's whole width.
const WHY_BESIDE: usize = 40;
const BELOW_INDENT: usize = 7;

/// Prints the table of `records` on stdout, fitted to the terminal when stdout is one.
pub fn show(records: &[Record]) -> Result<()> {
    let out = std::io::stdout();
    let tty = out.is_terminal();
    let width = tty
        .then(|| console::Term::stdout().size_checked())
        .flatten()
        .map(|(_, w)| usize::from(w));
    let color = tty && std::env::var_os("NO_COLOR").is_none();
    let text = render(records, width, color);
    let mut out = out.lock();
    out.write_all(text.as_bytes())?;
    Ok(out.flush()?)
}

/// A column: header, cells, right-aligned or not.
struct Column {
    header: String,
    cells: Vec<String>,
    right: bool,
}

impl Column {
    fn width(&self) -> usize {
        self.cells
            .iter()
            .map(|c| measure_text_width(c))
            .chain([measure_text_width(&self.header)])
            .max()
            .unwrap_or(0)
    }
}

/// The table as text; `width`: the terminal's, to fit into; `color`: states in colour.
pub fn render(records: &[Record], width: Option<usize>, color: bool) -> String {
    let fixed = vec![
        column("INDEX", records, true, |r| r.index.to_string()),
        column("JOB", records, true, |r| {
            job_of(r).unwrap_or("-").to_string()
        }),
        column("STATE", records, false, |r| Shown::of(r).to_string()),
        column("ELAPSED", records, false, |r| {
            r.status.elapsed.clone().unwrap_or_else(|| "-".to_string())
        }),
    ];
    let mut params = swept(records);
    let why = column("WHY", records, false, why_of);
    let has_why = why.cells.iter().any(|c| !c.is_empty());
    let mut dropped = 0;
    let mut why_width = None;
    // Too little room beside the row: each cause on its own line below its row.
    let mut below = false;
    if let Some(w) = width {
        let used = |params: &[Column]| -> usize {
            fixed
                .iter()
                .chain(params)
                .map(|c| c.width() + GAP)
                .sum::<usize>()
        };
        let longest = why.cells.iter().map(|c| measure_text_width(c)).max();
        let room_beside = w.saturating_sub(used(&params));
        below = has_why && room_beside < WHY_BESIDE && longest.unwrap_or(0) > room_beside;
        let room = if has_why && !below { MIN_WHY } else { 0 };
        // The longest parameter name first, a step at a time, down to its values' width (at
        // least 6): as much as needed, no more. A step abbreviates one word but the last
        // (`decode_workers` to `d_workers`: names often differ in their last word), then cuts.
        while used(&params) + room > w {
            let longest = params
                .iter_mut()
                .filter(|p| measure_text_width(&p.header) > header_floor(p))
                .max_by_key(|p| measure_text_width(&p.header));
            let Some(p) = longest else { break };
            p.header = match abbreviate(&p.header) {
                Some(shorter) => shorter,
                None => shorten(&p.header, measure_text_width(&p.header) - 1),
            };
        }
        while !params.is_empty() && used(&params) + room > w {
            params.pop();
            dropped += 1;
        }
        why_width = Some(match below {
            true => w.saturating_sub(BELOW_INDENT).max(8),
            false => w.saturating_sub(used(&params)).max(8),
        });
    }
    let mut columns = fixed;
    columns.extend(params);
    let widths: Vec<usize> = columns.iter().map(Column::width).collect();
    let paint = Paint::new(color);
    let shown: Vec<Shown> = records.iter().map(Shown::of).collect();
    let mut text = String::new();
    // `state`: the row's, `None` for the header line.
    let mut line = |cells: Vec<String>, why: &str, state: Option<&Shown>| {
        let header = state.is_none();
        let mut l = String::new();
        for (i, (cell, c)) in cells.iter().zip(&columns).enumerate() {
            let pad = widths[i].saturating_sub(measure_text_width(cell));
            let padded = match c.right {
                true => format!("{}{cell}", " ".repeat(pad)),
                false => format!("{cell}{}", " ".repeat(pad)),
            };
            let styled = match (state, c.header.as_str()) {
                (None, _) => paint.header(&padded),
                (Some(state), "STATE") => paint.state(state, &padded),
                _ => padded,
            };
            l.push_str(&styled);
            l.push_str(&" ".repeat(GAP));
        }
        let why = match why_width {
            Some(w) => shorten(why, w),
            None => why.to_string(),
        };
        if has_why && !below {
            l.push_str(&if header {
                paint.header(&why)
            } else {
                why.clone()
            });
        }
        text.push_str(l.trim_end());
        text.push('\n');
        if below && !header && !why.is_empty() {
            text.push_str(&" ".repeat(BELOW_INDENT));
            text.push_str(&why);
            text.push('\n');
        }
    };
    let headers = columns.iter().map(|c| c.header.clone()).collect();
    line(headers, "WHY", None);
    for (i, state) in shown.iter().enumerate() {
        let cells = columns.iter().map(|c| c.cells[i].clone()).collect();
        line(cells, &why.cells[i], Some(state));
    }
    text.push_str(&summary(records, dropped));
    text
}

/// The narrowest a parameter's name is shortened to: its values' width, at least 6.
fn header_floor(p: &Column) -> usize {
    let cells = p.cells.iter().map(|c| measure_text_width(c)).max();
    cells.unwrap_or(0).max(6)
}

fn column(header: &str, records: &[Record], right: bool, f: impl Fn(&Record) -> String) -> Column {
    Column {
        header: header.to_string(),
        cells: records.iter().map(f).collect(),
        right,
    }
}

/// The job the state describes: a `--retries` follow-up that took over, else `job_id`.
fn job_of(r: &Record) -> Option<&str> {
    r.status.state_job_id.as_deref().or(r.job_id.as_deref())
}

/// What the STATE column shows: Slurm's state; for a combination without a job, what became
/// of its submission; `-` for a job whose state was not asked.
enum Shown {
    Job(JobState),
    NotAsked,
    SubmitFailed,
    DryRun,
    NotSubmitted,
}

impl Shown {
    fn of(r: &Record) -> Shown {
        match (&r.status.state, &r.job_id, r.submit_status) {
            (Some(s), _, _) => Shown::Job(s.clone()),
            (None, Some(_), _) => Shown::NotAsked,
            (None, None, Some(SubmitStatus::Failed)) => Shown::SubmitFailed,
            (None, None, Some(SubmitStatus::DryRun)) => Shown::DryRun,
            (None, None, _) => Shown::NotSubmitted,
        }
    }

    /// Green for done, cyan for running, yellow for waiting, magenta for cancelled, red
    /// for everything that went wrong (or is unknown).
    fn style(&self) -> Style {
        use JobState::*;
        match self {
            Shown::Job(Completed) => Style::new().green(),
            Shown::Job(Running | Completing | Configuring) => Style::new().cyan(),
            Shown::Job(Pending) | Shown::NotAsked | Shown::DryRun | Shown::NotSubmitted => {
                Style::new().yellow()
            }
            Shown::Job(Cancelled) => Style::new().magenta(),
            Shown::Job(_) | Shown::SubmitFailed => Style::new().red().bold(),
        }
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shown::Job(s) => s.as_str(),
            Shown::NotAsked => "-",
            Shown::SubmitFailed => "SUBMIT_FAILED",
            Shown::DryRun => "DRY_RUN",
            Shown::NotSubmitted => "NOT_SUBMITTED",
        })
    }
}

/// Why a job failed (its failing step and the last line of that step's stderr), why a
/// submission failed, or why a job pends.
fn why_of(r: &Record) -> String {
    let failure = r.status.failure.clone().or_else(|| failure::of_record(r));
    if let Some(f) = failure {
        // The message first: it is what a narrow terminal keeps.
        return match (&f.step, f.exit_status) {
            (Some(step), Some(rc)) => format!("{} ({step}, exit {rc})", f.message),
            (Some(step), None) => format!("{} ({step})", f.message),
            _ => f.message,
        };
    }
    if let Some(e) = r.submit_error.as_deref().filter(|_| r.job_id.is_none()) {
        return one_line(e);
    }
    match r.status.state {
        Some(JobState::Pending) => r.status.state_reason.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parameter columns: every swept key whose values are not the same in every record, in
/// the order keys first appear (slurm, then sglang, then per-role ones as `prefill.KEY`).
fn swept(records: &[Record]) -> Vec<Column> {
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
            let first = &cells[0];
            if cells.iter().all(|c| c == first) {
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
fn abbreviate(name: &str) -> Option<String> {
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

/// `s` cut to `width` display columns, ending in `…` when cut.
fn shorten(s: &str, width: usize) -> String {
    if measure_text_width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    for c in s.chars() {
        if measure_text_width(&out) + measure_text_width(&c.to_string()) + 1 > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// `3 combinations: COMPLETED 1, FAILED 1, PENDING 1`, and what the table does not show.
fn summary(records: &[Record], dropped: usize) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        *counts.entry(Shown::of(r).to_string()).or_default() += 1;
    }
    let unasked = counts.remove(&Shown::NotAsked.to_string());
    let mut parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    if let Some(n) = unasked {
        parts.push(format!("{n} without a state (add --status)"));
    }
    let mut line = format!("{} combinations: {}", records.len(), parts.join(", "));
    if dropped > 0 {
        line.push_str(&format!(
            "; {dropped} swept key(s) not shown (a wider terminal, or --format json)"
        ));
    }
    line.push('\n');
    line
}

/// Colours, when wanted.
struct Paint {
    on: bool,
}

impl Paint {
    fn new(on: bool) -> Paint {
        Paint { on }
    }

    fn header(&self, s: &str) -> String {
        self.style(Style::new().bold(), s)
    }

    /// `padded` coloured by the state it shows.
    fn state(&self, state: &Shown, padded: &str) -> String {
        self.style(state.style(), padded)
    }

    fn style(&self, style: Style, s: &str) -> String {
        if !self.on {
            return s.to_string();
        }
        style.force_styling(true).apply_to(s).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(index: u64, mfs: &str, state: Option<&str>) -> Record {
        let state = state.map_or(String::new(), |s| {
            format!(r#","state":"{s}","elapsed":"00:01:02""#)
        });
        let text = format!(
            r#"{{"index":{index},"id":"i{index}","mode":"agg","parameters":{{"slurm":{{"agg_nodes":1,"agg_workers":1}},"sglang":{{"mem-fraction-static":{mfs},"context-length":2048}}}},"job_id":"{}"{state}}}"#,
            100 + index
        );
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn only_the_values_that_differ_are_shown() {
        let records = vec![rec(0, "0.8", Some("COMPLETED")), rec(1, "0.85", None)];
        let text = render(&records, None, false);
        assert_eq!(
            text,
            "INDEX  JOB  STATE      ELAPSED   mem-fraction-static\n    \
                 0  100  COMPLETED  00:01:02                  0.8\n    \
                 1  101  -          -                        0.85\n\
             2 combinations: COMPLETED 1, 1 without a state (add --status)\n"
        );
    }

    #[test]
    fn a_narrow_terminal_puts_causes_below_then_shortens_then_drops_parameter_columns() {
        let records = vec![
            rec(0, "0.8", Some("FAILED")),
            rec(1, "0.85", Some("COMPLETED")),
        ];
        let text = render(&records, Some(200), false);
        assert!(
            text.contains("0.8  FAILED: the record has no log_dir to look in\n"),
            "beside its row: {text}"
        );
        let text = render(&records, Some(64), false);
        assert_eq!(
            text,
            "INDEX  JOB  STATE      ELAPSED   mem-fraction-static\n    \
                 0  100  FAILED     00:01:02                  0.8\n       \
                    FAILED: the record has no log_dir to look in\n    \
                 1  101  COMPLETED  00:01:02                 0.85\n\
             2 combinations: COMPLETED 1, FAILED 1\n"
        );
        let text = render(&records, Some(52), false);
        for l in text.lines().filter(|l| !l.contains("combinations")) {
            assert!(measure_text_width(l) <= 52, "{l:?}");
        }
        assert!(
            text.contains("  m-fraction-static\n"),
            "as much as needed: {text}"
        );
        assert_eq!(abbreviate("decode_workers").as_deref(), Some("d_workers"));
        assert_eq!(abbreviate("m-f-static"), None);
        assert_eq!(
            abbreviate("prefill.chunked-size").as_deref(),
            Some("p.chunked-size")
        );
        let text = render(&records, Some(44), false);
        assert!(
            text.contains("\n       FAILED: the record has no log_dir to…\n"),
            "{text}"
        );
        let text = render(&records, Some(38), false);
        assert!(text.contains("1 swept key(s) not shown"), "{text}");
    }
}
