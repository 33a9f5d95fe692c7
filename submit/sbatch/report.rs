//! Submission progress on stderr ([`sweep::progress`]): a bar on a terminal, one line per
//! record in a log file (`[12/60] submitted sweep_job_sweep11 -> 345`), nothing on a pipe.
//!
//! The interface is small on purpose: [`Progress::kept`] and [`Progress::report`] for each
//! record, [`Progress::finish`] at the end. A pause that is not a record (waiting for room in
//! the queue, `--max-queued`) shows as the bar's message through
//! [`sweep::progress::show_status`].

use sweep::record::SubmitStatus;
use sweep::{JobState, Record};

/// The progress of the submission pass.
pub struct Progress {
    shown: sweep::progress::Progress,
}

impl Progress {
    /// Progress through `total` records.
    pub fn new(total: usize) -> Progress {
        Progress {
            shown: sweep::progress::Progress::new(total as u64, "submitting"),
        }
    }

    /// A record not submitted again: its combination already has a job.
    pub fn kept(&mut self, r: &Record, state: &JobState) {
        self.shown.step(&format!(
            "{} already has job {} ({state}): not submitted again",
            r.job_name.as_deref().unwrap_or("?"),
            r.job_id.as_deref().unwrap_or("?")
        ));
    }

    /// A record whose submission has just ended.
    pub fn report(&mut self, r: &Record) {
        let name = r.job_name.as_deref().unwrap_or("?");
        let line = match (r.submit_status, &r.job_id, &r.submit_error) {
            (Some(SubmitStatus::Submitted), Some(id), None) => {
                let retries = if r.retry_job_ids.is_empty() {
                    String::new()
                } else {
                    format!(" (follow-ups {})", r.retry_job_ids.join(", "))
                };
                format!("submitted {name} -> {id}{retries}")
            }
            (_, _, Some(err)) => format!("FAILED {name}: {err}"),
            _ => format!("{name}: nothing submitted"),
        };
        self.shown.step(&line);
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        self.shown.finish();
    }
}
