//! Progress lines on stderr, only when stderr is a terminal (a log file or a pipe gets nothing
//! but real diagnostics): `[12/60] submitted sweep_job_sweep11 -> 345`.

use std::io::{IsTerminal, Write};
use sweep::record::SubmitStatus;
use sweep::Record;

pub struct Progress {
    total: usize,
    done: usize,
    on: bool,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            on: std::io::stderr().is_terminal(),
        }
    }

    /// One line for a record not submitted again: its combination already has a job.
    pub fn kept(&mut self, r: &Record, state: &str) {
        self.done += 1;
        if !self.on {
            return;
        }
        let _ = writeln!(
            std::io::stderr().lock(),
            "[{}/{}] {} already has job {} ({state}): not submitted again",
            self.done,
            self.total,
            r.job_name.as_deref().unwrap_or("?"),
            r.job_id.as_deref().unwrap_or("?")
        );
    }

    /// One line for a record whose submission has just ended.
    pub fn report(&mut self, r: &Record) {
        self.done += 1;
        if !self.on {
            return;
        }
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
        let _ = writeln!(
            std::io::stderr().lock(),
            "[{}/{}] {line}",
            self.done,
            self.total
        );
    }
}
