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
use console::Style;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use sweep::record::SubmitStatus;
use sweep::table::{column, one_line, swept, Note, Sweeps, Table};
use sweep::{JobState, Record};

/// Prints the table of `records` on stdout, fitted to [`sweep::table::width`].
pub fn show(records: &[&Record]) -> Result<()> {
    let out = std::io::stdout();
    let color = out.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = render(records, sweep::table::width(), color);
    let mut out = out.lock();
    out.write_all(text.as_bytes())?;
    Ok(out.flush()?)
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
    let table = Table {
        fixed,
        params: swept(records),
        note_header: "WHY".to_string(),
        notes: records.iter().map(|r| why_of(r)).collect(),
    };
    let paint = Paint::new(color);
    let shown: Vec<Shown> = records.iter().map(|r| Shown::of(r)).collect();
    let style = |column: &str, row: Option<usize>, padded: &str| match (row, column) {
        (None, _) => paint.header(padded),
        (Some(r), "STATE") => paint.state(&shown[r], padded),
        _ => padded.to_string(),
    };
    let rendered = table.render(width, &style);
    let mut text = rendered.text;
    text.push_str(&summary(records, rendered.dropped, &sweeps));
    text
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

/// Why a job failed (its cause, then the step, its exit status and the file the cause was
/// read from), why a submission failed, or why a job pends.
fn why_of(r: &Record) -> Note {
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
        return Note::wrapping(text);
    }
    if let Some(e) = r.submit_error.as_deref().filter(|_| r.job_id.is_none()) {
        return Note::wrapping(one_line(e));
    }
    Note::cut(match r.status.state {
        Some(JobState::Pending) => r.status.state_reason.clone().unwrap_or_default(),
        _ => String::new(),
    })
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
        true => format!(" of {} sweeps", sweeps.len()),
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
    use sweep::table::{BELOW_INDENT, MIN_NOTE};

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
                    sweep::table::text_width(l) <= w.max(MIN_NOTE + BELOW_INDENT),
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
        let text = render(&refs(&records), 38, false);
        assert!(text.contains("1 swept key(s) not shown"), "{text}");
        assert!(
            text.contains("\n       FAILED: the record has no\n       log_dir to look in\n"),
            "below its row, wrapped: {text}"
        );
    }

    #[test]
    fn twenty_pending_rows_take_twenty_lines_at_80_columns() {
        // Issue 23, item 7: a pending job's reason (Slurm's, often long) is cut to its line,
        // beside its row, instead of sending every reason below its row.
        let records: Vec<Record> = (0..20)
            .map(|i| {
                let mut r = rec(i, &format!("0.{}", 50 + i), Some("PENDING"));
                r.status.state_reason = Some(match i % 2 {
                    0 => "Priority".to_string(),
                    _ => "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions".to_string(),
                });
                r
            })
            .collect();
        let text = render(&refs(&records), 80, false);
        assert_eq!(text.lines().count(), 22, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(
            text.contains("0.51  Nodes required for job are …\n"),
            "{text}"
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
