//! `--wait`: poll Slurm with backoff until every job is in a final state.
//!
//! Each poll asks only about combinations not yet settled, in the same batched calls as
//! `--status`. The pause starts at `--poll-interval` and doubles up to `--max-interval`.
//! Progress goes to stderr: a bar on a terminal, one line each time the counts change in a
//! log file, nothing on a pipe. A failed poll (controller busy or restarting) is
//! retried after the next pause; five failures in a row end the wait with the error. Once
//! every job ended, jobs still without an exit code (accounting lags a few seconds) or with
//! retries not yet cancelled are asked about again for up to 20 s, so the final output has
//! them.

use crate::status::{self, Scope};
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use sweep::slurm::{Slurm, Unreachable};
use sweep::{JobState, Record};

/// How to wait.
pub struct Options {
    /// First pause.
    pub first: Duration,
    /// Longest pause.
    pub max: Duration,
    /// Give up after this long.
    pub timeout: Option<Duration>,
}

const MAX_FAILED_POLLS: u32 = 5;

/// Longest wait for accounting's exit codes once every job ended, seconds.
const EXIT_CODE_GRACE: f64 = 20.0;

/// Polls until every combination is settled (or the timeout passes), calling `update` after
/// each poll that changed something. Exit code: success only if every job COMPLETED.
pub fn run(
    slurm: &Slurm,
    records: &mut [Record],
    opts: &Options,
    trusted: bool,
    mut update: impl FnMut(&[Record]) -> Result<()>,
) -> Result<ExitCode> {
    let start = Instant::now();
    let mut pause = opts.first.as_secs_f64();
    let mut progress = Progress::new(records.len());
    let mut failures = 0;
    let mut first = true;
    let mut accounting_disabled = false;
    // Job IDs that are not ours are said once, not at every poll.
    let (mut foreign, mut untagged) = (BTreeSet::new(), BTreeSet::new());
    loop {
        let scope = if first { Scope::All } else { Scope::Unsettled };
        match status::refresh(slurm, records, scope, trusted) {
            Ok(r) => {
                status::note_unknowable(r.unknowable);
                let new_foreign: BTreeSet<String> =
                    r.foreign.difference(&foreign).cloned().collect();
                let new_untagged: BTreeSet<String> =
                    r.untagged.difference(&untagged).cloned().collect();
                status::note_not_ours(&new_foreign, &new_untagged);
                foreign.extend(new_foreign);
                untagged.extend(new_untagged);
                accounting_disabled = r.accounting_disabled;
                failures = 0;
                first = false;
                if progress.show(records, pause) {
                    update(records)?;
                }
            }
            Err(e) if failures + 1 < MAX_FAILED_POLLS && e.is::<Unreachable>() => {
                failures += 1;
                progress.note(&format!("{e:#}; retrying in {}", seconds(pause)));
            }
            Err(e) => return Err(e),
        }
        let left = opts
            .timeout
            .map(|t| t.as_secs_f64() - start.elapsed().as_secs_f64());
        if !first && records.iter().all(status::settled) {
            let first = opts.first.as_secs_f64();
            if !accounting_disabled && tie_loose_ends(slurm, records, first, left, trusted) {
                update(records)?;
            }
            return Ok(progress.summary(records, false));
        }
        if left.is_some_and(|left| pause > left) {
            return Ok(progress.summary(records, true));
        }
        std::thread::sleep(Duration::from_secs_f64(pause));
        pause = (pause * 2.0).min(opts.max.as_secs_f64());
    }
}

/// Accounting lags a few seconds behind the end of a job, and only it has exit codes; Slurm
/// cancels unneeded `--retries` follow-ups a moment after the first attempt completes. Polls
/// such combinations for up to [`EXIT_CODE_GRACE`] seconds. Best effort; true when polled.
fn tie_loose_ends(
    slurm: &Slurm,
    records: &mut [Record],
    pause: f64,
    left: Option<f64>,
    trusted: bool,
) -> bool {
    let pause = pause.min(1.0);
    let grace = left.map_or(EXIT_CODE_GRACE, |l| l.min(EXIT_CODE_GRACE));
    let start = Instant::now();
    let mut added = false;
    while records.iter().any(|r| Scope::LooseEnds.wants(r))
        && start.elapsed().as_secs_f64() + pause <= grace
    {
        std::thread::sleep(Duration::from_secs_f64(pause));
        match status::refresh(slurm, records, Scope::LooseEnds, trusted) {
            Ok(_) => added = true,
            Err(_) => break,
        }
    }
    added
}

/// Counts of combinations by state: jobs without a job ID count as `NOT_SUBMITTED`.
fn counts(records: &[Record]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in records {
        let state = match (&r.job_id, &r.status.state) {
            (None, _) => "NOT_SUBMITTED",
            (Some(_), Some(s)) => s.as_str(),
            (Some(_), None) => JobState::Unknown.as_str(),
        };
        *counts.entry(state.to_string()).or_insert(0) += 1;
    }
    counts
}

fn describe(counts: &BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
    parts.join(", ")
}

/// `0.5s`, `8s`.
fn seconds(s: f64) -> String {
    if s < 10.0 && s.fract() != 0.0 {
        format!("{s:.1}s")
    } else {
        format!("{s:.0}s")
    }
}

/// Progress on stderr ([`sweep::progress`]): a bar of settled combinations on a terminal, a
/// timestamped line each time the counts change in a log file, nothing on a pipe.
struct Progress {
    shown: sweep::progress::Progress,
    last: Option<BTreeMap<String, usize>>,
}

impl Progress {
    fn new(total: usize) -> Self {
        Progress {
            shown: sweep::progress::Progress::new(total as u64, "waiting"),
            last: None,
        }
    }

    /// Shows the current counts; true when they changed since the last poll.
    fn show(&mut self, records: &[Record], pause: f64) -> bool {
        let now = counts(records);
        let changed = self.last.as_ref() != Some(&now);
        let settled = records.iter().filter(|r| status::settled(r)).count();
        if self.shown.sink() == sweep::progress::Sink::Terminal {
            let next = if settled < records.len() {
                format!(" (next check in {})", seconds(pause))
            } else {
                String::new()
            };
            self.shown
                .set(settled as u64, &format!("{}{next}", describe(&now)));
        } else if changed {
            let time = chrono::Local::now().format("%H:%M:%S");
            self.shown
                .set(settled as u64, &format!("{time} {}", describe(&now)));
        }
        self.last = Some(now);
        changed
    }

    /// A line that is always said (above the bar on a terminal).
    fn note(&self, msg: &str) {
        sweep::cli::warn(msg);
    }

    /// The closing summary (the bar is gone); success only if every combination COMPLETED.
    fn summary(&mut self, records: &[Record], timed_out: bool) -> ExitCode {
        self.shown.finish();
        let now = counts(records);
        let done = now.get(JobState::Completed.as_str()).copied().unwrap_or(0);
        let total = records.len();
        let msg = if timed_out {
            let open = records.iter().filter(|r| !status::settled(r)).count();
            format!(
                "timed out with {open} of {total} jobs not finished: {}",
                describe(&now)
            )
        } else if done == total {
            format!("all {total} jobs COMPLETED")
        } else {
            format!(
                "{} of {total} jobs did not complete: {}",
                total - done,
                describe(&now)
            )
        };
        self.note(&msg);
        if done == total && !timed_out {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
