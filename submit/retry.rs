//! Submitting one job for good: transient failures retried with backoff, a job that may have
//! been created looked up by its tag before anything is submitted again, and pacing so that a
//! site's slurmctld is not flooded. Never two jobs for one submission.

use crate::sbatch::{self, Outcome};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to talk to Slurm, fixed for the whole run.
pub struct Submitter {
    /// The `squeue` used for tag look-ups (found next to `sbatch`, else on PATH).
    pub squeue: Option<PathBuf>,
    /// Calls per submission, the first included.
    pub attempts: u32,
    /// First backoff; doubles after each failed attempt.
    pub backoff: Duration,
    /// Deadline of one `sbatch`/`squeue` call.
    pub timeout: Duration,
    /// Least time between two `sbatch` calls (`--max-submit-rate`).
    pub interval: Option<Duration>,
    next_call: Option<Instant>,
    /// The highest job ID this run has seen: a job created later has a higher one.
    highest_id: Option<u64>,
}

/// The longest pause `--max-submit-rate` makes between two calls.
const MAX_INTERVAL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What became of one submission.
#[derive(Debug)]
pub enum Done {
    /// A job exists: `sbatch` returned it, or a look-up by tag found it after a timeout.
    Submitted {
        job_id: String,
        cluster: Option<String>,
    },
    /// No job, and why (Slurm's message). `transient`: Slurm was unreachable or overloaded
    /// through every attempt.
    Failed { message: String, transient: bool },
}

impl Submitter {
    /// A submitter; no Slurm is contacted until [`Submitter::submit`].
    pub fn new(
        sbatch: &Path,
        attempts: u32,
        backoff: Duration,
        timeout: Duration,
        rate: Option<f64>,
    ) -> Submitter {
        let squeue = sbatch::sibling_or_path(sbatch, "squeue");
        Submitter {
            squeue,
            attempts,
            backoff,
            timeout,
            // Capped (about a century) so that adding it to an Instant cannot overflow.
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r).min(MAX_INTERVAL)),
            next_call: None,
            highest_id: None,
        }
    }

    /// Runs `argv` (a full `sbatch` command line) until it yields a job or a definite failure.
    /// `tag` is the job's `--comment`; `known` are job IDs with that tag that are not this
    /// submission (the record's earlier jobs, this run's and those in its history), so a
    /// look-up never adopts them.
    pub fn submit(&mut self, argv: &[String], tag: &str, known: &[String]) -> Done {
        let wanted = Wanted {
            tag,
            known,
            after_id: self.highest_id,
            since: chrono::Local::now().naive_local() - LOOKUP_CLOCK_SLACK,
        };
        let done = self.attempts(argv, &wanted);
        if let Done::Submitted { job_id, .. } = &done {
            let id = job_id.parse().ok();
            self.highest_id = self.highest_id.max(id);
        }
        done
    }

    fn attempts(&mut self, argv: &[String], wanted: &Wanted) -> Done {
        let mut maybe_created = false;
        let mut last = String::new();
        let mut lookup_error = None;
        for attempt in 1..=self.attempts {
            if attempt > 1 {
                std::thread::sleep(
                    self.backoff
                        .saturating_mul(2u32.saturating_pow(attempt - 2)),
                );
            }
            if maybe_created {
                match self.lookup(wanted) {
                    Ok(Some(job_id)) => {
                        return Done::Submitted {
                            job_id,
                            cluster: None,
                        }
                    }
                    Ok(None) => maybe_created = false,
                    Err(e) => {
                        lookup_error = Some(e);
                        continue;
                    }
                }
            }
            match self.call(argv) {
                Outcome::Submitted { job_id, cluster } => {
                    return Done::Submitted { job_id, cluster }
                }
                Outcome::Refused(message) => {
                    return Done::Failed {
                        message,
                        transient: false,
                    }
                }
                Outcome::Transient {
                    message,
                    maybe_created: m,
                } => {
                    last = message;
                    maybe_created |= m;
                }
            }
        }
        if let Some(e) = lookup_error.filter(|_| maybe_created) {
            last = format!("{last} (looking the job up by its tag failed too: {e})");
        }
        self.give_up(last, maybe_created, wanted)
    }

    /// After the last attempt: a job that may exist is looked up once more; if that cannot be
    /// settled, the message says how to find it.
    fn give_up(&mut self, last: String, maybe_created: bool, wanted: &Wanted) -> Done {
        if maybe_created {
            match self.lookup(wanted) {
                Ok(Some(job_id)) => {
                    return Done::Submitted {
                        job_id,
                        cluster: None,
                    }
                }
                Ok(None) => {}
                Err(_) => {
                    return Done::Failed {
                        message: format!(
                            "{last} (the job may exist: find it with squeue --me -t all -o '%i %k' | grep '{}')",
                            wanted.tag
                        ),
                        transient: true,
                    }
                }
            }
        }
        Done::Failed {
            message: last,
            transient: true,
        }
    }

    /// One paced `sbatch` call.
    fn call(&mut self, argv: &[String]) -> Outcome {
        self.pace();
        match sbatch::run(argv, self.timeout) {
            Ok(f) => sbatch::outcome(&f, self.timeout),
            Err(e) => Outcome::Refused(format!("failed to run {}: {e}", argv[0])),
        }
    }

    /// Waits until the next call is allowed by `--max-submit-rate`.
    fn pace(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        let now = Instant::now();
        if let Some(next) = self.next_call {
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        self.next_call = Some(self.next_call.map_or(now, |n| n.max(now)) + interval);
    }

    /// The job this submission may have created, if Slurm holds one: one `squeue` of this
    /// user's jobs in every state (ended jobs stay listed for MinJobAge, 300 s by default, far
    /// longer than the backoff). `%k` is the comment (checked on Slurm 22.05), `%V` the submit
    /// time.
    pub fn lookup(&self, wanted: &Wanted) -> Result<Option<String>, String> {
        let squeue = self
            .squeue
            .as_ref()
            .ok_or("squeue not found next to sbatch or on PATH")?;
        let argv: Vec<String> = [
            squeue.display().to_string(),
            "--me".into(),
            "-h".into(),
            "-t".into(),
            "all".into(),
            "-o".into(),
            "%i|%V|%k".into(),
        ]
        .into();
        let f = sbatch::run(&argv, self.timeout).map_err(|e| e.to_string())?;
        match f.status {
            Some(s) if s.success() => {}
            Some(_) => return Err(sbatch::one_line(&f.stderr).unwrap_or("squeue failed".into())),
            None => return Err("squeue did not answer in time".into()),
        }
        Ok(f.stdout.lines().find_map(|line| {
            let mut fields = line.trim().splitn(3, '|');
            let (id, submitted, comment) = (fields.next()?, fields.next()?, fields.next()?);
            wanted.is(id, submitted, comment).then(|| id.to_string())
        }))
    }
}

/// Slack for clock differences between this host and slurmctld when judging by submit time.
const LOOKUP_CLOCK_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// What a job created by one submission looks like in `squeue`. The same record submitted
/// earlier (a re-submission, a run killed and started again) has the same tag, so the tag
/// alone is not enough: the job must also be none of the `known` ones and newer than this
/// submission. Job IDs only grow, so once this run has seen one, a newer job has a higher ID;
/// before that, its submit time must not be earlier than when this submission started.
pub struct Wanted<'a> {
    tag: &'a str,
    known: &'a [String],
    after_id: Option<u64>,
    since: chrono::NaiveDateTime,
}

impl Wanted<'_> {
    fn is(&self, id: &str, submitted: &str, comment: &str) -> bool {
        if comment.trim() != self.tag || self.known.iter().any(|k| k == id) {
            return false;
        }
        if let (Some(after), Ok(id)) = (self.after_id, id.parse::<u64>()) {
            return id > after;
        }
        // A time that cannot be read counts as new: adopting is safer than a second job.
        chrono::NaiveDateTime::parse_from_str(submitted.trim(), "%Y-%m-%dT%H:%M:%S")
            .map_or(true, |t| t >= self.since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> chrono::NaiveDateTime {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap()
    }

    #[test]
    fn only_a_newer_job_with_the_tag_is_taken() {
        let known = vec!["77".to_string()];
        let by_time = Wanted {
            tag: "sweep:k:id:3",
            known: &known,
            after_id: None,
            since: at("2026-01-01T10:00:00"),
        };
        assert!(by_time.is("90", "2026-01-01T10:00:05", "sweep:k:id:3"));
        assert!(
            !by_time.is("90", "2026-01-01T09:59:59", "sweep:k:id:3"),
            "older"
        );
        assert!(
            !by_time.is("77", "2026-01-01T10:00:05", "sweep:k:id:3"),
            "known"
        );
        assert!(
            !by_time.is("91", "2026-01-01T10:00:05", "sweep:k:id:4"),
            "other tag"
        );
        assert!(
            by_time.is("92", "N/A", "sweep:k:id:3"),
            "unreadable time: adopt"
        );
        let by_id = Wanted {
            after_id: Some(100),
            ..by_time
        };
        assert!(by_id.is("101", "2020-01-01T00:00:00", "sweep:k:id:3"));
        assert!(!by_id.is("99", "2026-01-01T10:00:05", "sweep:k:id:3"));
    }
}
