//! `--plan`: what a run would do, per combination, without doing it. It reads, places, judges
//! (asking Slurm exactly as a real run does) and prepares every record (so that every error
//! a real run would stop at shows here too), then shows, instead of submitting: each
//! combination's plan (`new`, `re-run` and why, `kept` and with which job) and the options
//! that would change from its last submission; then what a real run would do besides (held
//! jobs it would cancel or release), and the summary line every real run ends with (`4 new,
//! 2 re-run, 4 kept`). It writes nothing into the sweep directories ([`crate::read::Placing`],
//! [`crate::sweeps::Sweeps::open`]), submits, releases and cancels nothing.

use crate::judge::{self, Fate, Judged};
use crate::prepare::Prepared;
use crate::read::Spool;
use crate::sweeps::Sweeps;
use anyhow::Result;
use std::io::Write;
use sweep::table::{column, swept, Note, Sweeps as Named, Table};
use sweep::{JobState, Record};

/// What a run did, or would do, with its records: the summary line every run ends with.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Combinations without an earlier job, submitted.
    pub new: usize,
    /// Combinations whose earlier jobs failed (or completed, with `--resubmit-completed`),
    /// submitted again.
    pub rerun: usize,
    /// Combinations with a pending, running or completed job: passed through with it.
    pub kept: usize,
    /// Records not submitted (refused, unreachable Slurm, `--fail-fast`).
    pub failed: usize,
}

impl Tally {
    /// Counts a record to submit: a re-run when its combination had a job before.
    pub fn count_submitted(&mut self, r: &Record) {
        match r.history.is_empty() {
            true => self.new += 1,
            false => self.rerun += 1,
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} new, {} re-run, {} kept",
            self.new, self.rerun, self.kept
        )?;
        if self.failed > 0 {
            write!(f, ", {} not submitted", self.failed)?;
        }
        Ok(())
    }
}

/// One combination's plan.
struct Row {
    record: Record,
    plan: &'static str,
    why: String,
}

/// Shows the plan of every record on stdout, fitted to [`sweep::table::width`]; returns its
/// tally.
pub fn show(spool: &Spool, judged: &Judged, prepared: &Prepared, sweeps: &Sweeps) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut rows: Vec<Row> = Vec::with_capacity(spool.len());
    for item in spool.records()? {
        let (i, mut p) = item?;
        judge::fill(sweeps, &mut p, &judged.fates[i]);
        let (plan, mut why) = match &judged.fates[i] {
            Fate::Keep { state, .. } => {
                tally.kept += 1;
                let job = p.record.job_id.clone().unwrap_or_default();
                let held = judged.release.contains(&job);
                ("kept", kept_why(&job, state, held))
            }
            Fate::Submit => match &judged.earlier[i] {
                Some(e) => {
                    tally.rerun += 1;
                    let why = match &e.state {
                        Some(JobState::Completed) => {
                            format!("job {} COMPLETED (--resubmit-completed)", e.job_id)
                        }
                        Some(state) => format!("job {} {state}", e.job_id),
                        None => format!("job {}: state unknown", e.job_id),
                    };
                    ("re-run", why)
                }
                // A measurement no job of the combination made yet (a next round of the
                // search): its loads.
                None if p.record.concurrencies.is_some() && !p.record.history.is_empty() => {
                    tally.rerun += 1;
                    let loads = p.record.concurrencies.as_deref().unwrap_or_default();
                    let loads = sweep::concurrencies::text(loads);
                    ("re-run", format!("measures concurrency {loads} next"))
                }
                None if !p.record.history.is_empty() => {
                    tally.rerun += 1;
                    let h = p.record.history.last().expect("not empty");
                    let state = h.state.as_ref().map_or("".to_string(), |s| format!(" {s}"));
                    ("re-run", format!("job {}{state}", h.job_id))
                }
                None => {
                    tally.new += 1;
                    ("new", String::new())
                }
            },
        };
        if let Some(changes) = prepared.changes.get(&i) {
            if !why.is_empty() {
                why.push_str("; ");
            }
            why.push_str(&changes.join(", "));
        }
        rows.push(Row {
            record: p.record,
            plan,
            why,
        });
    }
    let mut text = render(&rows, sweep::table::width());
    if !judged.ghosts.is_empty() {
        text.push_str(&format!(
            "a real run first cancels {} held job(s) of these sweeps that no journal or record names (never run): {}\n",
            judged.ghosts.len(),
            judged.ghosts.join(", ")
        ));
    }
    if !judged.release.is_empty() {
        text.push_str(&format!(
            "a real run releases {} held job(s) of kept combinations (a run killed before it released them): {}\n",
            judged.release.len(),
            judged.release.join(", ")
        ));
    }
    text.push_str(&format!("{tally}\n"));
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(tally)
}

/// Why a combination is kept: its job and that job's state.
fn kept_why(job: &str, state: &JobState, held: bool) -> String {
    match state {
        JobState::Unknown => format!(
            "job {job}: Slurm no longer knows its state and the record does not say it failed (a second job costs GPU hours; --resubmit-completed runs it again)"
        ),
        state if held => format!("job {job} {state} (held: a real run releases it)"),
        state => format!("job {job} {state}"),
    }
}

/// The plan as a table: index, sweep (when several), plan, the swept values that differ,
/// and why.
fn render(rows: &[Row], width: usize) -> String {
    let records: Vec<&Record> = rows.iter().map(|r| &r.record).collect();
    let named = Named::of(&records);
    let mut fixed = vec![column("INDEX", &records, true, |r| r.index.to_string())];
    if named.several() {
        fixed.push(column("SWEEP", &records, false, |r| named.name(r)));
    }
    fixed.push(sweep::table::Column {
        header: "PLAN".to_string(),
        cells: rows.iter().map(|r| r.plan.to_string()).collect(),
        right: false,
    });
    let table = Table {
        fixed,
        params: swept(&records),
        note_header: "WHY".to_string(),
        notes: rows.iter().map(|r| Note::wrapping(r.why.clone())).collect(),
    };
    let rendered = table.render(width, &|_, _, padded| padded.to_string());
    let mut text = rendered.text;
    if rendered.dropped > 0 {
        text.push_str(&format!(
            "{} swept key(s) not shown (a wider terminal, or COLUMNS)\n",
            rendered.dropped
        ));
    }
    text
}
