//! The human view (`--format table`, the default on a terminal): one line per combination
//! with its index, its sweep (when the input holds several), job, state, run time, the swept
//! values that differ, and why it failed (or pends); then a summary by state. Fitted to the
//! width of [`sweep::table::width`] (the terminal's, else `COLUMNS`, else 80): long parameter
//! names are shortened, then parameter columns left out (said in the summary), so that the
//! causes keep at least 24 columns beside their rows; a cause wraps onto lines of its own in
//! its column, never losing its end (below its row, indented, when even that room is
//! missing). A pending job's reason is Slurm's, cut to one line.

use crate::failure;
use anyhow::Result;
use console::{measure_text_width, Style};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use sweep::record::SubmitStatus;
use sweep::table::{shorten, wrap};
use sweep::{JobState, Record};

/// Two spaces between columns.
const GAP: usize = 2;
/// With less room than this beside the rows for a cause that needs more, causes go below
/// them, indented, with the table's whole width; and the least room the causes keep beside
/// the rows before parameter columns are shortened or left out.
const MIN_WHY: usize = 24;
const BELOW_INDENT: usize = 7;

/// Prints the table of `records` on stdout, fitted to [`sweep::table::width`].
pub fn show(records: &[&Record]) -> Result<()> {
    let out = std::io::stdout();
    let color = out.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = render(records, sweep::table::width(), color);
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

/// The table as text, fitted to `width` display columns; `color`: states in colour.
pub fn render(records: &[&Record], width: usize, color: bool) -> String {
    let sweeps = Sweeps::of(records);
    // Several sweeps: each sweep's rows together, by index.
    let mut order: Vec<&Record> = records.to_vec();
    if sweeps.several() {
        order.sort_by_key(|r| (sweeps.position(r), r.index));
    }
    let records = &order[..];
    let mut fixed = vec![column("INDEX", records, true, |r| r.index.to_string())];
    if sweeps.several() {
        fixed.push(column("SWEEP", records, false, |r| sweeps.name(r)));
    }
    fixed.extend([
        column("JOB", records, true, |r| {
            job_of(r).unwrap_or("-").to_string()
        }),
        column("STATE", records, false, |r| Shown::of(r).to_string()),
        column("ELAPSED", records, false, |r| {
            r.status.elapsed.clone().unwrap_or_else(|| "-".to_string())
        }),
    ]);
    let mut params = swept(records);
    let whys: Vec<Why> = records.iter().map(|r| why_of(r)).collect();
    let has_why = whys.iter().any(|w| !w.text.is_empty());
    let used = |params: &[Column]| -> usize {
        fixed
            .iter()
            .chain(params)
            .map(|c| c.width() + GAP)
            .sum::<usize>()
    };
    // Too little room beside the rows for a cause that needs more: each cause on lines of
    // its own below its row, and the parameters keep their room.
    let longest = whys.iter().map(|w| measure_text_width(&w.text)).max();
    let beside = width.saturating_sub(used(&params));
    let below = has_why && beside < MIN_WHY && longest.unwrap_or(0) > beside;
    let room = if has_why && !below {
        MIN_WHY.min(longest.unwrap_or(0))
    } else {
        0
    };
    // The longest parameter name first, a step at a time, down to its values' width (at
    // least 6): as much as needed, no more. A step abbreviates one word but the last
    // (`decode_workers` to `d_workers`: names often differ in their last word), then cuts.
    while used(&params) + room > width {
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
    let mut dropped = 0;
    while !params.is_empty() && used(&params) + room > width {
        params.pop();
        dropped += 1;
    }
    let why_width = match below {
        true => width.saturating_sub(BELOW_INDENT).max(MIN_WHY),
        false => width.saturating_sub(used(&params)).max(8),
    };
    let mut columns = fixed;
    columns.extend(params);
    let widths: Vec<usize> = columns.iter().map(Column::width).collect();
    let why_at: usize = widths.iter().map(|w| w + GAP).sum();
    let paint = Paint::new(color);
    let mut text = String::new();
    // `state`: the row's, `None` for the header line.
    let mut line = |cells: Vec<String>, why: &Why, state: Option<Shown>| {
        let header = state.is_none();
        let mut l = String::new();
        for (i, (cell, c)) in cells.iter().zip(&columns).enumerate() {
            let pad = widths[i].saturating_sub(measure_text_width(cell));
            let padded = match c.right {
                true => format!("{}{cell}", " ".repeat(pad)),
                false => format!("{cell}{}", " ".repeat(pad)),
            };
            let styled = match (&state, c.header.as_str()) {
                (None, _) => paint.header(&padded),
                (Some(state), "STATE") => paint.state(state, &padded),
                _ => padded,
            };
            l.push_str(&styled);
            l.push_str(&" ".repeat(GAP));
        }
        // A cause wraps; a pending reason is cut to its line.
        let why_lines = match why.wraps {
            true => wrap(&why.text, why_width),
            false => vec![shorten(&why.text, why_width)],
        };
        if has_why && !below {
            let first = why_lines.first().cloned().unwrap_or_default();
            l.push_str(&if header { paint.header(&first) } else { first });
        }
        text.push_str(l.trim_end());
        text.push('\n');
        if header || why.text.is_empty() {
            return;
        }
        let (indent, rest) = match below {
            true => (BELOW_INDENT, &why_lines[..]),
            false => (why_at, &why_lines[1..]),
        };
        for w in rest {
            text.push_str(&" ".repeat(indent));
            text.push_str(w);
            text.push('\n');
        }
    };
    let headers = columns.iter().map(|c| c.header.clone()).collect();
    line(headers, &Why::cut("WHY".to_string()), None);
    for (i, r) in records.iter().enumerate() {
        let cells = columns.iter().map(|c| c.cells[i].clone()).collect();
        line(cells, &whys[i], Some(Shown::of(r)));
    }
    text.push_str(&summary(records, dropped, &sweeps));
    text
}

/// The sweeps of a table's records, by sweep directory, in order of first appearance, each
/// with the shortest name that tells it apart: its directory's name, with as many parent
/// directories as needed.
struct Sweeps {
    /// (sweep directory, name), in order of first appearance.
    dirs: Vec<(Option<String>, String)>,
}

impl Sweeps {
    fn of(records: &[&Record]) -> Sweeps {
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

    fn several(&self) -> bool {
        self.dirs.len() > 1
    }

    fn position(&self, r: &Record) -> usize {
        self.dirs
            .iter()
            .position(|(d, _)| *d == r.sweep_dir)
            .unwrap_or(0)
    }

    fn name(&self, r: &Record) -> String {
        self.dirs[self.position(r)].1.clone()
    }
}

/// The narrowest a parameter's name is shortened to: its values' width, at least 6.
fn header_floor(p: &Column) -> usize {
    let cells = p.cells.iter().map(|c| measure_text_width(c)).max();
    cells.unwrap_or(0).max(6)
}

fn column(header: &str, records: &[&Record], right: bool, f: impl Fn(&Record) -> String) -> Column {
    Column {
        header: header.to_string(),
        cells: records.iter().map(|r| f(r)).collect(),
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

/// What the WHY column says of a row, and whether it wraps (a cause) or is cut to one line
/// (a pending job's reason).
struct Why {
    text: String,
    wraps: bool,
}

impl Why {
    fn cut(text: String) -> Why {
        Why { text, wraps: false }
    }
}

/// Why a job failed (its cause, then the step, its exit status and the file the cause was
/// read from), why a submission failed, or why a job pends.
fn why_of(r: &Record) -> Why {
    let failure = r.status.failure.clone().or_else(|| failure::of_record(r));
    if let Some(f) = failure {
        // The message first: it is what matters most.
        let file = f.file.as_deref().and_then(|p| Path::new(p).file_name());
        let mut about: Vec<String> = Vec::new();
        about.extend(f.step.clone());
        about.extend(f.exit_status.map(|rc| format!("exit {rc}")));
        about.extend(file.map(|f| f.to_string_lossy().into_owned()));
        let text = match about.is_empty() {
            true => f.message,
            false => format!("{} ({})", f.message, about.join(", ")),
        };
        return Why { text, wraps: true };
    }
    if let Some(e) = r.submit_error.as_deref().filter(|_| r.job_id.is_none()) {
        return Why {
            text: one_line(e),
            wraps: true,
        };
    }
    Why::cut(match r.status.state {
        Some(JobState::Pending) => r.status.state_reason.clone().unwrap_or_default(),
        _ => String::new(),
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parameter columns: every swept key whose values are not the same in every record, in
/// the order keys first appear (slurm, then sglang, then per-role ones as `prefill.KEY`).
fn swept(records: &[&Record]) -> Vec<Column> {
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

/// `3 combinations: COMPLETED 1, FAILED 1, PENDING 1`, and what the table does not show.
fn summary(records: &[&Record], dropped: usize, sweeps: &Sweeps) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        *counts.entry(Shown::of(r).to_string()).or_default() += 1;
    }
    let unasked = counts.remove(&Shown::NotAsked.to_string());
    let mut parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    if let Some(n) = unasked {
        parts.push(format!("{n} without a state (add --status)"));
    }
    let of = match sweeps.several() {
        true => format!(" of {} sweeps", sweeps.dirs.len()),
        false => String::new(),
    };
    let mut line = format!("{} combinations{of}: {}", records.len(), parts.join(", "));
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

    fn refs(records: &[Record]) -> Vec<&Record> {
        records.iter().collect()
    }

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
        let text = render(&refs(&records), 200, false);
        assert_eq!(
            text,
            "INDEX  JOB  STATE      ELAPSED   mem-fraction-static\n    \
                 0  100  COMPLETED  00:01:02                  0.8\n    \
                 1  101  -          -                        0.85\n\
             2 combinations: COMPLETED 1, 1 without a state (add --status)\n"
        );
    }

    #[test]
    fn a_narrow_terminal_wraps_causes_then_shortens_then_drops_parameter_columns() {
        let records = vec![
            rec(0, "0.8", Some("FAILED")),
            rec(1, "0.85", Some("COMPLETED")),
        ];
        let text = render(&refs(&records), 200, false);
        assert!(
            text.contains("0.8  FAILED: the record has no log_dir to look in\n"),
            "beside its row: {text}"
        );
        // Beside its row, wrapped in its column: the end of the cause is never lost.
        let text = render(&refs(&records), 80, false);
        assert_eq!(
            text,
            "INDEX  JOB  STATE      ELAPSED   mem-fraction-static  WHY\n    \
                 0  100  FAILED     00:01:02                  0.8  FAILED: the record has no\n\
             \x20                                                     log_dir to look in\n    \
                 1  101  COMPLETED  00:01:02                 0.85\n\
             2 combinations: COMPLETED 1, FAILED 1\n"
        );
        // Less than 24 columns beside the rows: below them, indented.
        let text = render(&refs(&records), 64, false);
        assert_eq!(
            text,
            "INDEX  JOB  STATE      ELAPSED   mem-fraction-static\n    \
                 0  100  FAILED     00:01:02                  0.8\n       \
                    FAILED: the record has no log_dir to look in\n    \
                 1  101  COMPLETED  00:01:02                 0.85\n\
             2 combinations: COMPLETED 1, FAILED 1\n"
        );
        for w in [52, 44, 38, 20] {
            let text = render(&refs(&records), w, false);
            for l in text.lines().filter(|l| !l.contains("combinations")) {
                assert!(
                    measure_text_width(l) <= w.max(MIN_WHY + BELOW_INDENT),
                    "{w}: {l:?}"
                );
            }
            // The whole cause, whatever the width.
            let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                words.contains("FAILED: the record has no log_dir to look in"),
                "{w}: {text}"
            );
        }
        let text = render(&refs(&records), 52, false);
        assert!(
            text.contains("  m-fraction-static"),
            "as much as needed: {text}"
        );
        assert_eq!(abbreviate("decode_workers").as_deref(), Some("d_workers"));
        assert_eq!(abbreviate("m-f-static"), None);
        assert_eq!(
            abbreviate("prefill.chunked-size").as_deref(),
            Some("p.chunked-size")
        );
        let text = render(&refs(&records), 38, false);
        assert!(text.contains("1 swept key(s) not shown"), "{text}");
        assert!(
            text.contains("\n       FAILED: the record has no\n       log_dir to look in\n"),
            "below its row, wrapped: {text}"
        );
    }

    #[test]
    fn several_sweeps_get_a_sweep_column_and_no_columns_of_dashes() {
        let mut a = rec(0, "0.8", Some("COMPLETED"));
        a.sweep_dir = Some("/data/x/tpt".into());
        let mut b = rec(0, "0.8", Some("FAILED"));
        b.sweep_dir = Some("/data/y/tpt".into());
        b.status.failure = Some(sweep::record::Failure {
            message: "boom".into(),
            file: Some("/data/y/tpt/logs/j/100.err".into()),
            ..Default::default()
        });
        // A key of b's sweep only, the same in its records: no column.
        b.parameters
            .slurm
            .insert("prefill_nodes".into(), serde_json::json!(2));
        let mut c = rec(1, "0.85", Some("PENDING"));
        c.sweep_dir = Some("/data/x/tpt".into());
        c.status.state_reason = Some("Priority".into());
        let text = render(&[&b, &a, &c], 80, false);
        assert_eq!(
            text,
            "INDEX  SWEEP  JOB  STATE      ELAPSED   mem-fraction-static  WHY\n    \
                 0  y/tpt  100  FAILED     00:01:02                  0.8  boom (100.err)\n    \
                 0  x/tpt  100  COMPLETED  00:01:02                  0.8\n    \
                 1  x/tpt  101  PENDING    00:01:02                 0.85  Priority\n\
             3 combinations of 2 sweeps: COMPLETED 1, FAILED 1, PENDING 1\n"
        );
    }
}
