//! Submitting one job for good: transient failures retried with backoff, a job that may have
//! been created looked up by its tag before anything is submitted again, and pacing so that a
//! site's slurmctld is not flooded. Never two jobs for one submission.

use super::answer::{self, Outcome};
use super::release::Releaser;
use std::path::Path;
use std::time::{Duration, Instant};
use sweep::slurm::{Slurm, TaggedJob, Unreachable};
use sweep::tag::Tag;

/// How to talk to Slurm, fixed for the whole run.
pub struct Submitter {
    /// The `squeue` (and `sacct`) found next to `sbatch`, else on PATH; calls have the
    /// `sbatch` deadline.
    slurm: Slurm,
    /// Calls per submission, the first included.
    attempts: u32,
    /// First backoff; doubles after each failed attempt.
    backoff: Duration,
    /// Deadline of one `sbatch` call.
    timeout: Duration,
    /// Least time between two `sbatch` calls (`--max-submit-rate`).
    interval: Option<Duration>,
    next_call: Option<Instant>,
    /// The highest job ID this run has seen: a job created later has a higher one.
    highest_id: Option<u64>,
    /// Jobs submitted (held) and waiting for their release; released before any pause.
    pub releaser: Releaser,
    /// Some `sbatch` call may have created a job this run does not know (a timeout): worth a
    /// last look for such ghosts at the end of the run.
    pub ghosts_possible: bool,
    /// The name of the cluster jobs go to (`scontrol show config`), asked once, at the first
    /// job; `Some(None)`: Slurm would not say.
    cluster_name: Option<Option<String>>,
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
        let slurm = Slurm::beside(sbatch, timeout, "--sbatch-timeout");
        Submitter {
            releaser: Releaser::new(slurm.clone()),
            ghosts_possible: false,
            cluster_name: None,
            slurm,
            attempts,
            backoff,
            timeout,
            // Capped (about a century) so that adding it to an Instant cannot overflow.
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r).min(MAX_INTERVAL)),
            next_call: None,
            highest_id: None,
        }
    }

    /// The name of the cluster jobs go to (`ClusterName`, asked once per run); `None` when
    /// Slurm would not say.
    pub fn cluster_name(&mut self) -> Option<String> {
        if self.cluster_name.is_none() {
            let name = self.slurm.accounting_config().ok().map(|c| c.cluster);
            self.cluster_name = Some(name);
        }
        self.cluster_name.clone().flatten()
    }

    /// The Slurm commands next to `sbatch` (for look-ups, release and cancel).
    pub fn slurm(&self) -> &Slurm {
        &self.slurm
    }

    /// Sleeps, releasing waiting jobs first: a job must not stay held through a pause (nor
    /// through a wait for room in the queue: a held job never leaves it). A signal that stops
    /// the run ends the sleep.
    pub fn sleep(&mut self, pause: Duration) {
        if pause >= Duration::from_millis(50) {
            self.releaser.flush();
        }
        let until = Instant::now() + pause;
        while crate::interrupt::requested().is_none() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Runs `argv` (a full `sbatch` command line) until it yields a job or a definite failure.
    /// `tag` is the job's `--comment`; `known` are job IDs with that tag that are not this
    /// submission (the record's earlier jobs, this run's and those in its history), so a
    /// look-up never adopts them.
    pub fn submit(&mut self, argv: &[String], tag: &str, known: &[String]) -> Done {
        let wanted = Wanted {
            tag,
            parsed: sweep::tag::parse(tag),
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
                self.sleep(
                    self.backoff
                        .saturating_mul(2u32.saturating_pow(attempt - 2)),
                );
            }
            // A signal stops the run: no more sbatch (a job the last one may have created is
            // held and journaled nowhere: the next run cancels it).
            if let Some(done) = crate::interrupt::stopped() {
                return done;
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
                    self.ghosts_possible |= m;
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
        if crate::interrupt::requested().is_some() {
            return Outcome::Transient {
                message: "interrupted".to_string(),
                maybe_created: false,
            };
        }
        let stop = || crate::interrupt::requested().is_some();
        match sweep::slurm::run_until(argv, self.timeout, &stop) {
            Ok(f) => answer::outcome(&f, self.timeout),
            Err(e) => Outcome::Refused(format!("failed to run {}: {e}", argv[0])),
        }
    }

    /// Waits until the next call is allowed by `--max-submit-rate`.
    fn pace(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        if let Some(next) = self.next_call {
            let now = Instant::now();
            if next > now {
                self.sleep(next - now);
            }
        }
        // From when this call really starts: a sleep that overslept under load must not let
        // the next call come sooner than the interval.
        self.next_call = Some(Instant::now() + interval);
    }

    /// The job this submission may have created, if Slurm holds one: one tag query (ended
    /// jobs stay listed for MinJobAge, 300 s by default, far longer than the backoff).
    pub fn lookup(&self, wanted: &Wanted) -> Result<Option<String>, Unreachable> {
        let jobs = self.slurm.tagged_jobs()?;
        Ok(jobs.into_iter().find(|j| wanted.is(j)).map(|j| j.job_id))
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
    /// `tag` parsed (`None` if it is not a tag: then nothing is adopted).
    parsed: Option<Tag>,
    known: &'a [String],
    after_id: Option<u64>,
    since: chrono::NaiveDateTime,
}

impl Wanted<'_> {
    fn is(&self, job: &TaggedJob) -> bool {
        if self.parsed.as_ref() != Some(&job.tag) || self.known.contains(&job.job_id) {
            return false;
        }
        // Every job is submitted held and released only once its ID is known: a job this
        // submission created and never heard of is still held. A released or ended one with
        // the same tag is an earlier submission's (a re-run, a sweep directory made anew).
        if !job.held() {
            return false;
        }
        if let (Some(after), Ok(id)) = (self.after_id, job.job_id.parse::<u64>()) {
            return id > after;
        }
        // A time that cannot be read counts as new: adopting is safer than a second job.
        job.submitted.is_none_or(|t| t >= self.since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep::slurm::parse_time;

    /// A row of the tag query.
    fn job(id: &str, submitted: &str, tag: &str) -> TaggedJob {
        TaggedJob {
            job_id: id.to_string(),
            submitted: parse_time(submitted),
            dependency: None,
            state: sweep::JobState::Pending,
            reason: Some("JobHeldUser".to_string()),
            name: "j".to_string(),
            tag: sweep::tag::parse(tag).unwrap(),
            never_ran: true,
            source: "squeue",
        }
    }

    #[test]
    fn only_a_newer_job_with_the_tag_is_taken() {
        let known = vec!["77".to_string()];
        let by_time = Wanted {
            tag: "sweep:k:id:3",
            parsed: sweep::tag::parse("sweep:k:id:3"),
            known: &known,
            after_id: None,
            since: parse_time("2026-01-01T10:00:00").unwrap(),
        };
        assert!(by_time.is(&job("90", "2026-01-01T10:00:05", "sweep:k:id:3")));
        assert!(
            !by_time.is(&job("90", "2026-01-01T09:59:59", "sweep:k:id:3")),
            "older"
        );
        assert!(
            !by_time.is(&job("77", "2026-01-01T10:00:05", "sweep:k:id:3")),
            "known"
        );
        assert!(
            !by_time.is(&job("91", "2026-01-01T10:00:05", "sweep:k:id:4")),
            "other tag"
        );
        assert!(
            by_time.is(&job("92", "N/A", "sweep:k:id:3")),
            "unreadable time: adopt"
        );
        let by_id = Wanted {
            after_id: Some(100),
            ..by_time
        };
        assert!(by_id.is(&job("101", "2020-01-01T00:00:00", "sweep:k:id:3")));
        assert!(!by_id.is(&job("99", "2026-01-01T10:00:05", "sweep:k:id:3")));
    }
}
